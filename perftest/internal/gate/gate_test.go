package gate

import (
	"fmt"
	"io"
	"math"
	"net/http"
	"net/http/httptest"
	"strconv"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/perfgate/perfgate/perftest/internal/load"
	"github.com/perfgate/perfgate/perftest/internal/promq"
	"github.com/perfgate/perfgate/perftest/internal/verdict"
	"github.com/perfgate/perfgate/thresholds"
	"github.com/perfgate/perfgate/thresholds/units"
)

func ptr(v float64) *float64 { return &v }

func TestObjectivesCarryLimitsUnitsAndReplicas(t *testing.T) {
	slos := []thresholds.SLO{
		{Name: "latency_ceiling", Metric: thresholds.Latency, Quantile: 0.99, Route: "/tasks", Max: ptr(0.05), Unit: thresholds.Seconds},
		{Name: "cpu", Metric: thresholds.CPU, Scope: thresholds.PerInstance, Max: ptr(0.25), Unit: thresholds.Ratio},
	}
	objs := Objectives(slos, []string{"replica-1", "replica-2"})
	require.Len(t, objs, 2)
	assert.Equal(t, "p99 latency", objs[0].Description)
	assert.Equal(t, thresholds.Latency, objs[0].Metric)
	assert.Equal(t, 0.99, objs[0].Quantile, "the spec's quantile, whatever the name says")
	assert.Equal(t, "/tasks", objs[0].Route)
	assert.False(t, objs[0].PerInstance)
	assert.Nil(t, objs[0].Instances)
	assert.Equal(t, units.Seconds, objs[0].Unit)
	assert.True(t, objs[1].PerInstance)
	assert.Equal(t, []string{"replica-1", "replica-2"}, objs[1].Instances, "a replica without data must be a no_data check")
	assert.Equal(t, 0.25, *objs[1].Max)
}

func TestBuiltinsAlwaysCheckReplicasAndBorrowTheErrorBudget(t *testing.T) {
	objs, names := builtins([]thresholds.SLO{
		{Name: "list_errors", Metric: thresholds.ErrorRate, Route: "/tasks", Max: ptr(0.5)},
		{Name: "error_rate", Metric: thresholds.ErrorRate, Max: ptr(0.01)},
	}, []string{"replica-1", "replica-2"})
	assert.Equal(t, []string{ReplicasUp, ClientErrorRate}, names)
	assert.Equal(t, 1.0, *objs[0].Min)
	assert.Equal(t, []string{"replica-1", "replica-2"}, objs[0].Instances)
	assert.Equal(t, 0.01, *objs[1].Max, "the budget of the whole-service error_rate SLO, not a route's")

	_, names = builtins(nil, []string{"replica-1"})
	assert.Equal(t, []string{ReplicasUp}, names, "no error budget, no client check")
}

func TestBuiltinClientErrorRateFailsOnTransportErrors(t *testing.T) {
	objs, names := builtins([]thresholds.SLO{{Name: "error_rate", Metric: thresholds.ErrorRate, Max: ptr(0.01)}}, []string{"r"})
	res := &load.Result{Sent: 1000, Errors: 300} // a dead replica refuses connections: no server counts them
	obs := []verdict.Observation{observeBuiltin(t.Context(), nil, promq.DefaultSeries, names[1], time.Time{}, time.Time{}, res)}
	r := verdict.Evaluate(measured(objs[1:], obs), verdict.Load{TargetRate: 10, AchievedRate: 10, MaxLag: 0.05, Sent: 1000})
	require.Len(t, r.Checks, 1)
	assert.Equal(t, verdict.StatusFail, r.Checks[0].Status, r.Checks[0].Why)

	obs = []verdict.Observation{observeBuiltin(t.Context(), nil, promq.DefaultSeries, names[1], time.Time{}, time.Time{}, &load.Result{})}
	r = verdict.Evaluate(measured(objs[1:], obs), verdict.Load{TargetRate: 10, AchievedRate: 10, MaxLag: 0.05, Sent: 1})
	assert.Equal(t, verdict.StatusNoData, r.Checks[0].Status, "nothing sent is no data, never a pass")
}

func TestTimelineJoinsServerCPUByTheSecond(t *testing.T) {
	start := time.Date(2026, 11, 24, 10, 0, 0, 0, time.UTC)
	res := &load.Result{Start: start, Timeline: []load.Second{
		{T: 1, TargetRate: 10, Rate: 9, P95: 4 * time.Millisecond},
		{T: 2, TargetRate: 20, Rate: 20, P95: 2 * time.Millisecond},
	}}
	cpu := []promq.Point{{T: start.Add(1 * time.Second), Value: 0.12}}
	tl := timeline(res, cpu)
	require.Len(t, tl, 2)
	assert.Equal(t, 0.12, tl[0].CPU)
	assert.Equal(t, 4.0, tl[0].P95)
	assert.True(t, math.IsNaN(tl[1].CPU), "a second without a CPU sample stays unknown")
}

func TestParallelRunsEveryReadAtMostNAtOnce(t *testing.T) {
	var mu sync.Mutex
	inFlight, most, ran := 0, 0, 0
	reads := make([]func(), 20)
	for i := range reads {
		reads[i] = func() {
			mu.Lock()
			inFlight++
			most = max(most, inFlight)
			mu.Unlock()
			time.Sleep(5 * time.Millisecond)
			mu.Lock()
			inFlight--
			ran++
			mu.Unlock()
		}
	}
	parallel(3, reads)
	assert.Equal(t, 20, ran)
	assert.LessOrEqual(t, most, 3)
	assert.Greater(t, most, 1, "reads overlap")
}

// fakeScrapes answers every query with one sample whose value is the
// timestamp of the newest scrape, and records when each query was evaluated.
func fakeScrapes(t *testing.T, newest time.Time) (*promq.Client, func() []time.Time) {
	t.Helper()
	var mu sync.Mutex
	var evals []time.Time
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		_ = r.ParseForm()
		if at, err := strconv.ParseFloat(r.Form.Get("time"), 64); err == nil {
			mu.Lock()
			evals = append(evals, time.UnixMilli(int64(at*1000)))
			mu.Unlock()
		}
		w.Header().Set("Content-Type", "application/json")
		fmt.Fprintf(w, `{"status":"success","data":{"resultType":"vector","result":[{"metric":{},"value":[%d,"%.3f"]}]}}`,
			time.Now().Unix(), float64(newest.UnixMilli())/1000)
	}))
	t.Cleanup(srv.Close)
	pc, err := promq.New(srv.URL)
	require.NoError(t, err)
	return pc, func() []time.Time { mu.Lock(); defer mu.Unlock(); return append([]time.Time(nil), evals...) }
}

func TestSettleReadsAtTheQuietInstantOnceEveryTargetIsScraped(t *testing.T) {
	end := time.Now().Add(-3 * time.Second).Truncate(time.Millisecond)
	pc, _ := fakeScrapes(t, end.Add(400*time.Millisecond))
	series := promq.DefaultSeries
	series.ScrapeInterval = time.Second
	got, quiet, lag, err := settle(t.Context(), pc, series, end, io.Discard)
	require.NoError(t, err)
	assert.True(t, quiet)
	assert.Empty(t, lag)
	assert.Equal(t, 1399*time.Millisecond, got.Settle, "read just before the next scrape, an interval after the last")
	assert.Equal(t, end.Add(1399*time.Millisecond), got.SettleAt(end))

	// Without the interval, the fixed settle time, and nothing said of later scrapes.
	series.ScrapeInterval = 0
	got, quiet, lag, err = settle(t.Context(), pc, series, end, io.Discard)
	require.NoError(t, err)
	assert.False(t, quiet)
	assert.Empty(t, lag)
	assert.Equal(t, promq.Settle, got.SettleAt(end).Sub(end))
}

func TestSettleSaysWhenTheStoreLags(t *testing.T) {
	// The store's newest scrape is from before the window ended: it lags,
	// and its answers about the last seconds are older data.
	end := time.Now().Add(-1600 * time.Millisecond).Truncate(time.Millisecond)
	pc, _ := fakeScrapes(t, end.Add(-30*time.Second))
	_, quiet, lag, err := settle(t.Context(), pc, promq.DefaultSeries, end, io.Discard)
	require.NoError(t, err)
	assert.False(t, quiet)
	assert.Contains(t, lag, "the store has no scrape of every target after the window's end")
	assert.Contains(t, lag, "-search.latencyOffset")
}
