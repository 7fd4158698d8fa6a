package gate

import (
	"math"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/perfgate/perfgate/perftest/internal/load"
	"github.com/perfgate/perfgate/perftest/internal/promq"
	"github.com/perfgate/perfgate/perftest/internal/verdict"
	"github.com/perfgate/perfgate/thresholds"
)

func ptr(v float64) *float64 { return &v }

func TestObjectivesCarryLimitsUnitsAndReplicas(t *testing.T) {
	slos := []thresholds.SLO{
		{Name: "p95", Metric: thresholds.Latency, Quantile: 0.95, Max: ptr(0.05), Unit: thresholds.Seconds},
		{Name: "cpu", Metric: thresholds.CPU, Scope: thresholds.PerInstance, Max: ptr(0.25), Unit: thresholds.Ratio},
	}
	objs := Objectives(slos, []string{"replica-1", "replica-2"})
	require.Len(t, objs, 2)
	assert.Equal(t, "p95 latency", objs[0].Description)
	assert.False(t, objs[0].PerInstance)
	assert.Nil(t, objs[0].Instances)
	assert.Equal(t, verdict.Unit("s"), objs[0].Unit)
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
	obs := observeBuiltins(t.Context(), nil, promq.DefaultSeries, names[1:], time.Time{}, time.Time{}, res)
	r := verdict.Evaluate(objs[1:], obs, verdict.Load{TargetRate: 10, AchievedRate: 10, MaxLag: 0.05, Sent: 1000})
	require.Len(t, r.Checks, 1)
	assert.Equal(t, verdict.StatusFail, r.Checks[0].Status, r.Checks[0].Why)

	obs = observeBuiltins(t.Context(), nil, promq.DefaultSeries, names[1:], time.Time{}, time.Time{}, &load.Result{})
	r = verdict.Evaluate(objs[1:], obs, verdict.Load{TargetRate: 10, AchievedRate: 10, MaxLag: 0.05, Sent: 1})
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
