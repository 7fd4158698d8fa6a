package stack

import (
	"context"
	"os"
	"os/exec"
	"path/filepath"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/perfgate/perfgate/thresholds"
)

// repo makes a git repository with two commits of a service file.
func repo(t *testing.T) (dir, first, second string) {
	t.Helper()
	if _, err := exec.LookPath("git"); err != nil {
		t.Skip("git is not installed")
	}
	dir = t.TempDir()
	run := func(args ...string) string {
		cmd := exec.Command("git", args...)
		cmd.Dir = dir
		cmd.Env = append(os.Environ(), "GIT_AUTHOR_NAME=t", "GIT_AUTHOR_EMAIL=t@example.com", "GIT_COMMITTER_NAME=t", "GIT_COMMITTER_EMAIL=t@example.com")
		out, err := cmd.CombinedOutput()
		require.NoError(t, err, "git %v: %s", args, out)
		return string(out)
	}
	run("init", "-q", "-b", "main")
	require.NoError(t, os.MkdirAll(filepath.Join(dir, "service"), 0o755))
	require.NoError(t, os.WriteFile(filepath.Join(dir, "service", "a.go"), []byte("package a\n"), 0o644))
	run("add", ".")
	run("commit", "-q", "-m", "one")
	first, _ = git(context.Background(), dir, "rev-parse", "HEAD")
	run("checkout", "-q", "-b", "change")
	require.NoError(t, os.WriteFile(filepath.Join(dir, "service", "a.go"), []byte("package a\n\nvar x = 1\n"), 0o644))
	run("commit", "-q", "-am", "two")
	second, _ = git(context.Background(), dir, "rev-parse", "HEAD")
	return dir, first, second
}

func TestMergeBaseIsWhereTheBranchLeftMain(t *testing.T) {
	dir, first, _ := repo(t)
	mb, err := MergeBase(context.Background(), dir, "origin/main", "main")
	require.NoError(t, err)
	assert.Equal(t, first, mb, "origin/main does not exist, so main is used")

	_, err = MergeBase(context.Background(), dir, "origin/trunk", "trunk")
	assert.ErrorContains(t, err, "none of origin/trunk, trunk exists")
}

func TestCleanOnlyWhenTheWorkTreeIsTheBaseline(t *testing.T) {
	dir, first, second := repo(t)
	ctx := context.Background()
	assert.False(t, Clean(ctx, dir, first), "HEAD is a later commit")
	assert.True(t, Clean(ctx, dir, second))
	require.NoError(t, os.WriteFile(filepath.Join(dir, "service", "a.go"), []byte("package a // edited\n"), 0o644))
	assert.False(t, Clean(ctx, dir, second), "an uncommitted change to the service is a candidate of its own")
}

func TestBaselineMustBeACommitWithTheService(t *testing.T) {
	dir, _, _ := repo(t)
	_, _, err := BuildImageAt(context.Background(), dir, "no-such-ref", "", thresholds.DefaultService, nil)
	assert.ErrorContains(t, err, `"no-such-ref" is not a commit`)
	_, _, err = BuildImageAt(context.Background(), dir, "main", "", thresholds.DefaultService, nil)
	assert.ErrorContains(t, err, "go list ./service/cmd/tasksvc")
	out, _ := git(context.Background(), dir, "worktree", "list")
	assert.NotContains(t, out, "perfgate-baseline", "the temporary worktree must be removed")
}
