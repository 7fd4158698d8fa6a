package main

import (
	"bytes"
	"context"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"

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
	require.ErrorIs(t, err, errReported)
	assert.Contains(t, errw.String(), bad+":3:")
	assert.Contains(t, errw.String(), bad+":8:")
	assert.Empty(t, out.String())
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
