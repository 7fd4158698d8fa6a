package rates

import (
	"errors"
	"math"
	"os"
	"path/filepath"
	"slices"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/perfgate/perfgate/perftest/internal/compare"
	"github.com/perfgate/perfgate/perftest/internal/corpus"
	"github.com/perfgate/perfgate/perftest/internal/verdict"
	"github.com/perfgate/perfgate/thresholds"
)

func ptr(v float64) *float64 { return &v }

var settings = &thresholds.Compare{Alpha: 0.01, Rounds: 10,
	Round:   thresholds.Round{WarmUp: time.Second, Duration: 4 * time.Second, Rate: 400},
	Metrics: []thresholds.Budget{{Metric: "allocs_per_request", MaxIncrease: ptr(0.05)}, {Metric: "throughput", MaxDecrease: ptr(0.05)}}}

func result(v verdict.Verdict, worse ...string) compare.Result {
	r := compare.Result{Verdict: v}
	for _, m := range []string{"allocs_per_request", "throughput"} {
		row := compare.Row{Metric: m, Status: compare.Same, Delta: 0.01, DeltaLo: math.Inf(-1), DeltaHi: 0.02, P: 0.5}
		if v == verdict.Inconclusive {
			row.Status, row.Delta, row.P = compare.Inconclusive, math.NaN(), math.NaN()
		}
		for _, w := range worse {
			if w == m {
				row.Status, row.Delta, row.P = compare.Worse, 0.37, 0.002
				if m == "throughput" {
					row.Delta = -0.37
				}
			}
		}
		r.Rows = append(r.Rows, row)
	}
	return r
}

// A record is judged again under the budgets in force: its changes and
// p-values decide, not the verdict it was written with.
func TestJudgeAppliesTheBudgetsInForce(t *testing.T) {
	r := New("b1", "x", "fail", "abc", settings, 1, result(verdict.Fail, "allocs_per_request"), nil)
	v, worse := Judge(r, settings)
	assert.Equal(t, "fail", v)
	assert.Equal(t, []string{"allocs_per_request"}, worse)

	loose := *settings
	loose.Metrics = []thresholds.Budget{{Metric: "allocs_per_request", MaxIncrease: ptr(0.5)}, {Metric: "throughput", MaxDecrease: ptr(0.05)}}
	v, _ = Judge(r, &loose)
	assert.Equal(t, "pass", v, "+37% is within a 50% budget")

	strict := *settings
	strict.Alpha = 0.001
	v, _ = Judge(r, &strict)
	assert.Equal(t, "pass", v, "p=0.002 is not significant at 0.001")

	more := *settings
	more.Metrics = append(slices.Clone(settings.Metrics), thresholds.Budget{Metric: "p99_latency", MaxIncrease: ptr(0.3)})
	v, _ = Judge(r, &more)
	assert.Equal(t, "fail", v, "still worse on allocations")
	older := New("b1", "x", "pass", "abc", settings, 1, result(verdict.Pass), nil)
	v, _ = Judge(older, &more)
	assert.Equal(t, "pass", v, "a record made before p99_latency was compared is judged on what it measured")
	assert.Equal(t, []string{"p99_latency"}, Unjudged(older, &more), "and says what it could not judge")
	assert.Empty(t, Unjudged(older, settings))

	unsure := result(verdict.Pass)
	unsure.Rows[0].Status = compare.Inconclusive
	v, _ = Judge(New("b1", "x", "pass", "abc", settings, 1, unsure, nil), settings)
	assert.Equal(t, "inconclusive", v, "a metric measured without an answer is not a pass")
}

func TestRecordsRoundTripAndTally(t *testing.T) {
	path := filepath.Join(t.TempDir(), "rates", "results.jsonl")
	recs := []Record{
		New("b1", AA, "pass", "abc", settings, 1, result(verdict.Pass), nil),
		New("b1", AA, "pass", "abc", settings, 2, result(verdict.Fail, "throughput"), nil),
		New("b1", "n_plus_one_get", "fail", "abc", settings, 1, result(verdict.Fail, "allocs_per_request"), nil),
		New("b1", "n_plus_one_get", "fail", "abc", settings, 2, result(verdict.Inconclusive), nil),
		New("b1", "n_plus_one_get", "fail", "abc", settings, 3, compare.Result{}, errors.New("docker went away")),
		New("b0", "n_plus_one_get", "fail", "abc", &thresholds.Compare{Alpha: 0.05, Rounds: 6}, 9, result(verdict.Pass), nil), // measured otherwise: left out
	}
	for _, r := range recs {
		require.NoError(t, Append(path, r))
	}
	got, err := Read(path)
	require.NoError(t, err)
	require.Len(t, got, len(recs))
	assert.Nil(t, got[0].Rows[0].Lo, "an infinite bound is written as null, not lost as an error")
	assert.Equal(t, "allocs_per_request worse +37%", got[2].Outcome())

	tally := Tally(got, settings, "")
	require.Len(t, tally, 2)
	assert.Equal(t, AA, tally[0].Name, "A/A first")
	assert.Equal(t, 2, tally[0].Runs)
	assert.Equal(t, 1, tally[0].Wrong, "one false alarm")
	n := tally[1]
	assert.Equal(t, 3, n.Runs, "the record with other settings does not count")
	assert.Equal(t, 1, n.Fail)
	assert.Equal(t, 1, n.Unsure)
	assert.Equal(t, 1, n.Errs)
	assert.Equal(t, 1, n.Wrong, "an inconclusive run of a regression did not catch it")

	entries := []corpus.Entry{{Name: "n_plus_one_get", Effect: &corpus.Effect{}}}
	entries[0].Effect.Metrics.Set("allocs_per_request", &corpus.Change{Change: 0.375})
	table := Table(got, settings, entries)
	assert.Contains(t, table, "false alarms 1/2")
	assert.Contains(t, table, "caught 1/2 (+1 could not run)")
	assert.Contains(t, table, "+38%, ?, ?, ?")
	assert.Contains(t, table, "allocs_per_request ×1")
}

// Runs beside a neighbour are counted apart from quiet ones, with the
// rounds the generator could not vouch for.
func TestTallyKeepsEachNeighbourApart(t *testing.T) {
	quiet := New("b1", AA, "pass", "abc", settings, 1, result(verdict.Pass), nil)
	noisy := New("b1", AA, "pass", "abc", settings, 2, result(verdict.Inconclusive), nil)
	noisy.Noise, noisy.Rounds, noisy.Unsound = "memhog", 24, 3
	recs := []Record{quiet, noisy}
	assert.Equal(t, 1, Tally(recs, settings, "")[0].Pass)
	m := Tally(recs, settings, "memhog")
	require.Len(t, m, 1)
	assert.Equal(t, 1, m[0].Unsure)
	assert.Equal(t, 3, m[0].Unsound)
	table := Table(recs, settings, nil)
	assert.Contains(t, table, "quiet machine:")
	assert.Contains(t, table, "beside the neighbour memhog (stress-ng --vm 2 --vm-bytes 40% --vm-keep --exec 2 --hdd 1):")
	assert.Contains(t, table, "3 of 24")
}

func TestReadNamesABadLine(t *testing.T) {
	path := filepath.Join(t.TempDir(), "results.jsonl")
	require.NoError(t, os.WriteFile(path, []byte(`{"batch":"b1","entry":"aa"}`+"\n"+`{"batch": 3}`+"\n"), 0o644))
	_, err := Read(path)
	assert.ErrorContains(t, err, "results.jsonl:2:")
	none, err := Read(filepath.Join(t.TempDir(), "missing.jsonl"))
	assert.NoError(t, err)
	assert.Empty(t, none)
}

// A culprit counts when a diff of a worse metric names it, in the top 3
// that grew on their own or as the changed function with its callees; for
// A/A, any function named above noise is a diff that said something.
func TestTallyWhyCountsCulpritsAndDiffsThatSpoke(t *testing.T) {
	rec := func(entry, expect string, why ...Why) Record {
		r := New("b1", entry, expect, "abc", settings, 1, result(verdict.Fail, "allocs_per_request"), nil)
		r.Why = why
		return r
	}
	fn := func(names ...string) []WhyFunc {
		var out []WhyFunc
		for _, n := range names {
			out = append(out, WhyFunc{Name: n})
		}
		return out
	}
	changed := WhyFunc{Name: "api.pathID", Callees: true, Changed: true}
	recs := []Record{
		rec("regexp_per_request", "fail", Why{Metric: "allocs_per_request", Worse: true, Funcs: fn("syntax.(*parser).newRegexp", "regexp.compile", "syntax.(*compiler).inst")}),
		rec("regexp_per_request", "fail", Why{Metric: "allocs_per_request", Worse: true, Funcs: append([]WhyFunc{changed}, fn("a", "b", "c")...)}),
		rec("regexp_per_request", "fail", Why{Metric: "allocs_per_request", Worse: true, Funcs: fn("a", "b", "c")},
			Why{Metric: "p95_latency", Worse: false, Funcs: fn("regexp.compile")}), // not a worse metric: does not count
		rec("regexp_per_request", "fail"), // no profiled pairs: not counted
		rec(AA, "pass", Why{Metric: "allocs_per_request", Funcs: []WhyFunc{}}, Why{Metric: "p95_latency", Funcs: fn("runtime.mallocgc")}),
		rec(AA, "pass", Why{Metric: "allocs_per_request", Funcs: []WhyFunc{}}),
		rec(AA, "pass", Why{Metric: "allocs_per_request", Error: "the profiled rounds could not run: 404"}),
	}
	entries := []corpus.Entry{{Name: "regexp_per_request", Culprits: []string{"api.pathID", "regexp.compile"}}}
	tally := TallyWhy(recs, settings, "", entries)
	require.Len(t, tally, 2)
	aa, re := tally[0], tally[1]
	assert.Equal(t, WhyTallied{Name: AA, Expect: "pass", Profiled: 3, Spoke: 1, Errors: 1, Named: map[string]int{}}, aa)
	assert.Equal(t, 3, re.Profiled)
	assert.Equal(t, 1, re.Top3, "regexp.compile second of the top 3")
	assert.Equal(t, 1, re.AsChanged, "api.pathID as the changed function")
	assert.Equal(t, 2, re.Shown)
	table := WhyTable(recs, settings, "", entries)
	assert.Contains(t, table, "| regexp_per_request | fail   | `api.pathID`, `regexp.compile` | 3             | 1/3")
	assert.Contains(t, table, "| 2/3 ")
	assert.Contains(t, table, "1/3 (1 could not diff)")
	assert.Contains(t, Table(recs, settings, entries), "What the profile diffs named, quiet machine")

	none := WhyTable([]Record{rec(AA, "pass")}, settings, "", entries)
	assert.Empty(t, none, "no record ran profiled pairs")
}
