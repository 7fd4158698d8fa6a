package rates

import (
	"errors"
	"math"
	"os"
	"path/filepath"
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
		for _, w := range worse {
			if w == m {
				row.Status, row.Delta = compare.Worse, 0.37
			}
		}
		r.Rows = append(r.Rows, row)
	}
	return r
}

func TestRecordsRoundTripAndTally(t *testing.T) {
	path := filepath.Join(t.TempDir(), "rates", "results.jsonl")
	recs := []Record{
		New("b1", AA, "pass", "abc", settings, 1, result(verdict.Pass), nil),
		New("b1", AA, "pass", "abc", settings, 2, result(verdict.Fail, "throughput"), nil),
		New("b1", "n_plus_one_get", "fail", "abc", settings, 1, result(verdict.Fail, "allocs_per_request"), nil),
		New("b1", "n_plus_one_get", "fail", "abc", settings, 2, result(verdict.Inconclusive), nil),
		New("b1", "n_plus_one_get", "fail", "abc", settings, 3, compare.Result{}, errors.New("docker went away")),
		New("b0", "n_plus_one_get", "fail", "abc", &thresholds.Compare{Alpha: 0.05, Rounds: 6}, 9, result(verdict.Pass), nil),
	}
	for _, r := range recs {
		require.NoError(t, Append(path, r))
	}
	got, err := Read(path)
	require.NoError(t, err)
	require.Len(t, got, len(recs))
	assert.Nil(t, got[0].Rows[0].Lo, "an infinite bound is written as null, not lost as an error")
	assert.Equal(t, "allocs_per_request worse +37.0%", got[2].Outcome())

	tally := Tally(got, settings)
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

func TestReadNamesABadLine(t *testing.T) {
	path := filepath.Join(t.TempDir(), "results.jsonl")
	require.NoError(t, os.WriteFile(path, []byte(`{"batch":"b1","entry":"aa"}`+"\n"+`{"batch": 3}`+"\n"), 0o644))
	_, err := Read(path)
	assert.ErrorContains(t, err, "results.jsonl:2:")
	none, err := Read(filepath.Join(t.TempDir(), "missing.jsonl"))
	assert.NoError(t, err)
	assert.Empty(t, none)
}
