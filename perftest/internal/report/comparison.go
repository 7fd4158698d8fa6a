package report

import (
	"fmt"
	"io"
	"math"
	"slices"
	"strings"
	"text/tabwriter"

	"github.com/perfgate/perfgate/perftest/internal/compare"
	"github.com/perfgate/perfgate/perftest/internal/verdict"
	"github.com/perfgate/perfgate/thresholds/units"
)

// Decide makes the verdict of the whole run once, as verdict.Decide makes it
// from the SLO checks and, when the candidate was compared with a baseline,
// the comparison, and stores it in r.Decision. Renderers show it; none
// decides on its own.
func (r *Run) Decide() {
	parts := []verdict.Part{r.Result.Part()}
	if r.Comparison != nil {
		parts = append(parts, r.Comparison.Part())
	}
	r.Decision = verdict.Decide(parts...)
}

// overallHeadline is headline with the comparison beside the SLOs, the part that did
// not pass first: "FAIL: 1 of 7 metrics worse than the baseline; all 7 SLOs met".
func overallHeadline(r Run) string {
	if r.Comparison == nil {
		return headline(r.Result)
	}
	slos, cmp := sloDetail(r.Result), compareDetail(*r.Comparison)
	if rank(statusOf(r.Comparison.Verdict)) < rank(statusOf(r.Result.Verdict)) {
		return joinHeadline(word(r.Decision.Verdict), cmp, slos)
	}
	return joinHeadline(word(r.Decision.Verdict), slos, cmp)
}

// overallReason explains the decision the same way, the part that did not pass first.
func overallReason(r Run) string {
	if r.Comparison == nil {
		return r.Result.Reason
	}
	return r.Decision.Reason
}

// statusOf ranks verdicts like checks: fail, then inconclusive, then pass.
func statusOf(v verdict.Verdict) verdict.Status {
	switch v {
	case verdict.Pass:
		return verdict.StatusPass
	case verdict.Inconclusive:
		return verdict.StatusNoData
	}
	return verdict.StatusFail
}

// compareDetail counts the compared metrics that did not pass: "1 of 7 metrics worse than the baseline".
func compareDetail(c compare.Result) string {
	var worse, unsure int
	for _, row := range c.Rows {
		switch {
		case row.Fail:
			worse++
		case row.Status == compare.Inconclusive:
			unsure++
		}
	}
	total := plural(len(c.Rows), "metric")
	switch {
	case len(c.Rows) == 0:
		return "nothing compared with the baseline"
	case worse > 0 && unsure > 0:
		return fmt.Sprintf("%d of %s worse than the baseline, %d inconclusive", worse, total, unsure)
	case worse > 0:
		return fmt.Sprintf("%d of %s worse than the baseline", worse, total)
	case unsure > 0:
		return fmt.Sprintf("%d of %s inconclusive against the baseline", unsure, total)
	}
	return fmt.Sprintf("no metric of %d worse than the baseline", len(c.Rows))
}

// worseFirst orders rows worse, inconclusive, better, same, keeping budget order within each.
func worseFirst(rows []compare.Row) []compare.Row {
	order := func(r compare.Row) int {
		switch {
		case r.Fail:
			return 0
		case r.Status == compare.Inconclusive:
			return 1
		case r.Status == compare.Better:
			return 2
		}
		return 3
	}
	out := slices.Clone(rows)
	slices.SortStableFunc(out, func(a, b compare.Row) int { return order(a) - order(b) })
	return out
}

// median renders a build's median with benchstat's ± of its interval: "20.1ms ±3%".
func median(s compare.Summary, u units.Unit) string {
	if math.IsNaN(s.Center) {
		return "—"
	}
	v := u.Format(s.Center)
	switch {
	case math.IsInf(s.Lo, 0) || math.IsInf(s.Hi, 0):
		return v + " ±∞"
	case math.IsNaN(s.Lo) || math.IsNaN(s.Hi):
		return v
	case u.Difference(): // near 0, or scattered around it: a percentage of it means nothing
		return v + " ±" + u.Format(math.Max(s.Hi-s.Center, s.Center-s.Lo))
	case s.Center == 0:
		return v
	}
	spread := math.Max(s.Hi/s.Center-1, 1-s.Lo/s.Center) * 100
	if spread < 0.95 {
		return fmt.Sprintf("%s ±%.1f%%", v, spread) // ±0% would claim no noise at all
	}
	return fmt.Sprintf("%s ±%.0f%%", v, spread)
}

// delta is benchstat's column: the change when significant, "~" when not.
func delta(r compare.Row) string {
	switch {
	case r.Status == compare.Inconclusive:
		return "—"
	case !r.Significant:
		return "~"
	}
	return r.Unit.FormatDelta(r.Delta)
}

func ci(r compare.Row) string {
	if r.Status == compare.Inconclusive {
		return "—"
	}
	return r.Unit.FormatInterval(r.DeltaLo, r.DeltaHi)
}

func pValue(r compare.Row) string {
	switch {
	case math.IsNaN(r.P):
		return "—"
	case r.P < 0.001:
		return "<0.001"
	}
	return fmt.Sprintf("%.3f", r.P)
}

func budget(r compare.Row) string {
	if r.Budget == "" {
		return "—"
	}
	return r.Budget
}

// confidence names the interval: "95% CI".
func confidence(alpha float64) string {
	return units.Ratio.Format(1-alpha) + " CI"
}

// trendTests names the rows decided by the trend of their levels over the
// run (the resident set's growth), for the sentence that names the tests:
// "" when there are none.
func trendTests(rows []compare.Row) string {
	var out string
	for _, r := range rows {
		if r.Test == compare.TestTrend {
			out += "; " + r.Metric + ": Mann–Kendall trend over every pair"
		}
	}
	return out
}

// compareRounds says how many rounds each build ran: "6 rounds", "4–6 rounds".
func compareRounds(rows []compare.Row) string {
	lo, hi := math.MaxInt, 0
	for _, r := range rows {
		for _, n := range []int{r.Baseline.N, r.Candidate.N} {
			if n > 0 {
				lo, hi = min(lo, n), max(hi, n)
			}
		}
	}
	switch {
	case hi == 0:
		return "no rounds"
	case lo == hi:
		return plural(hi, "round") + " of each build"
	}
	return fmt.Sprintf("%d–%d rounds of each build", lo, hi)
}

// noiseNote flags a budget tighter than the runner can tell apart from noise.
func noiseNote(n compare.Noise, rows []compare.Row) string {
	if math.IsInf(n.MinDetectable, 0) || math.IsNaN(n.MinDetectable) {
		return ""
	}
	for _, r := range rows {
		if r.Metric != n.Metric {
			continue
		}
		for _, b := range []*float64{r.MaxIncrease, r.MaxDecrease} {
			if b != nil && *b < n.MinDetectable {
				return fmt.Sprintf("its %s budget is tighter than this runner can detect", r.Budget)
			}
		}
	}
	return ""
}

func noiseLine(n compare.Noise, rows []compare.Row) string {
	if note := noiseNote(n, rows); note != "" {
		return n.Why + " — " + note
	}
	return n.Why
}

// consoleComparison writes the second table of the console report.
func consoleComparison(ew io.Writer, r Run) error {
	c := r.Comparison
	fmt.Fprintf(ew, "\nBaseline vs candidate")
	if r.Baseline != "" {
		fmt.Fprintf(ew, " (%s)", oneLine(r.Baseline))
	}
	fmt.Fprintf(ew, ": %s in pairs, Wilcoxon signed-rank (errors: Fisher exact%s) at α=%v\n\n", compareRounds(c.Rows), trendTests(c.Rows), c.Alpha)
	tw := tabwriter.NewWriter(ew, 0, 0, 2, ' ', 0)
	fmt.Fprintf(tw, "METRIC\tBASELINE\tCANDIDATE\tDELTA\t%s\tP\tBUDGET\tSTATUS\n", strings.ToUpper(confidence(c.Alpha)))
	for _, row := range c.Rows {
		fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\n", row.Metric, median(row.Baseline, row.Unit), median(row.Candidate, row.Unit),
			delta(row), ci(row), pValue(row), budget(row), strings.ToUpper(string(row.Status)))
	}
	if len(c.Rows) == 0 {
		fmt.Fprintln(tw, "(no metrics)\t\t\t\t\t\t\t")
	}
	return tw.Flush()
}

// markdownComparison writes the "Baseline vs candidate" section: a table worse
// first, a chart of how much of its budget each metric used, and the runner's noise.
func markdownComparison(w io.Writer, r Run) {
	c := r.Comparison
	fmt.Fprintf(w, "#### Baseline vs candidate\n\n")
	against := "the baseline"
	if r.Baseline != "" {
		against = md(r.Baseline)
	}
	fmt.Fprintf(w, "The candidate against %s, %s interleaved in pairs on this machine, Wilcoxon signed-rank test on the pairs (error counts: Fisher exact%s) at α=%v: **%s** — %s\n\n",
		against, compareRounds(c.Rows), trendTests(c.Rows), c.Alpha, strings.ToUpper(string(c.Verdict)), md(c.Reason))
	if len(c.Rows) == 0 {
		fmt.Fprintf(w, "_No metrics were compared: a comparison with nothing to compare cannot pass._\n\n")
		return
	}
	fmt.Fprintf(w, "| Metric | Baseline | Candidate | Delta | %s | p | Budget | Verdict |\n", confidence(c.Alpha))
	fmt.Fprintf(w, "|---|--:|--:|--:|--:|--:|--:|---|\n")
	for _, row := range worseFirst(c.Rows) {
		status := string(row.Status)
		if row.Fail || row.Status == compare.Inconclusive {
			status = "**" + strings.ToUpper(status) + "**"
		}
		fmt.Fprintf(w, "| %s | %s | %s | %s | %s | %s | %s | %s |\n", code(row.Metric), md(median(row.Baseline, row.Unit)),
			md(median(row.Candidate, row.Unit)), md(delta(row)), md(ci(row)), pValue(row), md(budget(row)), status)
	}
	fmt.Fprintln(w)
	fmt.Fprintf(w, "Medians of the rounds, ± their %s; delta is the Hodges–Lehmann change over the pairs of rounds (for the error rate: pooled shares, in points), `~` when not significant. A metric fails only when its change is significant and beyond its budget.\n\n",
		confidence(c.Alpha))
	var notes []string
	for _, row := range worseFirst(c.Rows) {
		if row.Status == compare.Inconclusive || (row.Significant && row.Status == compare.Same) {
			notes = append(notes, "- "+md(row.Why))
		}
	}
	if len(notes) > 0 {
		fmt.Fprintf(w, "%s\n\n", strings.Join(notes, "\n"))
	}
	budgetChart(w, c.Rows)
	if len(r.Profiles) > 0 {
		per := "per request served"
		if keptIn(r.Profiles) {
			per += "; what a build keeps, per 1,000 requests"
		}
		fmt.Fprintf(w, "**Why** (from %d pairs of rounds run with profiling after the comparison, %s):\n\n", r.Profiles[0].Pairs, per)
		for _, d := range r.Profiles {
			for _, line := range d.Text() {
				fmt.Fprintf(w, "- %s%s: %s\n", code(d.Metric), d.notWorse(), md(line))
			}
			if d.Command != "" {
				fmt.Fprintf(w, "  - dig further in the report directory: `%s`\n", d.Command)
			}
		}
		fmt.Fprintln(w)
	}
	if len(c.Reruns) > 0 {
		fmt.Fprintf(w, "**Pairs that ran again** (a round the generator could not vouch for costs its pair, not the comparison):\n\n")
		for _, why := range c.Reruns {
			fmt.Fprintf(w, "- %s\n", md(why))
		}
		fmt.Fprintln(w)
	}
	if len(r.Noise) > 0 {
		fmt.Fprintf(w, "**Noise on this runner** (the baseline against itself; a change smaller than the minimum detectable mostly reads `~`):\n\n")
		for _, n := range r.Noise {
			fmt.Fprintf(w, "- %s\n", md(noiseLine(n, c.Rows)))
		}
		fmt.Fprintln(w)
	}
}

// budgetUse is how much of its budget a significant change toward worse used, in
// percent: over 100 fails. Changes that are not significant or point the good way are 0.
func budgetUse(r compare.Row) float64 {
	if !r.Significant || r.Status == compare.Inconclusive {
		return 0
	}
	switch {
	case r.Delta > 0 && r.MaxIncrease != nil && *r.MaxIncrease > 0:
		return r.Delta / *r.MaxIncrease * 100
	case r.Delta < 0 && r.MaxDecrease != nil && *r.MaxDecrease > 0:
		return -r.Delta / *r.MaxDecrease * 100
	}
	return 0
}

// budgetChart draws one bar per compared metric: the share of its budget used.
func budgetChart(w io.Writer, rows []compare.Row) {
	var names []string
	var use []float64
	for _, row := range rows {
		if row.Status == compare.Inconclusive {
			continue
		}
		names = append(names, quote(row.Metric))
		use = append(use, budgetUse(row))
	}
	if !slices.ContainsFunc(use, func(v float64) bool { return v > 0 }) {
		fmt.Fprintf(w, "_No metric moved significantly toward worse._\n\n")
		return
	}
	top := max(slices.Max(use), 100)
	limit := make([]string, len(use))
	vals := make([]string, len(use))
	for i, v := range use {
		limit[i], vals[i] = "100", data(v)
	}
	fmt.Fprintf(w, "```mermaid\nxychart-beta\n")
	fmt.Fprintf(w, "    title %s\n", quote("Significant change toward worse, % of budget (line: the budget; above it fails)"))
	fmt.Fprintf(w, "    x-axis [%s]\n", strings.Join(names, ", "))
	fmt.Fprintf(w, "    y-axis %s 0 --> %s\n", quote("% of budget"), data(niceCeil(top*1.1)))
	fmt.Fprintf(w, "    bar [%s]\n", strings.Join(vals, ", "))
	fmt.Fprintf(w, "    line [%s]\n", strings.Join(limit, ", "))
	fmt.Fprintf(w, "```\n\n")
}
