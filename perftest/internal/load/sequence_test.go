package load

import (
	"context"
	"flag"
	"io"
	"net/http"
	"net/http/httptest"
	"os"
	"slices"
	"strconv"
	"strings"
	"sync"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

var update = flag.Bool("update", false, "rewrite testdata/sequence.golden from the current generator")

// sequenceGolden holds the first sequenceLength requests of the task API's
// workload for seed sequenceSeed, one "METHOD path?query body" a line.
const (
	sequenceGolden = "testdata/sequence.golden"
	sequenceLength = 2000
	sequenceSeed   = 1
)

// recorder of requests: answers like the task API, deterministically (201
// with {"id": n} to the n-th POST, 204 to a DELETE, 200 otherwise), and
// keeps one line per request in arrival order.
type echoTasks struct {
	mu      sync.Mutex
	created int
	lines   []string
}

func (e *echoTasks) start(t testing.TB) string {
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		body, _ := io.ReadAll(r.Body)
		line := r.Method + " " + r.URL.RequestURI()
		if len(body) > 0 {
			line += " " + string(body)
		}
		e.mu.Lock()
		e.lines = append(e.lines, line)
		switch r.Method {
		case http.MethodPost:
			e.created++
			id := strconv.Itoa(e.created)
			e.mu.Unlock()
			w.Header().Set("Content-Type", "application/json")
			w.Header().Set("Location", "/tasks/"+id)
			w.WriteHeader(http.StatusCreated)
			_, _ = io.WriteString(w, `{"id":`+id+`}`)
		case http.MethodDelete:
			e.mu.Unlock()
			w.WriteHeader(http.StatusNoContent)
		default:
			e.mu.Unlock()
			_, _ = io.WriteString(w, `{}`)
		}
	}))
	t.Cleanup(srv.Close)
	return srv.URL
}

// sequence sends the first n requests of cfg one at a time, in the pacer's
// order, and returns what the server saw.
func sequence(t *testing.T, cfg Config, n int) []string {
	t.Helper()
	var e echoTasks
	cfg.Targets = []string{e.start(t)}
	cfg.Stages = steady(10, s)
	p, err := cfg.prepare()
	require.NoError(t, err)
	r, cancel := newRunner(context.Background(), p)
	defer cancel()
	w := newWorker(r)
	defer w.close()
	d := r.dealer()
	for i := range n {
		r.inFlight.Add(1)
		w.do(d.deal(uint64(i), 0))
	}
	e.mu.Lock()
	defer e.mu.Unlock()
	return e.lines
}

// committedMix is the run of the committed spec's workload.
func committedMix(t testing.TB) Config {
	return Config{Workload: committed(t), Seed: sequenceSeed}
}

func TestCommittedWorkloadSendsTheRecordedSequence(t *testing.T) {
	if *update {
		text := strings.Join(sequence(t, committedMix(t), sequenceLength), "\n") + "\n"
		require.NoError(t, os.WriteFile(sequenceGolden, []byte(text), 0o644))
	}
	eachClient(t, func(t *testing.T, client *http.Client) {
		cfg := committedMix(t)
		cfg.Client = client
		got := sequence(t, cfg, sequenceLength)
		require.Len(t, got, sequenceLength)
		text := strings.Join(got, "\n") + "\n"
		want, err := os.ReadFile(sequenceGolden)
		require.NoError(t, err)
		assert.Equal(t, string(want), text)
	})
}

// The twin of TestCommittedWorkloadSendsTheRecordedSequence: a workload that
// differs from the committed one in one detail, or another seed, sends
// another sequence, so that test would catch the change.
func TestAChangedWorkloadSendsAnotherSequence(t *testing.T) {
	want, err := os.ReadFile(sequenceGolden)
	require.NoError(t, err)
	tests := []struct {
		name   string
		change func(c *Config)
	}{
		{"get and update swap weights", func(c *Config) { c.Workload[1].Weight, c.Workload[3].Weight = 10, 40 }},
		{"delete keeps its task", func(c *Config) { c.Workload[4].Take = nil }},
		{"list pages on every time", func(c *Config) { c.Workload[0].Query[0].Chance = 1 }},
		{"get falls back to list", func(c *Config) { c.Workload[1].Fallback = "list" }},
		{"create numbers its tasks from 1", func(c *Config) { c.Workload[2].Body = `{"task":"perf ${seq}1"}` }},
		{"another seed", func(c *Config) { c.Seed = sequenceSeed + 1 }},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			cfg := committedMix(t)
			cfg.Workload = slices.Clone(cfg.Workload)
			cfg.Workload[0].Query = slices.Clone(cfg.Workload[0].Query)
			tt.change(&cfg)
			got := sequence(t, cfg, sequenceLength)
			wantLines := strings.Split(strings.TrimSuffix(string(want), "\n"), "\n")
			first := min(len(got), len(wantLines)) - 1
			for i := range min(len(got), len(wantLines)) {
				if got[i] != wantLines[i] {
					first = i
					break
				}
			}
			assert.NotEqual(t, wantLines, got)
			t.Logf("first difference at request %d: %q, recorded %q", first, got[first], wantLines[first])
		})
	}
}
