package perftest

import (
	"context"
	"errors"
	"io"
	"os"
	"os/signal"
	"syscall"
	"testing"
	"time"

	"github.com/perfgate/perfgate/perftest/internal/door"
	"github.com/perfgate/perfgate/perftest/internal/gate"
	"github.com/perfgate/perfgate/perftest/internal/stack"
	"github.com/perfgate/perfgate/perftest/internal/verdict"
	"github.com/perfgate/perfgate/thresholds"
)

// Option changes one setting of Test; options win over the environment.
type Option func(*gate.Settings)

// WithBaseline compares with the service built at a git ref; "none" turns
// the comparison off. Default: $PERF_BASELINE, else the merge-base with the
// pull request's base branch ($GITHUB_BASE_REF), origin/main or main.
func WithBaseline(ref string) Option { return func(s *gate.Settings) { s.Baseline = ref } }

// WithReportDir writes the reports to dir. Default: $PERF_REPORT_DIR, else
// perf-report/ at the repository root.
func WithReportDir(dir string) Option { return func(s *gate.Settings) { s.ReportDir = dir } }

// WithServiceArgs appends arguments to every replica's command line (a fault
// to inject, a tuning flag). Default: $PERF_SERVICE_ARGS, split on spaces.
func WithServiceArgs(args ...string) Option {
	return func(s *gate.Settings) { s.ServiceArgs = append([]string{}, args...) }
}

// WithOutput sends the progress line, the phases and the table to w. Default: os.Stdout.
func WithOutput(w io.Writer) Option { return func(s *gate.Settings) { s.Out = w } }

// Timeout bounds one call of Test, the comparison included.
const Timeout = 30 * time.Minute

// Test runs the performance gate of the spec at path (relative to the test's
// directory) and fails t with one error per SLO or budget that did not pass:
// it builds the service the spec describes, starts its replicas and
// Prometheus in containers, applies the workload, and compares with the
// baseline build when the spec has a compare section. An inconclusive run
// fails too: missing data is never a pass. Without a Docker engine it skips,
// unless PERF_REQUIRE_DOCKER is set; with -short it always skips.
//
//	func TestPerf(t *testing.T) { perftest.Test(t, "perf/slo.yaml") }
func Test(t testing.TB, path string, opts ...Option) {
	t.Helper()
	s := gate.Settings{Spec: path, Out: os.Stdout}
	for _, o := range opts {
		o(&s)
	}
	test(t, s.WithEnv(os.Getenv)) // this door reads the environment, once
}

// test runs the gate with the settings a door has read.
func test(t testing.TB, s gate.Settings) {
	t.Helper()
	door.Testcontainers(os.Getenv)
	if testing.Short() {
		t.Skip("the performance gate starts containers: skipped with -short")
	}
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	ctx, cancel := context.WithTimeout(ctx, Timeout)
	defer cancel()
	// An existing deployment needs no containers, so no Docker to skip without.
	spec, serr := thresholds.ParseFile(s.Spec)
	target := serr == nil && spec.Target != nil
	if err := stack.Ping(ctx); err != nil && !target {
		if s.RequireDocker {
			t.Fatalf("PERF_REQUIRE_DOCKER is set and %v", err)
		}
		t.Skipf("%v (set PERF_REQUIRE_DOCKER=1 to fail instead)", err)
	}

	var runs []string
	s.Started = func(st *stack.Stack) { runs = append(runs, st.RunID) }
	o, err := gate.Gate(ctx, s)
	for _, id := range runs {
		n, lerr := stack.Leftovers(context.WithoutCancel(ctx), stack.LabelRun, id)
		if lerr != nil || n != 0 {
			t.Errorf("run %s left %d containers, networks or volumes behind (%v)", id, n, lerr)
		}
	}
	var bad *gate.BadInputError
	switch {
	case errors.As(err, &bad):
		t.Fatalf("perfgate: %v", err) // before any container started
	case err != nil:
		t.Fatalf("the gate could not run: %v", err)
	}
	// One decision, made by verdict.Decide: one error per check or metric that did not pass.
	for _, f := range o.Decision.Failures {
		t.Errorf("%s", f)
	}
	if o.Decision.Verdict != verdict.Pass && len(o.Decision.Failures) == 0 {
		t.Errorf("verdict %s: %s", o.Decision.Verdict, o.Decision.Reason)
	}
}
