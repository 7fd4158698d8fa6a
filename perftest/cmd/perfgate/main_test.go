package main

import (
	"bytes"
	"context"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

func TestCheckAcceptsTheCommittedSpec(t *testing.T) {
	var out, errw bytes.Buffer
	err := run(context.Background(), []string{"check", "../../../thresholds/slo.yaml"}, &out, &errw)
	require.NoError(t, err, errw.String())
	assert.Contains(t, out.String(), "slo.yaml: ok:")
}

func TestCheckReportsEveryErrorWithItsPlace(t *testing.T) {
	bad := filepath.Join(t.TempDir(), "bad.yaml")
	require.NoError(t, os.WriteFile(bad, []byte("version: 1\nload:\n  stages: []\nslos:\n  - name: x\n    metric: latency\n    quantile: 0.95\n    max: -5ms\n"), 0o644))
	var out, errw bytes.Buffer
	err := run(context.Background(), []string{"check", bad}, &out, &errw)
	assert.Equal(t, 2, exitOf(t, err), "bad input, as every command says it")
	assert.Contains(t, errw.String(), bad+":3:")
	assert.Contains(t, errw.String(), bad+":8:")
	assert.Empty(t, out.String())
}

func TestAPanicIsAnInternalErrorNotBadInput(t *testing.T) {
	var stderr bytes.Buffer
	err := protect(func() error {
		var m map[string]int
		m["x"]++ // a bug
		return nil
	}, &stderr)
	assert.Equal(t, 4, exitOf(t, err), "the exit code of a run that could not reach a verdict")
	assert.Contains(t, stderr.String(), "perfgate: internal error: assignment to entry in nil map")
	assert.Contains(t, stderr.String(), "goroutine ")
	assert.NoError(t, protect(func() error { return nil }, &stderr))
}

func TestCheckHonoursTheContext(t *testing.T) {
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	var stdout, stderr bytes.Buffer
	err := run(ctx, []string{"check", "../../../thresholds/slo.yaml"}, &stdout, &stderr)
	assert.Equal(t, 4, exitOf(t, err))
	assert.Contains(t, stderr.String(), "perfgate check: interrupted: context canceled")
	assert.Empty(t, stdout.String())
}

func TestUnknownCommandPrintsUsage(t *testing.T) {
	var out, errw bytes.Buffer
	err := run(context.Background(), []string{"frobnicate"}, &out, &errw)
	require.ErrorIs(t, err, errReported)
	assert.Contains(t, errw.String(), `unknown command "frobnicate"`)
	assert.Contains(t, errw.String(), "usage: perfgate")
}

// TestMain lets a test run the real main in a child process.
func TestMain(m *testing.M) {
	if os.Getenv("PERFGATE_RUN_MAIN") == "1" {
		main()
		os.Exit(0)
	}
	os.Exit(m.Run())
}

// TestNoDockerSaysWhatToDo hides the Docker socket from a child process in
// a private mount namespace (root and unshare needed) and checks the advice.
func TestNoDockerSaysWhatToDo(t *testing.T) {
	unshare, err := exec.LookPath("unshare")
	if err != nil || os.Geteuid() != 0 {
		t.Skip("needs root and unshare(1) to hide the Docker socket")
	}
	if os.Getenv("DOCKER_HOST") != "" && !strings.HasPrefix(os.Getenv("DOCKER_HOST"), "unix://") {
		t.Skip("DOCKER_HOST is not a local socket: it cannot be hidden")
	}
	cmd := exec.Command(unshare, "-m", "sh", "-c", `mount -t tmpfs none /var/run && exec "$0" sweep`, os.Args[0])
	cmd.Env = append(os.Environ(), "PERFGATE_RUN_MAIN=1", "DOCKER_HOST=")
	out, err := cmd.CombinedOutput()
	require.Error(t, err, "sweep without Docker must exit non-zero; output:\n%s", out)
	assert.Contains(t, string(out), "perfgate: docker is not reachable")
	assert.Contains(t, string(out), "start the Docker engine or set DOCKER_HOST")
}

func TestRunRefusesABadSpecWithExitCode2(t *testing.T) {
	f := filepath.Join(t.TempDir(), "slo.yaml")
	require.NoError(t, os.WriteFile(f, []byte("version: 1\nload:\n  stages: [{duration: 0s, target: 10/s}]\nslos: []\n"), 0o644))
	var stdout, stderr bytes.Buffer
	err := run(context.Background(), []string{"run", "-f", f}, &stdout, &stderr)
	var code exitCode
	require.ErrorAs(t, err, &code)
	assert.Equal(t, exitCode(2), code)
	assert.Contains(t, stderr.String(), f+":3:")
	assert.Empty(t, stdout.String(), "nothing ran")
}

func TestRunRefusesUnknownFlagsAndArguments(t *testing.T) {
	for _, args := range [][]string{{"run", "-nope"}, {"run", "slo.yaml"}} {
		var stdout, stderr bytes.Buffer
		err := run(context.Background(), args, &stdout, &stderr)
		var code exitCode
		require.ErrorAs(t, err, &code, args)
		assert.Equal(t, exitCode(2), code, args)
	}
}

func TestRunWithoutDockerExitsWith4(t *testing.T) {
	unshare, err := exec.LookPath("unshare")
	if err != nil || os.Geteuid() != 0 {
		t.Skip("needs root and unshare(1) to hide the Docker socket")
	}
	if os.Getenv("DOCKER_HOST") != "" && !strings.HasPrefix(os.Getenv("DOCKER_HOST"), "unix://") {
		t.Skip("DOCKER_HOST is not a local socket: it cannot be hidden")
	}
	spec, err := filepath.Abs("../../../thresholds/slo.yaml")
	require.NoError(t, err)
	cmd := exec.Command(unshare, "-m", "sh", "-c", `mount -t tmpfs none /var/run && exec "$0" run -f "$1"`, os.Args[0], spec)
	cmd.Env = append(os.Environ(), "PERFGATE_RUN_MAIN=1", "DOCKER_HOST=")
	out, err := cmd.CombinedOutput()
	var ee *exec.ExitError
	require.ErrorAs(t, err, &ee, "output:\n%s", out)
	assert.Equal(t, 4, ee.ExitCode(), "output:\n%s", out)
	assert.Contains(t, string(out), "docker is not reachable")
}

// targetSpecFile is the committed spec with a target section, for the
// commands that need one; nothing is sent to its URL here.
func targetSpecFile(t *testing.T) string {
	t.Helper()
	b, err := os.ReadFile("../../../thresholds/slo.yaml")
	require.NoError(t, err)
	spec := string(b)
	spec = spec[:strings.Index(spec, "\ncompare:")] + "\ntarget:\n  urls: [http://127.0.0.1:1]\n  instances: [replica-1]\n  query: {url: http://127.0.0.1:2}\n"
	f := filepath.Join(t.TempDir(), "target.yaml")
	require.NoError(t, os.WriteFile(f, []byte(spec), 0o644))
	return f
}

func exitOf(t *testing.T, err error) int {
	t.Helper()
	if err == nil {
		return 0
	}
	var code exitCode
	require.ErrorAs(t, err, &code)
	return int(code)
}

func TestLoadRefusesWhatCannotBeAShard(t *testing.T) {
	target := targetSpecFile(t)
	start := "2026-12-02T18:00:00Z"
	for _, tt := range []struct {
		args []string
		want string
	}{
		{[]string{"-f", "../../../thresholds/slo.yaml", "-shard", "0/2", "-start", start, "-out", "x"}, "the spec has no target section"},
		{[]string{"-f", target, "-shard", "2/2", "-start", start, "-out", "x"}, "index 2: must be below the count 2"},
		{[]string{"-f", target, "-shard", "$(JOB_COMPLETION_INDEX)/2", "-start", start, "-out", "x"}, "the index was not filled in"},
		{[]string{"-f", target, "-shard", "0/2", "-out", "x"}, "-start: missing"},
		{[]string{"-f", target, "-shard", "0/2", "-start", "tomorrow", "-out", "x"}, `-start "tomorrow": not an RFC 3339 instant`},
		{[]string{"-f", target, "-shard", "0/2", "-start", start}, "-out: missing"},
		{[]string{"-f", target, "-shard", "0/2", "-start", "2026-01-01T00:00:00Z", "-out", "x"}, `-start "2026-01-01T00:00:00Z" has passed: the 30s of stages from it ended`},
	} {
		var stdout, stderr bytes.Buffer
		err := run(context.Background(), append([]string{"load"}, tt.args...), &stdout, &stderr)
		assert.Equal(t, 2, exitOf(t, err), tt.args)
		assert.Contains(t, stderr.String(), tt.want, tt.args)
		assert.NotContains(t, stderr.String(), "StartAt", "the flag is named, not the Go field")
		assert.NotContains(t, stderr.String(), "load starts", "nothing is announced before the refusal")
	}
}

func TestMergeRefusesFilesThatAreNotShardResults(t *testing.T) {
	target := targetSpecFile(t)
	junk := filepath.Join(t.TempDir(), "shard-0.json")
	require.NoError(t, os.WriteFile(junk, []byte(`{"version": 1, "shard": {"index": 0, "count": 2}}`), 0o644))
	for _, tt := range []struct {
		files []string
		want  string
	}{
		{nil, "no shard results"},
		{[]string{filepath.Join(t.TempDir(), "nope.json")}, "no such file"},
		{[]string{junk}, junk + `: shard result 0/2: spec_sha256: "" is not a SHA-256 in hex; start_at: missing`},
	} {
		var stdout, stderr bytes.Buffer
		err := run(context.Background(), append([]string{"merge", "-f", target}, tt.files...), &stdout, &stderr)
		assert.Equal(t, 2, exitOf(t, err), tt.files)
		assert.Contains(t, stderr.String(), tt.want, tt.files)
	}
}

func TestK8sPrintsTheIndexedJobOfATargetSpec(t *testing.T) {
	var stdout, stderr bytes.Buffer
	start := time.Now().Add(time.Hour).UTC().Truncate(time.Second).Format(time.RFC3339)
	err := run(context.Background(), []string{"k8s", "-f", targetSpecFile(t), "-image", "registry.example.com/perfgate:1", "-shards", "3", "-claim", "perf-results", "-start", start}, &stdout, &stderr)
	require.NoError(t, err, stderr.String())
	for _, want := range []string{"kind: ConfigMap", "kind: Job", "completionMode: Indexed", "parallelism: 3", "$(JOB_COMPLETION_INDEX)/3", start, "claimName: perf-results"} {
		assert.Contains(t, stdout.String(), want)
	}

	stdout.Reset()
	err = run(context.Background(), []string{"k8s", "-f", "../../../thresholds/slo.yaml", "-image", "x", "-shards", "3", "-claim", "c"}, &stdout, &stderr)
	assert.Equal(t, 2, exitOf(t, err))
	assert.Contains(t, stderr.String(), "the spec has no target section")
	assert.Empty(t, stdout.String())
}

func TestK8sRefusesAStartThatHasPassed(t *testing.T) {
	var stdout, stderr bytes.Buffer
	err := run(context.Background(), []string{"k8s", "-f", targetSpecFile(t), "-image", "x", "-shards", "3", "-claim", "c", "-start", "2026-01-01T00:00:00Z"}, &stdout, &stderr)
	assert.Equal(t, 2, exitOf(t, err))
	assert.Contains(t, stderr.String(), `-start "2026-01-01T00:00:00Z" has passed`)
}
