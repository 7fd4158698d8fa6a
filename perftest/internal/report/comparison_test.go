package report

import (
	"encoding/json"
	"encoding/xml"
	"regexp"
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/perfgate/perfgate/perftest/internal/compare"
	"github.com/perfgate/perfgate/perftest/internal/verdict"
	"github.com/perfgate/perfgate/thresholds/units"
)

func withComparison(r Run, v verdict.Verdict) Run {
	r.Comparison = &compare.Result{Verdict: v, Reason: "r", Alpha: 0.05}
	return r
}

func TestOverallCombinesTheSLOsAndTheComparison(t *testing.T) {
	tests := []struct {
		name     string
		slos     verdict.Verdict
		compared verdict.Verdict // "" means no comparison
		noCmp    bool
		want     verdict.Verdict
	}{
		{"without a comparison the SLOs decide alone", verdict.Pass, "", true, verdict.Pass},
		{"without a comparison an inconclusive run stays inconclusive", verdict.Inconclusive, "", true, verdict.Inconclusive},
		{"both passing pass", verdict.Pass, verdict.Pass, false, verdict.Pass},
		{"a worse candidate fails a run whose SLOs are met", verdict.Pass, verdict.Fail, false, verdict.Fail},
		{"a breached SLO fails a run whose comparison passed", verdict.Fail, verdict.Pass, false, verdict.Fail},
		{"an inconclusive comparison is not a pass", verdict.Pass, verdict.Inconclusive, false, verdict.Inconclusive},
		{"an inconclusive load is not a pass either", verdict.Inconclusive, verdict.Pass, false, verdict.Inconclusive},
		{"a failure outranks an inconclusive part", verdict.Inconclusive, verdict.Fail, false, verdict.Fail},
		{"a comparison without a verdict is never a pass", verdict.Pass, "", false, verdict.Fail},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			r := Run{Result: verdict.Result{Verdict: tt.slos}}
			if !tt.noCmp {
				r = withComparison(r, tt.compared)
			}
			r.Decide()
			assert.Equal(t, tt.want, r.Decision.Verdict)
		})
	}
}

func TestHeadlinePutsThePartThatFailedFirst(t *testing.T) {
	assert.Equal(t, "FAIL: 1 of 7 metrics worse than the baseline, 1 inconclusive; all 7 SLOs met", overallHeadline(compareFailRun()))
	assert.Equal(t, "PASS: all 7 SLOs met; no metric of 8 worse than the baseline", overallHeadline(comparePassRun()))

	r := failingRun()
	pass := comparePassRun()
	r.Comparison = pass.Comparison
	r.Decide()
	assert.Equal(t, "FAIL: 3 of 7 SLOs breached, 1 without data; no metric of 8 worse than the baseline", overallHeadline(r))
	assert.True(t, strings.HasPrefix(overallReason(r), "SLOs: 3 of 10 checks failed"), overallReason(r))
}

func TestConsoleShowsTheComparisonTable(t *testing.T) {
	got := render(t, Console(compareFailRun()))
	lines := strings.Split(got, "\n")
	head := slicesIndex(lines, func(l string) bool { return strings.HasPrefix(l, "METRIC ") })
	require.Positive(t, head, got)
	assert.Regexp(t, `^METRIC\s+BASELINE\s+CANDIDATE\s+DELTA\s+95% CI\s+P\s+BUDGET\s+STATUS$`, lines[head])
	assert.Regexp(t, `(?m)^p95_latency\s+20\.1ms ±4%\s+24\.1ms ±4%\s+\+20%\s+\[\+20%, \+20%\]\s+0\.031\s+\+10%\s+WORSE$`, got)
	assert.Regexp(t, `(?m)^p50_latency\s+.*\s+~\s+.*\s+1\.000\s+\+10%\s+SAME$`, got)
	assert.Regexp(t, `(?m)^cpu_per_request\s+—\s+—\s+—\s+—\s+—\s+\+10%\s+INCONCLUSIVE$`, got)
	assert.Contains(t, got, "Baseline vs candidate (merge-base 1a2b3c4): 6 rounds of each build in pairs, Wilcoxon signed-rank (errors: Fisher exact) at α=0.05\n")
	assert.Contains(t, got, "\nFAIL: 1 of 7 metrics worse than the baseline, 1 inconclusive; all 7 SLOs met\n")
	assert.Contains(t, got, "  compare  1 of 7 metrics worse beyond budget: p95_latency +20%")
	assert.Contains(t, got, "  baseline merge-base 1a2b3c4\n")

	// The columns line up: every row's STATUS starts where the header's does.
	col := strings.Index(lines[head], "STATUS")
	for _, l := range lines[head+1 : head+8] {
		assert.Regexp(t, `^(SAME|WORSE|BETTER|INCONCLUSIVE)$`, string([]rune(l)[col:]), l)
	}

	noise := render(t, Console(comparePassRun()))
	assert.Contains(t, noise, "  noise    p95_latency: rounds of one build differ by up to 20.5%; a change under 18% mostly reads ~ at α=0.05 with 6 rounds — its +10% budget is tighter than this runner can detect\n")
	assert.Contains(t, noise, "  noise    throughput: rounds of one build differ by up to 0.4%; a change under 0.3% mostly reads ~ at α=0.05 with 6 rounds\n")
}

func slicesIndex(lines []string, f func(string) bool) int {
	for i, l := range lines {
		if f(l) {
			return i
		}
	}
	return -1
}

func TestAbsoluteOnlyReportsSayNothingOfABaseline(t *testing.T) {
	for _, rn := range runs[:3] {
		r := rn.run()
		for _, wr := range writers {
			got := render(t, wr.render(r))
			assert.NotContains(t, strings.ToLower(got), "baseline", "%s %s", rn.name, wr.ext)
			assert.NotContains(t, got, `"comparison"`)
			assert.NotContains(t, got, `"slo_verdict"`)
		}
	}
}

var compareRow = regexp.MustCompile("(?m)^\\| `([a-z0-9_]+)` \\| .* \\| ([*A-Za-z]+) \\|$")

func TestMarkdownComparisonListsWorseFirstAndCharts(t *testing.T) {
	got := render(t, Markdown(compareFailRun()))
	assert.Contains(t, got, "### perfgate: tasksvc x2 — FAIL: 1 of 7 metrics worse than the baseline, 1 inconclusive; all 7 SLOs met\n")
	section := got[strings.Index(got, "#### Baseline vs candidate"):strings.Index(got, "#### Client vs server")]
	var order, verdicts []string
	for _, m := range compareRow.FindAllStringSubmatch(section, -1) {
		order = append(order, m[1])
		verdicts = append(verdicts, m[2])
	}
	assert.Equal(t, []string{"p95_latency", "cpu_per_request", "peak_rss", "p50_latency", "p99_latency", "throughput", "error_rate"}, order)
	assert.Equal(t, []string{"**WORSE**", "**INCONCLUSIVE**", "better", "same", "same", "same", "same"}, verdicts)
	assert.Contains(t, section, "| Metric | Baseline | Candidate | Delta | 95% CI | p | Budget | Verdict |\n")
	assert.Contains(t, section, "| `p95_latency` | 20.1ms ±4% | 24.1ms ±4% | +20% | [+20%, +20%] | 0.031 | +10% | **WORSE** |\n")
	assert.Contains(t, section, "The candidate against merge-base 1a2b3c4, 6 rounds of each build interleaved in pairs on this machine")
	assert.Contains(t, section, "- p99_latency +15% (49.1ms → 56.5ms, p=0.031) within its +25% budget\n")
	assert.Contains(t, section, "- cpu_per_request: no data in candidate round 4 of 6: a missing value is never a pass\n")

	// One bar per compared metric, the inconclusive one left out: p95 used twice its budget.
	assert.Contains(t, section, `    x-axis ["p50_latency", "p95_latency", "p99_latency", "peak_rss", "throughput", "error_rate"]`+"\n")
	assert.Contains(t, section, "    bar [0, 200, 60, 0, 0, 0]\n")
	assert.Contains(t, section, "    line [100, 100, 100, 100, 100, 100]\n")

	pass := render(t, Markdown(comparePassRun()))
	assert.Contains(t, pass, "_No metric moved significantly toward worse._")
	assert.NotContains(t, pass, "% of budget")
	assert.Contains(t, pass, "- p95_latency: rounds of one build differ by up to 20.5%; a change under 18% mostly reads ~ at α=0.05 with 6 rounds — its +10% budget is tighter than this runner can detect\n")
}

func TestMarkdownSaysAnInconclusiveComparisonIsNotAPass(t *testing.T) {
	r := passingRun()
	res := compare.Compare([]compare.Samples{samples("p95_latency", units.Seconds, p95Rounds[:3], p95Rounds[:3])},
		[]compare.Budget{{Metric: "p95_latency", MaxIncrease: ptr(0.1)}}, compare.DefaultOptions)
	r.Comparison = &res
	r.Decide()
	require.Equal(t, verdict.Inconclusive, r.Decision.Verdict)
	got := render(t, Markdown(r))
	assert.Contains(t, got, "— INCONCLUSIVE: 1 of 1 metric inconclusive against the baseline; all 7 SLOs met\n")
	assert.Contains(t, got, "> **Inconclusive, which is not a pass:** baseline: 1 of 1 metric inconclusive, which is not a pass: p95_latency: too few samples: 3 pairs of rounds")
	assert.Contains(t, render(t, Console(r)), "INCONCLUSIVE: 1 of 1 metric inconclusive against the baseline; all 7 SLOs met\n")
}

func TestEmptyComparisonCannotPass(t *testing.T) {
	r := passingRun()
	res := compare.Compare(nil, nil, compare.DefaultOptions)
	r.Comparison = &res
	r.Decide()
	assert.Equal(t, verdict.Fail, r.Decision.Verdict)
	assert.Contains(t, render(t, Markdown(r)), "_No metrics were compared: a comparison with nothing to compare cannot pass._")
	assert.Contains(t, render(t, Console(r)), "FAIL: nothing compared with the baseline; all 7 SLOs met\n")
	got := parseJUnitSuites(t, r)
	require.Len(t, got.Suites, 2)
	require.Len(t, got.Suites[1].Cases, 1)
	assert.Equal(t, "metrics", got.Suites[1].Cases[0].Name)
	require.NotNil(t, got.Suites[1].Cases[0].Failure)
	assert.Equal(t, 1, got.Failures)
}

type jsonComparisonIn struct {
	Verdict    string `json:"verdict"`
	Reason     string `json:"reason"`
	SLOVerdict string `json:"slo_verdict"`
	Comparison *struct {
		Verdict  string  `json:"verdict"`
		Reason   string  `json:"reason"`
		Baseline string  `json:"baseline"`
		Alpha    float64 `json:"alpha"`
		Rows     []struct {
			Metric   string `json:"metric"`
			Unit     string `json:"unit"`
			Status   string `json:"status"`
			Fail     bool   `json:"fail"`
			Baseline struct {
				Median *float64 `json:"median"`
				Lo     *float64 `json:"lo"`
				Hi     *float64 `json:"hi"`
				N      int      `json:"n"`
			} `json:"baseline"`
			Delta       *float64 `json:"delta"`
			DeltaLo     *float64 `json:"delta_lo"`
			DeltaHi     *float64 `json:"delta_hi"`
			Points      bool     `json:"points"`
			P           *float64 `json:"p"`
			Significant bool     `json:"significant"`
			Budget      string   `json:"budget"`
			MaxIncrease *float64 `json:"max_increase"`
			MaxDecrease *float64 `json:"max_decrease"`
			Why         string   `json:"why"`
		} `json:"rows"`
		Noise []struct {
			Metric        string   `json:"metric"`
			MinDetectable *float64 `json:"min_detectable"`
			Spread        *float64 `json:"spread"`
			Why           string   `json:"why"`
		} `json:"noise"`
	} `json:"comparison"`
}

func TestJSONCarriesTheComparison(t *testing.T) {
	r := compareFailRun()
	var got jsonComparisonIn
	require.NoError(t, json.Unmarshal([]byte(render(t, JSON(r))), &got))
	assert.Equal(t, "fail", got.Verdict, "the top-level verdict combines both")
	assert.Equal(t, "pass", got.SLOVerdict)
	assert.Equal(t, overallReason(r), got.Reason)
	require.NotNil(t, got.Comparison)
	c := got.Comparison
	assert.Equal(t, "fail", c.Verdict)
	assert.Equal(t, r.Comparison.Reason, c.Reason)
	assert.Equal(t, "merge-base 1a2b3c4", c.Baseline)
	assert.Equal(t, 0.05, c.Alpha)
	require.Len(t, c.Rows, 7)
	for i, row := range r.Comparison.Rows {
		assert.Equal(t, row.Metric, c.Rows[i].Metric)
		assert.Equal(t, string(row.Status), c.Rows[i].Status)
		assert.Equal(t, row.Fail, c.Rows[i].Fail)
		assert.Equal(t, row.Why, c.Rows[i].Why)
		assert.Equal(t, row.Budget, c.Rows[i].Budget)
	}
	p95 := c.Rows[1]
	require.NotNil(t, p95.Delta)
	assert.InDelta(t, 0.2, *p95.Delta, 1e-9)
	require.NotNil(t, p95.P)
	assert.InDelta(t, 2.0/64, *p95.P, 1e-12)
	assert.True(t, p95.Significant)
	assert.Greater(t, *p95.DeltaLo, 0.1)
	require.NotNil(t, p95.MaxIncrease)
	assert.Equal(t, 0.1, *p95.MaxIncrease)
	assert.Nil(t, p95.MaxDecrease)
	assert.Equal(t, 6, p95.Baseline.N)

	cpu := c.Rows[3]
	assert.Equal(t, "inconclusive", cpu.Status)
	assert.Nil(t, cpu.Delta, "unknown figures are null, not 0")
	assert.Nil(t, cpu.P)
	assert.Nil(t, cpu.Baseline.Median)
	assert.True(t, c.Rows[6].Points, "the error rate is compared in points")
	assert.Empty(t, c.Noise)

	var pass jsonComparisonIn
	require.NoError(t, json.Unmarshal([]byte(render(t, JSON(comparePassRun()))), &pass))
	require.Len(t, pass.Comparison.Noise, 2)
	assert.Equal(t, "p95_latency", pass.Comparison.Noise[0].Metric)
	assert.Greater(t, *pass.Comparison.Noise[0].MinDetectable, 0.1)
	assert.Contains(t, pass.Comparison.Noise[0].Why, "tighter than this runner can detect")
}

type junitSuitesIn struct {
	Tests    int `xml:"tests,attr"`
	Failures int `xml:"failures,attr"`
	Suites   []struct {
		Name     string `xml:"name,attr"`
		Tests    int    `xml:"tests,attr"`
		Failures int    `xml:"failures,attr"`
		Props    []struct {
			Name  string `xml:"name,attr"`
			Value string `xml:"value,attr"`
		} `xml:"properties>property"`
		Cases []struct {
			Name      string `xml:"name,attr"`
			Classname string `xml:"classname,attr"`
			Failure   *struct {
				Message string `xml:"message,attr"`
				Type    string `xml:"type,attr"`
			} `xml:"failure"`
		} `xml:"testcase"`
	} `xml:"testsuite"`
}

func parseJUnitSuites(t *testing.T, r Run) junitSuitesIn {
	t.Helper()
	var got junitSuitesIn
	require.NoError(t, xml.Unmarshal([]byte(render(t, JUnit(r))), &got))
	return got
}

func TestJUnitHasACompareSuite(t *testing.T) {
	tests := []struct {
		name   string
		run    Run
		failed []string
		types  []string
		tests  int // metrics compared
	}{
		{"a worse and an inconclusive metric fail their testcases", compareFailRun(),
			[]string{"p95_latency", "cpu_per_request"}, []string{"worse", "inconclusive"}, 7},
		{"a candidate that changed nothing fails none", comparePassRun(), nil, nil, 8},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got := parseJUnitSuites(t, tt.run)
			require.Len(t, got.Suites, 2)
			assert.Equal(t, "perfgate", got.Suites[0].Name)
			s := got.Suites[1]
			assert.Equal(t, "compare", s.Name)
			assert.Equal(t, tt.tests, s.Tests)
			var failed, types []string
			for _, c := range s.Cases {
				assert.Equal(t, "perfgate.compare", c.Classname)
				if c.Failure != nil {
					failed = append(failed, c.Name)
					types = append(types, c.Failure.Type)
				}
			}
			assert.Equal(t, tt.failed, failed)
			assert.Equal(t, tt.types, types)
			assert.Equal(t, len(tt.failed), s.Failures)
			assert.Equal(t, got.Suites[0].Failures+s.Failures, got.Failures)
			assert.Equal(t, got.Suites[0].Tests+s.Tests, got.Tests)
			props := map[string]string{}
			for _, p := range got.Suites[0].Props {
				props[p.Name] = p.Value
			}
			assert.Equal(t, string(tt.run.Decision.Verdict), props["verdict"], "the perfgate suite shows the overall verdict")
		})
	}
}

// A growth scatters around 0: its spread, change and budget read as
// differences in its own unit, and its chart steps in that unit.
func TestAGrowthReadsAsADifference(t *testing.T) {
	r := passingRun()
	r.Baseline = "merge-base 1a2b3c4"
	budget := float64(64 << 10)
	res := compare.Compare([]compare.Samples{samples("heap_growth", units.BytesPer1k,
		[]float64{-30e3, 12e3, 41e3, -8e3, 0, 25e3}, []float64{190e3, 230e3, 205e3, 260e3, 185e3, 214e3})},
		[]compare.Budget{{Metric: "heap_growth", MaxIncrease: &budget}}, compare.DefaultOptions)
	r.Comparison = &res
	r = decided(r)
	got := render(t, Console(r))
	assert.Regexp(t, `(?m)^heap_growth\s+5\.86KiB/1k ±[0-9.]+KiB/1k\s+205KiB/1k ±[0-9.]+KiB/1k\s+\+199KiB/1k\s+\[\+[0-9.]+KiB/1k, \+[0-9.]+KiB/1k\]\s+0\.031\s+\+64KiB/1k\s+WORSE$`, got)

	page := render(t, HTML(r))
	assert.True(t, strings.Contains(page, "&#43;199KiB/1k (5.86KiB/1k → 205KiB/1k"), "the change reads as a difference")
	assert.True(t, regexp.MustCompile(`>(\+|&#43;)(50|100|150|200|250)KiB/1k<`).MatchString(page), "the change chart's ticks are round in KiB/1k")
}

// A growth judged by its trend names its test where the others name theirs:
// a reader of any report sees how each row was decided.
func TestReportsNameTheTrendTest(t *testing.T) {
	tr := &compare.Trend{}
	var b, c []float64
	for i := range 10 {
		n := float64(2000 * (i + 1))
		tr.Add(true, 20e6+float64(i%3)*1e5, n)
		tr.Add(false, 20e6+300*n, n) // 300 bytes kept a request
		b, c = append(b, 0), append(c, 300)
	}
	res := compare.Compare([]compare.Samples{{Metric: "rss_growth", Unit: units.BytesPer1k, Baseline: b, Candidate: c, Trend: tr}},
		[]compare.Budget{{Metric: "rss_growth", MaxIncrease: ptr(64 << 10)}}, compare.Options{Alpha: 0.01})
	require.Equal(t, compare.Worse, res.Rows[0].Status, res.Rows[0].Why)
	r := passingRun()
	r.Comparison = &res
	r = decided(r)
	assert.Contains(t, render(t, Console(r)), "Wilcoxon signed-rank (errors: Fisher exact; rss_growth: Mann–Kendall trend over every pair) at α=0.01")
	assert.Contains(t, render(t, Markdown(r)), "Wilcoxon signed-rank test on the pairs (error counts: Fisher exact; rss_growth: Mann–Kendall trend over every pair) at α=0.01")
	assert.Contains(t, render(t, HTML(r)), "rss_growth: Mann–Kendall trend over every pair) at α=0.01")
	assert.Contains(t, render(t, JSON(r)), `"test": "trend"`, "report.json says so too")
}
