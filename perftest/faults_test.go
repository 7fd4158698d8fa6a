package perftest

import (
	"bufio"
	"context"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/perfgate/perfgate/perftest/internal/gate"
	"github.com/perfgate/perfgate/perftest/internal/stack"
	"github.com/perfgate/perfgate/perftest/internal/verdict"
	"github.com/perfgate/perfgate/thresholds"
)

// quickSpec is the short profile of the gate's self-tests.
func quickSpec(t *testing.T) *thresholds.Spec {
	return loadSpec(t, filepath.Join(moduleRoot(t), "thresholds", "testdata", "quick.good.yaml"))
}

func checksNamed(r verdict.Result, name string) []verdict.Check {
	var out []verdict.Check
	for _, c := range r.Checks {
		if c.Name == name {
			out = append(out, c)
		}
	}
	return out
}

// TestGateFailsWhenAReplicaDiesMidLoad also carries an SLO on a metric the
// service does not export: it must read "no data", never pass.
func TestGateFailsWhenAReplicaDiesMidLoad(t *testing.T) {
	spec := quickSpec(t)
	one := 1.0
	spec.SLOs = append(spec.SLOs, thresholds.SLO{Name: "missing_metric", Metric: thresholds.Custom, Unit: thresholds.None,
		Query: `sum(rate(tasksvc_no_such_metric_total[$window]))`, Max: &one})
	requireDocker(t)
	run := runGate(t, gate.Options{Spec: spec, During: func(ctx context.Context, s *stack.Stack) {
		if err := s.StopReplica(ctx, "replica-2"); err != nil {
			t.Errorf("stopping replica-2: %v", err)
		}
	}})
	require.Equal(t, verdict.Fail, run.Result.Verdict, run.Result.Reason)
	up := checksNamed(run.Result, gate.ReplicasUp)
	require.Len(t, up, 2)
	assert.Equal(t, verdict.StatusPass, up[0].Status, "replica-1 stayed up: %s", up[0].Why)
	assert.Equal(t, "replica-2", up[1].Instance)
	assert.Equal(t, verdict.StatusFail, up[1].Status, up[1].Why)
	missing := checksNamed(run.Result, "missing_metric")
	require.Len(t, missing, 1)
	assert.Equal(t, verdict.StatusNoData, missing[0].Status, missing[0].Why)
	client := checksNamed(run.Result, gate.ClientErrorRate)
	require.Len(t, client, 1)
	assert.Equal(t, verdict.StatusFail, client[0].Status, "refused connections must count: %s", client[0].Why)
}

// TestGateIsInconclusiveWhenPrometheusStops: no data is never a pass, and
// never a breach either: the run could not tell.
func TestGateIsInconclusiveWhenPrometheusStops(t *testing.T) {
	spec := quickSpec(t)
	requireDocker(t)
	run := runGate(t, gate.Options{Spec: spec, During: func(ctx context.Context, s *stack.Stack) {
		if err := s.StopPrometheus(ctx); err != nil {
			t.Errorf("stopping Prometheus: %v", err)
		}
	}})
	require.Equal(t, verdict.Inconclusive, run.Result.Verdict, run.Result.Reason)
	for _, c := range run.Result.Checks {
		if c.Name == gate.ClientErrorRate {
			continue // the generator's own figure needs no Prometheus
		}
		assert.Equal(t, verdict.StatusNoData, c.Status, "%s[%s] must have no data without Prometheus: %s", c.Name, c.Instance, c.Why)
	}
}

func TestGateCleansUpWhenCancelledMidLoad(t *testing.T) {
	spec := quickSpec(t)
	requireDocker(t)
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	var runID string
	_, err := gate.Run(ctx, gate.Options{Spec: spec, ModuleRoot: moduleRoot(t), Prometheus: settings.Prometheus,
		Started: func(s *stack.Stack) { runID = s.RunID },
		During:  func(context.Context, *stack.Stack) { cancel() },
	})
	require.Error(t, err, "a cancelled run is not a verdict")
	require.NotEmpty(t, runID)
	n, err := stack.Leftovers(context.Background(), stack.LabelRun, runID)
	require.NoError(t, err)
	assert.Zero(t, n, "containers, networks or volumes of run %s remain", runID)
}

func TestGateCleansUpAfterAPanic(t *testing.T) {
	spec := quickSpec(t)
	requireDocker(t)
	var runID string
	func() {
		defer func() { assert.Equal(t, "boom", recover()) }()
		_, _ = gate.Run(context.Background(), gate.Options{Spec: spec, ModuleRoot: moduleRoot(t), Prometheus: settings.Prometheus,
			Started: func(s *stack.Stack) { runID = s.RunID; panic("boom") },
		})
	}()
	require.NotEmpty(t, runID)
	n, err := stack.Leftovers(context.Background(), stack.LabelRun, runID)
	require.NoError(t, err)
	assert.Zero(t, n, "containers, networks or volumes of run %s remain after a panic", runID)
}

// TestGateCleansUpOnSIGINT runs the gate in a child `go test` process, sends
// it SIGINT once load is under way, as Ctrl-C would, and looks for anything
// that process left behind.
func TestGateCleansUpOnSIGINT(t *testing.T) {
	requireDocker(t)
	cmd := exec.Command(os.Args[0], "-test.run=^TestGate$", "-test.v")
	cmd.Env = append(os.Environ(), "PERF_THRESHOLDS="+filepath.Join(moduleRoot(t), "thresholds", "testdata", "quick.good.yaml"))
	out, err := cmd.StdoutPipe()
	require.NoError(t, err)
	cmd.Stderr = cmd.Stdout
	require.NoError(t, cmd.Start())
	pid := cmd.Process.Pid

	sent := false
	lines := bufio.NewScanner(out)
	deadline := time.AfterFunc(5*time.Minute, func() { _ = cmd.Process.Kill() })
	defer deadline.Stop()
	for lines.Scan() {
		if !sent && strings.Contains(lines.Text(), "target") { // the first progress line
			require.NoError(t, cmd.Process.Signal(syscall.SIGINT))
			sent = true
		}
	}
	err = cmd.Wait()
	require.True(t, sent, "the child never started load")
	assert.Error(t, err, "an interrupted gate must not pass")
	n, lerr := stack.Leftovers(context.Background(), stack.LabelPID, strconv.Itoa(pid))
	require.NoError(t, lerr)
	assert.Zero(t, n, "the interrupted process %d left containers, networks or volumes", pid)
}
