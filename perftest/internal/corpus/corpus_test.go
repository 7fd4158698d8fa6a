package corpus

import (
	"bytes"
	"context"
	"flag"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

var update = flag.Bool("update", false, "rewrite the committed entries' YAML in canonical form")

// regressionsDir is the committed corpus, relative to this package.
const regressionsDir = "../../testdata/regressions"

// moduleRoot is the repository root, relative to this package.
const moduleRoot = "../../.."

func TestCommittedEntriesLoad(t *testing.T) {
	entries, err := Load(regressionsDir)
	require.NoError(t, err)
	require.GreaterOrEqual(t, len(entries), 9, "the corpus has at least 9 entries")

	costs := map[Cost]bool{}
	pass := 0
	for _, e := range entries {
		costs[e.Cost] = true
		if e.Expect == ExpectPass {
			pass++
		}
	}
	assert.GreaterOrEqual(t, pass, 1, "at least one change must pass the gate")
	for _, c := range Costs {
		if c == CostNone {
			continue
		}
		assert.True(t, costs[c], "no entry costs %s", c)
	}
}

// TestCommittedEntriesAreTidy keeps every YAML file exactly as Marshal
// writes it, so the harness's write-back never reshuffles a file; -update
// rewrites them.
func TestCommittedEntriesAreTidy(t *testing.T) {
	entries, err := Load(regressionsDir)
	require.NoError(t, err)
	for _, e := range entries {
		want, err := Marshal(e)
		require.NoError(t, err)
		if *update {
			require.NoError(t, os.WriteFile(e.File, want, 0o644))
			continue
		}
		got, err := os.ReadFile(e.File)
		require.NoError(t, err)
		assert.Equal(t, string(want), string(got), "%s is not in canonical form: go test ./perftest/internal/corpus -run Tidy -update", e.File)
	}
}

// TestCommittedPatchesApply checks every patch against HEAD in a worktree of
// its own, never in the caller's work tree.
func TestCommittedPatchesApply(t *testing.T) {
	requireGitRepo(t, moduleRoot)
	entries, err := Load(regressionsDir)
	require.NoError(t, err)
	ctx := context.Background()
	top, err := git(ctx, moduleRoot, nil, "rev-parse", "--show-toplevel")
	require.NoError(t, err)
	wt, remove, err := AddWorktree(ctx, top, "HEAD")
	require.NoError(t, err)
	t.Cleanup(remove)
	for _, e := range entries {
		abs, err := filepath.Abs(e.Patch)
		require.NoError(t, err)
		_, err = git(ctx, wt, nil, "apply", "--check", abs)
		assert.NoError(t, err, "%s no longer applies to HEAD", e.Patch)
	}
}

func TestLoadErrors(t *testing.T) {
	for _, tt := range []struct {
		name, dir string
		want      []string // each line of the error, in order
	}{
		{"an unknown field is named with its line", "unknown_field",
			[]string{`testdata/unknown_field/e.yaml:4:1: unknown field "owner"`}},
		{"every invalid value is reported at once, with its line", "bad_cost", []string{
			`testdata/bad_cost/e.yaml:3: cost: "slowness" is not one of extra_queries, cpu, allocation, lock_contention, response_size, slow_writes, memory_leak, goroutine_leak, errors, none`,
			`testdata/bad_cost/e.yaml:4: expect: "maybe" must be fail or pass`,
		}},
		{"a YAML file without its patch", "no_patch",
			[]string{"testdata/no_patch/e.yaml:1: no patch e.patch beside it"}},
		{"a patch without its YAML file", "no_yaml",
			[]string{"testdata/no_yaml/e.patch: no e.yaml beside it: every patch needs its description, cost and expectation"}},
		{"an empty description, and a free change that expects to fail", "empty_description", []string{
			"testdata/empty_description/e.yaml:1: description: must say what the change does",
			"testdata/empty_description/e.yaml:3: expect: a change that costs nothing (cost: none) must pass",
		}},
		{"a change that is not a percentage", "bad_percent",
			[]string{`testdata/bad_percent/e.yaml:7:31: effect.metrics.cpu_per_request.change: "12" is not a percentage such as +12.5%`}},
		{"a syntax error", "syntax",
			[]string{"testdata/syntax/e.yaml:1: invalid YAML: mapping values are not allowed in this context"}},
		{"a name that cannot be a ref", "bad_name",
			[]string{`testdata/bad_name/Bad-Name.yaml:1: name "Bad-Name": use lower case letters, digits and _`}},
		{"wrong types, all of them", "wrong_type", []string{
			"testdata/wrong_type/e.yaml:1:14: description: must be a string, got a list",
			`testdata/wrong_type/e.yaml:5:10: effect.pairs: must be a whole number, got "many"`,
		}},
	} {
		t.Run(tt.name, func(t *testing.T) {
			_, err := Load(filepath.Join("testdata", tt.dir))
			require.Error(t, err)
			assert.Equal(t, tt.want, strings.Split(err.Error(), "\n"))
		})
	}
}

func TestMarshalRoundTrip(t *testing.T) {
	dir := t.TempDir()
	e := Entry{
		Name:        "slow_thing",
		Description: strings.Repeat("A change that does more work than it should. ", 4),
		Cost:        CostCPU,
		Expect:      ExpectFail,
		File:        filepath.Join(dir, "slow_thing.yaml"),
		Patch:       filepath.Join(dir, "slow_thing.patch"),
		Effect: &Effect{
			Date: "2026-12-01", Base: "0123456789ab", Pairs: 6, Rate: "500/s", Round: "2s warm-up + 8s measured",
			Metrics: Metrics{
				AllocsPerRequest: &Change{Baseline: "41.2 allocs", Candidate: "76.1 allocs", Change: 0.847, Spread: [2]Percent{0.84, 0.851}},
				P95Latency:       &Change{Baseline: "812 µs", Candidate: "790 µs", Change: -0.027, Spread: [2]Percent{-0.2, 0.15}},
			},
			Note: "latency moves with the machine",
		},
	}
	require.NoError(t, os.WriteFile(e.Patch, []byte("diff\n"), 0o644))
	require.NoError(t, WriteFile(e))
	got, err := Load(dir)
	require.NoError(t, err)
	require.Len(t, got, 1)
	// Percentages keep one decimal.
	e.Effect.Metrics.AllocsPerRequest.Change = 0.847
	assert.InDelta(t, 0.847, float64(got[0].Effect.Metrics.AllocsPerRequest.Change), 0.0005)
	got[0].Effect.Metrics.AllocsPerRequest.Change = e.Effect.Metrics.AllocsPerRequest.Change
	got[0].Effect.Metrics.AllocsPerRequest.Spread = e.Effect.Metrics.AllocsPerRequest.Spread
	got[0].Effect.Metrics.P95Latency.Change = e.Effect.Metrics.P95Latency.Change
	assert.Equal(t, e, got[0])

	b, err := os.ReadFile(e.File)
	require.NoError(t, err)
	assert.Contains(t, string(b), "    allocs_per_request: {baseline: 41.2 allocs, candidate: 76.1 allocs, change: +84.7%, spread: [+84.0%, +85.1%]}\n")
	assert.Contains(t, string(b), "change: -2.7%, spread: [-20.0%, +15.0%]}")
	assert.NotContains(t, string(b), "cpu_per_request", "a metric not measured is left out, never zero")
}

func TestTable(t *testing.T) {
	entries := []Entry{
		{Name: "a", Cost: CostCPU, Expect: ExpectFail, Patch: "x/a.patch", Effect: &Effect{Pairs: 6, Date: "2026-12-01",
			Metrics: Metrics{CPUPerRequest: &Change{Change: 0.2, Spread: [2]Percent{0.1, 0.3}}}, Note: "a|b"}},
		{Name: "b", Cost: CostNone, Expect: ExpectPass, Patch: "x/b.patch"},
	}
	entries[0].Effect.Metrics.HeapGrowth = &Growth{Difference: "+180KiB/1k", Spread: [2]string{"+170KiB/1k", "+199KiB/1k"}}
	assert.Equal(t, "| entry | cost | expect | allocs/req | bytes/req | CPU/req | p50 | p95 | kept per 1k req | pairs | measured | note |\n"+
		"|---|---|---|---|---|---|---|---|---|---|---|---|\n"+
		"| [a](a.patch) | cpu | fail | n/a | n/a | +20.0% (+10.0%…+30.0%) | n/a | n/a | heap +180KiB/1k (+170KiB/1k…+199KiB/1k) | 6 | 2026-12-01 | a/b |\n"+
		"| [b](b.patch) | none | pass | | | | | | | | not measured yet |\n"+
		"\nEach cell: the median change over pairs (smallest pair … largest pair); what the service kept\n"+
		"per 1,000 requests served is a difference, since a healthy service keeps about nothing.\n\n"+
		"- **a** (cpu, must fail): \n"+
		"- **b** (none, must pass): \n", Table(entries))
	assert.False(t, entries[0].Effect.IsTiny())
	entries[0].Effect.Metrics.CPUPerRequest.Change = -0.049
	assert.True(t, entries[0].Effect.IsTiny())
}

// testRepo makes a git repository with one commit holding service/a.txt.
func testRepo(t *testing.T) string {
	t.Helper()
	if _, err := exec.LookPath("git"); err != nil {
		t.Skip("git is not installed")
	}
	dir := t.TempDir()
	run := func(args ...string) {
		t.Helper()
		_, err := git(context.Background(), dir, nil, args...)
		require.NoError(t, err)
	}
	run("init", "--quiet", "-b", "main")
	require.NoError(t, os.MkdirAll(filepath.Join(dir, "service"), 0o755))
	require.NoError(t, os.WriteFile(filepath.Join(dir, "service", "a.txt"), []byte("one\ntwo\nthree\n"), 0o644))
	run("add", "service/a.txt")
	run("-c", "user.name=t", "-c", "user.email=t@localhost", "commit", "--quiet", "-m", "base")
	return dir
}

// patchFile writes a patch that changes "two" into "2" in service/a.txt.
func patchFile(t *testing.T, dir, name string) Entry {
	t.Helper()
	p := filepath.Join(dir, name+".patch")
	require.NoError(t, os.WriteFile(p, []byte(`diff --git a/service/a.txt b/service/a.txt
--- a/service/a.txt
+++ b/service/a.txt
@@ -1,3 +1,3 @@
 one
-two
+2
 three
`), 0o644))
	return Entry{Name: name, Description: "two becomes 2", Cost: CostCPU, Expect: ExpectFail, Patch: p}
}

func TestCommit(t *testing.T) {
	ctx := context.Background()
	repo := testRepo(t)
	e := patchFile(t, t.TempDir(), "two")

	// The caller has work in progress, staged and not: it must survive.
	require.NoError(t, os.WriteFile(filepath.Join(repo, "service", "a.txt"), []byte("one\ntwo\nthree\nfour\n"), 0o644))
	require.NoError(t, os.WriteFile(filepath.Join(repo, "new.txt"), []byte("x"), 0o644))
	_, err := git(ctx, repo, nil, "add", "new.txt")
	require.NoError(t, err)
	status := func() string {
		s, err := git(ctx, repo, nil, "status", "--porcelain=v1")
		require.NoError(t, err)
		return s
	}
	before := status()
	baseID, err := git(ctx, repo, nil, "rev-parse", "HEAD")
	require.NoError(t, err)

	id, err := Commit(ctx, repo, "HEAD", e)
	require.NoError(t, err)

	out, err := git(ctx, repo, nil, "show", id+":service/a.txt")
	require.NoError(t, err)
	assert.Equal(t, "one\n2\nthree", out)
	parent, err := git(ctx, repo, nil, "rev-parse", id+"^")
	require.NoError(t, err)
	assert.Equal(t, baseID, parent, "the commit sits on top of base")
	ref, err := git(ctx, repo, nil, "rev-parse", RefPrefix+"two")
	require.NoError(t, err)
	assert.Equal(t, id, ref)
	who, err := git(ctx, repo, nil, "show", "-s", "--format=%an <%ae>%n%s", id)
	require.NoError(t, err)
	assert.Equal(t, "perfgate <perfgate@localhost>\ncorpus: two", who)

	assert.Equal(t, before, status(), "the caller's work tree and index are untouched")
	head, err := git(ctx, repo, nil, "rev-parse", "HEAD")
	require.NoError(t, err)
	assert.Equal(t, baseID, head, "no branch moves")
	branches, err := git(ctx, repo, nil, "branch", "--list")
	require.NoError(t, err)
	assert.Equal(t, "* main", branches)
	wts, err := git(ctx, repo, nil, "worktree", "list", "--porcelain")
	require.NoError(t, err)
	assert.Equal(t, 1, strings.Count(wts, "worktree "), "the temporary worktree is gone:\n%s", wts)

	again, err := Commit(ctx, repo, baseID, e)
	require.NoError(t, err)
	assert.Equal(t, id, again, "the same base and patch give the same commit")
}

func TestCommitPatchNoLongerApplies(t *testing.T) {
	ctx := context.Background()
	repo := testRepo(t)
	e := patchFile(t, t.TempDir(), "two")
	require.NoError(t, os.WriteFile(filepath.Join(repo, "service", "a.txt"), []byte("one\nzwei\nthree\n"), 0o644))
	_, err := git(ctx, repo, nil, "-c", "user.name=t", "-c", "user.email=t@localhost", "commit", "--quiet", "-am", "two is zwei")
	require.NoError(t, err)

	_, err = Commit(ctx, repo, "HEAD", e)
	require.Error(t, err)
	assert.Contains(t, err.Error(), "corpus: "+e.Patch+" no longer applies to HEAD (")
	assert.Contains(t, err.Error(), "patch failed: service/a.txt:1")
	_, err = git(ctx, repo, nil, "rev-parse", "--verify", "--quiet", RefPrefix+"two")
	assert.Error(t, err, "no ref for a patch that did not apply")
	wts, err := git(ctx, repo, nil, "worktree", "list", "--porcelain")
	require.NoError(t, err)
	assert.Equal(t, 1, strings.Count(wts, "worktree "), "the temporary worktree is gone")

	_, err = Commit(ctx, repo, "no-such-branch", e)
	assert.ErrorContains(t, err, `corpus: base "no-such-branch" is not a commit`)
}

func requireGitRepo(t *testing.T, dir string) {
	t.Helper()
	if _, err := exec.LookPath("git"); err != nil {
		t.Skip("git is not installed")
	}
	out, err := exec.Command("git", "-C", dir, "rev-parse", "--is-inside-work-tree").Output()
	if err != nil || !bytes.Equal(bytes.TrimSpace(out), []byte("true")) {
		t.Skip("not in a git work tree")
	}
}

// TestREADMETable keeps the corpus README's table in step with the YAML
// files; -update rewrites it.
func TestREADMETable(t *testing.T) {
	entries, err := Load(regressionsDir)
	require.NoError(t, err)
	path := filepath.Join(regressionsDir, "README.md")
	if *update {
		require.NoError(t, UpdateREADME(path, entries))
	}
	b, err := os.ReadFile(path)
	require.NoError(t, err)
	assert.Contains(t, string(b), tableBegin+"\n"+Table(entries)+tableEnd,
		"%s is out of date: go test ./perftest/internal/corpus -run README -update", path)
}

func TestPercentHasOneSign(t *testing.T) {
	for p, want := range map[Percent]string{0.85: "+85.0%", -0.032: "-3.2%", -0.0004: "+0.0%", 0: "+0.0%", 0.0004: "+0.0%"} {
		assert.Equal(t, want, p.Signed(), "%v", float64(p))
	}
}
