package main

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"math"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"runtime"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/HdrHistogram/hdrhistogram-go"
	"github.com/perfgate/perfgate/perftest/internal/shard"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// The hostile corpus: testdata/hostile/*.txt, one crafted input to one
// command each, with the exit code and the exact stderr it must give. A case
// file holds, before its first "-- name --" file:
//
//	# why the case is there
//	args: merge -f $target $dir/shard.json
//	exit: 2
//	stderr: a line stderr must have, exactly, in order
//	stderr~: a regular expression a whole line must match
//
// and then the files it needs, written to $dir. $target is a spec with a
// target section; $dir also holds the large inputs bigInputs writes. Bars:
// no panic, no case over 10 s, none allocating over 1 GiB.

type hostileCase struct {
	args   []string
	exit   int
	stderr []string // "~" prefix: a regular expression
	files  map[string]string
}

func parseHostile(t *testing.T, path string) hostileCase {
	t.Helper()
	b, err := os.ReadFile(path)
	require.NoError(t, err)
	c := hostileCase{exit: -1, files: map[string]string{}}
	header := regexp.MustCompile(`(?m)^-- (\S+) --$`)
	text := string(b)
	locs := header.FindAllStringSubmatchIndex(text, -1)
	head := text
	if len(locs) > 0 {
		head = text[:locs[0][0]]
	}
	for i, l := range locs {
		end := len(text)
		if i+1 < len(locs) {
			end = locs[i+1][0]
		}
		c.files[text[l[2]:l[3]]] = text[l[1]+1 : end]
	}
	for _, line := range strings.Split(head, "\n") {
		switch k, v, _ := strings.Cut(line, ": "); {
		case line == "" || strings.HasPrefix(line, "#"):
		case k == "args":
			c.args = strings.Fields(v)
		case k == "exit":
			_, err := fmt.Sscan(v, &c.exit)
			require.NoError(t, err, line)
		case k == "stderr":
			c.stderr = append(c.stderr, v)
		case k == "stderr~":
			c.stderr = append(c.stderr, "~"+v)
		default:
			t.Fatalf("%s: unknown line %q", path, line)
		}
	}
	require.NotEmpty(t, c.args, "%s: no args", path)
	require.GreaterOrEqual(t, c.exit, 0, "%s: no exit", path)
	require.NotEmpty(t, c.stderr, "%s: no stderr: every refusal says why", path)
	return c
}

func TestHostileInputs(t *testing.T) {
	cases, err := filepath.Glob("testdata/hostile/*.txt")
	require.NoError(t, err)
	require.GreaterOrEqual(t, len(cases), 20)
	dir := t.TempDir()
	target := targetSpecFile(t)
	bigInputs(t, dir, target)
	for _, file := range cases {
		t.Run(strings.TrimSuffix(filepath.Base(file), ".txt"), func(t *testing.T) {
			c := parseHostile(t, file)
			sub := strings.NewReplacer("$dir", dir, "$target", target)
			for name, body := range c.files {
				require.NoError(t, os.WriteFile(filepath.Join(dir, name), []byte(sub.Replace(body)), 0o644))
			}
			args := make([]string, len(c.args))
			for i, a := range c.args {
				args[i] = sub.Replace(a)
			}
			var stdout, stderr bytes.Buffer
			var before, after runtime.MemStats
			runtime.ReadMemStats(&before)
			start := time.Now()
			err := protect(func() error { return run(context.Background(), args, &stdout, &stderr) }, &stderr)
			took := time.Since(start)
			runtime.ReadMemStats(&after)

			assert.Less(t, took, 10*time.Second, "no hang")
			assert.Less(t, after.TotalAlloc-before.TotalAlloc, uint64(1<<30), "no input makes perfgate allocate a GiB")
			assert.NotContains(t, stderr.String(), "internal error", "no panic")
			assert.Equal(t, c.exit, exitOf(t, err), "exit code; stderr:\n%s", stderr.String())
			got := strings.Split(strings.TrimSuffix(stderr.String(), "\n"), "\n")
			want := make([]string, len(c.stderr))
			for i, w := range c.stderr {
				want[i] = sub.Replace(w)
			}
			if assert.Len(t, got, len(want), "stderr lines:\n%s", stderr.String()) {
				for i := range want {
					if re, ok := strings.CutPrefix(want[i], "~"); ok {
						assert.Regexp(t, "^"+re+"$", got[i], "stderr line %d", i+1)
					} else {
						assert.Equal(t, want[i], got[i], "stderr line %d", i+1)
					}
				}
			}
			for _, line := range got {
				assert.Less(t, len(line), 1000, "no value is echoed back whole")
			}
		})
	}
}

// bigInputs writes the inputs too large to keep in testdata: a spec of 950
// KB with a syntax error on its last line, one with a 900 KB name, and shard
// results for target whose histograms would decode to far more than a
// result may.
func bigInputs(t *testing.T, dir, target string) {
	t.Helper()
	var b strings.Builder
	b.WriteString("version: 1\nload:\n  stages: [{duration: 10s, target: 50/s}]\nworkload: [{name: home, path: /}]\n")
	for b.Len() < 950_000 {
		b.WriteString("# " + strings.Repeat("padding ", 300) + "\n")
	}
	b.WriteString("slos: [\n")
	write(t, filepath.Join(dir, "big-syntax.yaml"), b.String())
	write(t, filepath.Join(dir, "long-name.yaml"), "version: 1\nload:\n  stages: [{duration: 10s, target: 50/s}]\nworkload: [{name: home, path: /}]\n"+
		"slos:\n  - name: "+strings.Repeat("n", 900_000)+"\n    metric: error_rate\n    max: 1%\n")

	spec, err := os.ReadFile(target)
	require.NoError(t, err)
	result := func(index, count int, edit func(r *shard.Result)) []byte {
		start := time.Date(2026, 12, 2, 15, 0, 0, 0, time.UTC)
		h := func() shard.Histogram {
			return shard.Histogram{Histogram: hdrhistogram.New(1, int64(time.Hour/time.Microsecond), 3)}
		}
		r := shard.Result{
			Shard: shard.Plan{Index: index, Count: count}, StartAt: start, Started: start,
			End: start.Add(30 * time.Second), MeasuredFrom: start.Add(5 * time.Second), Spec: shard.SpecHash(spec),
			Totals: shard.Totals{Latency: h(), SendLag: h(), ByStatus: map[string]int64{}, ByTemplate: map[string]shard.TemplateStats{}},
		}
		if edit != nil {
			edit(&r)
		}
		var out bytes.Buffer
		require.NoError(t, shard.Encode(&out, r))
		return out.Bytes()
	}
	write(t, filepath.Join(dir, "ok-0.json"), string(result(0, 2, nil)))
	write(t, filepath.Join(dir, "wide-hist.json"), string(result(0, 2, func(r *shard.Result) {
		r.Latency = shard.Histogram{Histogram: hdrhistogram.New(1, math.MaxInt64, 5)}
	})))
	write(t, filepath.Join(dir, "many-hists.json"), string(result(0, 2, func(r *shard.Result) {
		for i := 1; i <= 600; i++ {
			r.Timeline = append(r.Timeline, shard.Second{T: i, Latency: shard.Histogram{Histogram: hdrhistogram.New(1, 1<<40, 3)}})
		}
	})))
	// A count of 2^62 is written by hand: Encode would write it, but the
	// JSON is the point.
	var m map[string]any
	require.NoError(t, json.Unmarshal(result(0, 2, nil), &m))
	m["shard"] = map[string]any{"index": 0, "count": 1 << 62}
	huge, err := json.Marshal(m)
	require.NoError(t, err)
	write(t, filepath.Join(dir, "count-2-62.json"), string(huge))
}

func write(t *testing.T, path, s string) {
	t.Helper()
	require.NoError(t, os.WriteFile(path, []byte(s), 0o644))
}

// TestSIGTERMEndsAParse sends SIGTERM to perfgate checking large specs, as
// timeout(1) does, and wants it gone with its own exit code and message,
// long before the 40 parses would end.
func TestSIGTERMEndsAParse(t *testing.T) {
	// Many short lines parse slowest: a few tenths of a second each.
	var b strings.Builder
	b.WriteString("version: 1\nload:\n  stages: [{duration: 10s, target: 50/s}]\nworkload: [{name: home, path: /}]\nslos:\n")
	for i := 0; b.Len() < 950_000; i++ {
		fmt.Fprintf(&b, "  - name: s%d\n    metric: error_rate\n    max: 1%%\n", i)
	}
	b.WriteString("   bad: [\n")
	big := filepath.Join(t.TempDir(), "big.yaml")
	write(t, big, b.String())
	args := []string{"check"}
	for range 40 {
		args = append(args, big)
	}
	cmd := exec.Command(os.Args[0], args...)
	cmd.Env = append(os.Environ(), "PERFGATE_RUN_MAIN=1")
	var stderr bytes.Buffer
	cmd.Stderr = &stderr
	require.NoError(t, cmd.Start())
	// Long enough for the binary to start and take the signal (its init under
	// -race on a busy machine took over 300 ms), well inside the 40 parses.
	time.Sleep(1500 * time.Millisecond)
	require.NoError(t, cmd.Process.Signal(syscall.SIGTERM))
	done := make(chan error, 1)
	go func() { done <- cmd.Wait() }()
	select {
	case err := <-done:
		var ee *exec.ExitError
		require.ErrorAs(t, err, &ee, "stderr:\n%s", stderr.String())
		assert.Equal(t, 4, ee.ExitCode(), "stderr:\n%s", stderr.String())
		assert.Contains(t, stderr.String(), "perfgate check: interrupted: context canceled")
	case <-time.After(10 * time.Second):
		_ = cmd.Process.Kill()
		t.Fatal("perfgate ignored SIGTERM for 10 s")
	}
}
