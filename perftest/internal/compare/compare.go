// Package compare decides whether a candidate is worse than its baseline from paired rounds, with the Wilcoxon signed-rank test (Fisher's exact test for error counts).
package compare

import (
	"fmt"
	"math"
	"slices"
	"strings"

	"golang.org/x/perf/benchmath"

	"github.com/perfgate/perfgate/perftest/internal/verdict"
	"github.com/perfgate/perfgate/thresholds"
	"github.com/perfgate/perfgate/thresholds/units"
)

// Samples are one metric's per-round values of both builds. Round i of the
// baseline and round i of the candidate form pair i: they ran at the same
// time and replayed one request sequence. NaN marks a round that measured nothing.
type Samples struct {
	Metric              string
	Unit                units.Unit
	Baseline, Candidate []float64
	// Set for a share of events (the error rate): each round's events and
	// trials. Such a metric is compared on the pooled counts with Fisher's
	// exact test, so a few bad rounds cannot hide behind a median of zeros.
	BaselineCounts, CandidateCounts []Count
	// Set for a growth judged by its trend over the run (rss_growth):
	// Baseline and Candidate still hold each round's own growth, to show.
	Trend *Trend
}

// Budget is how far one metric may get worse before a significant change fails:
// ratios of the baseline (0.1 = 10%), points for ratio metrics (error_rate:
// 0.005 = 0.5 points), or a difference in its own unit for a growth.
// MaxIncrease bounds a rise, MaxDecrease a drop; at least one is set.
type Budget struct {
	Metric                   string
	MaxIncrease, MaxDecrease *float64
}

// Beyond reports whether change goes further than b allows in a bad
// direction: a rise above MaxIncrease or a drop below -MaxDecrease.
func (b Budget) Beyond(change float64) bool {
	return (change > 0 && b.MaxIncrease != nil && change > *b.MaxIncrease) ||
		(change < 0 && b.MaxDecrease != nil && -change > *b.MaxDecrease)
}

// Worse is the comparison's rule for one metric: a change delta with
// two-sided p-value p is worse when it is significant at alpha and beyond
// the budget. Only this fails a comparison.
func (b Budget) Worse(delta, p, alpha float64) bool { return p < alpha && b.Beyond(delta) }

// Budgets are the budgets of a spec's compare section.
func Budgets(c *thresholds.Compare) []Budget {
	var bs []Budget
	for _, b := range c.Metrics {
		bs = append(bs, Budget{Metric: b.Metric, MaxIncrease: b.MaxIncrease, MaxDecrease: b.MaxDecrease})
	}
	return bs
}

// Options tune the comparison.
type Options struct {
	Alpha float64 // significance level of the tests, in (0, 0.5]
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

// The tests a row is decided by, as Row.Test and report.json name them.
const (
	TestSignedRank = "signed-rank" // pairs of rounds: Wilcoxon signed-rank
	TestFisher     = "Fisher"      // pooled counts: Fisher's exact test
	TestTrend      = "trend"       // levels over the run: Theil–Sen and Mann–Kendall
)

// Row is the comparison of one metric.
type Row struct {
	Metric              string
	Unit                units.Unit
	Baseline, Candidate Summary
	Delta               float64  // the Hodges–Lehmann change over pairs, as candidate/baseline - 1; a difference when Unit.Absolute
	DeltaLo, DeltaHi    float64  // the 1-alpha interval of Delta; ±Inf when the pairs are too few
	P                   float64  // two-sided p of Test; NaN when not compared
	Test                string   // TestSignedRank, TestFisher or TestTrend: how the row was decided
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
	// Reruns says which pairs of rounds ran again, and why: a round the
	// generator could not vouch for costs its pair, not the comparison.
	Reruns []string
}

// Compare judges every budgeted metric; samples of metrics without a budget are not
// compared, and inputs are not modified. Per metric:
//
//   - inconclusive: a round has no value (NaN, ±Inf, negative but for a growth) — named by its number,
//     never dropped —, the builds have different numbers of rounds, a ratio metric has a
//     round at 0, or there are too few pairs for the test ever to reach p < alpha (the
//     smallest two-sided p of n pairs is 2/2ⁿ: 8 pairs at alpha 0.01, 10 are better);
//   - same ("~"): the test finds no significant difference (p >= alpha);
//   - same, within budget: significant, in the bad direction, but no further than the
//     budget allows, as a Kayenta canary judge passes a small effect; Why says so;
//   - worse: significant and beyond the budget in the bad direction. Only this fails;
//   - better: significant, in the good direction.
//
// The verdict fails when any metric is worse; otherwise it is inconclusive when any
// metric is, and passes only when every metric was compared. Nothing to compare fails.
//
// Pairs are compared as pairs: d = ln(candidate/baseline) per pair, the Wilcoxon
// signed-rank test of d against 0, and Delta = exp(HL) - 1 where HL is the
// Hodges–Lehmann estimate of d with Tukey's distribution-free interval, which
// leaves out "no change" exactly when the test is significant, ties aside. A drift of
// the machine between pairs cancels within each pair. Metrics measured as a ratio with
// counts (the error rate) are compared pooled: Delta is the difference of the pooled
// shares in points, with Fisher's exact test and Newcombe's interval; without counts,
// the pairs' differences in points go through the signed-rank test, as do a
// growth's differences in its own unit (a baseline that grew by nothing has
// no ratio).
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

func inconclusive(metric string, u units.Unit, why string) Row {
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
	if st.Test == TestSignedRank {
		if why := tooFewUntied(s, b, alpha); why != "" {
			st.Status, st.Why = Inconclusive, s.Metric+": "+why
			return st
		}
	}
	change := fmt.Sprintf("%s (%s → %s, %s)", s.Unit.FormatDelta(st.Delta),
		s.Unit.Format(st.Baseline.Center), s.Unit.Format(st.Candidate.Center), FormatP(st.P))
	switch {
	case !st.Significant:
		st.Status, st.Why = Same, fmt.Sprintf("~ (%s)", FormatP(st.P))
	case st.Delta == 0:
		st.Status, st.Why = Same, fmt.Sprintf("%s: medians equal (%s)", s.Metric, FormatP(st.P))
	case b.Worse(st.Delta, st.P, alpha):
		st.Status, st.Fail = Worse, true
	case (st.Delta > 0 && b.MaxIncrease != nil) || (st.Delta < 0 && b.MaxDecrease != nil):
		st.Status = Same // significant, in the bad direction, within the budget
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

// tooFewUntied says why a signed-rank test cannot decide when pairs tie:
// the test drops tied pairs, so with fewer untied pairs than alpha needs it
// can never be significant, and "~" would pass a change it was blind to
// (4 of 10 throughput pairs tied, the other 6 down 12%: p = 0.031). Such a
// metric is the same only when every pair is within its budget, since the
// change estimate lies between the pairs' own changes; otherwise nothing can
// be told. "" when the test stands, or when every pair ties.
func tooFewUntied(s Samples, b Budget, alpha float64) string {
	untied, over := 0, 0
	for i := range s.Baseline {
		c := change(s.Baseline[i], s.Candidate[i], s.Unit)
		if c != 0 {
			untied++
		}
		if b.Beyond(c) {
			over++
		}
	}
	n := len(s.Baseline)
	if untied == 0 || thresholds.MinP(untied) < alpha || over == 0 {
		return ""
	}
	return fmt.Sprintf("only %d of %d pairs differ, the rest tie, and %d untied pairs cannot reach p < α=%v (%d can); %d of them beyond the budget: cannot tell",
		untied, n, untied, alpha, thresholds.PairsNeeded(alpha), over)
}

// budgetString renders a budget for display, or says why it cannot be applied.
func budgetString(b Budget, u units.Unit) (shown, why string) {
	var parts []string
	for _, x := range []struct {
		v    *float64
		sign float64
	}{{b.MaxIncrease, 1}, {b.MaxDecrease, -1}} {
		if x.v == nil {
			continue
		}
		v := *x.v
		if !(v > 0) || math.IsInf(v, 0) {
			return "", fmt.Sprintf("budget %v is not a positive finite number", v)
		}
		parts = append(parts, u.FormatDelta(x.sign*v))
	}
	if len(parts) == 0 {
		return "", "budget has neither max_increase nor max_decrease"
	}
	return strings.Join(parts, "/"), ""
}

// measure computes the statistics of one metric, or says why they cannot stand.
func measure(s Samples, alpha float64) (Row, string) {
	r := inconclusive(s.Metric, s.Unit, "")
	r.BaselineRounds, r.CandidateRounds = slices.Clone(s.Baseline), slices.Clone(s.Candidate)
	r.Baseline.N, r.Candidate.N = len(s.Baseline), len(s.Candidate)
	for _, side := range []struct {
		name   string
		values []float64
	}{{"baseline", s.Baseline}, {"candidate", s.Candidate}} {
		if msg := unusable(side.name, side.values, s.Unit); msg != "" {
			return r, msg
		}
	}
	n := len(s.Baseline)
	if n != len(s.Candidate) {
		return r, fmt.Sprintf("%d baseline and %d candidate rounds: rounds are compared in pairs", n, len(s.Candidate))
	}
	if s.BaselineCounts != nil || s.CandidateCounts != nil {
		return measureCounts(r, s, alpha)
	}
	if s.Trend != nil {
		return measureTrend(r, s, alpha)
	}
	if thresholds.MinP(n) >= alpha {
		return r, fmt.Sprintf("too few samples: %d pairs of rounds (at α=%v no difference can be significant with fewer than %d)", n, alpha, thresholds.PairsNeeded(alpha))
	}

	th := &benchmath.Thresholds{CompareAlpha: alpha}
	bs := benchmath.AssumeNothing.Summary(benchmath.NewSample(slices.Clone(s.Baseline), th), 1-alpha)
	cs := benchmath.AssumeNothing.Summary(benchmath.NewSample(slices.Clone(s.Candidate), th), 1-alpha)
	r.Baseline = Summary{bs.Center, bs.Lo, bs.Hi, n}
	r.Candidate = Summary{cs.Center, cs.Lo, cs.Hi, n}

	d := make([]float64, n)
	for i := range d {
		if s.Unit.Absolute() {
			d[i] = s.Candidate[i] - s.Baseline[i]
		} else {
			d[i] = math.Log(s.Candidate[i] / s.Baseline[i])
		}
	}
	r.Test = TestSignedRank
	r.P = signedRank(d)
	r.Significant = r.P < alpha
	est, lo, hi := hodgesLehmann(d, alpha)
	if s.Unit.Absolute() {
		r.Delta, r.DeltaLo, r.DeltaHi = est, lo, hi
	} else {
		r.Delta, r.DeltaLo, r.DeltaHi = math.Expm1(est), math.Expm1(lo), math.Expm1(hi)
	}
	return r, ""
}

// measureCounts compares pooled event counts with Fisher's exact test.
func measureCounts(r Row, s Samples, alpha float64) (Row, string) {
	n := len(s.Baseline)
	if len(s.BaselineCounts) != n || len(s.CandidateCounts) != n {
		return r, fmt.Sprintf("counts of %d baseline and %d candidate rounds for %d pairs", len(s.BaselineCounts), len(s.CandidateCounts), n)
	}
	for _, side := range []struct {
		name string
		cs   []Count
	}{{"baseline", s.BaselineCounts}, {"candidate", s.CandidateCounts}} {
		var bad []string
		for i, c := range side.cs {
			if c.Trials <= 0 || c.Events < 0 || c.Events > c.Trials {
				bad = append(bad, fmt.Sprint(i+1))
			}
		}
		if len(bad) > 0 {
			return r, fmt.Sprintf("no requests counted in %s %s of %d: a missing value is never a pass", side.name, rounds(bad), n)
		}
	}
	b, c := pooled(s.BaselineCounts), pooled(s.CandidateCounts)
	blo, bhi := wilson(b, alpha)
	clo, chi := wilson(c, alpha)
	r.Baseline = Summary{share(b), blo, bhi, n}
	r.Candidate = Summary{share(c), clo, chi, n}
	r.Test = TestFisher
	r.P = fisher(b, c)
	r.Significant = r.P < alpha
	r.Delta = share(c) - share(b)
	r.DeltaLo, r.DeltaHi = newcombe(b, c, alpha)
	return r, ""
}

// unusable says what makes a side's values unfit for comparison: missing data is never a pass,
// a negative value is no measurement (but a growth may be negative: the heap shrank),
// and a round at 0 leaves nothing for a ratio to stand on.
func unusable(side string, vs []float64, u units.Unit) string {
	if len(vs) == 0 {
		return fmt.Sprintf("no %s samples", side)
	}
	var nan, neg, zero []string
	for i, v := range vs {
		switch {
		case math.IsNaN(v) || math.IsInf(v, 0):
			nan = append(nan, fmt.Sprint(i+1))
		case v < 0 && !u.Growth():
			neg = append(neg, fmt.Sprint(i+1))
		case v == 0 && !u.Absolute():
			zero = append(zero, fmt.Sprint(i+1))
		}
	}
	switch {
	case len(nan) > 0:
		return fmt.Sprintf("no data in %s %s of %d: a missing value is never a pass", side, rounds(nan), len(vs))
	case len(neg) > 0:
		return fmt.Sprintf("negative value in %s %s of %d: not a measurement", side, rounds(neg), len(vs))
	case len(zero) > 0:
		return fmt.Sprintf("%s %s at 0, so a ratio to it means nothing", side, rounds(zero))
	}
	return ""
}

func rounds(idx []string) string {
	if len(idx) == 1 {
		return "round " + idx[0]
	}
	return "rounds " + strings.Join(idx, ", ")
}

func change(base, cand float64, u units.Unit) float64 {
	if u.Absolute() {
		return cand - base
	}
	return cand/base - 1
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

// Part is the comparison's share of the run's decision: one failure per
// metric that is worse beyond its budget or could not be compared.
func (r Result) Part() verdict.Part {
	p := verdict.Part{Name: "baseline", Verdict: r.Verdict, Reason: r.Reason}
	for _, row := range r.Rows {
		if row.Fail || row.Status == Inconclusive {
			p.Failures = append(p.Failures, row.Why)
		}
	}
	if r.Verdict != verdict.Pass && len(p.Failures) == 0 {
		p.Failures = append(p.Failures, r.Reason)
	}
	return p
}
