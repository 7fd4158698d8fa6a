package load

import (
	"context"
	"flag"
	"io"
	"net/http"
	"net/http/httptest"
	"os"
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

// committedMix is the task API's workload as thresholds/slo.yaml writes it.
func committedMix() Config {
	return Config{Mix: Mix{List: 20, Get: 40, Create: 20, Update: 10, Delete: 10}, Seed: sequenceSeed}
}

func TestCommittedWorkloadSendsTheRecordedSequence(t *testing.T) {
	if *update {
		text := strings.Join(sequence(t, committedMix(), sequenceLength), "\n") + "\n"
		require.NoError(t, os.WriteFile(sequenceGolden, []byte(text), 0o644))
	}
	eachClient(t, func(t *testing.T, client *http.Client) {
		cfg := committedMix()
		cfg.Client = client
		got := sequence(t, cfg, sequenceLength)
		require.Len(t, got, sequenceLength)
		text := strings.Join(got, "\n") + "\n"
		want, err := os.ReadFile(sequenceGolden)
		require.NoError(t, err)
		assert.Equal(t, string(want), text)
	})
}
