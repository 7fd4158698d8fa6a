package report

import (
	"bytes"
	"encoding/json"
	"encoding/xml"
	"errors"
	"flag"
	"math"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/perfgate/perfgate/perftest/internal/verdict"
	"github.com/perfgate/perfgate/thresholds"
	"github.com/perfgate/perfgate/thresholds/units"
)

var update = flag.Bool("update", false, "rewrite testdata/*.golden from the current output")

var runs = []struct {
	name    string
	run     func() Run
	verdict verdict.Verdict
}{
	{"pass", passingRun, verdict.Pass},
	{"fail", failingRun, verdict.Fail},
	{"inconclusive", inconclusiveRun, verdict.Inconclusive},
	{"compare_fail", compareFailRun, verdict.Fail},
	{"compare_pass", comparePassRun, verdict.Pass},
}

var writers = []struct {
	ext    string
	render func(Run) Reporter
}{
	{"console.txt", Console},
	{"json", JSON},
	{"md", Markdown},
	{"junit.xml", JUnit},
}

func render(t *testing.T, rep Reporter) string {
	t.Helper()
	var buf bytes.Buffer
	require.NoError(t, rep(&buf))
	return buf.String()
}

// TestGolden compares every writer's output on every kind of run with
// testdata/<run>.<ext>.golden; go test -update rewrites them.
func TestGolden(t *testing.T) {
	for _, rn := range runs {
		for _, wr := range writers {
			t.Run(rn.name+"/"+wr.ext, func(t *testing.T) {
				r := rn.run()
				require.Equal(t, rn.verdict, r.Decision.Verdict, "fixture: %s", overallReason(r))
				got := render(t, wr.render(r))
				path := filepath.Join("testdata", rn.name+"."+wr.ext+".golden")
				if *update {
					require.NoError(t, os.MkdirAll("testdata", 0o755))
					require.NoError(t, os.WriteFile(path, []byte(got), 0o644))
				}
				want, err := os.ReadFile(path)
				require.NoError(t, err, "run go test -update to create it")
				// assert.Equal prints a unified diff of the two texts on mismatch.
				assert.Equal(t, string(want), got, "%s is stale or the writer changed: review the diff, then go test -update", path)
				// Rendering twice gives the same bytes: no map order leaks out.
				assert.Equal(t, got, render(t, wr.render(rn.run())))
			})
		}
	}
}

// jsonReportIn is what a consumer of report.json reads back.
type jsonReportIn struct {
	Version int    `json:"version"`
	Verdict string `json:"verdict"`
	Reason  string `json:"reason"`
	Summary struct {
		SLOs, Breached, Checks int
		NoData                 int `json:"no_data"`
		Failed                 int `json:"failed_checks"`
	} `json:"summary"`
	Checks []struct {
		Name     string   `json:"name"`
		Instance string   `json:"instance"`
		Status   string   `json:"status"`
		Observed *float64 `json:"observed"`
		Limit    *float64 `json:"limit"`
		Op       string   `json:"op"`
		Unit     string   `json:"unit"`
		Query    string   `json:"query"`
		Why      string   `json:"why"`
	} `json:"checks"`
	Client struct {
		Sent     int64            `json:"sent"`
		P95      float64          `json:"p95_ms"`
		ByStatus map[string]int64 `json:"by_status"`
	} `json:"client"`
	Window struct {
		Seconds float64 `json:"seconds"`
	} `json:"window"`
	Timeline []struct {
		T   float64  `json:"t"`
		CPU *float64 `json:"cpu_cores"`
	} `json:"timeline"`
	Phases []struct {
		Name    string  `json:"name"`
		Seconds float64 `json:"seconds"`
	} `json:"phases"`
	Prometheus string `json:"prometheus"`
	Service    string `json:"service"`
}

func TestJSONParsesBackWithTheExactVerdict(t *testing.T) {
	for _, rn := range runs {
		t.Run(rn.name, func(t *testing.T) {
			r := rn.run()
			var got jsonReportIn
			require.NoError(t, json.Unmarshal([]byte(render(t, JSON(r))), &got))
			assert.Equal(t, string(rn.verdict), got.Verdict)
			assert.Equal(t, overallReason(r), got.Reason)
			assert.Equal(t, JSONVersion, got.Version)
			require.Len(t, got.Checks, len(r.Result.Checks))
			for i, c := range r.Result.Checks {
				assert.Equal(t, string(c.Status), got.Checks[i].Status, c.Name)
				assert.Equal(t, c.Why, got.Checks[i].Why)
				if c.HasObserved {
					require.NotNil(t, got.Checks[i].Observed, c.Name)
					assert.Equal(t, c.Observed, *got.Checks[i].Observed)
				}
			}
			assert.Equal(t, r.Client.Sent, got.Client.Sent)
			assert.Equal(t, 60.0, got.Window.Seconds)
			assert.Equal(t, "tasksvc:3f2a9c1", got.Service)
			assert.Equal(t, "debian prometheus 2.42.0 (local image)", got.Prometheus)
			require.Len(t, got.Phases, len(phases))
			assert.Equal(t, "wait", got.Phases[3].Name)
			assert.Equal(t, 5.7, got.Phases[3].Seconds)
			require.Len(t, got.Timeline, len(r.Timeline))
			assert.Nil(t, got.Timeline[0].CPU, "unknown CPU is null, not 0")
			assert.NotNil(t, got.Timeline[2].CPU)
		})
	}
}

func TestJSONMarksMissingDataAsNull(t *testing.T) {
	var got jsonReportIn
	require.NoError(t, json.Unmarshal([]byte(render(t, JSON(failingRun()))), &got))
	var noData, breached int
	for _, c := range got.Checks {
		switch c.Status {
		case "no_data":
			noData++
			assert.Nil(t, c.Observed, c.Name)
			require.NotNil(t, c.Limit)
			assert.Equal(t, float64(256<<20), *c.Limit)
			assert.Equal(t, "memory_rss", c.Name)
			assert.Equal(t, "replica-2", c.Instance)
		case "fail":
			breached++
			assert.NotNil(t, c.Observed, c.Name)
		}
	}
	assert.Equal(t, 1, noData)
	assert.Equal(t, 3, breached)
	assert.Equal(t, 7, got.Summary.SLOs)
	assert.Equal(t, 10, got.Summary.Checks)
	assert.Equal(t, 3, got.Summary.Breached)
	assert.Equal(t, 1, got.Summary.NoData)
	assert.Equal(t, 4, got.Summary.Failed)
}

func TestJSONSurvivesNaNEverywhere(t *testing.T) {
	r := passingRun()
	r.Result.Load.AchievedRate = math.NaN()
	r.Decide()
	r.Client.TargetRate = math.Inf(1)
	r.Timeline[5].P95 = math.NaN()
	var got map[string]any
	require.NoError(t, json.Unmarshal([]byte(render(t, JSON(r))), &got))
	assert.Nil(t, got["generator"].(map[string]any)["achieved_rate"])
	assert.Nil(t, got["client"].(map[string]any)["target_rate"])
}

type junitIn struct {
	Tests    int `xml:"tests,attr"`
	Failures int `xml:"failures,attr"`
	Errors   int `xml:"errors,attr"`
	Suites   []struct {
		Name     string `xml:"name,attr"`
		Tests    int    `xml:"tests,attr"`
		Failures int    `xml:"failures,attr"`
		Errors   int    `xml:"errors,attr"`
		Cases    []struct {
			Name    string `xml:"name,attr"`
			Failure *struct {
				Message string `xml:"message,attr"`
				Type    string `xml:"type,attr"`
			} `xml:"failure"`
			Error *struct {
				Message string `xml:"message,attr"`
			} `xml:"error"`
			SystemOut string `xml:"system-out"`
		} `xml:"testcase"`
	} `xml:"testsuite"`
}

func parseJUnit(t *testing.T, r Run) junitIn {
	t.Helper()
	var got junitIn
	require.NoError(t, xml.Unmarshal([]byte(render(t, JUnit(r))), &got))
	require.Len(t, got.Suites, 1)
	require.Equal(t, "perfgate", got.Suites[0].Name)
	return got
}

func TestJUnitCountsFailures(t *testing.T) {
	tests := []struct {
		name     string
		run      Run
		failures int
		failed   []string // testcases with a <failure>
	}{
		{
			name:     "a passing run has no failures and a passing generator",
			run:      passingRun(),
			failures: 0,
		},
		{
			name:     "a failing run fails each breached or missing check",
			run:      failingRun(),
			failures: 4,
			failed:   []string{"error_rate", "p95_latency", "p95_latency_by_instance/replica-1", "memory_rss/replica-2"},
		},
		{
			name:     "an inconclusive run fails the generator testcase beside any breach",
			run:      inconclusiveRun(),
			failures: 2,
			failed:   []string{"throughput", "generator"},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got := parseJUnit(t, tt.run)
			s := got.Suites[0]
			assert.Equal(t, len(tt.run.Result.Checks)+1, s.Tests, "one case per check plus the generator")
			assert.Equal(t, tt.failures, s.Failures)
			assert.Equal(t, tt.failures, got.Failures)
			var failed []string
			for _, c := range s.Cases {
				if c.Failure != nil {
					failed = append(failed, c.Name)
					assert.NotEmpty(t, c.Failure.Message, c.Name)
				}
			}
			assert.Equal(t, tt.failed, failed)
		})
	}
}

func TestJUnitCarriesQueryAndReason(t *testing.T) {
	got := parseJUnit(t, failingRun())
	cases := got.Suites[0].Cases
	assert.Equal(t, queries["error_rate"], strings.TrimSpace(cases[0].SystemOut))
	assert.Equal(t, "error_rate 2.12% > 1% (+112%)", cases[0].Failure.Message)
	assert.Equal(t, "fail", cases[0].Failure.Type)
	for _, c := range cases {
		if c.Name == "memory_rss/replica-2" {
			assert.Equal(t, "no_data", c.Failure.Type)
		}
	}

	inc := parseJUnit(t, inconclusiveRun()).Suites[0].Cases
	gen := inc[len(inc)-1]
	require.Equal(t, "generator", gen.Name)
	assert.Contains(t, gen.Failure.Message, "generator fell 12.3% behind its target rate")
}

func TestJUnitNamesBothBoundsApart(t *testing.T) {
	r := passingRun()
	r.Result = verdict.Evaluate(measured([]verdict.Objective{
		{Name: "cpu", Metric: thresholds.CPU, Unit: units.Ratio, PerInstance: true, Min: ptr(0.01), Max: ptr(0.8)},
	}, perInstance("cpu", 0.3, 0.9)), r.Result.Load)
	r.Decide()
	got := parseJUnit(t, r)
	var names []string
	for _, c := range got.Suites[0].Cases {
		names = append(names, c.Name)
	}
	assert.Equal(t, []string{"cpu/replica-1 (max)", "cpu/replica-1 (min)", "cpu/replica-2 (max)", "cpu/replica-2 (min)", "generator"}, names)
	assert.Equal(t, 1, got.Failures)
}

func TestJUnitWiringErrorsAreErrors(t *testing.T) {
	r := passingRun()
	r.Result = verdict.Evaluate(measured([]verdict.Objective{{Name: "custom", Unit: units.None}}, aggregate("custom", 1)), r.Result.Load)
	r.Decide()
	got := parseJUnit(t, r)
	assert.Equal(t, 1, got.Errors)
	assert.Equal(t, 0, got.Failures)
}

func TestJUnitWithoutChecksIsNotGreen(t *testing.T) {
	r := passingRun()
	r.Result = verdict.Evaluate(nil, r.Result.Load)
	r.Decide()
	got := parseJUnit(t, r)
	assert.Equal(t, 1, got.Failures)
	assert.Equal(t, 2, got.Tests)
}

func TestMarkdown(t *testing.T) {
	tests := []struct {
		name     string
		run      Run
		heading  string
		contains []string
		absent   []string
	}{
		{
			name:     "a passing run says so in its heading and has no reason block",
			run:      passingRun(),
			heading:  "### perfgate: tasksvc x2 — PASS: all 7 SLOs met",
			contains: []string{"```mermaid\nxychart-beta\n"},
			absent:   []string{"**FAIL**", "> **Inconclusive"},
		},
		{
			name:     "a failing run counts breached SLOs and missing data in its heading",
			run:      failingRun(),
			heading:  "### perfgate: tasksvc x2 — FAIL: 3 of 7 SLOs breached, 1 without data",
			contains: []string{"| **FAIL** | `error_rate` |", "| **NO DATA** | `memory_rss` | replica-2 | — |", "`-fault-latency=30ms"},
			absent:   []string{"> **Inconclusive"},
		},
		{
			name:     "an inconclusive run explains why it is not a pass",
			run:      inconclusiveRun(),
			heading:  "### perfgate: tasksvc x2 — INCONCLUSIVE: the load applied was not the load planned; 1 of 7 SLOs breached",
			contains: []string{"> **Inconclusive, which is not a pass:** generator fell 12.3% behind its target rate (87.7/s of 100/s, 5% allowed)"},
			absent:   []string{"PASS"},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got := render(t, Markdown(tt.run))
			lines := strings.Split(got, "\n")
			assert.Equal(t, Marker, lines[0], "the marker comes first so CI can find the comment")
			assert.Equal(t, tt.heading, lines[1])
			assert.Contains(t, got, "```mermaid\nxychart-beta\n")
			assert.Contains(t, got, "<details><summary>PromQL per SLO, phases</summary>")
			assert.Contains(t, got, "```promql\n"+queries["p95_latency"]+"\n```")
			for _, s := range tt.contains {
				assert.Contains(t, got, s)
			}
			for _, s := range tt.absent {
				assert.NotContains(t, got, s)
			}
		})
	}
}

func TestMarkdownListsBreachesFirst(t *testing.T) {
	got := render(t, Markdown(failingRun()))
	rows := regexp.MustCompile(`(?m)^\| (\*\*[A-Z ]+\*\*|pass) \| `).FindAllStringSubmatch(got, -1)
	var statuses []string
	for _, m := range rows {
		statuses = append(statuses, m[1])
	}
	require.Len(t, statuses, 10)
	assert.Equal(t, []string{"**FAIL**", "**FAIL**", "**FAIL**", "**NO DATA**"}, statuses[:4])
	for _, s := range statuses[4:] {
		assert.Equal(t, "pass", s)
	}
}

func TestMarkdownPutsClientBesideServer(t *testing.T) {
	got := render(t, Markdown(failingRun()))
	assert.Contains(t, got, "| | Client (generator) | Server: all | Server: replica-1 | Server: replica-2 |")
	assert.Contains(t, got, "| p95 | 76.3ms | 73.2ms | 81.2ms | 58.8ms |")
	assert.Contains(t, got, "| p99 | 98.1ms | 95.4ms | — | — |")
	assert.Contains(t, got, "| error rate | 2.11% | 2.12% | — | — |")
	assert.Contains(t, got, "| throughput | 99.4/s | 98.7/s | — | — |")
}

var chartData = regexp.MustCompile(`(?m)^    (?:line|bar) \[(.*)\]$`)

func TestMarkdownChartsHaveAtMostSixtyPoints(t *testing.T) {
	tests := []struct {
		name   string
		points int
		want   int
		xAxis  string
	}{
		{"a short run is drawn point for point", 45, 45, "0 --> 44"},
		{"exactly sixty points are kept", 60, 60, "0 --> 59"},
		{"a five minute run is merged into buckets of five seconds", 300, 60, "0 --> 295"},
		{"an uneven run still stays under sixty", 301, 51, "0 --> 300"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			r := failingRun()
			r.Timeline = timeline(tt.points, 100, 99, 50, 7)
			got := render(t, Markdown(r))
			series := chartData.FindAllStringSubmatch(got, -1)
			require.Len(t, series, 6, "rate: target and achieved; latency and its limit; CPU; errors")
			for _, s := range series {
				assert.Len(t, strings.Split(s[1], ", "), tt.want)
			}
			assert.Contains(t, got, `x-axis "seconds since load start" `+tt.xAxis+"\n")
		})
	}
}

func TestMarkdownChartYAxesAreTitled(t *testing.T) {
	got := render(t, Markdown(failingRun()))
	for _, y := range []string{`y-axis "req/s" 0 --> `, `y-axis "ms" 0 --> `, `y-axis "cores" 0 --> `, `y-axis "errors/s" 0 --> `} {
		assert.Contains(t, got, y)
	}
	assert.Contains(t, got, `title "Client p95 latency, ms (flat line: p95_latency limit 50ms)"`)
}

func TestMarkdownWithoutCPUSamplesSaysSo(t *testing.T) {
	r := passingRun()
	for i := range r.Timeline {
		r.Timeline[i].CPU = math.NaN()
	}
	got := render(t, Markdown(r))
	assert.Contains(t, got, "_Server CPU was not sampled during the run._")
	assert.NotContains(t, got, `"cores"`)
}

func TestMarkdownEscapesTableCells(t *testing.T) {
	r := passingRun()
	r.Result = verdict.Result{Verdict: verdict.Fail, Reason: "x", Checks: []verdict.Check{{
		Name: "odd|name", Status: verdict.StatusNoData, Op: "<=", Unit: units.None,
		Why: "no data: bad_data: parse error: unexpected <EOF> | near *",
	}}}
	r.Decide()
	got := render(t, Markdown(r))
	assert.Contains(t, got, "| **NO DATA** | `odd\\|name` | all | — | ≤ 0 | no data: bad_data: parse error: unexpected &lt;EOF> \\| near \\* |\n")
}

func TestConsole(t *testing.T) {
	got := render(t, Console(failingRun()))
	lines := strings.Split(got, "\n")
	assert.Equal(t, "perfgate: tasksvc x2", lines[0])
	assert.Regexp(t, `^NAME\s+INSTANCE\s+OBSERVED\s+LIMIT\s+STATUS\s+WHY$`, lines[2])
	assert.Regexp(t, `(?m)^p95_latency\s+all\s+73\.2ms\s+<= 50ms\s+FAIL\s+p95_latency 73\.2ms > 50ms \(\+46%\)$`, got)
	assert.Regexp(t, `(?m)^memory_rss\s+replica-2\s+no data\s+<= 256MiB\s+NO DATA\s+no data: query returned no series for this instance$`, got)
	assert.Contains(t, got, "\nFAIL: 3 of 7 SLOs breached, 1 without data\n")

	// The columns line up: every row's STATUS starts where the header's does.
	col := strings.Index(lines[2], "STATUS")
	for _, l := range lines[3:13] {
		assert.Regexp(t, `^(PASS|FAIL|NO DATA) `, l[col:], l)
	}
}

func TestConsoleShowsInconclusiveReason(t *testing.T) {
	got := render(t, Console(inconclusiveRun()))
	assert.Contains(t, got, "INCONCLUSIVE: the load applied was not the load planned; 1 of 7 SLOs breached\n")
	assert.Contains(t, got, "reason   generator fell 12.3% behind")
	pass := render(t, Console(passingRun()))
	assert.Contains(t, pass, "PASS: all 7 SLOs met\n")
	assert.NotContains(t, pass, "INCONCLUSIVE")
}

func TestWriteDir(t *testing.T) {
	dir := filepath.Join(t.TempDir(), "new", "reports")
	paths, err := WriteDir(dir, failingRun())
	require.NoError(t, err)
	require.Equal(t, []string{
		filepath.Join(dir, "report.json"), filepath.Join(dir, "report.md"), filepath.Join(dir, "junit.xml"),
		filepath.Join(dir, "report.html"),
	}, paths)

	md, err := os.ReadFile(paths[1])
	require.NoError(t, err)
	assert.Equal(t, render(t, Markdown(failingRun())), string(md))
	js, err := os.ReadFile(paths[0])
	require.NoError(t, err)
	assert.Contains(t, string(js), `"verdict": "fail"`)
	x, err := os.ReadFile(paths[2])
	require.NoError(t, err)
	assert.True(t, strings.HasPrefix(string(x), "<?xml"))
}

func TestWriteDirFailsWhereItCannotWrite(t *testing.T) {
	file := filepath.Join(t.TempDir(), "taken")
	require.NoError(t, os.WriteFile(file, nil, 0o644))
	paths, err := WriteDir(file, passingRun())
	require.Error(t, err)
	assert.Empty(t, paths)
	assert.Contains(t, err.Error(), file)
}

func TestReportersReturnWriteErrors(t *testing.T) {
	for _, wr := range writers {
		t.Run(wr.ext, func(t *testing.T) {
			err := wr.render(failingRun())(failingWriter{})
			assert.ErrorIs(t, err, errDiskFull)
		})
	}
}

var errDiskFull = errors.New("disk full")

type failingWriter struct{}

func (failingWriter) Write([]byte) (int, error) { return 0, errDiskFull }

func TestNiceCeil(t *testing.T) {
	for in, want := range map[float64]float64{0: 1, -3: 1, 0.7: 0.8, 1: 1, 1.1: 1.2, 2.2: 2.5, 3: 3, 73.2: 80, 110.3: 120, 0.042: 0.05, 9.5: 10} {
		assert.InDelta(t, want, niceCeil(in), 1e-12, "niceCeil(%v)", in)
	}
}

// A latency SLO's limit is drawn beside the client's line of the percentile
// the SLO states, whatever its name says: the quantile travels from the spec.
func TestLatencyLimitsFollowTheSLOsQuantileNotItsName(t *testing.T) {
	for _, name := range []string{"latency_ceiling", "p95_x"} {
		t.Run(name, func(t *testing.T) {
			r := detailedPassRun() // p50, p95 and p99 per second
			r.Result = verdict.Evaluate(measured([]verdict.Objective{
				{Name: name, Metric: thresholds.Latency, Quantile: 0.99, Unit: units.Seconds, Max: ptr(0.050)},
			}, aggregate(name, 0.0483)), r.Result.Load)
			r.Decide()

			lat := figure(t, render(t, HTML(r)), "chart-latency")
			assert.Contains(t, lat, "SLO "+name+": p99 ≤ 50ms<", "the p99 limit line, labelled p99")
			assert.NotContains(t, lat, ": p95 ≤")

			md := render(t, Markdown(r))
			assert.Contains(t, md, `title "Client p99 latency, ms (flat line: `+name+` limit 50ms)"`)
			assert.NotContains(t, md, "Client p95 latency")
			assert.Contains(t, md, "| p99 | 51.2ms | 48.3ms |", "the server's figure sits in the p99 row")
		})
	}
}

func TestPercentile(t *testing.T) {
	for q, want := range map[float64]string{0.5: "p50", 0.95: "p95", 0.99: "p99", 0.999: "p99.9", 0.9999: "p99.99"} {
		assert.Equal(t, want, percentile(q), "%v", q)
	}
}

func TestChartData(t *testing.T) {
	for in, want := range map[float64]string{
		0: "0", 100.223: "100.2", 63.533: "63.53", 0.2784: "0.278", 1234.56: "1235", 12.0: "12", -0.0001: "0", math.NaN(): "0",
	} {
		assert.Equal(t, want, data(in), "data(%v)", in)
	}
}

func TestMermaidQuoteCannotEndTheString(t *testing.T) {
	assert.Equal(t, `"limit 'p95' 50ms"`, quote("limit \"p95\"\n 50ms"))
}

func TestDownsampleKeepsTheWorstLatencyAndSkipsUnknownCPU(t *testing.T) {
	pts := []Point{
		{T: 0, Rate: 10, P95: 5, CPU: math.NaN(), Errors: 1},
		{T: 1, Rate: 20, P95: 50, CPU: 0.4, Errors: 0},
		{T: 2, Rate: 30, P95: 7, CPU: math.NaN(), Errors: 3},
	}
	got := downsample(pts, 1)
	require.Len(t, got, 1)
	assert.Equal(t, bucket{T: 0, Rate: 20, P95: 50, CPU: 0.4, Errors: 4.0 / 3}, got[0])

	cpu, ok := filled([]float64{math.NaN(), 0.2, math.NaN(), 0.3})
	require.True(t, ok)
	assert.Equal(t, []float64{0.2, 0.2, 0.2, 0.3}, cpu)
	_, ok = filled([]float64{math.NaN()})
	assert.False(t, ok)
}
