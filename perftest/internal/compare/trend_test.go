package compare

import (
	"math"
	"math/rand/v2"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/perfgate/perfgate/perftest/internal/verdict"
	"github.com/perfgate/perfgate/thresholds/units"
)

// Kendall's distribution of inversions, small enough to count by hand: of
// the 6 orders of 3 items, 1 has no inversion, 2 have one, 2 two, 1 three.
func TestInversionCDFCountsOrders(t *testing.T) {
	cdf := inversionCDF(3)
	require.Len(t, cdf, 4)
	for k, want := range []float64{1.0 / 6, 3.0 / 6, 5.0 / 6, 1} {
		assert.InDelta(t, want, cdf[k], 1e-12, "P(inversions ≤ %d)", k)
	}
	assert.InDelta(t, 2.0/3628800, kendallMinP(10), 1e-18, "10 points in order: 2/10!")
	assert.InDelta(t, 2.0/120, kendallMinP(5), 1e-15)
}

func TestMannKendall(t *testing.T) {
	up := []float64{1, 2, 3, 4, 5, 6, 7, 8}
	assert.InDelta(t, 2.0/40320, mannKendall(up), 1e-15, "every pair rises")
	assert.InDelta(t, 2.0/40320, mannKendall([]float64{8, 7, 6, 5, 4, 3, 2, 1}), 1e-15, "two-sided")
	// S = 0 when as many pairs rise as fall: nothing to see.
	assert.InDelta(t, 1, mannKendall([]float64{1, 3, 2, 4, 4, 2, 3, 1}), 1e-12)
	// 10 points, one swap: S = 45 − 2 = 43; p = 2·P(inversions ≤ 1) = 2·10/10!.
	assert.InDelta(t, 2*10.0/3628800, mannKendall([]float64{1, 2, 3, 5, 4, 6, 7, 8, 9, 10}), 1e-15)
}

func TestSenSlopeIsTheMedianSlopeWithAnIntervalAroundIt(t *testing.T) {
	x := []float64{1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12}
	y := make([]float64, len(x))
	for i := range x {
		y[i] = 3*x[i] + math.Sin(7*x[i]) // a wobble, so the slopes differ
	}
	y[4] += 100 // an outlier moves a least-squares slope, not the median's
	est, lo, hi := senSlope(x, y, 0.01)
	assert.InDelta(t, 3, est, 0.3)
	assert.LessOrEqual(t, lo, 3.0)
	assert.GreaterOrEqual(t, hi, 3.0)
	assert.Greater(t, hi, lo)
	_, lo, hi = senSlope(x[:3], y[:3], 0.01)
	assert.True(t, math.IsInf(lo, -1) && math.IsInf(hi, 1), "3 points have no 99%% interval")
}

// run is a comparison of a resident set over 18 pairs of duet rounds of
// 2,000 requests: both builds warm up alike, rise and fall in steps of the
// size a heap grows by, and the candidate keeps leak bytes a request,
// which reach the resident set a few hundred kilobytes at a time.
func rssRun(seed uint64, leak float64) Samples {
	rng := rand.New(rand.NewPCG(seed, 7))
	const pairs, perPair = 18, 2000.0
	s := Samples{Metric: "rss_growth", Unit: units.BytesPer1k, Trend: &Trend{}}
	level := func(i int, held float64) float64 {
		warm := 1.5e6 * (1 - math.Exp(-float64(i)/3))
		step := 256 << 10 * math.Floor(rng.Float64()*3-1) // a heap arena's worth, up or down
		return 19e6 + warm + step + math.Floor(held/(400<<10))*(400<<10)
	}
	prevB, prevC := 19e6, 19e6
	for i := range pairs {
		served := perPair * float64(i+1)
		b, c := level(i, 0), level(i, leak*served)
		s.Trend.BaselineLevels = append(s.Trend.BaselineLevels, b)
		s.Trend.CandidateLevels = append(s.Trend.CandidateLevels, c)
		s.Trend.BaselineServed = append(s.Trend.BaselineServed, served)
		s.Trend.CandidateServed = append(s.Trend.CandidateServed, served-float64(rng.IntN(3)))
		s.Baseline = append(s.Baseline, 1000*(b-prevB)/perPair)
		s.Candidate = append(s.Candidate, 1000*(c-prevC)/perPair)
		prevB, prevC = b, c
	}
	return s
}

var rssBudget = Budget{Metric: "rss_growth", MaxIncrease: ptr(64 << 10)}

// The trend catches a leak of 180 bytes a request that the resident set
// shows in steps, and its twin, A/A runs of the same steps, stays green.
func TestTrendCatchesALeakInSteps(t *testing.T) {
	for seed := range uint64(20) {
		leak := rssRun(seed, 180)
		r := Compare([]Samples{leak}, []Budget{rssBudget}, Options{Alpha: 0.01})
		require.Len(t, r.Rows, 1)
		row := r.Rows[0]
		assert.Equal(t, Worse, row.Status, "seed %d: %s", seed, row.Why)
		assert.Equal(t, "trend", row.Test)
		assert.InDelta(t, 180e3, row.Delta, 60e3, "seed %d: the slope per 1,000 requests", seed)
		assert.Less(t, row.DeltaLo, row.Delta)
		assert.Greater(t, row.DeltaHi, row.Delta)
		assert.Len(t, row.BaselineRounds, 18, "each round's own growth is kept to show")

		aa := rssRun(seed+100, 0)
		ra := Compare([]Samples{aa}, []Budget{rssBudget}, Options{Alpha: 0.01})
		assert.NotEqual(t, verdict.Fail, ra.Verdict, "seed %d: A/A %s", seed, ra.Rows[0].Why)
	}
}

// A missing level or a reset counter is never a pass, and never a breach.
func TestTrendWithoutItsFactsCannotTell(t *testing.T) {
	s := rssRun(1, 180)
	s.Trend.CandidateLevels[4] = math.NaN()
	row := Compare([]Samples{s}, []Budget{rssBudget}, Options{Alpha: 0.01}).Rows[0]
	assert.Equal(t, Inconclusive, row.Status)
	assert.Contains(t, row.Why, "candidate round 5 of 18")

	s = rssRun(1, 180)
	s.Trend.BaselineServed[7] = 10
	row = Compare([]Samples{s}, []Budget{rssBudget}, Options{Alpha: 0.01}).Rows[0]
	assert.Equal(t, Inconclusive, row.Status)
	assert.Contains(t, row.Why, "counter was reset")

	s = rssRun(1, 180)
	s.Trend.BaselineServed = s.Trend.BaselineServed[:17]
	assert.Equal(t, Inconclusive, Compare([]Samples{s}, []Budget{rssBudget}, Options{Alpha: 0.01}).Rows[0].Status)

	s = rssRun(1, 180)
	for _, xs := range []*[]float64{&s.Baseline, &s.Candidate, &s.Trend.BaselineLevels, &s.Trend.CandidateLevels, &s.Trend.BaselineServed, &s.Trend.CandidateServed} {
		*xs = (*xs)[:5]
	}
	row = Compare([]Samples{s}, []Budget{rssBudget}, Options{Alpha: 0.01}).Rows[0]
	assert.Equal(t, Inconclusive, row.Status)
	assert.Contains(t, row.Why, "cannot show a trend")
}
