package compare

import (
	"math"
	"math/rand/v2"
	"slices"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/perfgate/perfgate/perftest/internal/verdict"
	"github.com/perfgate/perfgate/thresholds"
	"github.com/perfgate/perfgate/thresholds/units"
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
	return Samples{Metric: "p95_latency", Unit: units.Seconds, Baseline: b, Candidate: c}
}

// errors are error_rate samples of rounds of 1,000 requests with these errors each.
func errors(base, cand []int64) Samples {
	s := Samples{Metric: "error_rate", Unit: units.Ratio}
	for _, e := range base {
		s.Baseline = append(s.Baseline, float64(e)/1000)
		s.BaselineCounts = append(s.BaselineCounts, Count{Events: e, Trials: 1000})
	}
	for _, e := range cand {
		s.Candidate = append(s.Candidate, float64(e)/1000)
		s.CandidateCounts = append(s.CandidateCounts, Count{Events: e, Trials: 1000})
	}
	return s
}

func errors6(b ...int64) func(c ...int64) Samples {
	return func(c ...int64) Samples { return errors(b, c) }
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
			why: "p95_latency +20% (20.1ms → 24.1ms, p=0.031) over its +10% budget",
		},
		{
			name:    "the same shift within a 30% budget passes, saying it moved",
			samples: []Samples{p95(base, slower)},
			budgets: []Budget{up("p95_latency", 0.30)},
			verdict: verdict.Pass, status: []Status{Same},
			why: "p95_latency +20% (20.1ms → 24.1ms, p=0.031) within its +30% budget",
		},
		{
			name: "a leak of 200 bytes a request fails on heap_growth, against a baseline that grows and shrinks around 0",
			samples: []Samples{{Metric: "heap_growth", Unit: units.BytesPer1k,
				Baseline:  []float64{-30e3, 12e3, 41e3, -8e3, 0, 25e3},
				Candidate: []float64{190e3, 230e3, 205e3, 260e3, 185e3, 214e3}}},
			budgets: []Budget{up("heap_growth", 64<<10)},
			verdict: verdict.Fail, status: []Status{Worse},
			budget: []string{"+64KiB/1k"},
			why:    "heap_growth +199KiB/1k (5.86KiB/1k → 205KiB/1k, p=0.031) over its +64KiB/1k budget",
		},
		{
			name: "its twin: the same noise around 0 on both sides is the same, negative rounds and all",
			samples: []Samples{{Metric: "heap_growth", Unit: units.BytesPer1k,
				Baseline:  []float64{-30e3, 12e3, 41e3, -8e3, 0, 25e3},
				Candidate: []float64{22e3, -15e3, 3e3, 30e3, -41e3, 9e3}}},
			budgets: []Budget{up("heap_growth", 64<<10)},
			verdict: verdict.Pass, status: []Status{Same},
		},
		{
			name:    "identical distributions pass",
			samples: []Samples{p95(base, slices.Clone(base))},
			budgets: []Budget{up("p95_latency", 0.10)},
			verdict: verdict.Pass, status: []Status{Same},
			why: "~ (p=1.000)",
		},
		{
			name:    "constant identical values pass: every pair is a tie",
			samples: []Samples{p95([]float64{0.02, 0.02, 0.02, 0.02, 0.02, 0.02}, []float64{0.02, 0.02, 0.02, 0.02, 0.02, 0.02})},
			budgets: []Budget{up("p95_latency", 0.10)},
			verdict: verdict.Pass, status: []Status{Same},
			why: "~ (p=1.000)",
		},
		{
			name: "4 of 10 pairs tied and the other 6 down 12% cannot tell: 6 untied pairs never reach p < 0.01",
			samples: []Samples{{Metric: "throughput", Unit: units.PerSecond,
				Baseline:  []float64{400, 400, 400, 400, 400, 400, 400, 400, 400, 400},
				Candidate: []float64{400, 352, 400, 352, 352, 400, 352, 400, 352, 352}}},
			budgets: []Budget{down("throughput", 0.05)},
			alpha:   0.01,
			verdict: verdict.Inconclusive, status: []Status{Inconclusive},
			why: "throughput: only 6 of 10 pairs differ, the rest tie, and 6 untied pairs cannot reach p < α=0.01 (8 can); 6 of them beyond the budget: cannot tell",
		},
		{
			name: "tied pairs with every untied pair within budget are the same",
			samples: []Samples{{Metric: "throughput", Unit: units.PerSecond,
				Baseline:  []float64{400, 400, 400, 400, 400, 400, 400, 400, 400, 400},
				Candidate: []float64{400, 399.75, 400, 399.75, 400, 400, 400.25, 400, 400, 400}}},
			budgets: []Budget{down("throughput", 0.05)},
			alpha:   0.01,
			verdict: verdict.Pass, status: []Status{Same},
		},
		{
			name:    "5 pairs are inconclusive, however clear the shift",
			samples: []Samples{p95(base[:5], slower[:5])},
			budgets: []Budget{up("p95_latency", 0.10)},
			verdict: verdict.Inconclusive, status: []Status{Inconclusive},
			why: "p95_latency: too few samples: 5 pairs of rounds (at α=0.05 no difference can be significant with fewer than 6)",
		},
		{
			name:    "6 pairs of the same shift are enough to fail",
			samples: []Samples{p95(base, slower)},
			budgets: []Budget{up("p95_latency", 0.10)},
			verdict: verdict.Fail, status: []Status{Worse},
			why: "p95_latency +20% (20.1ms → 24.1ms, p=0.031) over its +10% budget",
		},
		{
			name:    "6 pairs are too few at alpha 0.01",
			samples: []Samples{p95(base, slower)},
			budgets: []Budget{up("p95_latency", 0.10)},
			alpha:   0.01,
			verdict: verdict.Inconclusive, status: []Status{Inconclusive},
			why: "p95_latency: too few samples: 6 pairs of rounds (at α=0.01 no difference can be significant with fewer than 8)",
		},
		{
			name:    "unequal rounds cannot be paired",
			samples: []Samples{p95(base[:4], slower)},
			budgets: []Budget{up("p95_latency", 0.10)},
			verdict: verdict.Inconclusive, status: []Status{Inconclusive},
			why: "p95_latency: 4 baseline and 6 candidate rounds: rounds are compared in pairs",
		},
		{
			name:    "noisy overlapping samples are the same",
			samples: []Samples{p95(noisyA, noisyB)},
			budgets: []Budget{up("p95_latency", 0.10)},
			verdict: verdict.Pass, status: []Status{Same},
			why: "~ (p=0.844)",
		},
		{
			name:    "a significant improvement is better",
			samples: []Samples{p95(base, faster)},
			budgets: []Budget{up("p95_latency", 0.10)},
			verdict: verdict.Pass, status: []Status{Better},
			why: "p95_latency -20% (20.1ms → 16.1ms, p=0.031): better",
		},
		{
			name:    "a throughput drop beyond its budget fails",
			samples: []Samples{{Metric: "throughput", Unit: units.PerSecond, Baseline: rps, Candidate: scale(rps, 0.9)}},
			budgets: []Budget{down("throughput", 0.05)},
			verdict: verdict.Fail, status: []Status{Worse},
			why: "throughput -10% (100/s → 90/s, p=0.031) over its -5% budget",
		},
		{
			name:    "a throughput rise is better",
			samples: []Samples{{Metric: "throughput", Unit: units.PerSecond, Baseline: rps, Candidate: scale(rps, 1.1)}},
			budgets: []Budget{down("throughput", 0.05)},
			verdict: verdict.Pass, status: []Status{Better},
		},
		{
			name:    "the error rate moves in points: 0% to 2% fails a 0.5pp budget",
			samples: []Samples{errors6(0, 0, 0, 0, 0, 0)(21, 19, 20, 22, 18, 20)},
			budgets: []Budget{up("error_rate", 0.005)},
			verdict: verdict.Fail, status: []Status{Worse},
			why: "error_rate +2pp (0% → 2%, p<0.001) over its +0.5pp budget",
		},
		{
			name:    "the error rate from 0% to 0.2% is within a 0.5pp budget",
			samples: []Samples{errors6(0, 0, 0, 0, 0, 0)(2, 2, 2, 2, 2, 2)},
			budgets: []Budget{up("error_rate", 0.005)},
			verdict: verdict.Pass, status: []Status{Same},
			why: "error_rate +0.2pp (0% → 0.2%, p<0.001) within its +0.5pp budget",
		},
		{
			name:    "errors in 3 of 8 rounds fail, though the median round has none",
			samples: []Samples{errors(make([]int64, 8), []int64{0, 100, 0, 0, 100, 0, 100, 0})},
			budgets: []Budget{up("error_rate", 0.005)},
			verdict: verdict.Fail, status: []Status{Worse},
			why: "error_rate +3.8pp (0% → 3.75%, p<0.001) over its +0.5pp budget",
		},
		{
			name:    "no errors in either build is the same",
			samples: []Samples{errors6(0, 0, 0, 0, 0, 0)(0, 0, 0, 0, 0, 0)},
			budgets: []Budget{up("error_rate", 0.005)},
			verdict: verdict.Pass, status: []Status{Same},
		},
		{
			name: "a round that counted no request is inconclusive",
			samples: []Samples{func() Samples {
				s := errors6(0, 0, 0, 0, 0, 0)(0, 0, 0, 0, 0, 0)
				s.CandidateCounts[3].Trials = 0
				return s
			}()},
			budgets: []Budget{up("error_rate", 0.005)},
			verdict: verdict.Inconclusive, status: []Status{Inconclusive},
			why: "error_rate: no requests counted in candidate round 4 of 6: a missing value is never a pass",
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
			why: "p95_latency: baseline round 1 at 0, so a ratio to it means nothing",
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
			samples: []Samples{p95(base, slower), {Metric: "p99_latency", Unit: units.Seconds, Baseline: base, Candidate: base}},
			budgets: []Budget{up("p99_latency", 0.25)},
			verdict: verdict.Pass, status: []Status{Same},
		},
		{
			name:    "a worse metric fails even beside an inconclusive one",
			samples: []Samples{p95(base, slower), {Metric: "p99_latency", Unit: units.Seconds, Baseline: base[:3], Candidate: slower[:3]}},
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
	cand := []float64{0.0240, 0.0255, 0.0232, 0.0250, 0.0238, 0.0241} // each pair 17–22% slower
	res := Compare([]Samples{p95(base, cand)}, []Budget{up("p95_latency", 0.10)}, DefaultOptions)
	require.Len(t, res.Rows, 1)
	r := res.Rows[0]
	assert.Equal(t, "p95_latency", r.Metric)
	assert.Equal(t, units.Seconds, r.Unit)
	assert.Equal(t, "+10%", r.Budget)
	assert.Equal(t, "signed-rank", r.Test)
	// Medians, and their 95% intervals: with 6 rounds the extremes (96.9% confidence).
	assert.Equal(t, Summary{Center: 0.0201, Lo: 0.0195, Hi: 0.021, N: 6}, r.Baseline)
	// Every pair moved up: the smallest two-sided p of 6 pairs, 2/64.
	assert.InDelta(t, 2.0/64, r.P, 1e-12)
	assert.True(t, r.Significant)
	// The interval holds the change and leaves out no change.
	assert.Less(t, r.DeltaLo, r.Delta)
	assert.Greater(t, r.DeltaHi, r.Delta)
	assert.Greater(t, r.DeltaLo, 0.1)
	assert.InDelta(t, 0.19, r.Delta, 0.02)
	assert.Equal(t, base, r.BaselineRounds, "the rounds as measured, for the report's charts")
	assert.Equal(t, cand, r.CandidateRounds)
	assert.Equal(t, "fail", string(res.Verdict))
	assert.Regexp(t, `^1 of 1 metric worse beyond budget: p95_latency \+(19|20)\.\d% \(20\.1ms → 24\.1ms, p=0\.031\) over its \+10% budget$`, res.Reason)
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
		[]Samples{p95(base, faster), {Metric: "p99_latency", Unit: units.Seconds, Baseline: base, Candidate: slower}, {Metric: "peak_rss", Unit: units.Bytes, Baseline: noisyA, Candidate: noisyB}},
		[]Budget{up("p95_latency", 0.1), up("p99_latency", 0.25), up("peak_rss", 0.15)}, DefaultOptions)
	assert.Equal(t, verdict.Pass, res.Verdict)
	assert.Equal(t, "no metric of 3 worse beyond its budget: 1 better, 1 within budget, 1 ~", res.Reason)
}

func TestReasonListsAtMostThreeFailures(t *testing.T) {
	var ss []Samples
	var bs []Budget
	for _, m := range []string{"a", "b", "c", "d", "e"} {
		ss = append(ss, Samples{Metric: m, Unit: units.Seconds, Baseline: base, Candidate: slower})
		bs = append(bs, up(m, 0.1))
	}
	res := Compare(ss, bs, DefaultOptions)
	assert.Equal(t, verdict.Fail, res.Verdict)
	assert.Regexp(t, `^5 of 5 metrics worse beyond budget: a \+20% .*; b .*; c .*; and 2 more$`, res.Reason)
}

// The interval goes with the test: it leaves out no change exactly when p < alpha.
func TestIntervalAgreesWithTheSignedRankTest(t *testing.T) {
	rng := rand.New(rand.NewPCG(1, 2))
	checked, significant := 0, 0
	for _, alpha := range []float64{0.05, 0.01, 0.1} {
		for n := thresholds.PairsNeeded(alpha); n <= 16; n++ {
			for range 30 {
				shift := 1 + 0.06*rng.Float64()
				b, c := make([]float64, n), make([]float64, n)
				for i := range b {
					b[i] = 10 + rng.Float64()
					c[i] = b[i] * shift * (1 + 0.05*rng.NormFloat64())
				}
				r := Compare([]Samples{p95(b, c)}, []Budget{up("p95_latency", 5)}, Options{Alpha: alpha}).Rows[0]
				require.NotEqual(t, Inconclusive, r.Status, r.Why)
				checked++
				if r.Significant {
					significant++
				}
				excludes := r.DeltaLo > 0 || r.DeltaHi < 0
				assert.Equal(t, r.Significant, excludes, "alpha %v, %d pairs: p=%v, interval [%v, %v]", alpha, n, r.P, r.DeltaLo, r.DeltaHi)
			}
		}
	}
	// Both outcomes were exercised, or the agreement proves little.
	assert.Greater(t, checked, 600)
	assert.Greater(t, significant, checked/5)
	assert.Less(t, significant, checked*4/5)
}

// The exact signed-rank test agrees with R's wilcox.test(x, y, paired = TRUE).
func TestSignedRankMatchesR(t *testing.T) {
	// R's ?wilcox.test example (Hollander & Wolfe): V = 40, p-value = 0.03906.
	x := []float64{1.83, 0.50, 1.62, 2.48, 1.68, 1.88, 1.55, 3.06, 1.30}
	y := []float64{0.878, 0.647, 0.598, 2.05, 1.06, 1.29, 1.06, 3.14, 1.29}
	d := make([]float64, len(x))
	for i := range x {
		d[i] = x[i] - y[i]
	}
	assert.InDelta(t, 0.0390625, signedRank(d), 1e-9)
	// 10 pairs, all up but the smallest: 2·P(V ≥ 54) = 2·2/1024.
	assert.InDelta(t, 4.0/1024, signedRank([]float64{-1, 2, 3, 4, 5, 6, 7, 8, 9, 10}), 1e-12)
	// psignrank(3, 10) = 5/1024: the interval at α=0.01 drops 4 Walsh averages each side.
	assert.Equal(t, 4, tukeyCut(10, 0.01))
	assert.Equal(t, 0, tukeyCut(7, 0.01), "7 pairs cannot reach p < 0.01")
	assert.Equal(t, 1.0, signedRank([]float64{0, 0, 0}))
	// Ties share a midrank: |d| = 1, 1, 2 → ranks 1.5, 1.5, 3 and V = 4.5, which 3 of
	// the 8 equally likely sign patterns reach or pass: p = 2·3/8.
	assert.InDelta(t, 0.75, signedRank([]float64{1, -1, 2}), 1e-12)
}

// Fisher's exact test agrees with R's fisher.test.
func TestFisherMatchesR(t *testing.T) {
	// The lady tasting tea: fisher.test(matrix(c(3, 1, 1, 3), 2)), p = 0.4857.
	assert.InDelta(t, 0.4857143, fisher(Count{3, 4}, Count{1, 4}), 1e-6)
	// All 10 errors in one build of two with 1,000 requests each: both tails of
	// C(1000,10)/C(2000,10), the product below.
	tail := 1.0
	for i := range 10 {
		tail *= float64(1000-i) / float64(2000-i)
	}
	assert.InDelta(t, 2*tail, fisher(Count{0, 1000}, Count{10, 1000}), 1e-12)
	assert.Equal(t, 1.0, fisher(Count{0, 1000}, Count{0, 1000}))
}

// Pairs absorb the machine's drift: the case the unpaired U test lost. Each
// pair of rounds shares a slowdown of up to ±drift; the candidate is +10% with
// 3% noise per round. Rates over 300 simulated comparisons of 10 pairs at α=0.01.
func TestPairingSurvivesDrift(t *testing.T) {
	rng := rand.New(rand.NewPCG(5, 6))
	const sims, pairs, alpha = 300, 10, 0.01
	for _, drift := range []float64{0, 0.05, 0.10} {
		caught, alarms := 0, 0
		for range sims {
			b, c, aa := make([]float64, pairs), make([]float64, pairs), make([]float64, pairs)
			for i := range b {
				m := 1 + drift*(2*rng.Float64()-1)
				b[i] = m * (1 + 0.03*rng.NormFloat64())
				c[i] = m * 1.10 * (1 + 0.03*rng.NormFloat64())
				aa[i] = m * (1 + 0.03*rng.NormFloat64())
			}
			o := Options{Alpha: alpha}
			if Compare([]Samples{p95(b, c)}, []Budget{up("p95_latency", 0.05)}, o).Verdict == verdict.Fail {
				caught++
			}
			if Compare([]Samples{p95(b, aa)}, []Budget{up("p95_latency", 0.05)}, o).Rows[0].Significant {
				alarms++
			}
		}
		t.Logf("drift ±%.0f%%: +10%% caught %d/%d, A/A significant %d/%d", drift*100, caught, sims, alarms, sims)
		assert.Greater(t, caught, sims*85/100, "drift %v", drift)
		assert.Less(t, alarms, sims*3/100, "drift %v", drift)
	}
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
		{Metric: "error_rate", Unit: units.Ratio, Baseline: []float64{0, 0.001, 0, 0, 0.002, 0}, Candidate: []float64{0.001, 0, 0, 0, 0, 0.001}},
		{Metric: "rss", Unit: units.Bytes, Baseline: base, Candidate: slower},
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
	assert.Equal(t, "error_rate: rounds of one build differ by up to 0.2pp; a change under 0.2pp mostly reads ~ at α=0.05 with 6 rounds", noise[2].Why)

	assert.Less(t, noise[3].P, DefaultOptions.Alpha)
	assert.Contains(t, noise[3].Why, "the two slots differ (p=0.031), so suspect the order of rounds or a drifting runner")

	bad := Calibrate([]Samples{p95(a, b)}, Options{})
	assert.True(t, math.IsInf(bad[0].MinDetectable, 1))
	assert.Contains(t, bad[0].Why, "alpha 0 is not a significance level")
}

func TestFormatP(t *testing.T) {
	assert.Equal(t, "p=0.002", FormatP(2.0/924))
	assert.Equal(t, "p<0.001", FormatP(0.0002))
	assert.Equal(t, "p=1.000", FormatP(1))
}
