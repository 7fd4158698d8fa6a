package gate

import (
	"bytes"
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
