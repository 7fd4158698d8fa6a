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
	batchv1 "k8s.io/api/batch/v1"
	corev1 "k8s.io/api/core/v1"
	"sigs.k8s.io/yaml"
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

		// Judged by another spec than the one the shards ran: refused.
		edited := filepath.Join(t.TempDir(), "edited.yaml")
		b, err := os.ReadFile(spec)
		if err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(edited, append(b, "# edited\n"...), 0o644); err != nil {
			t.Fatal(err)
		}
		if code, out := mergeRun(t, bin, edited, files); code != 2 || !strings.Contains(out, "judge a run by the spec it ran") {
			t.Errorf("merge by an edited spec: exit %d, want 2:\n%s", code, out)
		}
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
		t.Log(out)
	})

	t.Run("a late shard is flagged", func(t *testing.T) {
		files := shardRun{count: 3, late: map[int]time.Duration{2: 1500 * time.Millisecond}}.run(t, bin, spec)
		code, out := mergeRun(t, bin, spec, files)
		if code != 3 || !strings.Contains(out, "late: shard 2/3 started 1.5") || !strings.Contains(out, "due before then was dropped") {
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

// TestK8sJobRunsAsRendered runs the shards of the Job `perfgate k8s`
// renders the way its pods would, with no cluster: the image `make
// perfgate-image` builds, the container's command, args and index variable
// as rendered, the pod's user, a read-only root, no capabilities, the spec
// from the ConfigMap and the results where the Job mounts them; then merges
// what they wrote. The containers share this machine's network, so the
// target is the deployment on 127.0.0.1.
func TestK8sJobRunsAsRendered(t *testing.T) {
	requireDocker(t)
	bin := perfgateBinary(t)
	root := moduleRoot(t)
	const image = "perfgate/perfgate:test"
	mk := exec.Command("make", "-C", root, "perfgate-image", "PERFGATE_IMAGE="+image)
	if out, err := mk.CombinedOutput(); err != nil {
		t.Fatalf("make perfgate-image: %v\n%s", err, out)
	}
	st := deployment(t)
	spec := targetSpec(t, st, st.PrometheusURL, `job="tasksvc"`, "")

	out, err := exec.Command(bin, "k8s", "-f", spec, "-image", image, "-shards", "2", "-claim", "perf-results", "-start-in", "10s").Output()
	if err != nil {
		t.Fatalf("perfgate k8s: %v", err)
	}
	docs := strings.Split(string(out), "\n---\n")
	if len(docs) != 2 {
		t.Fatalf("%d documents, want a ConfigMap and a Job:\n%s", len(docs), out)
	}
	var cm corev1.ConfigMap
	var job batchv1.Job
	if err := yaml.UnmarshalStrict([]byte(docs[0]), &cm); err != nil {
		t.Fatal(err)
	}
	if err := yaml.UnmarshalStrict([]byte(docs[1]), &job); err != nil {
		t.Fatal(err)
	}
	pod := job.Spec.Template.Spec
	c := pod.Containers[0]

	// The volumes, as the pods mount them: the ConfigMap's files read-only,
	// the claim writable by the pod's user.
	mounts := map[string]string{}
	for _, v := range pod.Volumes {
		dir := t.TempDir()
		switch {
		case v.ConfigMap != nil:
			for k, data := range cm.Data {
				if err := os.WriteFile(filepath.Join(dir, k), []byte(data), 0o644); err != nil {
					t.Fatal(err)
				}
			}
		case v.PersistentVolumeClaim != nil:
			if err := os.Chmod(dir, 0o777); err != nil {
				t.Fatal(err)
			}
		}
		mounts[v.Name] = dir
	}
	var results string
	n := int(*job.Spec.Completions)
	errs := make(chan error, n)
	for i := range n {
		index := fmt.Sprint(i)
		args := []string{"run", "--rm", "--network", "host", "--read-only", "--cap-drop", "ALL", "--security-opt", "no-new-privileges",
			"--user", fmt.Sprintf("%d:%d", *pod.SecurityContext.RunAsUser, *pod.SecurityContext.RunAsGroup),
			"-e", "JOB_COMPLETION_INDEX=" + index, "--entrypoint", c.Command[0]}
		for _, m := range c.VolumeMounts {
			opt := mounts[m.Name] + ":" + m.MountPath
			if m.ReadOnly {
				opt += ":ro"
			} else {
				results = mounts[m.Name]
			}
			args = append(args, "-v", opt)
		}
		args = append(args, c.Image)
		for _, a := range c.Args {
			args = append(args, strings.ReplaceAll(a, "$(JOB_COMPLETION_INDEX)", index))
		}
		go func() {
			out, err := exec.Command("docker", args...).CombinedOutput()
			if err != nil {
				err = fmt.Errorf("shard %s: docker %s: %w\n%s", index, strings.Join(args, " "), err, out)
			}
			errs <- err
		}()
	}
	var all []error
	for range n {
		all = append(all, <-errs)
	}
	if err := errors.Join(all...); err != nil {
		t.Fatal(err)
	}
	files, _ := filepath.Glob(filepath.Join(results, "shard-*.json"))
	code, merged := mergeRun(t, bin, spec, files)
	if code != 0 || !strings.Contains(merged, "merged 2 of 2 shards") {
		t.Fatalf("exit %d, want 0, a pass of 2 of 2 shards:\n%s", code, merged)
	}
}
