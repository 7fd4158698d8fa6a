package perftest

import (
	"context"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/perfgate/perfgate/perftest/internal/gate"
	"github.com/perfgate/perfgate/perftest/internal/stack"
	"github.com/perfgate/perfgate/perftest/internal/verdict"
)

// kvSpec is the key-value fixture's spec: a service unlike the task API in
// build, port, readiness path, metric and label names, gated from YAML alone.
func kvSpec(t *testing.T) string {
	return filepath.Join(moduleRoot(t), "perftest", "fixtures", "kvsvc", "perf.yaml")
}

// TestGateOfAnotherService runs the public door on the fixture: it passes.
func TestGateOfAnotherService(t *testing.T) {
	requireDocker(t)
	Test(t, kvSpec(t), WithBaseline("none"), WithReportDir(t.TempDir()))
}

// TestGateOfAnotherServiceFailsWithItsOwnFault is its twin: 20% of the
// fixture's answers are 503s, and the gate fails on its error rate.
func TestGateOfAnotherServiceFailsWithItsOwnFault(t *testing.T) {
	requireDocker(t)
	var runs []string
	o, err := gate.Gate(context.Background(), gate.Settings{
		Spec: kvSpec(t), Baseline: "none", ReportDir: t.TempDir(), Out: os.Stdout, Prometheus: settings.Prometheus,
		ServiceArgs: []string{"-fault-errors=0.2"},
		Started:     func(s *stack.Stack) { runs = append(runs, s.RunID) },
	})
	for _, id := range runs {
		if n, lerr := stack.Leftovers(context.Background(), stack.LabelRun, id); lerr != nil || n != 0 {
			t.Errorf("run %s left %d containers, networks or volumes behind (%v)", id, n, lerr)
		}
	}
	if err != nil {
		t.Fatalf("the gate could not run: %v", err)
	}
	if o.Decision.Verdict != verdict.Fail {
		t.Fatalf("verdict %s, want fail: %s", o.Decision.Verdict, o.Decision.Reason)
	}
	if failures := strings.Join(o.Decision.Failures, "\n"); !strings.Contains(failures, "error_rate") {
		t.Errorf("error_rate did not fail; failures:\n%s", failures)
	}
}
