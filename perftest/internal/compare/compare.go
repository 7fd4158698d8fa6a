// Package compare decides whether a candidate is worse than its baseline from per-round samples, with benchmath's Mann-Whitney U test.
package compare

import (
	"fmt"
	"math"
	"slices"
	"sort"
	"strings"
	"sync"

	"github.com/aclements/go-moremath/stats"
	"golang.org/x/perf/benchmath"

	"github.com/perfgate/perfgate/perftest/internal/verdict"
)

// Samples are one metric's per-round values of both builds, in round order.
type Samples struct {
	Metric              string
	Unit                verdict.Unit
	Baseline, Candidate []float64
}

// Budget is how far one metric may get worse before a significant change fails:
// ratios of the baseline (0.1 = 10%), or points for ratio metrics (error_rate:
// 0.005 = 0.5 points). MaxIncrease bounds a rise, MaxDecrease a drop; at least one is set.
type Budget struct {
	Metric                   string
	MaxIncrease, MaxDecrease *float64
}

// Options tune the comparison.
type Options struct {
	Alpha float64 // significance level of the U test, in (0, 0.5]
}

// DefaultOptions is benchmath's default: a 5% significance level.
var DefaultOptions = Options{Alpha: benchmath.DefaultThresholds.CompareAlpha}

// MaxAlpha is the largest significance level Compare accepts.
const MaxAlpha = 0.5

// Status is the outcome for one metric.
type Status string

const (
	Better       Status = "better"
	Same         Status = "same" // not significant, or significant but within budget
	Worse        Status = "worse"
	Inconclusive Status = "inconclusive" // not a pass
)

// Summary is one build's median and its confidence interval at 1-alpha, from
// benchmath's AssumeNothing; Lo and Hi are ±Inf when there are too few rounds for one.
type Summary struct {
	Center, Lo, Hi float64
	N              int
}

// Row is the comparison of one metric.
type Row struct {
	Metric              string
	Unit                verdict.Unit
	Baseline, Candidate Summary
	Delta               float64  // candidate/baseline - 1 of the medians; points for ratio metrics
	DeltaLo, DeltaHi    float64  // the 1-alpha interval of Delta; ±Inf when the rounds are too few
	P                   float64  // Mann-Whitney U p-value; NaN when not compared
	Significant         bool     // P < alpha
	Budget              string   // "+10%", "-5%", "+0.5pp"
	MaxIncrease         *float64 // the budget as given, for tools
	MaxDecrease         *float64
	Status              Status
	Fail                bool
	Why                 string // one sentence a person can act on
	// The per-round values as measured, in round order; NaN where a round had no value.
	BaselineRounds, CandidateRounds []float64
}

// Result is the comparison of a candidate with its baseline.
type Result struct {
	Verdict verdict.Verdict
	Reason  string
	Rows    []Row // in budget order
	Alpha   float64
}

// Points reports whether a metric of unit u is compared in points rather than as a ratio.
func Points(u verdict.Unit) bool { return u == verdict.UnitRatio }

// Compare judges every budgeted metric; samples of metrics without a budget are not
// compared, and inputs are not modified. Per metric:
//
//   - inconclusive: a value is missing (NaN, ±Inf, negative), a ratio metric's baseline
//     has a round at 0, or there are too few rounds for the U test ever to reach p < alpha
//     (4 each at alpha 0.05: the smallest p of 4 against 4 is 2/70 ≈ 0.029);
//   - same ("~"): the U test finds no significant difference (p >= alpha);
//   - same, within budget: significant, in the bad direction, but no further than the
//     budget allows, as a Kayenta canary judge passes a small effect; Why says so;
//   - worse: significant and beyond the budget in the bad direction. Only this fails;
//   - better: significant, in the good direction.
//
// The verdict fails when any metric is worse; otherwise it is inconclusive when any
// metric is, and passes only when every metric was compared. Nothing to compare fails.
//
// Delta is the change of the medians, candidate/baseline - 1, except for metrics
// measured as a ratio (the error rate), where a ratio of near-zero rates means nothing
// and Delta is candidate - baseline in points. Its interval is the distribution-free
// one that goes with the U test (Bauer 1972, as in R's wilcox.test): order statistics
// of all pairwise candidate/baseline ratios, cut where the U distribution puts alpha/2,
// so it leaves out "no change" exactly when the test is significant, ties aside.
func Compare(samples []Samples, budgets []Budget, o Options) Result {
	res := Result{Alpha: o.Alpha}
	bad := badAlpha(o.Alpha)
	byMetric := map[string][]Samples{}
	for _, s := range samples {
		byMetric[s.Metric] = append(byMetric[s.Metric], s)
	}
	seen := map[string]bool{}
	for _, b := range budgets {
		var r Row
		switch ss := byMetric[b.Metric]; {
		case bad != "":
			r = inconclusive(b.Metric, "", bad)
		case b.Metric == "":
			r = inconclusive(b.Metric, "", "a budget names no metric")
		case seen[b.Metric]:
			r = inconclusive(b.Metric, "", fmt.Sprintf("%s is budgeted twice", b.Metric))
		case len(ss) == 0:
			r = inconclusive(b.Metric, "", fmt.Sprintf("%s: no samples: the gate measured nothing under that name", b.Metric))
		case len(ss) > 1:
			r = inconclusive(b.Metric, ss[0].Unit, fmt.Sprintf("%s: %d sets of samples where one is expected", b.Metric, len(ss)))
		default:
			r = judge(ss[0], b, o.Alpha)
		}
		if r.Budget == "" && r.MaxIncrease == nil && r.MaxDecrease == nil {
			r.Budget, _ = budgetString(b, r.Unit) // "" when the budget itself is the problem
			r.MaxIncrease, r.MaxDecrease = b.MaxIncrease, b.MaxDecrease
		}
		seen[b.Metric] = true
		res.Rows = append(res.Rows, r)
	}
	res.Verdict, res.Reason = sum(res.Rows)
	return res
}

func badAlpha(alpha float64) string {
	if alpha > 0 && alpha <= MaxAlpha {
		return ""
	}
	return fmt.Sprintf("alpha %v is not a significance level in (0, %v]", alpha, MaxAlpha)
}

func inconclusive(metric string, u verdict.Unit, why string) Row {
	nan := math.NaN()
	return Row{
		Metric: metric, Unit: u, Status: Inconclusive, Why: why,
		Baseline: Summary{nan, nan, nan, 0}, Candidate: Summary{nan, nan, nan, 0},
		Delta: nan, DeltaLo: nan, DeltaHi: nan, P: nan,
	}
}

// judge compares one metric against its budget.
func judge(s Samples, b Budget, alpha float64) Row {
	budget, why := budgetString(b, s.Unit)
	if why != "" {
		r := inconclusive(s.Metric, s.Unit, fmt.Sprintf("%s: %s", s.Metric, why))
		r.MaxIncrease, r.MaxDecrease = b.MaxIncrease, b.MaxDecrease
		return r
	}
	st, err := measure(s, alpha)
	st.Budget, st.MaxIncrease, st.MaxDecrease = budget, b.MaxIncrease, b.MaxDecrease
	if err != "" {
		st.Status, st.Why = Inconclusive, s.Metric+": "+err
		return st
	}
	change := fmt.Sprintf("%s (%s → %s, %s)", FormatDelta(st.Delta, s.Unit),
		verdict.Format(st.Baseline.Center, s.Unit), verdict.Format(st.Candidate.Center, s.Unit), FormatP(st.P))
	switch {
	case !st.Significant:
		st.Status, st.Why = Same, fmt.Sprintf("~ (%s)", FormatP(st.P))
	case st.Delta == 0:
		st.Status, st.Why = Same, fmt.Sprintf("%s: medians equal (%s)", s.Metric, FormatP(st.P))
	case st.Delta > 0 && b.MaxIncrease != nil:
		st.Status, st.Fail = verdictOf(st.Delta > *b.MaxIncrease)
	case st.Delta < 0 && b.MaxDecrease != nil:
		st.Status, st.Fail = verdictOf(-st.Delta > *b.MaxDecrease)
	default:
		st.Status, st.Why = Better, fmt.Sprintf("%s %s: better", s.Metric, change)
	}
	switch {
	case st.Status == Worse:
		st.Why = fmt.Sprintf("%s %s over its %s budget", s.Metric, change, budget)
	case st.Why == "":
		st.Why = fmt.Sprintf("%s %s within its %s budget", s.Metric, change, budget)
	}
	return st
}

func verdictOf(over bool) (Status, bool) {
	if over {
		return Worse, true
	}
	return Same, false
}

// budgetString renders a budget for display, or says why it cannot be applied.
func budgetString(b Budget, u verdict.Unit) (shown, why string) {
	var parts []string
	for _, x := range []struct {
		v    *float64
		sign string
	}{{b.MaxIncrease, "+"}, {b.MaxDecrease, "-"}} {
		if x.v == nil {
			continue
		}
		v := *x.v
		if !(v > 0) || math.IsInf(v, 0) {
			return "", fmt.Sprintf("budget %v is not a positive finite number", v)
		}
		parts = append(parts, x.sign+formatMagnitude(v, u))
	}
	if len(parts) == 0 {
		return "", "budget has neither max_increase nor max_decrease"
	}
	return strings.Join(parts, "/"), ""
}

// measure computes the statistics of one metric, or says why they cannot stand.
func measure(s Samples, alpha float64) (Row, string) {
	r := inconclusive(s.Metric, s.Unit, "")
	r.Baseline.N, r.Candidate.N = len(s.Baseline), len(s.Candidate)
	for _, side := range []struct {
		name   string
		values []float64
	}{{"baseline", s.Baseline}, {"candidate", s.Candidate}} {
		if msg := unusable(side.name, side.values); msg != "" {
			return r, msg
		}
	}
	if !Points(s.Unit) && slices.Min(s.Baseline) == 0 {
		return r, "the baseline has a round at 0, so a ratio to it means nothing"
	}
	n1, n2 := len(s.Baseline), len(s.Candidate)
	if minP(n1, n2) >= alpha {
		need := roundsNeeded(alpha)
		if n1 == n2 {
			return r, fmt.Sprintf("too few samples: %d of %s rounds (at α=%v no difference can be significant with fewer)", n1, need, alpha)
		}
		return r, fmt.Sprintf("too few samples: %d baseline and %d candidate rounds, %s of each needed at α=%v", n1, n2, need, alpha)
	}

	th := &benchmath.Thresholds{CompareAlpha: alpha}
	base := benchmath.NewSample(slices.Clone(s.Baseline), th)
	cand := benchmath.NewSample(slices.Clone(s.Candidate), th)
	bs := benchmath.AssumeNothing.Summary(base, 1-alpha)
	cs := benchmath.AssumeNothing.Summary(cand, 1-alpha)
	cmp := benchmath.AssumeNothing.Compare(base, cand)
	r.Baseline = Summary{bs.Center, bs.Lo, bs.Hi, n1}
	r.Candidate = Summary{cs.Center, cs.Lo, cs.Hi, n2}
	r.P = cmp.P
	r.Significant = cmp.P < alpha
	r.Delta = change(bs.Center, cs.Center, s.Unit)
	r.DeltaLo, r.DeltaHi = interval(base.Values, cand.Values, s.Unit, alpha)
	return r, ""
}

// unusable says what makes a side's values unfit for comparison: missing data is never a pass.
func unusable(side string, vs []float64) string {
	if len(vs) == 0 {
		return fmt.Sprintf("no %s samples", side)
	}
	var nan, neg []string
	for i, v := range vs {
		switch {
		case math.IsNaN(v) || math.IsInf(v, 0):
			nan = append(nan, fmt.Sprint(i+1))
		case v < 0:
			neg = append(neg, fmt.Sprint(i+1))
		}
	}
	switch {
	case len(nan) > 0:
		return fmt.Sprintf("no data in %s %s of %d: a missing value is never a pass", side, rounds(nan), len(vs))
	case len(neg) > 0:
		return fmt.Sprintf("negative value in %s %s of %d: not a measurement", side, rounds(neg), len(vs))
	}
	return ""
}

func rounds(idx []string) string {
	if len(idx) == 1 {
		return "round " + idx[0]
	}
	return "rounds " + strings.Join(idx, ", ")
}

func change(base, cand float64, u verdict.Unit) float64 {
	if Points(u) {
		return cand - base
	}
	return cand/base - 1
}

var minPCache sync.Map // [2]int → float64

// minP is the smallest p-value benchmath's U test can give for samples of n1 and n2
// values: that of two samples that do not overlap.
func minP(n1, n2 int) float64 {
	key := [2]int{n1, n2}
	if p, ok := minPCache.Load(key); ok {
		return p.(float64)
	}
	lo, hi := make([]float64, n1), make([]float64, n2)
	for i := range lo {
		lo[i] = float64(i)
	}
	for i := range hi {
		hi[i] = float64(n1 + i)
	}
	th := &benchmath.DefaultThresholds
	p := benchmath.AssumeNothing.Compare(benchmath.NewSample(lo, th), benchmath.NewSample(hi, th)).P
	minPCache.Store(key, p)
	return p
}

// maxRounds bounds the search for the rounds an alpha needs.
const maxRounds = 50

// roundsNeeded is the fewest rounds of each build that can reach p < alpha.
func roundsNeeded(alpha float64) string {
	for n := 1; n <= maxRounds; n++ {
		if minP(n, n) < alpha {
			return fmt.Sprint(n)
		}
	}
	return fmt.Sprintf("more than %d", maxRounds)
}

type cutKey struct {
	n1, n2 int
	alpha  float64
}

var cutCache sync.Map // cutKey → int

// cut is how many of the n1×n2 pairwise values to drop from each end for a 1-alpha
// interval: the largest k with P(U < k) <= alpha/2 under the U distribution without
// ties; 0 when even the extremes are too likely, and the interval is unbounded.
func cut(n1, n2 int, alpha float64) int {
	key := cutKey{n1, n2, alpha}
	if k, ok := cutCache.Load(key); ok {
		return k.(int)
	}
	d := stats.UDist{N1: n1, N2: n2}
	// The smallest k in [0, n1·n2/2] with P(U <= k) > alpha/2; the CDF rises with k.
	k := sort.Search(n1*n2/2, func(k int) bool { return d.CDF(float64(k)) > alpha/2 })
	cutCache.Store(key, k)
	return k
}

// interval is the 1-alpha interval of Delta from all pairwise ratios (or
// differences, for points) of candidate to baseline values.
func interval(base, cand []float64, u verdict.Unit, alpha float64) (lo, hi float64) {
	k := cut(len(base), len(cand), alpha)
	if k == 0 {
		return math.Inf(-1), math.Inf(1)
	}
	pairs := make([]float64, 0, len(base)*len(cand))
	for _, b := range base {
		for _, c := range cand {
			pairs = append(pairs, change(b, c, u))
		}
	}
	sort.Float64s(pairs)
	return pairs[k-1], pairs[len(pairs)-k]
}

// sum turns the rows into a verdict: any worse fails, then any inconclusive, else pass.
func sum(rows []Row) (verdict.Verdict, string) {
	if len(rows) == 0 {
		return verdict.Fail, "no metrics to compare: a comparison with nothing to compare cannot pass"
	}
	var worse, unsure []string
	var better, within, same int
	for _, r := range rows {
		switch {
		case r.Fail:
			worse = append(worse, r.Why)
		case r.Status == Inconclusive:
			unsure = append(unsure, r.Why)
		case r.Status == Better:
			better++
		case r.Significant:
			within++
		default:
			same++
		}
	}
	total := plural(len(rows), "metric")
	switch {
	case len(worse) > 0:
		reason := fmt.Sprintf("%d of %s worse beyond budget: %s", len(worse), total, list(worse))
		if len(unsure) > 0 {
			reason += fmt.Sprintf("; %d inconclusive", len(unsure))
		}
		return verdict.Fail, reason
	case len(unsure) > 0:
		return verdict.Inconclusive, fmt.Sprintf("%d of %s inconclusive, which is not a pass: %s", len(unsure), total, list(unsure))
	}
	var parts []string
	for _, p := range []struct {
		n    int
		what string
	}{{better, "better"}, {within, "within budget"}, {same, "~"}} {
		if p.n > 0 {
			parts = append(parts, fmt.Sprintf("%d %s", p.n, p.what))
		}
	}
	return verdict.Pass, fmt.Sprintf("no metric of %d worse beyond its budget: %s", len(rows), strings.Join(parts, ", "))
}

func list(whys []string) string {
	const shown = 3
	if len(whys) <= shown {
		return strings.Join(whys, "; ")
	}
	return strings.Join(whys[:shown], "; ") + fmt.Sprintf("; and %d more", len(whys)-shown)
}

func plural(n int, noun string) string {
	if n == 1 {
		return "1 " + noun
	}
	return fmt.Sprintf("%d %ss", n, noun)
}
