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

	"github.com/perfgate/perfgate/perftest/internal/door"
	"github.com/perfgate/perfgate/perftest/internal/gate"
	"github.com/perfgate/perfgate/perftest/internal/report"
	"github.com/perfgate/perfgate/perftest/internal/stack"
	"github.com/perfgate/perfgate/thresholds"
)

// flags are the gate's flags, as perfgate run has them under other names.
var flags = gate.RegisterFlags(flag.CommandLine, gate.TestFlags)

// settings are this package's flags, then the PERF_* variables, read once
// by TestMain: the test door's settings.
var settings gate.Settings

func TestMain(m *testing.M) {
	flag.Parse()
	settings = flags.WithEnv(os.Getenv)
	door.Testcontainers(os.Getenv)
	os.Exit(m.Run())
}

// TestGate is the gate: the public one-call door on the committed spec,
// with this package's flags and environment as its settings. It fails with
// one error per breached SLO.
func TestGate(t *testing.T) {
	s := settings
	if s.Spec == "" {
		s.Spec = filepath.Join(moduleRoot(t), "thresholds", thresholds.DefaultFile)
	}
	s.Out = os.Stdout
	test(t, s)
}

// runGate runs the gate with Ctrl-C turned into a clean teardown, and checks
// that the run left no container, network or volume behind.
func runGate(t *testing.T, o gate.Options) report.Run {
	t.Helper()
	o.ModuleRoot = moduleRoot(t)
	o.Prometheus = settings.Prometheus
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
		if settings.RequireDocker {
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
