package thresholds

import (
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
)

func TestMetricUnits(t *testing.T) {
	assert.Equal(t, Ratio, ErrorRate.Unit())
	assert.Equal(t, Seconds, Latency.Unit())
	assert.Equal(t, PerSecond, Throughput.Unit())
	assert.Equal(t, Ratio, CPU.Unit())
	assert.Equal(t, Bytes, Memory.Unit())
	assert.Equal(t, Unit(""), Custom.Unit(), "custom SLOs declare their own")
}

func TestLoadRamp(t *testing.T) {
	l := Load{WarmUp: 5 * time.Second, Stages: []Stage{
		{5 * time.Second, 40},
		{20 * time.Second, 120},
		{5 * time.Second, 120},
	}}
	assert.Equal(t, 30*time.Second, l.Duration())
	assert.Equal(t, 25*time.Second, l.Window())

	rates := []struct {
		at   time.Duration
		want float64
	}{
		{-time.Second, 0},
		{0, 0},
		{2500 * time.Millisecond, 20},
		{5 * time.Second, 40},
		{15 * time.Second, 80},
		{27 * time.Second, 120},
		{30 * time.Second, 0},
	}
	for _, r := range rates {
		assert.InDelta(t, r.want, l.RateAt(r.at), 1e-9, "rate at %s", r.at)
	}

	assert.InDelta(t, 100, l.Requests(0, 5*time.Second), 1e-9, "ramp 0→40/s over 5 s")
	assert.InDelta(t, 2300, l.Requests(0, l.Duration()), 1e-9)
	assert.InDelta(t, 2200, l.Requests(l.WarmUp, l.Duration()), 1e-9)
	assert.InDelta(t, 800, l.Requests(10*time.Second, 20*time.Second), 1e-9, "rate 60→100/s over 10 s")
	assert.Zero(t, l.Requests(40*time.Second, time.Minute))

	short := Load{WarmUp: time.Minute, Stages: l.Stages}
	assert.Zero(t, short.Window(), "a warm-up past the stages leaves nothing to measure")
}
