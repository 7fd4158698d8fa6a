package compare

import (
	"math"
	"math/rand/v2"
	"slices"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/perfgate/perfgate/perftest/internal/verdict"
)

func ptr(x float64) *float64 { return &x }

// Six rounds of a p95 near 20ms, and the same rounds 20% slower.
var (
	base    = []float64{0.0200, 0.0210, 0.0195, 0.0205, 0.0202, 0.0198}
	slower  = scale(base, 1.2)
	faster  = scale(base, 0.8)
	noisyA  = []float64{0.020, 0.026, 0.018, 0.023, 0.021, 0.025}
	noisyB  = []float64{0.022, 0.019, 0.027, 0.020, 0.024, 0.021}
	rps     = []float64{100.1, 99.8, 100.0, 99.9, 100.2, 99.7}
	noError = []float64{0, 0, 0, 0, 0, 0}
)

func scale(xs []float64, f float64) []float64 {
	out := make([]float64, len(xs))
	for i, x := range xs {
		out[i] = x * f
	}
	return out
}

func p95(b, c []float64) Samples {
	return Samples{Metric: "p95_latency", Unit: verdict.UnitSeconds, Baseline: b, Candidate: c}
}

func up(metric string, x float64) Budget   { return Budget{Metric: metric, MaxIncrease: ptr(x)} }
func down(metric string, x float64) Budget { return Budget{Metric: metric, MaxDecrease: ptr(x)} }

func TestCompare(t *testing.T) {
	tests := []struct {
		name    string
		samples []Samples
		budgets []Budget
		alpha   float64
		verdict verdict.Verdict
		status  []Status
		budget  []string // as shown, when checked
		why     string   // of the first row
	}{
		{
			name:    "a clear +20% shift over 6 rounds fails",
			samples: []Samples{p95(base, slower)},
			budgets: []Budget{up("p95_latency", 0.10)},
			verdict: verdict.Fail, status: []Status{Worse},
			why: "p95_latency +20% (20.1ms → 24.1ms, p=0.002) over its +10% budget",
		},
		{
			name:    "the same shift within a 30% budget passes, saying it moved",
			samples: []Samples{p95(base, slower)},
			budgets: []Budget{up("p95_latency", 0.30)},
			verdict: verdict.Pass, status: []Status{Same},
			why: "p95_latency +20% (20.1ms → 24.1ms, p=0.002) within its +30% budget",
		},
		{
			name:    "identical distributions pass",
			samples: []Samples{p95(base, slices.Clone(base))},
			budgets: []Budget{up("p95_latency", 0.10)},
			verdict: verdict.Pass, status: []Status{Same},
			why: "~ (p=1.000)",
		},
		{
			name:    "constant identical values pass though the U test cannot rank them",
			samples: []Samples{p95([]float64{0.02, 0.02, 0.02, 0.02}, []float64{0.02, 0.02, 0.02, 0.02})},
			budgets: []Budget{up("p95_latency", 0.10)},
			verdict: verdict.Pass, status: []Status{Same},
			why: "~ (p=1.000)",
		},
		{
			name:    "3 rounds are inconclusive, however clear the shift",
			samples: []Samples{p95(base[:3], slower[:3])},
			budgets: []Budget{up("p95_latency", 0.10)},
			verdict: verdict.Inconclusive, status: []Status{Inconclusive},
			why: "p95_latency: too few samples: 3 of 4 rounds (at α=0.05 no difference can be significant with fewer)",
		},
		{
			name:    "4 rounds of the same shift are enough to fail",
			samples: []Samples{p95(base[:4], slower[:4])},
			budgets: []Budget{up("p95_latency", 0.10)},
			verdict: verdict.Fail, status: []Status{Worse},
			why: "p95_latency +20% (20.2ms → 24.3ms, p=0.029) over its +10% budget",
		},
		{
			name:    "4 rounds are too few at alpha 0.01",
			samples: []Samples{p95(base[:4], slower[:4])},
			budgets: []Budget{up("p95_latency", 0.10)},
			alpha:   0.01,
			verdict: verdict.Inconclusive, status: []Status{Inconclusive},
			why: "p95_latency: too few samples: 4 of 5 rounds (at α=0.01 no difference can be significant with fewer)",
		},
		{
			name:    "unequal rounds are compared when the U test can still decide",
			samples: []Samples{p95(base[:4], slower)},
			budgets: []Budget{up("p95_latency", 0.10)},
			verdict: verdict.Fail, status: []Status{Worse},
		},
		{
			name:    "too few rounds on one side are inconclusive",
			samples: []Samples{p95(base[:2], slower)},
			budgets: []Budget{up("p95_latency", 0.10)},
			verdict: verdict.Inconclusive, status: []Status{Inconclusive},
			why: "p95_latency: too few samples: 2 baseline and 6 candidate rounds, 4 of each needed at α=0.05",
		},
		{
			name:    "noisy overlapping samples are the same",
			samples: []Samples{p95(noisyA, noisyB)},
			budgets: []Budget{up("p95_latency", 0.10)},
			verdict: verdict.Pass, status: []Status{Same},
			why: "~ (p=1.000)",
		},
		{
			name:    "a significant improvement is better",
			samples: []Samples{p95(base, faster)},
			budgets: []Budget{up("p95_latency", 0.10)},
			verdict: verdict.Pass, status: []Status{Better},
			why: "p95_latency -20% (20.1ms → 16.1ms, p=0.002): better",
		},
		{
			name:    "a throughput drop beyond its budget fails",
			samples: []Samples{{Metric: "throughput", Unit: verdict.UnitPerSecond, Baseline: rps, Candidate: scale(rps, 0.9)}},
			budgets: []Budget{down("throughput", 0.05)},
			verdict: verdict.Fail, status: []Status{Worse},
			why: "throughput -10% (100/s → 90/s, p=0.002) over its -5% budget",
		},
		{
			name:    "a throughput rise is better",
			samples: []Samples{{Metric: "throughput", Unit: verdict.UnitPerSecond, Baseline: rps, Candidate: scale(rps, 1.1)}},
			budgets: []Budget{down("throughput", 0.05)},
			verdict: verdict.Pass, status: []Status{Better},
		},
		{
			name: "the error rate moves in points: 0% to 2% fails a 0.5pp budget",
			samples: []Samples{{Metric: "error_rate", Unit: verdict.UnitRatio, Baseline: noError,
				Candidate: []float64{0.021, 0.019, 0.020, 0.022, 0.018, 0.020}}},
			budgets: []Budget{up("error_rate", 0.005)},
			verdict: verdict.Fail, status: []Status{Worse},
			why: "error_rate +2pp (0% → 2%, p=0.002) over its +0.5pp budget",
		},
		{
			name: "the error rate from 0% to 0.2% is within a 0.5pp budget",
			samples: []Samples{{Metric: "error_rate", Unit: verdict.UnitRatio, Baseline: noError,
				Candidate: []float64{0.0021, 0.0019, 0.0020, 0.0022, 0.0018, 0.0020}}},
			budgets: []Budget{up("error_rate", 0.005)},
			verdict: verdict.Pass, status: []Status{Same},
			why: "error_rate +0.2pp (0% → 0.2%, p=0.002) within its +0.5pp budget",
		},
		{
			name:    "no errors in either build is the same",
			samples: []Samples{{Metric: "error_rate", Unit: verdict.UnitRatio, Baseline: noError, Candidate: noError}},
			budgets: []Budget{up("error_rate", 0.005)},
			verdict: verdict.Pass, status: []Status{Same},
		},
		{
			name:    "a NaN round is inconclusive, never a pass",
			samples: []Samples{p95(base, []float64{0.02, math.NaN(), 0.02, 0.021, 0.0195, math.NaN()})},
			budgets: []Budget{up("p95_latency", 0.10)},
			verdict: verdict.Inconclusive, status: []Status{Inconclusive},
			why: "p95_latency: no data in candidate rounds 2, 6 of 6: a missing value is never a pass",
		},
		{
			name:    "an infinite round is inconclusive",
			samples: []Samples{p95([]float64{math.Inf(1), 0.02, 0.02, 0.02, 0.02, 0.02}, base)},
			budgets: []Budget{up("p95_latency", 0.10)},
			verdict: verdict.Inconclusive, status: []Status{Inconclusive},
			why: "p95_latency: no data in baseline round 1 of 6: a missing value is never a pass",
		},
		{
			name:    "a negative value is not a measurement",
			samples: []Samples{p95(base, []float64{0.02, -0.02, 0.02, 0.021, 0.0195, 0.02})},
			budgets: []Budget{up("p95_latency", 0.10)},
			verdict: verdict.Inconclusive, status: []Status{Inconclusive},
			why: "p95_latency: negative value in candidate round 2 of 6: not a measurement",
		},
		{
			name:    "a baseline round at 0 leaves no ratio",
			samples: []Samples{p95([]float64{0, 0.02, 0.02, 0.021, 0.0195, 0.02}, base)},
			budgets: []Budget{up("p95_latency", 0.10)},
			verdict: verdict.Inconclusive, status: []Status{Inconclusive},
			why: "p95_latency: the baseline has a round at 0, so a ratio to it means nothing",
		},
		{
			name:    "a budget without samples is inconclusive",
			samples: []Samples{p95(base, base)},
			budgets: []Budget{up("p95_latency", 0.10), up("p99_latency", 0.25)},
			verdict: verdict.Inconclusive, status: []Status{Same, Inconclusive},
			budget: []string{"+10%", "+25%"},
		},
		{
			name:    "samples without a budget are not compared",
			samples: []Samples{p95(base, slower), {Metric: "p99_latency", Unit: verdict.UnitSeconds, Baseline: base, Candidate: base}},
			budgets: []Budget{up("p99_latency", 0.25)},
			verdict: verdict.Pass, status: []Status{Same},
		},
		{
			name:    "a worse metric fails even beside an inconclusive one",
			samples: []Samples{p95(base, slower), {Metric: "p99_latency", Unit: verdict.UnitSeconds, Baseline: base[:3], Candidate: base[:3]}},
			budgets: []Budget{up("p95_latency", 0.10), up("p99_latency", 0.25)},
			verdict: verdict.Fail, status: []Status{Worse, Inconclusive},
		},
		{
			name:    "a budget with neither bound cannot be applied",
			samples: []Samples{p95(base, slower)},
			budgets: []Budget{{Metric: "p95_latency"}},
			verdict: verdict.Inconclusive, status: []Status{Inconclusive},
			why: "p95_latency: budget has neither max_increase nor max_decrease",
		},
		{
			name:    "a NaN budget cannot be applied",
			samples: []Samples{p95(base, slower)},
			budgets: []Budget{up("p95_latency", math.NaN())},
			verdict: verdict.Inconclusive, status: []Status{Inconclusive},
			why: "p95_latency: budget NaN is not a positive finite number",
		},
		{
			name:    "a metric budgeted twice is inconclusive the second time",
			samples: []Samples{p95(base, base)},
			budgets: []Budget{up("p95_latency", 0.10), up("p95_latency", 0.20)},
			verdict: verdict.Inconclusive, status: []Status{Same, Inconclusive},
		},
		{
			name:    "two sets of samples for one metric are inconclusive",
			samples: []Samples{p95(base, base), p95(base, slower)},
			budgets: []Budget{up("p95_latency", 0.10)},
			verdict: verdict.Inconclusive, status: []Status{Inconclusive},
			why: "p95_latency: 2 sets of samples where one is expected",
		},
		{
			name:    "an alpha outside (0, 0.5] decides nothing",
			samples: []Samples{p95(base, slower)},
			budgets: []Budget{up("p95_latency", 0.10)},
			alpha:   0.9,
			verdict: verdict.Inconclusive, status: []Status{Inconclusive},
			why: "alpha 0.9 is not a significance level in (0, 0.5]",
		},
		{
			name:    "nothing to compare cannot pass",
			samples: []Samples{p95(base, base)},
			verdict: verdict.Fail,
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			o := DefaultOptions
			if tt.alpha != 0 {
				o.Alpha = tt.alpha
			}
			res := Compare(tt.samples, tt.budgets, o)
			assert.Equal(t, tt.verdict, res.Verdict, res.Reason)
			assert.Equal(t, o.Alpha, res.Alpha)
			var got []Status
			for _, r := range res.Rows {
				got = append(got, r.Status)
				assert.Equal(t, r.Status == Worse, r.Fail, "only a worse row fails: %s", r.Why)
				assert.NotEmpty(t, r.Why)
			}
			assert.Equal(t, tt.status, got)
			if tt.budget != nil {
				var shown []string
				for _, r := range res.Rows {
					shown = append(shown, r.Budget)
				}
				assert.Equal(t, tt.budget, shown)
			}
			if tt.why != "" {
				require.NotEmpty(t, res.Rows)
				assert.Equal(t, tt.why, res.Rows[0].Why)
			}
			assert.NotEmpty(t, res.Reason)
		})
	}
}

func TestRowCarriesTheStatistics(t *testing.T) {
	res := Compare([]Samples{p95(base, slower)}, []Budget{up("p95_latency", 0.10)}, DefaultOptions)
	require.Len(t, res.Rows, 1)
	r := res.Rows[0]
	assert.Equal(t, "p95_latency", r.Metric)
	assert.Equal(t, verdict.UnitSeconds, r.Unit)
	assert.Equal(t, "+10%", r.Budget)
	// Medians, and their 95% intervals: with 6 rounds the extremes (96.9% confidence).
	assert.Equal(t, Summary{Center: 0.0201, Lo: 0.0195, Hi: 0.021, N: 6}, r.Baseline)
	assert.InDelta(t, 0.0201*1.2, r.Candidate.Center, 1e-12)
	assert.InDelta(t, 0.2, r.Delta, 1e-9)
	// Every candidate round is slower than every baseline round: p = 2/C(12, 6).
	assert.InDelta(t, 2.0/924, r.P, 1e-12)
	assert.True(t, r.Significant)
	// The interval holds the change and leaves out no change.
	assert.Less(t, r.DeltaLo, r.Delta)
	assert.Greater(t, r.DeltaHi, r.Delta)
	assert.Greater(t, r.DeltaLo, 0.1)
	assert.Equal(t, "fail", string(res.Verdict))
	assert.Equal(t, "1 of 1 metric worse beyond budget: p95_latency +20% (20.1ms → 24.1ms, p=0.002) over its +10% budget", res.Reason)
}

func TestCompareLeavesItsInputsAlone(t *testing.T) {
	b, c := slices.Clone(noisyA), slices.Clone(noisyB)
	Compare([]Samples{p95(b, c)}, []Budget{up("p95_latency", 0.1)}, DefaultOptions)
	Calibrate([]Samples{p95(b, c)}, DefaultOptions)
	assert.Equal(t, noisyA, b, "benchmath sorts in place: the rounds must keep their order")
	assert.Equal(t, noisyB, c)
}

func TestReasonSaysWhatPassed(t *testing.T) {
	res := Compare(
		[]Samples{p95(base, faster), {Metric: "p99_latency", Unit: verdict.UnitSeconds, Baseline: base, Candidate: slower}, {Metric: "peak_rss", Unit: verdict.UnitBytes, Baseline: noisyA, Candidate: noisyB}},
		[]Budget{up("p95_latency", 0.1), up("p99_latency", 0.25), up("peak_rss", 0.15)}, DefaultOptions)
	assert.Equal(t, verdict.Pass, res.Verdict)
	assert.Equal(t, "no metric of 3 worse beyond its budget: 1 better, 1 within budget, 1 ~", res.Reason)
}

func TestReasonListsAtMostThreeFailures(t *testing.T) {
	var ss []Samples
	var bs []Budget
	for _, m := range []string{"a", "b", "c", "d", "e"} {
		ss = append(ss, Samples{Metric: m, Unit: verdict.UnitSeconds, Baseline: base, Candidate: slower})
		bs = append(bs, up(m, 0.1))
	}
	res := Compare(ss, bs, DefaultOptions)
	assert.Equal(t, verdict.Fail, res.Verdict)
	assert.Regexp(t, `^5 of 5 metrics worse beyond budget: a \+20% .*; b .*; c .*; and 2 more$`, res.Reason)
}

// The interval goes with the test: it leaves out no change exactly when p < alpha.
func TestIntervalAgreesWithTheUTest(t *testing.T) {
	rng := rand.New(rand.NewPCG(1, 2))
	checked, significant := 0, 0
	for _, alpha := range []float64{0.05, 0.01, 0.1} {
		for n1 := 4; n1 <= 10; n1++ {
			for n2 := 4; n2 <= 10; n2 += 3 {
				for range 20 {
					shift := 1 + 0.12*rng.Float64()
					b, c := make([]float64, n1), make([]float64, n2)
					for i := range b {
						b[i] = 10 + rng.Float64()
					}
					for i := range c {
						c[i] = (10 + rng.Float64()) * shift
					}
					res := Compare([]Samples{p95(b, c)}, []Budget{up("p95_latency", 5)}, Options{Alpha: alpha})
					r := res.Rows[0]
					if r.Status == Inconclusive {
						continue
					}
					checked++
					if r.Significant {
						significant++
					}
					excludes := r.DeltaLo > 0 || r.DeltaHi < 0
					assert.Equal(t, r.Significant, excludes, "alpha %v, %d vs %d rounds: p=%v, interval [%v, %v]", alpha, n1, n2, r.P, r.DeltaLo, r.DeltaHi)
				}
			}
		}
	}
	// Both outcomes were exercised, or the agreement proves little.
	assert.Greater(t, checked, 300)
	assert.Greater(t, significant, checked/5)
	assert.Less(t, significant, checked*4/5)
}

func TestCalibrate(t *testing.T) {
	rng := rand.New(rand.NewPCG(3, 4))
	a, b := make([]float64, 8), make([]float64, 8)
	for i := range a {
		a[i] = 0.020 * (1 + 0.1*rng.NormFloat64())
		b[i] = 0.020 * (1 + 0.1*rng.NormFloat64())
	}
	noise := Calibrate([]Samples{
		p95(a, b),
		p95(base[:3], base[:3]),
		{Metric: "error_rate", Unit: verdict.UnitRatio, Baseline: []float64{0, 0.001, 0, 0, 0.002, 0}, Candidate: []float64{0.001, 0, 0, 0, 0, 0.001}},
		{Metric: "rss", Unit: verdict.UnitBytes, Baseline: base, Candidate: slower},
	}, DefaultOptions)
	require.Len(t, noise, 4)

	n := noise[0]
	assert.Equal(t, "p95_latency", n.Metric)
	assert.Equal(t, 8, n.N)
	assert.GreaterOrEqual(t, n.P, DefaultOptions.Alpha, "two slots of one build do not differ")
	assert.Greater(t, n.Spread, 0.05)
	assert.Greater(t, n.MinDetectable, 0.0)
	assert.Less(t, n.MinDetectable, n.Spread, "the interval of the median shift is narrower than the widest pair")

	// MinDetectable is what it says: a shift a little over it is significant both
	// ways, and a little under it is not significant in at least one direction.
	detected := func(f float64) bool {
		return Compare([]Samples{p95(a, scale(b, f))}, []Budget{up("p95_latency", 5)}, DefaultOptions).Rows[0].Significant
	}
	over, under := n.MinDetectable*1.02, n.MinDetectable*0.98
	assert.True(t, detected(1+over), "a rise of %v is detectable", over)
	assert.True(t, detected(1-over), "a drop of %v is detectable", over)
	assert.False(t, detected(1+under) && detected(1-under), "a shift of %v is not detectable both ways", under)

	assert.True(t, math.IsInf(noise[1].MinDetectable, 1), "three rounds detect nothing")
	assert.Contains(t, noise[1].Why, "too few samples")

	assert.InDelta(t, 0.002, noise[2].Spread, 1e-12, "the error rate spreads in points")
	assert.Equal(t, "error_rate: rounds of one build differ by up to 0.2pp; a change under 0.1pp mostly reads ~ at α=0.05 with 6 rounds", noise[2].Why)

	assert.Less(t, noise[3].P, DefaultOptions.Alpha)
	assert.Contains(t, noise[3].Why, "the two slots differ (p=0.002), so suspect the order of rounds or a drifting runner")

	bad := Calibrate([]Samples{p95(a, b)}, Options{})
	assert.True(t, math.IsInf(bad[0].MinDetectable, 1))
	assert.Contains(t, bad[0].Why, "alpha 0 is not a significance level")
}

func TestFormat(t *testing.T) {
	for _, tt := range []struct {
		d    float64
		u    verdict.Unit
		want string
	}{
		{0.142, verdict.UnitSeconds, "+14.2%"},
		{-0.05, verdict.UnitPerSecond, "-5%"},
		{0, verdict.UnitBytes, "0%"},
		{0.005, verdict.UnitRatio, "+0.5pp"},
		{0.0012, verdict.UnitRatio, "+0.12pp"},
		{math.Inf(1), verdict.UnitSeconds, "+∞%"},
		{math.NaN(), verdict.UnitSeconds, "n/a"},
	} {
		assert.Equal(t, tt.want, FormatDelta(tt.d, tt.u), "%v %s", tt.d, tt.u)
	}
	assert.Equal(t, "[+8.1%, +19.7%]", FormatInterval(0.081, 0.197, verdict.UnitSeconds))
	assert.Equal(t, "±∞", FormatInterval(math.Inf(-1), math.Inf(1), verdict.UnitSeconds))
	assert.Equal(t, "p=0.002", FormatP(2.0/924))
	assert.Equal(t, "p<0.001", FormatP(0.0002))
	assert.Equal(t, "p=1.000", FormatP(1))
}
