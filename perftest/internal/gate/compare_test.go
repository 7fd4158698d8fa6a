package gate

import (
	"math"
	"slices"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/perfgate/perfgate/perftest/internal/compare"
	"github.com/perfgate/perfgate/perftest/internal/load"
	"github.com/perfgate/perfgate/perftest/internal/promq"
	"github.com/perfgate/perfgate/perftest/internal/verdict"
	"github.com/perfgate/perfgate/thresholds"
	"github.com/perfgate/perfgate/thresholds/units"
)

func TestRoundsInterleaveInPairs(t *testing.T) {
	assert.Equal(t, [2]string{Baseline, Candidate}, pairOrder(0))
	assert.Equal(t, [2]string{Candidate, Baseline}, pairOrder(1))
	assert.Equal(t, [2]string{Baseline, Candidate}, pairOrder(2))
	assert.Equal(t, 4, ExtraPairs(10))
	assert.Equal(t, 2, ExtraPairs(3), "a small plan still gets two")
}

func TestSamplesGatherEachVariantsRoundsInOrder(t *testing.T) {
	rounds := []Round{
		{Variant: Baseline, Values: map[string]float64{thresholds.CompareP95: 1, thresholds.ComparePeakRSS: 10}},
		{Variant: Candidate, Values: map[string]float64{thresholds.CompareP95: 2}},
		{Variant: Candidate, Values: map[string]float64{thresholds.CompareP95: 3, thresholds.ComparePeakRSS: 30}},
		{Variant: Baseline, Values: map[string]float64{thresholds.CompareP95: 4, thresholds.ComparePeakRSS: 40}},
	}
	s := Samples(rounds, thresholds.Compare{Metrics: []thresholds.Budget{{Metric: thresholds.CompareP95}, {Metric: thresholds.ComparePeakRSS}}, Rounds: 2})
	require.Len(t, s, 2)
	assert.Equal(t, []float64{1, 4}, s[0].Baseline)
	assert.Equal(t, []float64{2, 3}, s[0].Candidate)
	assert.Equal(t, units.Seconds, s[0].Unit)
	assert.Equal(t, []float64{10, 40}, s[1].Baseline)
	require.Len(t, s[1].Candidate, 2)
	assert.True(t, math.IsNaN(s[1].Candidate[0]), "a round without the figure stays, as missing: pairs keep their places and the comparison names it")
	assert.Equal(t, 30.0, s[1].Candidate[1])
	assert.Equal(t, units.Bytes, s[1].Unit)
}

// With contention pairs, the wait is read from them alone and every other
// metric from the evenly paced pairs: a burst's CPU never blurs the CPU
// compared, and a wait measured evenly paced never dilutes the contended one.
func TestSamplesReadTheWaitFromTheContentionPairsAlone(t *testing.T) {
	v := func(cpu, wait float64) map[string]float64 {
		return map[string]float64{thresholds.CompareCPUPerRequest: cpu, thresholds.CompareWaitPerRequest: wait}
	}
	rounds := []Round{
		{Variant: Baseline, Pair: 0, Values: v(1, 0.1)}, {Variant: Candidate, Pair: 0, Values: v(2, 0.2)},
		{Variant: Candidate, Pair: 1, Burst: 8, Values: v(30, 40)}, {Variant: Baseline, Pair: 1, Burst: 8, Values: v(10, 20)},
	}
	budgets := []thresholds.Budget{{Metric: thresholds.CompareCPUPerRequest}, {Metric: thresholds.CompareWaitPerRequest}}
	s := Samples(rounds, thresholds.Compare{Metrics: budgets, Rounds: 1, Contention: &thresholds.Contention{Rounds: 1, Burst: 8}})
	assert.Equal(t, []float64{1}, s[0].Baseline, "CPU from the evenly paced pair")
	assert.Equal(t, []float64{2}, s[0].Candidate)
	assert.Equal(t, []float64{20}, s[1].Baseline, "the wait from the contention pair")
	assert.Equal(t, []float64{40}, s[1].Candidate)

	s = Samples(rounds[:2], thresholds.Compare{Metrics: budgets, Rounds: 1})
	assert.Equal(t, []float64{0.1}, s[1].Baseline, "without contention pairs the wait is read where every metric is")

	lost := append(slices.Clone(rounds),
		Round{Variant: Baseline, Pair: 2, Burst: 8, Values: v(10, 20)},
		Round{Variant: Candidate, Pair: 2, Burst: 8, Values: map[string]float64{thresholds.CompareCPUPerRequest: 30}})
	assert.Equal(t, []int{2}, pairsMissing(lost, thresholds.Compare{Metrics: budgets, Rounds: 1, Contention: &thresholds.Contention{Rounds: 2, Burst: 8}}),
		"a contention pair without its wait runs again; the evenly paced pair, which has none either, need not")
}

// The resident set's growth is judged by its trend: every pair of the run in
// the order it ran, evenly paced or in bursts, with each round's level and
// requests served; each round's own growth is kept to show.
func TestSamplesGiveTheTrendEveryPairInTheOrderRun(t *testing.T) {
	v := func(growth, level, n float64) map[string]float64 {
		return map[string]float64{thresholds.CompareRSSGrowth: growth, levelOf(thresholds.CompareRSSGrowth): level, servedKey: n}
	}
	rounds := []Round{
		{Variant: Baseline, Pair: 0, Values: v(1, 100, 10)}, {Variant: Candidate, Pair: 0, Values: v(2, 200, 11)},
		{Variant: Candidate, Pair: 1, Burst: 8, Values: v(3, 300, 21)}, {Variant: Baseline, Pair: 1, Burst: 8, Values: v(4, 400, 20)},
		{Variant: Baseline, Pair: 2, Burst: 8, Values: map[string]float64{thresholds.CompareRSSGrowth: 5}}, {Variant: Candidate, Pair: 2, Burst: 8, Values: v(6, 600, 31)},
	}
	c := thresholds.Compare{Metrics: []thresholds.Budget{{Metric: thresholds.CompareRSSGrowth}}, Rounds: 1, Contention: &thresholds.Contention{Rounds: 2, Burst: 8}}
	s := Samples(rounds, c)
	require.Len(t, s, 1)
	require.NotNil(t, s[0].Trend)
	assert.Equal(t, []float64{1, 4, 5}, s[0].Baseline, "each round's own growth")
	assert.Equal(t, []float64{2, 3, 6}, s[0].Candidate)
	assert.Equal(t, []float64{200, 300, 600}, s[0].Trend.CandidateLevels)
	assert.Equal(t, []float64{11, 21, 31}, s[0].Trend.CandidateServed)
	assert.Equal(t, 400.0, s[0].Trend.BaselineLevels[1])
	assert.True(t, math.IsNaN(s[0].Trend.BaselineLevels[2]) && math.IsNaN(s[0].Trend.BaselineServed[2]),
		"a round without its level stays, as missing, and the comparison names it")

	c.Metrics = []thresholds.Budget{{Metric: thresholds.CompareHeapGrowth}}
	assert.Nil(t, Samples(rounds, c)[0].Trend, "the live heap's growth is judged pair by pair")
}

// A round the generator cannot vouch for (stalled, behind) counts as missing
// for what the generator measures, when no other pair can take its place.
func TestSamplesLeaveUnsoundRoundsMissing(t *testing.T) {
	rounds := []Round{
		{Variant: Baseline, Values: map[string]float64{thresholds.CompareP95: 1}},
		{Variant: Candidate, Values: map[string]float64{thresholds.CompareP95: 2}, Unsound: "generator stalled"},
	}
	s := Samples(rounds, thresholds.Compare{Metrics: []thresholds.Budget{{Metric: thresholds.CompareP95}}, Rounds: 1})
	assert.True(t, math.IsNaN(s[0].Candidate[0]))
}

// A pair that ran again takes the place of the one that could not count, for
// the figures the generator measures; costs per request keep both.
func TestSamplesTakeTheRerunInPlaceOfAnUnsoundPair(t *testing.T) {
	v := func(p95, allocs float64) map[string]float64 {
		return map[string]float64{thresholds.CompareP95: p95, thresholds.CompareAllocs: allocs}
	}
	rounds := []Round{
		{Variant: Baseline, Pair: 0, Values: v(1, 10)}, {Variant: Candidate, Pair: 0, Values: v(2, 20)},
		{Variant: Candidate, Pair: 1, Values: v(30, 21), Unsound: "generator stalled"}, {Variant: Baseline, Pair: 1, Values: v(3, 11)},
		{Variant: Candidate, Pair: 1, Values: v(4, 22)}, {Variant: Baseline, Pair: 1, Values: v(5, 12)},
	}
	s := Samples(rounds, thresholds.Compare{Metrics: []thresholds.Budget{{Metric: thresholds.CompareP95}, {Metric: thresholds.CompareAllocs}}, Rounds: 2})
	assert.Equal(t, []float64{1, 5}, s[0].Baseline, "the stalled pair is left out of p95")
	assert.Equal(t, []float64{2, 4}, s[0].Candidate)
	assert.Equal(t, []float64{10, 11, 12}, s[1].Baseline, "allocations per request count in every round")
	assert.Equal(t, []float64{20, 21, 22}, s[1].Candidate)

	require.Len(t, compare.Compare(Samples(rounds[:4], thresholds.Compare{Metrics: []thresholds.Budget{{Metric: thresholds.CompareP95}}, Rounds: 2}),
		[]compare.Budget{{Metric: thresholds.CompareP95, MaxIncrease: ptr(0.1)}}, compare.DefaultOptions).Rows, 1)
	s = Samples(rounds[:4], thresholds.Compare{Metrics: []thresholds.Budget{{Metric: thresholds.CompareP95}}, Rounds: 2})
	assert.True(t, math.IsNaN(s[0].Candidate[1]), "without the re-run, the stalled round is named as missing")
}

// Stalls on a busy runner cost their pairs: each runs again with the same
// sequence until the budget of extra pairs is spent, and then no more.
func TestScheduleRunsUnsoundPairsAgainWithinTheBudget(t *testing.T) {
	s := newSchedule(10)
	stalls := map[int]int{2: 2, 6: 1, 8: 2} // pair → how many of its runs stall
	var ran []int
	for k, ok := s.next(); ok; k, ok = s.next() {
		ran = append(ran, k)
		if stalls[k] > 0 {
			stalls[k]--
			s.again(k, "round x cannot count: generator stalled")
		}
	}
	assert.Equal(t, []int{0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 2, 6, 8, 2}, ran, "4 extra pairs, then the budget is spent")
	assert.Equal(t, []string{
		"pair 3 ran again: round x cannot count: generator stalled",
		"pair 7 ran again: round x cannot count: generator stalled",
		"pair 9 ran again: round x cannot count: generator stalled",
		"pair 3 ran again: round x cannot count: generator stalled",
	}, s.reruns)
	assert.False(t, s.again(8, "again"), "the fifth extra pair is refused")
}

func TestPairsMissingAValueRunAgainUnlessNoPairHasIt(t *testing.T) {
	rounds := []Round{
		{Variant: Baseline, Pair: 0, Values: map[string]float64{"allocs_per_request": 1}},
		{Variant: Candidate, Pair: 0, Values: map[string]float64{"allocs_per_request": 1}},
		{Variant: Candidate, Pair: 1, Values: map[string]float64{}},
		{Variant: Baseline, Pair: 1, Values: map[string]float64{"allocs_per_request": 1}},
	}
	assert.Equal(t, []int{1}, pairsMissing(rounds, thresholds.Compare{Metrics: []thresholds.Budget{{Metric: "allocs_per_request"}}}))
	assert.Empty(t, pairsMissing(rounds, thresholds.Compare{Metrics: []thresholds.Budget{{Metric: "gc_per_request"}}}), "a figure the service does not export")
}

// The error rate goes to the comparison as counts, pooled there.
func TestSamplesCarryErrorCounts(t *testing.T) {
	rounds := []Round{
		{Variant: Baseline, Values: map[string]float64{thresholds.CompareErrorRate: 0}, Errors: compare.Count{Events: 0, Trials: 400}},
		{Variant: Candidate, Values: map[string]float64{thresholds.CompareErrorRate: 0.1}, Errors: compare.Count{Events: 40, Trials: 400}},
	}
	s := Samples(rounds, thresholds.Compare{Metrics: []thresholds.Budget{{Metric: thresholds.CompareErrorRate}}, Rounds: 1})
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

// A short stall of the generator costs no round: its latency comes from the
// requests that left on time. A long one, or a generator behind, does.
func TestRoundUnsoundOnlyWhenTheStallIsLong(t *testing.T) {
	round := func(late int64, achieved float64) *load.Result {
		return &load.Result{TargetRate: 400, AchievedRate: achieved, Sent: 1600, Completed: 1600, Late: late}
	}
	assert.Empty(t, roundUnsound(round(40, 400), 0.05), "a 100ms stall at 400/s: 2.5% late")
	assert.Equal(t, "generator stalled: 96 of 1600 requests (6.0%) left more than 50ms after their intended time (5% allowed)",
		roundUnsound(round(96, 400), 0.05))
	assert.Contains(t, roundUnsound(round(0, 300), 0.05), "generator fell 25.0% behind its target rate")
}

// In a round the generator can vouch for, a drop is the service holding
// every slot: an error. In one it cannot (it stalled), its drops are
// nobody's fault: the 109 requests one A/A round beside memhog dropped
// once read as +0.52 percentage points of errors, a false alarm.
func TestRoundErrorsCountDropsOnlyInASoundRound(t *testing.T) {
	res := &load.Result{Sent: 1492, Dropped: 109, Errors: 0}
	assert.Equal(t, compare.Count{Events: 109, Trials: 1601}, roundErrors(res, ""))
	assert.Equal(t, compare.Count{Events: 0, Trials: 1492}, roundErrors(res, "generator stalled"))
	res.Errors = 300 // 5xx of the requests sent stand either way
	assert.Equal(t, compare.Count{Events: 300, Trials: 1492}, roundErrors(res, "generator stalled"))
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
	}, thresholds.Compare{Metrics: []thresholds.Budget{{Metric: "p50_latency"}}, Rounds: 2}))
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
