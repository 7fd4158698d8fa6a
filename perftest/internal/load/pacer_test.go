package load

import (
	"math"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

const s = time.Second

var (
	rampUp      = RampPacer{Stages: []Stage{{Duration: 10 * s, Target: 100}}}
	rampHold    = RampPacer{Stages: []Stage{{Duration: 10 * s, Target: 100}, {Duration: 20 * s, Target: 100}}}
	stepDown    = RampPacer{Stages: []Stage{{Duration: 0, Target: 100}, {Duration: 10 * s, Target: 0}}}
	stepHold    = RampPacer{Stages: []Stage{{Duration: 0, Target: 50}, {Duration: 4 * s, Target: 50}}}
	rampHoldRun = RampPacer{Stages: []Stage{{Duration: 2 * s, Target: 60}, {Duration: 3 * s, Target: 60}, {Duration: 1 * s, Target: 0}}}
)

func TestRampPacerRate(t *testing.T) {
	tests := []struct {
		name    string
		pacer   RampPacer
		elapsed time.Duration
		want    float64
	}{
		{"a ramp starts from zero", rampUp, 0, 0},
		{"a ramp is halfway at half time", rampUp, 5 * s, 50},
		{"a ramp nearly reaches its target", rampUp, 10*s - time.Millisecond, 99.99},
		{"the rate is zero from the end on", rampUp, 10 * s, 0},
		{"the rate is zero before the start", rampUp, -s, 0},
		{"a hold keeps the previous target", rampHold, 15 * s, 100},
		{"a step starts at its target", stepDown, 0, 100},
		{"a ramp down after a step is linear", stepDown, 5 * s, 50},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			assert.InDelta(t, tt.want, tt.pacer.Rate(tt.elapsed), 1e-9)
		})
	}
}

func TestRampPacerTotalIsTheIntegral(t *testing.T) {
	tests := []struct {
		name  string
		pacer RampPacer
		want  float64
	}{
		{"a ramp from 0 to 100/s over 10 s is a triangle", rampUp, 500},
		{"a ramp then a hold adds the rectangle", rampHold, 500 + 2000},
		{"a step then a ramp down is a triangle", stepDown, 500},
		{"a step then a hold is a rectangle", stepHold, 200},
		{"up, hold, down", rampHoldRun, 60 + 180 + 30},
		{"a slow ramp calls for a fraction", RampPacer{Stages: []Stage{{Duration: s, Target: 3}}}, 1.5},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			assert.InDelta(t, tt.want, tt.pacer.Total(), 1e-9)
		})
	}
}

func TestRampPacerHitTimes(t *testing.T) {
	tests := []struct {
		name  string
		pacer RampPacer
		n     uint64
		want  time.Duration
	}{
		{"the first request of a step is due one interval in", stepHold, 0, 20 * time.Millisecond},
		{"the last request of a step is due at its end", stepHold, 199, 4 * s},
		{"the first request of a ramp is due when the triangle holds one", rampUp, 0, time.Duration(math.Sqrt(2.0/10) * float64(s))},
		{"the last request of a ramp is due at the stage boundary", rampHold, 499, 10 * s},
		{"the next one is due one interval into the hold", rampHold, 500, 10*s + 10*time.Millisecond},
		{"the last request of the run is due at its end", rampHold, 2499, 30 * s},
		{"a ramp down is due by the same integral", stepDown, 374, 5 * s},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, ok := tt.pacer.hitTime(tt.n)
			require.True(t, ok)
			assert.InDelta(t, float64(tt.want), float64(got), float64(time.Microsecond))
		})
	}
}

// drive replays a pacer the way a perfect clock would and returns when each
// request was due.
func drive(p Pacer) []time.Duration {
	var due []time.Duration
	var elapsed time.Duration
	for hits := uint64(0); hits < 1e6; hits++ {
		wait, stop := p.Pace(elapsed, hits)
		if stop {
			break
		}
		elapsed += wait
		due = append(due, elapsed)
	}
	return due
}

func TestRampPacerPaceCountsAndStops(t *testing.T) {
	tests := []struct {
		name     string
		pacer    RampPacer
		boundary time.Duration
		byThen   int // requests due by boundary
		total    int
	}{
		{"a ramp then a hold", rampHold, 10 * s, 500, 2500},
		{"up, hold, down", rampHoldRun, 5 * s, 240, 270},
		{"a step then a ramp down", stepDown, 5 * s, 375, 500},
		{"a fractional total rounds down", RampPacer{Stages: []Stage{{Duration: s, Target: 3}}}, s, 1, 1},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			due := drive(tt.pacer)
			require.Len(t, due, tt.total)
			var byThen int
			for i, d := range due {
				if d <= tt.boundary {
					byThen++
				}
				if i > 0 {
					assert.GreaterOrEqual(t, d, due[i-1], "request %d is due before the one ahead of it", i)
				}
			}
			assert.Equal(t, tt.byThen, byThen)
			assert.LessOrEqual(t, due[len(due)-1], tt.pacer.Duration())
			assert.LessOrEqual(t, float64(len(due)), tt.pacer.Total()+hitEpsilon)
		})
	}
}

func TestRampPacerPace(t *testing.T) {
	wait, stop := stepHold.Pace(0, 0)
	assert.False(t, stop)
	assert.Equal(t, 20*time.Millisecond, wait, "the first request waits one interval")

	wait, stop = stepHold.Pace(time.Second, 0)
	assert.False(t, stop)
	assert.Zero(t, wait, "a pacer that is behind sends at once")

	_, stop = stepHold.Pace(time.Second, 200)
	assert.True(t, stop, "no request after the total")

	_, stop = stepHold.Pace(time.Hour, 199)
	assert.False(t, stop, "a late caller still gets the last request")
}

func TestRampPacerString(t *testing.T) {
	assert.Equal(t, "Ramp{0→100/s in 10s, 100→100/s in 20s}", rampHold.String())
	assert.Equal(t, "Ramp{0→50/s in 0s, 50→50/s in 4s}", stepHold.String())
}

func TestRampPacerValidate(t *testing.T) {
	tests := []struct {
		name   string
		stages []Stage
		want   []string
	}{
		{"no stages", nil, []string{"Stages: at least one stage is needed"}},
		{"a negative duration and a negative target", []Stage{{Duration: -s, Target: 1}, {Duration: s, Target: -1}}, []string{
			"Stages[0].Duration: -1s must not be negative",
			"Stages[1].Target: -1 must be a finite rate ≥ 0",
		}},
		{"a target that is not a number", []Stage{{Duration: s, Target: math.NaN()}}, []string{"Stages[0].Target: NaN must be a finite rate ≥ 0"}},
		{"only steps", []Stage{{Duration: 0, Target: 10}}, []string{"Stages: total duration must be > 0"}},
		{"too slow for one request", []Stage{{Duration: s, Target: 1}}, []string{"Stages: Ramp{0→1/s in 1s} calls for 0.50 requests; at least 1 is needed"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var got []string
			for _, err := range (RampPacer{Stages: tt.stages}).validate() {
				got = append(got, err.Error())
			}
			assert.Equal(t, tt.want, got)
		})
	}
	assert.Empty(t, rampHold.validate(), "a good plan passes")
}

// A burst sends its arrivals together, when the first of them is due, and
// keeps the plan's count and mean rate: the same requests, bunched.
func TestRampPacerBurstBunchesArrivals(t *testing.T) {
	even := stepHold // 50/s for 4 s: one arrival every 20 ms, 200 in all
	bursty := RampPacer{Stages: even.Stages, Burst: 4}
	var last time.Duration
	n := uint64(0)
	for ; ; n++ {
		at, ok := bursty.hitTime(n)
		if !ok {
			break
		}
		first, _ := even.hitTime(n - n%4)
		assert.Equal(t, first, at, "arrival %d is due with the first of its group", n)
		if n%4 != 0 {
			assert.Equal(t, last, at, "arrival %d leaves with the one before it", n)
		}
		last = at
	}
	assert.EqualValues(t, 200, n, "a burst sends the plan's arrivals, no more")
	at, _ := bursty.hitTime(5)
	assert.Equal(t, 100*time.Millisecond, at, "the second group is due with the fifth arrival")
	assert.InDelta(t, even.Total(), bursty.Total(), 1e-9)

	// A last group cut short by the plan's end still ends with the plan.
	short := RampPacer{Stages: []Stage{{Duration: 0, Target: 10}, {Duration: s, Target: 10}}, Burst: 4}
	_, ok := short.hitTime(9)
	assert.True(t, ok, "the tenth of ten arrivals is due, in a group of two")
	_, ok = short.hitTime(10)
	assert.False(t, ok, "the eleventh is not, though its group of four would have room")
}
