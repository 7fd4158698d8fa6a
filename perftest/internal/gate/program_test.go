package gate

import (
	"bytes"
	"flag"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// shallowClone is a pull request's checkout by actions/checkout's default
// fetch-depth: 1: one commit of the pull request's branch, no base branch.
func shallowClone(t *testing.T) string {
	t.Helper()
	if _, err := exec.LookPath("git"); err != nil {
		t.Skip("git is not installed")
	}
	src, dst := t.TempDir(), filepath.Join(t.TempDir(), "clone")
	git := func(dir string, args ...string) {
		cmd := exec.Command("git", args...)
		cmd.Dir = dir
		cmd.Env = append(os.Environ(), "GIT_AUTHOR_NAME=t", "GIT_AUTHOR_EMAIL=t@example.com", "GIT_COMMITTER_NAME=t", "GIT_COMMITTER_EMAIL=t@example.com")
		out, err := cmd.CombinedOutput()
		require.NoError(t, err, "git %v: %s", args, out)
	}
	git(src, "init", "-q", "-b", "main")
	require.NoError(t, os.WriteFile(filepath.Join(src, "a.go"), []byte("package a\n"), 0o644))
	git(src, "add", ".")
	git(src, "commit", "-q", "-m", "one")
	git(src, "checkout", "-q", "-b", "change")
	require.NoError(t, os.WriteFile(filepath.Join(src, "a.go"), []byte("package a\n\nvar x = 1\n"), 0o644))
	git(src, "commit", "-q", "-am", "two")
	git(src, "clone", "-q", "--depth", "1", "--single-branch", "--branch", "change", "file://"+src, dst)
	return dst
}

func TestAPullRequestWithoutItsBaselineCannotPass(t *testing.T) {
	dir := shallowClone(t)
	var out bytes.Buffer
	s := Settings{Root: dir, Out: &out}.WithEnv(env{"GITHUB_BASE_REF": "main"}.Get)
	ref, missing := s.baseline(t.Context())
	assert.Empty(t, ref)
	assert.Contains(t, missing, "no baseline for this pull request into main")
	assert.Contains(t, missing, "fetch-depth: 0", "the message names the fix")
}

func TestOutsideAPullRequestNoBaselineIsAbsoluteSLOsOnly(t *testing.T) {
	dir := shallowClone(t)
	var out bytes.Buffer
	s := Settings{Root: dir, Out: &out}.WithEnv(env{}.Get)
	ref, missing := s.baseline(t.Context())
	assert.Empty(t, ref)
	assert.Empty(t, missing, "on a branch of its own, no baseline is no comparison, not a failure")
	assert.Contains(t, out.String(), "absolute SLOs only")
}

type env map[string]string

func (e env) Get(k string) string { return e[k] }

func TestFlagsComeFirstThenTheEnvironment(t *testing.T) {
	vars := env{
		"PERF_THRESHOLDS": "env.yaml", "PERF_REPORT_DIR": "env-report", "PERF_SERVICE_ARGS": "-a -b",
		"PERF_BASELINE": "env-ref", "PERF_REQUIRE_DOCKER": "1",
		"PERF_PROMETHEUS_IMAGE": "prom:x", "PERF_PROMETHEUS_BIN": "/bin/prometheus",
	}
	for _, tc := range []struct {
		door  FlagNames
		args  []string
		spec  string
		extra []string
	}{
		{TestFlags, []string{"-perf.thresholds=flag.yaml", "-perf.service-args=-c  -d"}, "flag.yaml", []string{"-c", "-d"}},
		{CLIFlags, []string{"-f", "flag.yaml", "-service-args", "-c"}, "flag.yaml", []string{"-c"}},
		{CLIFlags, []string{"-service-args="}, "env.yaml", []string{"-a", "-b"}},
		{TestFlags, nil, "env.yaml", []string{"-a", "-b"}},
	} {
		fs := flag.NewFlagSet("door", flag.ContinueOnError)
		fs.SetOutput(io.Discard)
		flags := RegisterFlags(fs, tc.door)
		require.NoError(t, fs.Parse(tc.args), tc.args)
		s := flags.WithEnv(vars.Get)
		assert.Equal(t, tc.spec, s.Spec, tc.args)
		assert.Equal(t, tc.extra, s.ServiceArgs, tc.args)
		assert.Equal(t, "env-report", s.ReportDir, tc.args)
		assert.Equal(t, "env-ref", s.Baseline, tc.args)
		assert.True(t, s.RequireDocker, tc.args)
		assert.Equal(t, "prom:x", s.Prometheus.Image, tc.args)
		assert.Equal(t, "/bin/prometheus", s.Prometheus.Bin, tc.args)
	}
}

func TestOnlyTheCLIHasARootFlag(t *testing.T) {
	for door, want := range map[*FlagNames]bool{&TestFlags: false, &CLIFlags: true} {
		fs := flag.NewFlagSet("door", flag.ContinueOnError)
		RegisterFlags(fs, *door)
		assert.Equal(t, want, fs.Lookup("root") != nil, door.Spec)
	}
}
