package gate

import (
	"math"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/perfgate/perfgate/perftest/internal/compare"
	"github.com/perfgate/perfgate/perftest/internal/load"
	"github.com/perfgate/perfgate/perftest/internal/promq"
	"github.com/perfgate/perfgate/perftest/internal/verdict"
	"github.com/perfgate/perfgate/thresholds"
)

func TestRoundsInterleaveInPairs(t *testing.T) {
	assert.Equal(t, []string{Baseline, Candidate, Candidate, Baseline, Baseline, Candidate}, roundOrder(3))
	order := roundOrder(6)
	var a, b int
	for _, v := range order {
		if v == Baseline {
			a++
		} else {
			b++
		}
	}
	assert.Equal(t, 6, a)
	assert.Equal(t, 6, b)
}

func TestSamplesGatherEachVariantsRoundsInOrder(t *testing.T) {
	rounds := []Round{
		{Variant: Baseline, Values: map[string]float64{thresholds.CompareP95: 1, thresholds.ComparePeakRSS: 10}},
		{Variant: Candidate, Values: map[string]float64{thresholds.CompareP95: 2}},
		{Variant: Candidate, Values: map[string]float64{thresholds.CompareP95: 3, thresholds.ComparePeakRSS: 30}},
		{Variant: Baseline, Values: map[string]float64{thresholds.CompareP95: 4, thresholds.ComparePeakRSS: 40}},
	}
	s := Samples(rounds, []thresholds.Budget{{Metric: thresholds.CompareP95}, {Metric: thresholds.ComparePeakRSS}})
	require.Len(t, s, 2)
	assert.Equal(t, []float64{1, 4}, s[0].Baseline)
	assert.Equal(t, []float64{2, 3}, s[0].Candidate)
	assert.Equal(t, verdict.UnitSeconds, s[0].Unit)
	assert.Equal(t, []float64{10, 40}, s[1].Baseline)
	require.Len(t, s[1].Candidate, 2)
	assert.True(t, math.IsNaN(s[1].Candidate[0]), "a round without the figure stays, as missing: pairs keep their places and the comparison names it")
	assert.Equal(t, 30.0, s[1].Candidate[1])
	assert.Equal(t, verdict.UnitBytes, s[1].Unit)
}

// A round the generator cannot vouch for (stalled, behind) counts as missing.
func TestSamplesLeaveUnsoundRoundsMissing(t *testing.T) {
	rounds := []Round{
		{Variant: Baseline, Values: map[string]float64{thresholds.CompareP95: 1}},
		{Variant: Candidate, Values: map[string]float64{thresholds.CompareP95: 2}, Unsound: "generator stalled"},
	}
	s := Samples(rounds, []thresholds.Budget{{Metric: thresholds.CompareP95}})
	assert.True(t, math.IsNaN(s[0].Candidate[0]))
}

// The error rate goes to the comparison as counts, pooled there.
func TestSamplesCarryErrorCounts(t *testing.T) {
	rounds := []Round{
		{Variant: Baseline, Values: map[string]float64{thresholds.CompareErrorRate: 0}, Errors: compare.Count{Events: 0, Trials: 400}},
		{Variant: Candidate, Values: map[string]float64{thresholds.CompareErrorRate: 0.1}, Errors: compare.Count{Events: 40, Trials: 400}},
	}
	s := Samples(rounds, []thresholds.Budget{{Metric: thresholds.CompareErrorRate}})
	assert.Equal(t, []compare.Count{{Events: 0, Trials: 400}}, s[0].BaselineCounts)
	assert.Equal(t, []compare.Count{{Events: 40, Trials: 400}}, s[0].CandidateCounts)
}

// Drops are errors, and throughput counts against the planned duration: one
// slow response at the end of a round cannot stretch it.
func TestClientValuesCountDropsAndThePlannedDuration(t *testing.T) {
	v := clientValues(&load.Result{Sent: 590, Dropped: 10, Completed: 590, Errors: 5}, 6*time.Second)
	assert.InDelta(t, 590.0/6, v[thresholds.CompareThroughput], 1e-9)
	assert.InDelta(t, 15.0/600, v[thresholds.CompareErrorRate], 1e-12)
}

// A drop is the service holding every slot: it is not the generator lagging.
func TestLoadAccountCountsDropsAsIssued(t *testing.T) {
	res := &load.Result{TargetRate: 100, AchievedRate: 90, Sent: 900, Dropped: 100}
	l := loadAccount(res, 0.05)
	assert.InDelta(t, 100, l.AchievedRate, 1e-9)
	assert.Empty(t, verdict.Shortfall(l))
}

func TestSplitBaselinePitsOddRoundsAgainstEven(t *testing.T) {
	s := SplitBaseline(Samples([]Round{
		{Variant: Baseline, Values: map[string]float64{"p50_latency": 1}},
		{Variant: Candidate, Values: map[string]float64{"p50_latency": 9}},
		{Variant: Baseline, Values: map[string]float64{"p50_latency": 2}},
		{Variant: Baseline, Values: map[string]float64{"p50_latency": 3}},
	}, []thresholds.Budget{{Metric: "p50_latency"}}))
	assert.Equal(t, []float64{1, 3}, s[0].Baseline)
	assert.Equal(t, []float64{2}, s[0].Candidate, "the candidate's rounds play no part in the noise")
}

// The run's seconds take the nearest Prometheus point within a second, NaN where none is.
func TestTimelinePlacesServerPointsOnTheSeconds(t *testing.T) {
	start := time.Unix(100, 0)
	r := &load.Result{Start: start, Timeline: []load.Second{{T: 1, Rate: 10}, {T: 2, Rate: 20}, {T: 5, Rate: 30}}}
	pts := []promq.Point{{T: start.Add(2100 * time.Millisecond), Value: 0.2}, {T: start.Add(900 * time.Millisecond), Value: 0.1}}
	tl := timeline(r, pts)
	require.Len(t, tl, 3)
	assert.Equal(t, 0.1, tl[0].CPU)
	assert.Equal(t, 0.2, tl[1].CPU)
	assert.True(t, math.IsNaN(tl[2].CPU), "no point near second 5")
	assert.Equal(t, 20.0, tl[1].Rate)
}
