package load

import (
	"fmt"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/perfgate/perfgate/thresholds"
)

// ownState is a replica that knows only the tasks it created itself, as a
// service with in-process state does.
func ownState(t *testing.T, name string) string {
	var (
		mu    sync.Mutex
		tasks = map[string]bool{}
		n     int
	)
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		mu.Lock()
		defer mu.Unlock()
		if r.Method == http.MethodPost {
			n++
			id := fmt.Sprintf("%s-%d", name, n)
			tasks[id] = true
			w.WriteHeader(http.StatusCreated)
			_, _ = fmt.Fprintf(w, `{"id": %q}`, id)
			return
		}
		if !tasks[strings.TrimPrefix(r.URL.Path, "/tasks/")] {
			w.WriteHeader(http.StatusNotFound)
		}
	}))
	t.Cleanup(srv.Close)
	return srv.URL
}

func stickyWorkload(sticky bool) []thresholds.Template {
	return []thresholds.Template{
		{Name: "get", Weight: 3, Method: "GET", Path: "/tasks/${task}", Fallback: "create"},
		{Name: "create", Weight: 1, Method: "POST", Path: "/tasks", Expect: []int{201},
			Capture: []thresholds.Capture{{Pool: "task", JSON: "id", Sticky: sticky}}},
	}
}

// TestAStickyCaptureSendsItsValuesBackToTheirReplica: two replicas that do
// not share state answer every get with 200 when the capture is sticky.
func TestAStickyCaptureSendsItsValuesBackToTheirReplica(t *testing.T) {
	for _, balance := range []Balance{RoundRobin, LeastInFlight} {
		res := run(t, Config{Targets: []string{ownState(t, "a"), ownState(t, "b")}, Stages: steady(200, time.Second),
			Workload: stickyWorkload(true), MaxInFlight: 16, Timeout: 2 * s, Seed: 5, Balance: balance})
		get := res.ByTemplate["get"]
		require.Positive(t, get.Count, "balance %v", balance)
		assert.Zero(t, get.NotOK, "balance %v: a get went to the replica that did not create its task", balance)
		assert.Zero(t, res.ByStatus["404"], "balance %v", balance)
		assert.Zero(t, get.Strays, "balance %v", balance)
	}
}

// Its twin: without sticky, about half the gets reach the other replica and
// get a 404.
func TestWithoutStickyAReplicaAnswersForTheOthersTasksWith404(t *testing.T) {
	res := run(t, Config{Targets: []string{ownState(t, "a"), ownState(t, "b")}, Stages: steady(200, time.Second),
		Workload: stickyWorkload(false), MaxInFlight: 16, Timeout: 2 * s, Seed: 5})
	get := res.ByTemplate["get"]
	require.Positive(t, get.Count)
	assert.Greater(t, res.ByStatus["404"], get.Count/4, "gets to the other replica")
	assert.Equal(t, res.ByStatus["404"], get.Strays, "each a 404 to a captured value")
}
