package perftest

import (
	"context"
	"flag"
	"os"
	"os/exec"
	"os/signal"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/perfgate/perfgate/perftest/internal/gate"
	"github.com/perfgate/perfgate/perftest/internal/report"
	"github.com/perfgate/perfgate/perftest/internal/stack"
	"github.com/perfgate/perfgate/thresholds"
)

var (
	thresholdsFlag = flag.String("perf.thresholds", "", "SLO spec to enforce (default $PERF_THRESHOLDS, else thresholds/slo.yaml)")
	reportFlag     = flag.String("perf.report", "", "directory for the reports (default $PERF_REPORT_DIR, else perf-report/ at the repository root)")
	argsFlag       = flag.String("perf.service-args", "", "extra flags for every replica, e.g. -fault-latency=50ms (default $PERF_SERVICE_ARGS)")
	baselineFlag   = flag.String("perf.baseline", "", "git ref of the baseline to compare with (default $PERF_BASELINE, else the merge-base with main; none disables)")
)

// TestGate is the gate: the public one-call door on the committed spec, with
// this package's flags as options. It fails with one error per breached SLO.
func TestGate(t *testing.T) {
	spec := *thresholdsFlag
	if spec == "" {
		spec = os.Getenv(gate.Env.Spec)
	}
	if spec == "" {
		spec = filepath.Join(moduleRoot(t), "thresholds", thresholds.DefaultFile)
	}
	var opts []Option
	if *reportFlag != "" {
		opts = append(opts, WithReportDir(*reportFlag))
	}
	if *argsFlag != "" {
		opts = append(opts, WithServiceArgs(strings.Fields(*argsFlag)...))
	}
	if *baselineFlag != "" {
		opts = append(opts, WithBaseline(*baselineFlag))
	}
	Test(t, spec, opts...)
}

// runGate runs the gate with Ctrl-C turned into a clean teardown, and checks
// that the run left no container, network or volume behind.
func runGate(t *testing.T, o gate.Options) report.Run {
	t.Helper()
	o.ModuleRoot = moduleRoot(t)
	o.Progress = os.Stdout
	o.Log = os.Stdout
	var run report.Run
	err := cleanRun(t, 10*time.Minute, func(ctx context.Context, started func(*stack.Stack)) (err error) {
		o.Started = started
		run, err = gate.Run(ctx, o)
		return err
	})
	if err != nil {
		t.Fatalf("the gate could not run: %v", err)
	}
	return run
}

// cleanRun calls f with a context that Ctrl-C and the timeout cancel, and
// afterwards looks for anything the stack f started left behind.
func cleanRun(t *testing.T, timeout time.Duration, f func(ctx context.Context, started func(*stack.Stack)) error) error {
	t.Helper()
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	ctx, cancel := context.WithTimeout(ctx, timeout)
	defer cancel()
	var runID string
	err := f(ctx, func(s *stack.Stack) { runID = s.RunID })
	if runID != "" {
		n, lerr := stack.Leftovers(context.WithoutCancel(ctx), stack.LabelRun, runID)
		if lerr != nil || n != 0 {
			t.Errorf("run %s left %d containers, networks or volumes behind (%v)", runID, n, lerr)
		}
	}
	return err
}

func loadSpec(t *testing.T, path string) *thresholds.Spec {
	t.Helper()
	spec, err := thresholds.ParseFile(path)
	if err != nil {
		t.Fatalf("thresholds: %v", err) // before any container starts
	}
	return spec
}

// requireDocker skips without a Docker engine, unless PERF_REQUIRE_DOCKER is
// set (CI), where a missing engine is a failure; -short skips always.
func requireDocker(t *testing.T) {
	t.Helper()
	if testing.Short() {
		t.Skip("the gate starts containers: skipped with -short")
	}
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	if err := stack.Ping(ctx); err != nil {
		if os.Getenv("PERF_REQUIRE_DOCKER") != "" {
			t.Fatalf("PERF_REQUIRE_DOCKER is set and %v", err)
		}
		t.Skipf("%v (set PERF_REQUIRE_DOCKER=1 to fail instead)", err)
	}
}

func moduleRoot(t *testing.T) string {
	t.Helper()
	out, err := exec.Command("go", "env", "GOMOD").Output()
	if err != nil || strings.TrimSpace(string(out)) == "" {
		t.Fatalf("finding the module root with go env GOMOD: %v", err)
	}
	return filepath.Dir(strings.TrimSpace(string(out)))
}
