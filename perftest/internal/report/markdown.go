package report

import (
	"fmt"
	"io"
	"math"
	"regexp"
	"slices"
	"strings"

	"github.com/perfgate/perfgate/perftest/internal/verdict"
	"github.com/perfgate/perfgate/thresholds"
	"github.com/perfgate/perfgate/thresholds/units"
)

// Marker starts every Markdown report, so CI can find and update its own
// sticky pull-request comment.
const Marker = "<!-- perfgate-report -->"

// Markdown renders the run for a GitHub step summary or a pull-request
// comment: the verdict as a heading, breached SLOs first, client and server
// figures side by side, charts of the run and, folded away, the PromQL used.
func Markdown(r Run) Reporter {
	return func(w io.Writer) error {
		ew := &errWriter{w: w}
		title := r.Title
		if title == "" {
			title = "perfgate"
		}
		fmt.Fprintf(ew, "%s\n### %s — %s\n\n", Marker, md(title), overallHeadline(r))
		if r.Decision.Verdict == verdict.Inconclusive {
			fmt.Fprintf(ew, "> **Inconclusive, which is not a pass:** %s.\n\n", md(overallReason(r)))
		}

		// What decided the verdict comes first: a comparison that did not
		// pass goes above SLOs that all did.
		if first := r.Comparison != nil && r.Comparison.Verdict != verdict.Pass && r.Result.Verdict == verdict.Pass; first {
			markdownComparison(ew, r)
			checksTable(ew, r.Result.Checks)
			fmt.Fprintf(ew, "%s\n\n", runLine(r))
		} else {
			checksTable(ew, r.Result.Checks)
			fmt.Fprintf(ew, "%s\n\n", runLine(r))
			if r.Comparison != nil {
				markdownComparison(ew, r)
			}
		}

		fmt.Fprintf(ew, "#### Client vs server\n\n")
		clientServer(ew, r)
		templatesTable(ew, r.Client.ByTemplate)

		if len(r.Timeline) >= 2 {
			fmt.Fprintf(ew, "#### Over the run\n\n")
			charts(ew, r)
		}

		details(ew, r)
		return ew.err
	}
}

// templatesTable is the generator's figures per request template of the workload.
func templatesTable(w io.Writer, ts []TemplateStats) {
	if len(ts) == 0 {
		return
	}
	fmt.Fprintf(w, "| Request | Sent | Errors | p50 | p95 | p99 |\n|---|--:|--:|--:|--:|--:|\n")
	for _, t := range ts {
		fmt.Fprintf(w, "| `%s` | %d | %d (%s) | %s | %s | %s |\n", md(t.Name), t.Count, t.Errors, share(t.Errors, t.Count), dur(t.P50), dur(t.P95), dur(t.P99))
	}
	fmt.Fprintln(w)
	notes := false
	for _, t := range ts {
		for _, note := range t.Notes() {
			fmt.Fprintf(w, "- `%s`: %s\n", md(t.Name), md(note))
			notes = true
		}
	}
	if notes {
		fmt.Fprintln(w)
	}
}

func checksTable(w io.Writer, cs []verdict.Check) {
	if len(cs) == 0 {
		fmt.Fprintf(w, "_No checks were run: a gate with nothing to check cannot pass._\n\n")
		return
	}
	fmt.Fprintf(w, "| Status | SLO | Instance | Observed | Limit | Why |\n")
	fmt.Fprintf(w, "|---|---|---|--:|--:|---|\n")
	for _, c := range breachedFirst(cs) {
		status := "pass"
		if !c.OK() {
			status = "**" + statusWord(c.Status) + "**"
		}
		fmt.Fprintf(w, "| %s | %s | %s | %s | %s | %s |\n",
			status, code(c.Name), md(instance(c)), md(observedOrDash(c)), md(limit(c, "≤", "≥")), md(c.Why))
	}
	fmt.Fprintln(w)
}

func observedOrDash(c verdict.Check) string {
	if !c.HasObserved {
		return "—"
	}
	return observed(c)
}

// runLine says what was measured, how and where.
func runLine(r Run) string {
	var parts []string
	if r.Service != "" {
		svc := "Service " + code(r.Service)
		if len(r.ServiceArgs) > 0 {
			svc += " with " + code(strings.Join(r.ServiceArgs, " "))
		}
		parts = append(parts, svc)
	}
	parts = append(parts, "measured "+md(window(r)))
	if r.Prometheus != "" {
		parts = append(parts, "Prometheus: "+md(r.Prometheus))
	}
	return strings.Join(parts, " · ")
}

// clientServer puts what the generator saw beside what Prometheus saw, per
// figure, so a gap between the two (queueing, network) shows at a glance.
func clientServer(w io.Writer, r Run) {
	type row struct {
		label, client string
		quantile      float64           // the percentile a latency row shows, 0 for other rows
		server        map[string]string // column → value
	}
	rows := map[string]*row{}
	get := func(label string) *row {
		if rows[label] == nil {
			rows[label] = &row{label: label, client: "—", server: map[string]string{}}
		}
		return rows[label]
	}
	pct := func(q float64) *row {
		rw := get(percentile(q))
		rw.quantile = q
		return rw
	}
	c := r.Client
	pct(0.50).client = dur(c.P50)
	pct(0.95).client = dur(c.P95)
	pct(0.99).client = dur(c.P99)
	get("max").client = dur(c.Max)
	get("error rate").client = share(c.Errors, c.Sent)
	get("throughput").client = rate(c.AchievedRate)

	owner := map[string]string{} // row and column → the SLO that fills the cell
	columns := map[string]bool{}
	for _, ch := range r.Result.Checks {
		var label string
		q := 0.0
		switch ch.Metric {
		case thresholds.Latency:
			label, q = percentile(ch.Quantile), ch.Quantile
		case thresholds.ErrorRate:
			label = "error rate"
		case thresholds.Throughput:
			label = "throughput"
		default:
			continue
		}
		col := instance(ch)
		cell := label + "\x00" + col
		if owner[cell] != "" && owner[cell] != ch.Name {
			label, cell, q = ch.Name, ch.Name+"\x00"+col, 0 // two SLOs on one figure: the second gets its own row
		}
		owner[cell] = ch.Name
		columns[col] = true
		rw := get(label)
		rw.quantile = max(rw.quantile, q)
		rw.server[col] = observedOrDash(ch)
	}

	// Percentiles in numeric order, then max, other SLOs, error rate, throughput.
	group := func(rw *row) (int, float64) {
		switch {
		case rw.label == "max":
			return 1, 0
		case rw.label == "error rate":
			return 3, 0
		case rw.label == "throughput":
			return 4, 0
		case rw.quantile > 0:
			return 0, rw.quantile
		}
		return 2, 0
	}
	order := make([]*row, 0, len(rows))
	for _, rw := range rows {
		order = append(order, rw)
	}
	slices.SortFunc(order, func(a, b *row) int {
		ga, na := group(a)
		gb, nb := group(b)
		if ga != gb {
			return ga - gb
		}
		if na != nb {
			return cmpFloat(na, nb)
		}
		return strings.Compare(a.label, b.label)
	})

	cols := make([]string, 0, len(columns))
	for col := range columns {
		if col != "all" {
			cols = append(cols, col)
		}
	}
	slices.Sort(cols)
	if columns["all"] || len(cols) == 0 {
		cols = append([]string{"all"}, cols...)
	}

	fmt.Fprintf(w, "| | Client (generator) |")
	for _, col := range cols {
		fmt.Fprintf(w, " Server: %s |", md(col))
	}
	fmt.Fprintf(w, "\n|---|--:|%s\n", strings.Repeat("--:|", len(cols)))
	for _, rw := range order {
		fmt.Fprintf(w, "| %s | %s |", md(rw.label), md(rw.client))
		for _, col := range cols {
			v := rw.server[col]
			if v == "" {
				v = "—"
			}
			fmt.Fprintf(w, " %s |", md(v))
		}
		fmt.Fprintln(w)
	}
	fmt.Fprintln(w)
	fmt.Fprintf(w, "Client latency counts from each request's intended send time; server figures are the SLO queries over the measured window.\n")
	fmt.Fprintf(w, "The generator sent %d requests (%d ok, %d errors, %d dropped) at %s against a %s target",
		c.Sent, c.OK, c.Errors, c.Dropped, rate(c.AchievedRate), rate(c.TargetRate))
	if len(c.ByStatus) > 0 {
		fmt.Fprintf(w, "; status codes %s", md(statuses(c.ByStatus, ": ")))
	}
	fmt.Fprintf(w, ".\n\n")
}

func cmpFloat(a, b float64) int {
	switch {
	case a < b:
		return -1
	case a > b:
		return 1
	}
	return 0
}

func charts(w io.Writer, r Run) {
	bs := downsample(r.Timeline, maxChartPoints)
	size := (len(r.Timeline) + maxChartPoints - 1) / maxChartPoints
	from := math.Round(bs[0].T)
	to := from + float64((len(bs)-1)*size)
	pick := func(f func(bucket) float64) []float64 {
		out := make([]float64, len(bs))
		for i, b := range bs {
			out[i] = f(b)
		}
		return out
	}
	if len(bs) < len(r.Timeline) {
		fmt.Fprintf(w, "_%d seconds drawn as %d points of %ds each: rates and CPU averaged, latency the worst second._\n\n",
			len(r.Timeline), len(bs), size)
	}

	xychart(w, "Request rate, req/s (bars: target, line: achieved)", "req/s", from, to,
		series{"bar", pick(func(b bucket) float64 { return b.TargetRate })},
		series{"line", pick(func(b bucket) float64 { return b.Rate })})

	// The client's p95, or the percentile of the latency ceiling drawn beside it.
	q := 0.95
	c, limited := latencyLimit(r.Result.Checks)
	if limited {
		q = c.Quantile
	}
	lat := []series{{"line", pick(clientLatency[q])}}
	title := fmt.Sprintf("Client %s latency, ms", percentile(q))
	if limited {
		lim := c.Limit * 1000
		lat = append(lat, series{"line", pick(func(bucket) float64 { return lim })})
		title += fmt.Sprintf(" (flat line: %s limit %s)", c.Name, c.Unit.Format(c.Limit))
	}
	xychart(w, title, "ms", from, to, lat...)

	if cpu, ok := filled(pick(func(b bucket) float64 { return b.CPU })); ok {
		xychart(w, "Server CPU, cores over all replicas", "cores", from, to, series{"line", cpu})
	} else {
		fmt.Fprintf(w, "_Server CPU was not sampled during the run._\n\n")
	}

	errs := pick(func(b bucket) float64 { return b.Errors })
	if slices.ContainsFunc(errs, func(v float64) bool { return v > 0 }) {
		xychart(w, "Errors per second (5xx and transport)", "errors/s", from, to, series{"bar", errs})
	}
}

// clientLatency reads each percentile the timeline has from a bucket.
var clientLatency = map[float64]func(bucket) float64{
	0.50: func(b bucket) float64 { return b.P50 },
	0.95: func(b bucket) float64 { return b.P95 },
	0.99: func(b bucket) float64 { return b.P99 },
}

// latencyLimit finds an aggregate latency ceiling to draw beside the client's
// line of the same percentile: a p95 one first, then p99, then p50.
func latencyLimit(cs []verdict.Check) (verdict.Check, bool) {
	for _, q := range []float64{0.95, 0.99, 0.50} {
		for _, c := range cs {
			if c.Metric == thresholds.Latency && c.Quantile == q && c.Instance == "" && c.Op == "<=" && c.Unit == units.Seconds {
				return c, true
			}
		}
	}
	return verdict.Check{}, false
}

func details(w io.Writer, r Run) {
	fmt.Fprintf(w, "<details><summary>PromQL per SLO, phases</summary>\n\n")
	seen := map[string]bool{}
	for _, c := range r.Result.Checks {
		if seen[c.Name] {
			continue
		}
		seen[c.Name] = true
		scope := "aggregate"
		if c.Instance != "" {
			scope = "per instance"
		}
		fmt.Fprintf(w, "%s (%s", code(c.Name), scope)
		if c.Metric != "" {
			fmt.Fprintf(w, ", %s", md(strings.ReplaceAll(string(c.Metric), "_", " ")))
		}
		fmt.Fprintf(w, ")")
		if c.Description != "" {
			fmt.Fprintf(w, ": %s", md(c.Description))
		}
		fmt.Fprintln(w)
		if c.Query == "" {
			fmt.Fprintf(w, "\n_no query_\n\n")
			continue
		}
		fmt.Fprintf(w, "\n```promql\n%s\n```\n\n", strings.TrimSpace(c.Query))
	}
	if len(r.Phases) > 0 {
		fmt.Fprintf(w, "| Phase | Duration |\n|---|--:|\n")
		for _, p := range r.Phases {
			fmt.Fprintf(w, "| %s | %s |\n", md(p.Name), dur(p.Duration))
		}
		fmt.Fprintf(w, "| **total** | **%s** |\n\n", dur(totalPhases(r.Phases)))
	}
	fmt.Fprintf(w, "</details>\n")
}

var htmlStart = regexp.MustCompile(`<([A-Za-z/!?])`)

// md escapes text for a Markdown table cell or paragraph; a "<" stays as it
// is unless it could open an HTML tag.
func md(s string) string {
	s = strings.Join(strings.Fields(s), " ")
	s = strings.NewReplacer("|", `\|`, "*", `\*`).Replace(s)
	return htmlStart.ReplaceAllString(s, "&lt;$1")
}

// code renders s as inline code, safe inside a table cell.
func code(s string) string {
	s = strings.Join(strings.Fields(s), " ")
	s = strings.ReplaceAll(s, "|", `\|`)
	fence := "`"
	for strings.Contains(s, fence) {
		fence += "`"
	}
	if strings.HasPrefix(s, "`") || strings.HasSuffix(s, "`") {
		return fence + " " + s + " " + fence
	}
	return fence + s + fence
}
