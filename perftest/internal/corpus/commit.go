package corpus

import (
	"bytes"
	"context"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
)

// RefPrefix is where Commit keeps the entries' commits, never on a branch.
const RefPrefix = "refs/perfgate/corpus/"

// Commit applies e's patch on top of base (any commit-ish, e.g. "HEAD") in
// a temporary detached worktree of the repository holding moduleRoot,
// commits it as perfgate, points RefPrefix+e.Name at the commit and removes
// the worktree. The caller's work tree, index and branches are not touched.
// The commit takes its dates from base, so the same base and patch give the
// same commit id.
func Commit(ctx context.Context, moduleRoot, base string, e Entry) (string, error) {
	patch, err := filepath.Abs(e.Patch)
	if err != nil {
		return "", fmt.Errorf("corpus: %s: %w", e.Name, err)
	}
	top, err := git(ctx, moduleRoot, nil, "rev-parse", "--show-toplevel")
	if err != nil {
		return "", fmt.Errorf("corpus: %s is not in a git repository: %w", moduleRoot, err)
	}
	baseID, err := git(ctx, top, nil, "rev-parse", "--verify", "--quiet", base+"^{commit}")
	if err != nil {
		return "", fmt.Errorf("corpus: base %q is not a commit: %w", base, err)
	}
	date, err := git(ctx, top, nil, "show", "-s", "--format=%cI", baseID)
	if err != nil {
		return "", fmt.Errorf("corpus: date of %s: %w", baseID, err)
	}

	wt, remove, err := AddWorktree(ctx, top, baseID)
	if err != nil {
		return "", fmt.Errorf("corpus: %s: %w", e.Name, err)
	}
	defer remove()

	if _, err := git(ctx, wt, nil, "apply", "--index", "--whitespace=nowarn", patch); err != nil {
		return "", fmt.Errorf("corpus: %s no longer applies to %s (%.12s): update the patch with git diff on top of it: %w",
			e.Patch, base, baseID, err)
	}
	msg := "corpus: " + e.Name + "\n\n" + strings.TrimSpace(e.Description) + "\n"
	env := []string{"GIT_AUTHOR_DATE=" + date, "GIT_COMMITTER_DATE=" + date}
	if _, err := git(ctx, wt, env, "-c", "user.name=perfgate", "-c", "user.email=perfgate@localhost",
		"-c", "commit.gpgsign=false", "commit", "--quiet", "--no-verify", "-m", msg); err != nil {
		return "", fmt.Errorf("corpus: %s: commit: %w", e.Name, err)
	}
	id, err := git(ctx, wt, nil, "rev-parse", "HEAD")
	if err != nil {
		return "", fmt.Errorf("corpus: %s: %w", e.Name, err)
	}
	if _, err := git(ctx, top, nil, "update-ref", RefPrefix+e.Name, id); err != nil {
		return "", fmt.Errorf("corpus: %s: %w", e.Name, err)
	}
	return id, nil
}

// AddWorktree checks commit out in a new detached worktree of the
// repository at repo, in a temporary directory; remove deletes both.
func AddWorktree(ctx context.Context, repo, commit string) (dir string, remove func(), err error) {
	tmp, err := os.MkdirTemp("", "perfgate-corpus-")
	if err != nil {
		return "", nil, err
	}
	dir = filepath.Join(tmp, "wt")
	if _, err := git(ctx, repo, nil, "worktree", "add", "--detach", "--quiet", dir, commit); err != nil {
		os.RemoveAll(tmp)
		return "", nil, fmt.Errorf("worktree of %.12s: %w", commit, err)
	}
	remove = func() {
		// Not ctx: a cancelled run must still clean up.
		_, _ = git(context.Background(), repo, nil, "worktree", "remove", "--force", dir)
		os.RemoveAll(tmp)
		_, _ = git(context.Background(), repo, nil, "worktree", "prune")
	}
	return dir, remove, nil
}

// git runs git in dir with extra environment and returns its trimmed stdout.
// Variables that would point git at another repository or index are dropped.
func git(ctx context.Context, dir string, env []string, args ...string) (string, error) {
	cmd := exec.CommandContext(ctx, "git", args...)
	cmd.Dir = dir
	for _, kv := range os.Environ() {
		switch k, _, _ := strings.Cut(kv, "="); k {
		case "GIT_DIR", "GIT_WORK_TREE", "GIT_INDEX_FILE", "GIT_OBJECT_DIRECTORY", "GIT_COMMON_DIR", "GIT_PREFIX":
		default:
			cmd.Env = append(cmd.Env, kv)
		}
	}
	cmd.Env = append(cmd.Env, env...)
	var stdout, stderr bytes.Buffer
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	if err := cmd.Run(); err != nil {
		msg := strings.TrimSpace(stderr.String())
		if msg == "" {
			return "", fmt.Errorf("git %s: %w", strings.Join(args, " "), err)
		}
		return "", fmt.Errorf("git %s: %w: %s", args[0], err, msg)
	}
	return strings.TrimSpace(stdout.String()), nil
}
