package report

import (
	"fmt"
	"math"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/perfgate/perfgate/thresholds/units"
)

// htmlRuns are every kind of run, and two with what newer runs record:
// per-replica series, per-template figures, drops, p50 and p99 per second.
var htmlRuns = []struct {
	name string
	run  func() Run
}{
	{"pass", passingRun},
	{"fail", failingRun},
	{"inconclusive", inconclusiveRun},
	{"compare_fail", compareFailRun},
	{"compare_pass", comparePassRun},
	{"detailed_pass", detailedPassRun},
	{"detailed_compare_fail", detailedCompareFailRun},
}

var (
	svgElement = regexp.MustCompile(`(?s)<svg\b([^>]*)>(.*?)</svg>`)
	svgText    = regexp.MustCompile(`(?s)<text\b[^>]*>(.*?)</text>`)
	svgViewBox = regexp.MustCompile(`viewBox="[^"]*"`)
	styleBlock = regexp.MustCompile(`(?s)<style>.*?</style>`)
	scriptBody = regexp.MustCompile(`(?s)<script>.*?</script>`)
)

// skeleton is the page with each chart reduced to its size, how many shapes it
// has and every text it draws (title, axis labels, ticks, legend), and the
// embedded CSS and script left out: the structure and words of the page, not
// gonum/plot's coordinates.
func skeleton(page string) string {
	page = styleBlock.ReplaceAllString(page, "<style>/* html.css */</style>")
	page = scriptBody.ReplaceAllString(page, "<script>/* html.js */</script>")
	return svgElement.ReplaceAllStringFunc(page, func(s string) string {
		m := svgElement.FindStringSubmatch(s)
		var texts []string
		for _, t := range svgText.FindAllStringSubmatch(m[2], -1) {
			texts = append(texts, t[1])
		}
		return fmt.Sprintf("<svg %s><!-- %d paths; text: %s --></svg>", svgViewBox.FindString(m[1]),
			strings.Count(m[2], "<path"), strings.Join(texts, " | "))
	})
}

// TestHTMLGolden compares the skeleton of report.html for every kind of run with
// testdata/<run>.html.golden; go test -update rewrites them.
func TestHTMLGolden(t *testing.T) {
	for _, rn := range htmlRuns {
		t.Run(rn.name, func(t *testing.T) {
			page := render(t, HTML(rn.run()))
			got := skeleton(page)
			path := filepath.Join("testdata", rn.name+".html.golden")
			if *update {
				require.NoError(t, os.WriteFile(path, []byte(got), 0o644))
			}
			want, err := os.ReadFile(path)
			require.NoError(t, err, "run go test -update to create it")
			assert.Equal(t, string(want), got, "%s is stale or the page changed: review the diff, then go test -update", path)
			assert.Equal(t, page, render(t, HTML(rn.run())), "rendering twice gives the same bytes")
		})
	}
}

var (
	attrURL = regexp.MustCompile(`(?i)\b(?:src|href|action|poster|data)\s*=\s*"([^"#][^"]*)"`)
	anyURL  = regexp.MustCompile(`(?i)(?:https?:|ftp:|="//)[^\s"'<>)]*`)
	xmlns   = regexp.MustCompile(`xmlns(?::\w+)?="http://www\.w3\.org/[^"]*"`)
)

// TestHTMLLoadsNothing: the page must open from a zip or a file:// URL, so it
// names no stylesheet, script, image or font to fetch.
func TestHTMLLoadsNothing(t *testing.T) {
	for _, rn := range htmlRuns {
		t.Run(rn.name, func(t *testing.T) {
			page := render(t, HTML(rn.run()))
			for _, m := range attrURL.FindAllStringSubmatch(page, -1) {
				assert.Fail(t, "the page refers to something outside itself", m[0])
			}
			for _, bad := range []string{"<link", "@import", "url(", "<img", "<iframe", "<object", "<embed"} {
				assert.NotContains(t, page, bad)
			}
			assert.Empty(t, anyURL.FindAllString(xmlns.ReplaceAllString(page, ""), -1), "only SVG namespace names may look like URLs")
		})
	}
}

func TestHTMLVerdictAndFailingChecksOnTop(t *testing.T) {
	page := render(t, HTML(failingRun()))
	head := page[:strings.Index(page, "</header>")]
	assert.Contains(t, head, `<header class="verdict fail" id="verdict">`)
	assert.Contains(t, head, "FAIL: 3 of 7 SLOs breached, 1 without data")
	for _, c := range failingRun().Result.Checks {
		if !c.OK() {
			assert.Contains(t, head, "<span class=\"tag\">"+statusWord(c.Status)+"</span> ", c.Name)
			assert.Contains(t, head, escape(c.Why)+"</li>")
		} else {
			assert.NotContains(t, head, escape(c.Why))
		}
	}

	assert.Contains(t, head, "<li><span class=\"tag\">NO DATA</span> memory_rss on replica-2: no data: query returned no series for this instance</li>")

	cmp := render(t, HTML(compareFailRun()))
	head = cmp[:strings.Index(cmp, "</header>")]
	assert.Contains(t, head, "<span class=\"tag\">WORSE</span> "+escape("p95_latency +"))
	assert.Contains(t, head, "<span class=\"tag\">INCONCLUSIVE</span> cpu_per_request: no data in candidate round 4 of 6")

	inc := render(t, HTML(inconclusiveRun()))
	assert.Contains(t, inc, "<strong>Inconclusive, which is not a pass:</strong> generator fell 12.3% behind")
}

func escape(s string) string {
	return strings.NewReplacer("&", "&amp;", "<", "&lt;", ">", "&gt;", `"`, "&#34;", "'", "&#39;", "+", "&#43;").Replace(s)
}

func TestHTMLEscapesWhatTheRunSays(t *testing.T) {
	r := failingRun()
	r.Title = `<script>alert("title")</script>`
	r.ServiceArgs = []string{`-flag=<img src=x onerror=alert(1)>`}
	r.Client.ByTemplate = []TemplateStats{{Name: "<b>a</b>", Count: 1}, {Name: "b", Count: 2}}
	page := render(t, HTML(r))
	assert.NotContains(t, page, `<script>alert`)
	assert.NotContains(t, page, `<img`)
	assert.NotContains(t, page, `<b>a</b>`)
	assert.Contains(t, page, `&lt;script&gt;alert(&#34;title&#34;)&lt;/script&gt;`)
	assert.Equal(t, 1, strings.Count(page, "<script>"), "only the page's own script")
}

// figure returns the <figure> with the given id.
func figure(t *testing.T, page, id string) string {
	t.Helper()
	start := strings.Index(page, `<figure class="chart`)
	for start >= 0 {
		end := strings.Index(page[start:], "</figure>") + start
		if strings.Contains(page[start:start+200], `id="`+id+`"`) {
			return page[start:end]
		}
		next := strings.Index(page[end:], `<figure class="chart`)
		if next < 0 {
			break
		}
		start = end + next
	}
	t.Fatalf("no figure %s", id)
	return ""
}

func TestHTMLChartsDrawLimitsAndUnits(t *testing.T) {
	page := render(t, HTML(detailedPassRun()))
	for id, want := range map[string][]string{
		"chart-rate":    {"target", "achieved (sent)", "second with drops", "SLO throughput ≥ 95/s (server)", "100/s", "seconds since load start"},
		"chart-latency": {">p50<", ">p95<", ">p99<", "SLO p95_latency: p95 ≤ 50ms<", "SLO p99_latency: p99 ≤ 200ms (above the chart)", "20ms"},
		"chart-errors":  {"SLO error_rate ≤ 1% (server)", "0.4%"},
		"chart-cpu":     {"replica-1", "replica-2", "SLO cpu ≤ 80%", "40%"},
		"chart-memory":  {"replica-1", "replica-2", "SLO memory_rss ≤ 256MiB (above the chart)", "20MiB"},
	} {
		fig := figure(t, page, id)
		assert.Contains(t, fig, `data-drawn="true"`, id)
		assert.Contains(t, fig, "<svg", id)
		for _, w := range want {
			assert.Contains(t, fig, w, id)
		}
	}
	assert.Contains(t, figure(t, page, "chart-rate"), "12 requests dropped in 3 seconds")
	assert.Contains(t, page, `<table class="sortable" id="templates">`)
	assert.Contains(t, page, `<td class="num" data-key="27100000">27.1ms</td>`, "p95 sorts by nanoseconds")
}

func TestHTMLSaysWhatIsMissing(t *testing.T) {
	bare := passingRun()
	bare.Client.ByTemplate = bare.Client.ByTemplate[:1]
	page := render(t, HTML(bare))
	assert.Contains(t, figure(t, page, "chart-memory"), "No per-replica data in this run.")
	assert.Contains(t, figure(t, page, "chart-memory"), `data-drawn="false"`)
	cpu := figure(t, page, "chart-cpu")
	assert.Contains(t, cpu, "No per-replica data: this is the CPU of all replicas together.")
	assert.Contains(t, cpu, "all replicas")
	lat := figure(t, page, "chart-latency")
	assert.Contains(t, lat, "Not recorded in this run: p50, p99.")
	assert.NotContains(t, lat, "SLO p99_latency", "no p99 line, so no p99 limit")
	assert.NotContains(t, page, `id="templates"`, "one table per template only when there are several")

	r := detailedPassRun()
	for i := range r.Replicas[1].RSS {
		r.Replicas[1].RSS[i] = math.NaN()
	}
	assert.Contains(t, figure(t, render(t, HTML(r)), "chart-memory"), "1 of 2 replicas had no sample.")

	r.Timeline = r.Timeline[:1]
	one := render(t, HTML(r))
	assert.Contains(t, one, "The run recorded 1 second of load: too little to draw over time.")
	assert.NotContains(t, one, "<svg")
}

func TestHTMLComparisonDrawsRoundsAndBudget(t *testing.T) {
	page := render(t, HTML(detailedCompareFailRun()))
	assert.Contains(t, page, `<section id="comparison">`)
	// Rows worse first: p95_latency, then the inconclusive cpu_per_request.
	rounds := figure(t, page, "metric-1-rounds")
	assert.Contains(t, rounds, "p95_latency: each pair of rounds, in the order run")
	assert.Contains(t, rounds, ">baseline<")
	assert.Contains(t, rounds, ">candidate<")
	assert.Contains(t, rounds, ">20ms<")
	change := figure(t, page, "metric-1-change")
	assert.Contains(t, change, "budget +10%")
	assert.Contains(t, change, "95% CI of the change")
	assert.Contains(t, change, "+10%<")

	missing := figure(t, page, "metric-2-rounds")
	assert.Contains(t, missing, "cpu_per_request")
	assert.Contains(t, missing, "missing round")
	assert.Contains(t, missing, "Missing: candidate round 4")
	noChange := figure(t, page, "metric-2-change")
	assert.Contains(t, noChange, `data-drawn="false"`)
	assert.Contains(t, noChange, "No change computed: cpu_per_request: no data in candidate round 4 of 6")
}

func TestHTMLReturnsWriteErrors(t *testing.T) {
	assert.ErrorIs(t, HTML(failingRun())(failingWriter{}), errDiskFull)
}

func TestUnitTicksAreRoundInTheUnitShown(t *testing.T) {
	for _, tc := range []struct {
		unit   units.Unit
		lo, hi float64
		want   []string
	}{
		{units.Bytes, 0, 45 << 20, []string{"0B", "10MiB", "20MiB", "30MiB", "40MiB"}},
		{units.Seconds, 0, 0.062, []string{"0s", "20ms", "40ms", "60ms"}},
		{units.Seconds, 0, 29, []string{"0s", "5s", "10s", "15s", "20s", "25s"}},
		{units.Ratio, 0, 0.01, []string{"0%", "0.2%", "0.4%", "0.6%", "0.8%", "1%"}},
		{units.PerSecond, 0, 108, []string{"0/s", "20/s", "40/s", "60/s", "80/s", "100/s"}},
	} {
		var got []string
		for _, tk := range inUnit(tc.unit).Ticks(tc.lo, tc.hi) {
			if tk.Label != "" {
				got = append(got, tk.Label)
			}
		}
		assert.Equal(t, tc.want, got, "%s %v..%v", tc.unit, tc.lo, tc.hi)
	}
}

func TestSegmentsLeaveGapsAtUnknownValues(t *testing.T) {
	nan := math.NaN()
	segs := segments([]float64{0, 1, 2, 3, 4, 5}, []float64{nan, 1, 2, nan, 4, math.Inf(1)})
	require.Len(t, segs, 2)
	assert.Len(t, segs[0], 2)
	assert.Equal(t, 4.0, segs[1][0].Y)
	assert.Empty(t, segments([]float64{0}, []float64{nan}))
}

func TestWriteDirWritesTheHTMLLast(t *testing.T) {
	dir := t.TempDir()
	paths, err := WriteDir(dir, failingRun())
	require.NoError(t, err)
	require.Equal(t, "report.html", filepath.Base(paths[len(paths)-1]))
	got, err := os.ReadFile(paths[len(paths)-1])
	require.NoError(t, err)
	assert.Equal(t, render(t, HTML(failingRun())), string(got))
}
