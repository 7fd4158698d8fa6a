package perftest

import (
	"path/filepath"
	"slices"
	"testing"

	"github.com/perfgate/perfgate/perftest/internal/gate"
	"github.com/perfgate/perfgate/perftest/internal/verdict"
	"github.com/perfgate/perfgate/thresholds"
)

// TestGateCatchesRegressions is TestGate's twin: replicas with an injected
// regression must fail the committed SLOs, on the SLOs the regression touches.
// It runs the committed thresholds and load profile, unchanged.
func TestGateCatchesRegressions(t *testing.T) {
	spec := loadSpec(t, filepath.Join(moduleRoot(t), "thresholds", thresholds.DefaultFile))
	requireDocker(t)

	cases := []struct {
		name      string
		args      []string
		mustBreak []string // SLO names that must fail
	}{
		{"added latency breaks the latency SLOs", []string{"-fault-latency=80ms"}, []string{"p95_latency"}},
		{"a share of 500s breaks the error rate", []string{"-fault-error-ratio=0.05"}, []string{"error_rate", "client_error_rate"}},
		{"extra CPU work per request breaks the CPU SLOs", []string{"-fault-cpu=6ms"}, []string{"cpu_per_replica", "cpu_per_request"}},
		{"memory kept per request breaks the memory and allocation SLOs", []string{"-fault-leak=131072"}, []string{"memory_per_replica", "alloc_bytes_per_request"}},
		{"short-lived allocations per request break the allocation count SLO", []string{"-fault-allocs=2000"}, []string{"allocs_per_request"}},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			run := runGate(t, gate.Options{Spec: spec, ServiceArgs: tc.args})
			if run.Result.Verdict != verdict.Fail {
				t.Fatalf("verdict %q with %v, want fail: %s", run.Result.Verdict, tc.args, run.Result.Reason)
			}
			var failed []string
			for _, c := range run.Result.Checks {
				if c.Status == verdict.StatusFail {
					failed = append(failed, c.Name)
				}
				t.Logf("%-28s %-10s %-8s %s", c.Name, c.Instance, c.Status, c.Why)
			}
			for _, name := range tc.mustBreak {
				if !slices.Contains(failed, name) {
					t.Errorf("SLO %s did not fail with %v; failed: %v", name, tc.args, failed)
				}
			}
		})
	}
}
