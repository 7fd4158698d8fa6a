package main

import (
	"bytes"
	"context"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// The README's Go doors, followed as written by a user in a module of their
// own outside this one: the commands and the test function are read from the
// README itself, so the test fails when the README stops being true.

// readme returns the README and this repository's root.
func readme(t *testing.T) (string, string) {
	t.Helper()
	root, err := filepath.Abs("../../..")
	require.NoError(t, err)
	b, err := os.ReadFile(filepath.Join(root, "README.md"))
	require.NoError(t, err)
	return string(b), root
}

// between returns the text of s after the first from and before the next to.
func between(t *testing.T, s, from, to string) string {
	t.Helper()
	_, after, ok := strings.Cut(s, from)
	require.True(t, ok, "README: no %q", from)
	in, _, ok := strings.Cut(after, to)
	require.True(t, ok, "README: no %q after %q", to, from)
	return in
}

// sh runs a command line (no shell: words split on spaces) in dir.
func sh(t *testing.T, dir, line string, env ...string) string {
	t.Helper()
	ctx, cancel := context.WithTimeout(t.Context(), 5*time.Minute)
	defer cancel()
	words := strings.Fields(line)
	cmd := exec.CommandContext(ctx, words[0], words[1:]...)
	cmd.Dir = dir
	cmd.Env = append(os.Environ(), append([]string{"GOWORK=off", "GOFLAGS=", "GOTOOLCHAIN=local"}, env...)...)
	out, err := cmd.CombinedOutput()
	require.NoError(t, err, "%s:\n%s", line, out)
	return string(out)
}

func lines(t *testing.T, path string) int {
	b, err := os.ReadFile(path)
	require.NoError(t, err)
	return bytes.Count(b, []byte("\n"))
}

// spec writes a spec that names no files of its own to dir/perf/slo.yaml.
func spec(t *testing.T, root, dir string) {
	b, err := os.ReadFile(filepath.Join(root, "thresholds/testdata/minimal.good.yaml"))
	require.NoError(t, err)
	require.NoError(t, os.MkdirAll(filepath.Join(dir, "perf"), 0o755))
	require.NoError(t, os.WriteFile(filepath.Join(dir, "perf/slo.yaml"), b, 0o644))
}

func TestTheGoTestDoorWorksAsTheREADMEWritesIt(t *testing.T) {
	if testing.Short() {
		t.Skip("builds a module of its own: not under -short")
	}
	doc, root := readme(t)
	door := between(t, doc, "a Go test in your module:", "   - the CLI:")
	fn := between(t, door, "`", "`")
	imp := between(t, door, "(import `", "`")
	recipe := between(t, door, "```sh\n", "```")

	dir := filepath.Join(t.TempDir(), "mysvc")
	require.NoError(t, os.MkdirAll(dir, 0o755))
	sh(t, dir, "go mod init example.com/mysvc")
	before := lines(t, filepath.Join(dir, "go.mod"))
	spec(t, root, dir)
	src := "package mysvc\n\nimport (\n\t\"testing\"\n\n\t\"" + imp + "\"\n)\n\n" + fn + "\n"
	require.NoError(t, os.WriteFile(filepath.Join(dir, "perf_test.go"), []byte(src), 0o644))

	// The recipe, with the clone beside the module where the README puts it.
	recipe = strings.ReplaceAll(recipe, "\\\n", " ")
	for _, line := range strings.Split(strings.TrimSpace(recipe), "\n") {
		sh(t, dir, strings.ReplaceAll(line, "../perfgate", root))
	}

	out := sh(t, dir, "go test -short -run TestPerf -v .")
	assert.Contains(t, out, "--- SKIP: TestPerf", "under -short the gate skips, as the README says")
	out = sh(t, dir, "go run github.com/perfgate/perfgate/perftest/cmd/perfgate check perf/slo.yaml")
	assert.Contains(t, out, "perf/slo.yaml")

	// The growth the README states.
	m := regexp.MustCompile(`go\.mod grew to (\d+) lines and go\.sum to (\d+)`).FindStringSubmatch(door)
	require.NotNil(t, m, "README: the go.mod and go.sum growth")
	mod, sum := lines(t, filepath.Join(dir, "go.mod")), lines(t, filepath.Join(dir, "go.sum"))
	t.Logf("go.mod %d → %d lines, go.sum %d lines", before, mod, sum)
	assert.Equal(t, m[1], strconv.Itoa(mod), "go.mod lines: update the README")
	assert.Equal(t, m[2], strconv.Itoa(sum), "go.sum lines: update the README")
}

func TestTheCLIDoorWorksAsTheREADMEWritesIt(t *testing.T) {
	if testing.Short() {
		t.Skip("installs the CLI: not under -short")
	}
	doc, root := readme(t)
	door := between(t, doc, "   - the CLI: `", "`")
	require.Equal(t, "go install ./perftest/cmd/perfgate", door)
	bin := t.TempDir()
	sh(t, root, door, "GOBIN="+bin)

	dir := t.TempDir()
	spec(t, root, dir)
	run := between(t, doc, "then\n     `perfgate ", "`")
	require.True(t, strings.HasPrefix(run, "run -f perf/slo.yaml"), run)
	out := sh(t, dir, filepath.Join(bin, "perfgate")+" check perf/slo.yaml")
	assert.Contains(t, out, "perf/slo.yaml")
}
