package perftest

import (
	"context"
	"errors"
	"io"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/perfgate/perfgate/perftest/internal/gate"
	"github.com/perfgate/perfgate/perftest/internal/stack"
)

// TestAWrongSpecEndsTheRunInSecondsWithTheFix: the mistakes a new user
// makes in the service section — a port, a readiness path, a metric name —
// end the run well before any load that matters, as bad input, with the fix
// in the message. Each is the key-value fixture's spec with one line wrong;
// its twin, TestGateOfAnotherService, runs the right one to a pass.
func TestAWrongSpecEndsTheRunInSecondsWithTheFix(t *testing.T) {
	requireDocker(t)
	right, err := os.ReadFile(kvSpec(t))
	require.NoError(t, err)
	// Built before the clock starts: a cold build is not what is timed.
	ctx := context.Background()
	_, err = stack.BuildService(ctx, moduleRoot(t), loadSpec(t, kvSpec(t)).ServiceOrDefault(), io.Discard)
	require.NoError(t, err)
	_, err = stack.PrometheusImage(ctx, settings.Prometheus, io.Discard)
	require.NoError(t, err)
	for _, tc := range []struct {
		name, line, wrong, fix string
	}{
		{"port", "  port: 8080\n", "  port: 9090\n", "nothing listens on port 9090 in the container; the service listens on 8080: set service.port to 8080"},
		{"readiness path", "  ready: /healthz\n", "  ready: /readyz\n", "GET /readyz answered 404 Not Found: set service.ready"},
		{"metric name", "    requests: kv_requests_total\n", "    requests: kv_request_total\n",
			"service.metrics.requests: the service exports no kv_request_total; closest it exports: kv_requests_total"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			require.Contains(t, string(right), tc.line)
			spec := filepath.Join(t.TempDir(), "perf.yaml")
			require.NoError(t, os.WriteFile(spec, []byte(strings.Replace(string(right), tc.line, tc.wrong, 1)), 0o600))
			var runs []string
			start := time.Now()
			_, err := gate.Gate(ctx, gate.Settings{
				Spec: spec, Root: moduleRoot(t), Baseline: "none", ReportDir: t.TempDir(), Out: os.Stdout, Prometheus: settings.Prometheus,
				Started: func(s *stack.Stack) { runs = append(runs, s.RunID) },
			})
			took := time.Since(start)
			for _, id := range runs {
				if n, lerr := stack.Leftovers(context.Background(), stack.LabelRun, id); lerr != nil || n != 0 {
					t.Errorf("run %s left %d containers, networks or volumes behind (%v)", id, n, lerr)
				}
			}
			var bad *gate.BadInputError
			require.True(t, errors.As(err, &bad), "want bad input, got %v", err)
			assert.Contains(t, err.Error(), tc.fix)
			// Before: a minute's startup timeout, or the whole run and then "no data".
			assert.Less(t, took, 20*time.Second, "a mistake in the spec costs seconds, not the run")
		})
	}
}
