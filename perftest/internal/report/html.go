package report

import (
	_ "embed"
	"fmt"
	"html/template"
	"io"
	"math"
	"strconv"
	"strings"

	"github.com/perfgate/perfgate/perftest/internal/compare"
	"github.com/perfgate/perfgate/perftest/internal/verdict"
	"github.com/perfgate/perfgate/thresholds/units"
)

var (
	//go:embed html.tmpl
	htmlSource string
	//go:embed html.css
	htmlCSS string
	//go:embed html.js
	htmlJS string

	pageTemplate = template.Must(template.New("report.html").Parse(htmlSource))
)

// HTML renders the run as one self-contained page, report.html: the verdict and
// what failed on top, then charts of the comparison and of the run, drawn as
// inline SVG, and the figures behind them. It loads nothing: CSS, SVG and the
// small script that sorts tables are all inline, so the file opens from an
// artifact zip or a file:// URL, and it reads the same with the script disabled.
func HTML(r Run) Reporter {
	return func(w io.Writer) error {
		page, err := htmlPageOf(r)
		if err != nil {
			return err
		}
		ew := &errWriter{w: w}
		if err := pageTemplate.Execute(ew, page); err != nil {
			if ew.err != nil {
				return ew.err
			}
			return fmt.Errorf("report: html: %w", err)
		}
		return ew.err
	}
}

// htmlPage is what the template shows, every figure already formatted.
type htmlPage struct {
	Title, Headline, Verdict string
	Inconclusive             string // the reason, when the run was inconclusive
	Failing                  []htmlLine
	Facts                    []htmlFact
	CSS                      template.CSS
	JS                       template.JS

	Checks     []htmlCheck
	Comparison *htmlComparison
	Charts     []htmlChart
	Note       string // why there are no charts over the run

	Client        []htmlFact
	Templates     []htmlTemplate
	TemplateNotes []htmlNote // how templates ran otherwise than written
	Queries       []htmlQuery
	Phases        []htmlFact
	Total         string
}

type htmlLine struct{ Status, Text string }

type htmlNote struct{ Name, Text string }

type htmlFact struct{ Label, Value string }

type htmlCheck struct {
	Class, Status, Name, Instance, Observed, Limit, Why string
}

type htmlChart struct {
	ID, Title, Caption string
	SVG                template.HTML // empty when there was nothing to draw
}

func htmlChartOf(c chart) htmlChart {
	// The SVG comes from gonum/plot, which escapes the text it draws.
	return htmlChart{ID: c.ID, Title: c.Title, Caption: c.Caption, SVG: template.HTML(c.SVG)}
}

type htmlComparison struct {
	Against, Rounds, Trends, Alpha, Verdict, Reason, Confidence string
	Rows                                                        []htmlRow
	Metrics                                                     []htmlMetric
	Noise, Reruns                                               []string
	Profiles                                                    []htmlProfile
	KeptProfiles                                                bool // a profile diff is of what a build keeps
}

// htmlProfile is one metric's profile diff as a table, each growth drawn as
// a bar scaled to the largest in the table.
type htmlProfile struct {
	Metric, Class, Profile, Why, Command string
	Per                                  string // what a growth is per: request, or 1,000 requests for what a build keeps
	Worse                                bool
	Rows                                 []htmlWhyRow
}

type htmlWhyRow struct {
	Name, Where, Baseline, Candidate, Growth string
	Changed, Callees                         bool
	Copies                                   int
	Bar                                      int // percent of the largest growth in its table
}

func htmlProfileOf(d ProfileDiff) htmlProfile {
	hp := htmlProfile{Metric: d.Metric, Profile: d.Profile, Why: d.Why, Command: d.Command, Worse: d.Worse, Per: d.per()}
	if d.Worse {
		hp.Class = "fail"
	}
	largest := 0.0
	for _, f := range d.Funcs {
		largest = max(largest, f.Candidate-f.Baseline)
	}
	for _, f := range d.Funcs {
		bar := 0
		if largest > 0 {
			bar = int(math.Round(100 * (f.Candidate - f.Baseline) / largest))
		}
		hp.Rows = append(hp.Rows, htmlWhyRow{Name: f.Name, Where: f.Where, Changed: f.Changed, Callees: f.Callees, Copies: f.Copies,
			Baseline: f.Cost(f.Baseline, false), Candidate: f.Cost(f.Candidate, false), Growth: f.Cost(f.Candidate-f.Baseline, true), Bar: bar})
	}
	return hp
}

type htmlRow struct {
	Class, Metric, Baseline, Candidate, Delta, CI, P, Budget, Status string
}

type htmlMetric struct {
	Metric, Status, Class, Why string
	Rounds, Change             htmlChart
}

// htmlTemplate is one row of the per-template table: requests drawn as it and sent as it, errors, error rate, p50, p95, p99.
type htmlTemplate struct {
	Name  string
	Cells []htmlCell
}

// htmlCell is a table cell with the number it sorts by.
type htmlCell struct {
	Text string
	Key  string
}

type htmlQuery struct{ Name, Scope, Description, Query string }

func htmlPageOf(r Run) (htmlPage, error) {
	title := r.Title
	if title == "" {
		title = "perfgate"
	}
	v := r.Decision.Verdict
	page := htmlPage{
		Title:    title,
		Headline: overallHeadline(r),
		Verdict:  verdictClass(v),
		CSS:      template.CSS(htmlCSS),
		JS:       template.JS(htmlJS),
	}
	if v == verdict.Inconclusive {
		page.Inconclusive = overallReason(r)
	}
	for _, c := range breachedFirst(r.Result.Checks) {
		if !c.OK() {
			why := c.Why
			if !strings.HasPrefix(why, c.Name) {
				why = c.Name + " on " + instance(c) + ": " + why // "no data: …" alone would not say which
			}
			page.Failing = append(page.Failing, htmlLine{statusWord(c.Status), why})
		}
	}
	if r.Comparison != nil {
		for _, row := range worseFirst(r.Comparison.Rows) {
			if row.Fail || row.Status == compare.Inconclusive {
				page.Failing = append(page.Failing, htmlLine{strings.ToUpper(string(row.Status)), row.Why})
			}
		}
	}
	page.Facts = runFacts(r)
	for _, c := range breachedFirst(r.Result.Checks) {
		hc := htmlCheck{Class: "pass", Status: "pass", Name: c.Name, Instance: instance(c),
			Observed: observedOrDash(c), Limit: limit(c, "≤", "≥"), Why: c.Why}
		if !c.OK() {
			hc.Class, hc.Status = "fail", statusWord(c.Status)
		}
		page.Checks = append(page.Checks, hc)
	}
	if r.Comparison != nil {
		hc, err := htmlComparisonOf(r)
		if err != nil {
			return page, err
		}
		page.Comparison = hc
	}
	charts, err := timelineCharts(r)
	if err != nil {
		return page, err
	}
	for _, c := range charts {
		page.Charts = append(page.Charts, htmlChartOf(c))
	}
	if len(r.Timeline) < 2 {
		page.Note = fmt.Sprintf("The run recorded %s of load: too little to draw over time.", plural(len(r.Timeline), "second"))
	}
	page.Client = clientFacts(r.Client)
	for _, ts := range r.Client.ByTemplate {
		for _, note := range ts.Notes() {
			page.TemplateNotes = append(page.TemplateNotes, htmlNote{ts.Name, note})
		}
	}
	if len(r.Client.ByTemplate) > 1 || len(page.TemplateNotes) > 0 {
		for _, ts := range r.Client.ByTemplate {
			page.Templates = append(page.Templates, htmlTemplateOf(ts))
		}
	}
	page.Queries = promQueries(r.Result.Checks)
	for _, p := range r.Phases {
		page.Phases = append(page.Phases, htmlFact{p.Name, dur(p.Duration)})
	}
	if len(r.Phases) > 0 {
		page.Total = dur(totalPhases(r.Phases))
	}
	return page, nil
}

func verdictClass(v verdict.Verdict) string {
	switch v {
	case verdict.Pass:
		return "pass"
	case verdict.Inconclusive:
		return "inconclusive"
	}
	return "fail"
}

func runFacts(r Run) []htmlFact {
	var out []htmlFact
	if r.Service != "" {
		svc := r.Service
		if len(r.ServiceArgs) > 0 {
			svc += " with " + strings.Join(r.ServiceArgs, " ")
		}
		out = append(out, htmlFact{"Service", svc})
	}
	if r.Baseline != "" {
		out = append(out, htmlFact{"Baseline", r.Baseline})
	}
	out = append(out, htmlFact{"Measured", window(r)})
	if r.Prometheus != "" {
		out = append(out, htmlFact{"Prometheus", r.Prometheus})
	}
	return out
}

func clientFacts(c ClientStats) []htmlFact {
	out := []htmlFact{
		{"Requests sent", fmt.Sprintf("%d (%d ok, %d errors, %d dropped)", c.Sent, c.OK, c.Errors, c.Dropped)},
		{"Rate", fmt.Sprintf("%s achieved against a %s target", rate(c.AchievedRate), rate(c.TargetRate))},
		{"Latency", fmt.Sprintf("p50 %s · p95 %s · p99 %s · max %s", dur(c.P50), dur(c.P95), dur(c.P99), dur(c.Max))},
		{"Error rate", share(c.Errors, c.Sent)},
	}
	if len(c.ByStatus) > 0 {
		out = append(out, htmlFact{"Status codes", statuses(c.ByStatus, " ×")})
	}
	return out
}

func htmlTemplateOf(ts TemplateStats) htmlTemplate {
	num := func(v int64) htmlCell { s := strconv.FormatInt(v, 10); return htmlCell{s, s} }
	lat := func(d int64) htmlCell {
		if d <= 0 {
			return htmlCell{"—", "-1"}
		}
		return htmlCell{units.Seconds.Format(float64(d) / 1e9), strconv.FormatInt(d, 10)}
	}
	er := htmlCell{"n/a", "-1"}
	if ts.Count > 0 {
		f := float64(ts.Errors) / float64(ts.Count)
		er = htmlCell{share(ts.Errors, ts.Count), strconv.FormatFloat(f, 'g', 6, 64)}
	}
	return htmlTemplate{Name: ts.Name, Cells: []htmlCell{num(ts.Planned), num(ts.Count), num(ts.Errors), er,
		lat(int64(ts.P50)), lat(int64(ts.P95)), lat(int64(ts.P99))}}
}

func promQueries(cs []verdict.Check) []htmlQuery {
	var out []htmlQuery
	seen := map[string]bool{}
	for _, c := range cs {
		if seen[c.Name] {
			continue
		}
		seen[c.Name] = true
		scope := "aggregate"
		if c.Instance != "" {
			scope = "per instance"
		}
		if c.Metric != "" {
			scope += ", " + strings.ReplaceAll(string(c.Metric), "_", " ")
		}
		out = append(out, htmlQuery{c.Name, scope, c.Description, strings.TrimSpace(c.Query)})
	}
	return out
}

func htmlComparisonOf(r Run) (*htmlComparison, error) {
	c := r.Comparison
	hc := &htmlComparison{
		Against:    "the baseline",
		Rounds:     compareRounds(c.Rows),
		Trends:     trendTests(c.Rows),
		Alpha:      strconv.FormatFloat(c.Alpha, 'g', -1, 64),
		Verdict:    strings.ToUpper(string(c.Verdict)),
		Reason:     c.Reason,
		Confidence: confidence(c.Alpha),
	}
	if r.Baseline != "" {
		hc.Against = r.Baseline
	}
	for i, row := range worseFirst(c.Rows) {
		cls := rowClass(row)
		hc.Rows = append(hc.Rows, htmlRow{Class: cls, Metric: row.Metric, Baseline: median(row.Baseline, row.Unit),
			Candidate: median(row.Candidate, row.Unit), Delta: delta(row), CI: ci(row), P: pValue(row),
			Budget: budget(row), Status: string(row.Status)})
		id := "metric-" + strconv.Itoa(i+1)
		rounds, err := roundsChart(row, id+"-rounds")
		if err != nil {
			return nil, fmt.Errorf("report: chart: %w", err)
		}
		change, err := deltaChart(row, c.Alpha, id+"-change")
		if err != nil {
			return nil, fmt.Errorf("report: chart: %w", err)
		}
		hc.Metrics = append(hc.Metrics, htmlMetric{Metric: row.Metric, Status: string(row.Status), Class: cls,
			Why: row.Why, Rounds: htmlChartOf(rounds), Change: htmlChartOf(change)})
	}
	for _, n := range r.Noise {
		hc.Noise = append(hc.Noise, noiseLine(n, c.Rows))
	}
	hc.Reruns = c.Reruns
	for _, d := range r.Profiles {
		hc.Profiles = append(hc.Profiles, htmlProfileOf(d))
	}
	hc.KeptProfiles = keptIn(r.Profiles)
	return hc, nil
}

func rowClass(r compare.Row) string {
	switch {
	case r.Fail:
		return "fail"
	case r.Status == compare.Inconclusive:
		return "inconclusive"
	case r.Status == compare.Better:
		return "better"
	}
	return "same"
}
