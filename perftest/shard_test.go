package perftest

import (
	"bytes"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/perfgate/perfgate/perftest/internal/shard"
)

// perfgateBinary builds the perfgate command once per test binary.
func perfgateBinary(t *testing.T) string {
	t.Helper()
	bin := filepath.Join(t.TempDir(), "perfgate")
	cmd := exec.Command("go", "build", "-o", bin, "./perftest/cmd/perfgate")
	cmd.Dir = moduleRoot(t)
	if out, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("go build perfgate: %v\n%s", err, out)
	}
	return bin
}

// shardRun is one sharded run of the target spec: count `perfgate load`
// processes, each started at the agreed instant plus its entry in late, and
// killed after kill[i] when that is set.
type shardRun struct {
	count int
	late  map[int]time.Duration
	kill  map[int]time.Duration
}

// run starts the shards, waits for them and returns the result files that
// exist, in shard order.
func (sr shardRun) run(t *testing.T, bin, spec string) []string {
	t.Helper()
	dir := t.TempDir()
	start := time.Now().Add(2 * time.Second).UTC()
	errs := make(chan error, sr.count)
	for i := range sr.count {
		go func() {
			if d := sr.late[i]; d > 0 {
				time.Sleep(time.Until(start.Add(d)))
			}
			var out bytes.Buffer
			cmd := exec.Command(bin, "load", "-f", spec, "-shard", fmt.Sprintf("%d/%d", i, sr.count),
				"-start", start.Format(time.RFC3339Nano), "-out", filepath.Join(dir, fmt.Sprintf("shard-%d.json", i)))
			cmd.Stdout, cmd.Stderr = &out, &out
			if err := cmd.Start(); err != nil {
				errs <- err
				return
			}
			if d, ok := sr.kill[i]; ok {
				timer := time.AfterFunc(time.Until(start.Add(d)), func() { _ = cmd.Process.Signal(syscall.SIGKILL) })
				defer timer.Stop()
			}
			err := cmd.Wait()
			if _, killed := sr.kill[i]; killed {
				err = nil
			}
			if err != nil {
				err = fmt.Errorf("shard %d/%d: %w\n%s", i, sr.count, err, out.String())
			}
			errs <- err
		}()
	}
	var all []error
	for range sr.count {
		all = append(all, <-errs)
	}
	if err := errors.Join(all...); err != nil {
		t.Fatal(err)
	}
	files, _ := filepath.Glob(filepath.Join(dir, "shard-*.json"))
	return files
}

// mergeRun runs `perfgate merge` and returns its exit code and output.
func mergeRun(t *testing.T, bin, spec string, files []string) (int, string) {
	t.Helper()
	cmd := exec.Command(bin, append([]string{"merge", "-f", spec, "-report", t.TempDir()}, files...)...)
	out, err := cmd.CombinedOutput()
	var ee *exec.ExitError
	switch {
	case errors.As(err, &ee):
		return ee.ExitCode(), string(out)
	case err != nil:
		t.Fatalf("perfgate merge: %v\n%s", err, out)
	}
	return 0, string(out)
}

func decodeAll(t *testing.T, files []string) []shard.Result {
	t.Helper()
	var rs []shard.Result
	for _, f := range files {
		fh, err := os.Open(f)
		if err != nil {
			t.Fatal(err)
		}
		r, err := shard.Decode(fh)
		fh.Close()
		if err != nil {
			t.Fatal(err)
		}
		rs = append(rs, r)
	}
	return rs
}

// TestShardedLoadIsJudgedOnce splits the target spec's load over three
// `perfgate load` processes against a deployment on this machine and judges
// their merged results once with `perfgate merge`: together they apply the
// plan and pass; a shard killed mid-run, or one that starts late, makes the
// run inconclusive (exit 3), never a pass.
func TestShardedLoadIsJudgedOnce(t *testing.T) {
	requireDocker(t)
	bin := perfgateBinary(t)
	st := deployment(t)
	spec := targetSpec(t, st, st.PrometheusURL, `job="tasksvc"`, "")

	t.Run("three shards pass as one run", func(t *testing.T) {
		files := shardRun{count: 3}.run(t, bin, spec)
		if len(files) != 3 {
			t.Fatalf("%d result files, want 3", len(files))
		}
		m, err := shard.Merge(decodeAll(t, files), 3, shard.DefaultTolerance)
		if err != nil {
			t.Fatal(err)
		}
		// The spec's measured window is 7 s at 60/s: 420 requests.
		if m.Sent < 415 || m.Sent > 421 {
			t.Errorf("the shards sent %d requests in the window, the plan 420", m.Sent)
		}
		if d := m.TargetRate - 60; d < -0.5 || d > 0.5 {
			t.Errorf("merged target rate %.2f/s, the plan 60/s", m.TargetRate)
		}
		if d := m.AchievedRate/m.TargetRate - 1; d < -0.03 || d > 0.03 {
			t.Errorf("merged achieved rate %.2f/s against a target of %.2f/s", m.AchievedRate, m.TargetRate)
		}
		code, out := mergeRun(t, bin, spec, files)
		if code != 0 || !strings.Contains(out, "merged 3 of 3 shards") || !strings.Contains(out, "verdict: pass") {
			t.Fatalf("exit %d, want 0, a pass of 3 of 3 shards:\n%s", code, out)
		}
		t.Log(out)
	})

	t.Run("a killed shard is inconclusive", func(t *testing.T) {
		files := shardRun{count: 3, kill: map[int]time.Duration{1: 4 * time.Second}}.run(t, bin, spec)
		if len(files) != 2 {
			t.Fatalf("%d result files, want the 2 of the shards not killed", len(files))
		}
		code, out := mergeRun(t, bin, spec, files)
		if code != 3 || !strings.Contains(out, "no result from shard 1/3") {
			t.Fatalf("exit %d, want 3 (inconclusive) naming shard 1/3:\n%s", code, out)
		}
	})

	t.Run("a late shard is flagged", func(t *testing.T) {
		files := shardRun{count: 3, late: map[int]time.Duration{2: 1500 * time.Millisecond}}.run(t, bin, spec)
		code, out := mergeRun(t, bin, spec, files)
		if code != 3 || !strings.Contains(out, "late: shard 2/3 started 1.5") || !strings.Contains(out, "went out late") {
			t.Fatalf("exit %d, want 3 (inconclusive) flagging shard 2/3 as late:\n%s", code, out)
		}
	})
}

// TestShardedLoadFailsOnAFaultyDeployment is the twin: the same three shards
// against a deployment that fails one request in ten fail the merged run on
// its error rate.
func TestShardedLoadFailsOnAFaultyDeployment(t *testing.T) {
	requireDocker(t)
	bin := perfgateBinary(t)
	st := deployment(t, "-fault-error-ratio=0.1")
	spec := targetSpec(t, st, st.PrometheusURL, `job="tasksvc"`, "")
	code, out := mergeRun(t, bin, spec, shardRun{count: 3}.run(t, bin, spec))
	if code != 1 || !strings.Contains(out, "error_rate") {
		t.Fatalf("exit %d, want 1 (fail) on error_rate:\n%s", code, out)
	}
}
