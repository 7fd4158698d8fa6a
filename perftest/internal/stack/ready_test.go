package stack

import (
	"context"
	"net"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"sync/atomic"
	"testing"
	"time"

	"github.com/moby/moby/api/types/container"
	"github.com/moby/moby/api/types/network"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"github.com/testcontainers/testcontainers-go/wait"
)

// served is a StrategyTarget whose port is a local test server's.
type served struct {
	wait.StrategyTarget // methods the readiness wait does not call panic
	addr                string
	exited              bool
}

func (s served) Host(context.Context) (string, error) {
	h, _, err := net.SplitHostPort(s.addr)
	return h, err
}
func (s served) MappedPort(context.Context, string) (network.Port, error) {
	_, p, _ := net.SplitHostPort(s.addr)
	return network.ParsePort(p + "/tcp")
}
func (s served) State(context.Context) (*container.State, error) {
	return &container.State{Running: !s.exited, ExitCode: map[bool]int{true: 2}[s.exited]}, nil
}
func (s served) Inspect(context.Context) (*container.InspectResponse, error) {
	return &container.InspectResponse{}, nil // no pid: the listening ports cannot be read
}

func serve(t *testing.T, h http.HandlerFunc) served {
	srv := httptest.NewServer(h)
	t.Cleanup(srv.Close)
	return served{addr: srv.Listener.Addr().String()}
}

func probe(path string) readiness {
	return readiness{path: path, port: 8080, metrics: "/metrics", timeout: 10 * time.Second, poll: 10 * time.Millisecond, wrongFor: 100 * time.Millisecond}
}

func TestReadinessFailsFastOnAPathThatIsNotThere(t *testing.T) {
	target := serve(t, func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Path != "/metrics" {
			http.NotFound(w, r)
		}
	})
	start := time.Now()
	err := probe("/readyz").WaitUntilReady(t.Context(), target)
	require.Error(t, err)
	assert.Less(t, time.Since(start), 5*time.Second, "well before the startup timeout")
	assert.Contains(t, err.Error(), "GET /readyz answered 404 Not Found")
	assert.Contains(t, err.Error(), "set service.ready")
	assert.Contains(t, err.Error(), "/metrics does")
}

func TestReadinessSuggestsAHealthPathTheServiceAnswers(t *testing.T) {
	target := serve(t, func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Path != "/metrics" && r.URL.Path != "/health" {
			http.NotFound(w, r)
		}
	})
	err := probe("/readyz").WaitUntilReady(t.Context(), target)
	require.Error(t, err)
	assert.Contains(t, err.Error(), "; /health does", "a health path before the metrics path")
}

func TestReadinessWaitsThroughNotReadyYet(t *testing.T) {
	var calls atomic.Int32
	target := serve(t, func(w http.ResponseWriter, r *http.Request) {
		if calls.Add(1) < 30 { // 300 ms of 503, longer than wrongFor: not ready is not wrong
			w.WriteHeader(http.StatusServiceUnavailable)
		}
	})
	require.NoError(t, probe("/readyz").WaitUntilReady(t.Context(), target))
}

func TestReadinessSaysTheServiceExited(t *testing.T) {
	target := serve(t, http.NotFound)
	target.exited = true
	err := probe("/readyz").WaitUntilReady(t.Context(), target)
	require.Error(t, err)
	assert.Contains(t, err.Error(), "the service exited (code 2)")
}

func TestReadinessTimesOutWithWhatItLastGot(t *testing.T) {
	target := serve(t, func(w http.ResponseWriter, r *http.Request) { w.WriteHeader(http.StatusServiceUnavailable) })
	r := probe("/readyz")
	r.timeout = 200 * time.Millisecond
	err := r.WaitUntilReady(t.Context(), target)
	require.Error(t, err)
	assert.Contains(t, err.Error(), "not ready after 200ms (service.ready /readyz, service.port 8080): GET /readyz answered 503 Service Unavailable")
}

func TestListenPortsReadsTheListeningSockets(t *testing.T) {
	f := filepath.Join(t.TempDir(), "tcp")
	require.NoError(t, os.WriteFile(f, []byte(
		`  sl  local_address rem_address   st tx_queue rx_queue tr tm->when retrnsmt   uid  timeout inode
   0: 00000000:2382 00000000:0000 0A 00000000:00000000 00:00000000 00000000     0        0 1 1 0000000000000000 100 0 0 10 0
   1: 0100007F:1F90 0100007F:C350 01 00000000:00000000 00:00000000 00000000     0        0 2 1 0000000000000000 20 4 30 10 -1
   2: 0B00007F:8C69 00000000:0000 0A 00000000:00000000 00:00000000 00000000     0        0 3 1 0000000000000000 100 0 0 10 0
`), 0o600))
	open, local := listenPorts(f)
	assert.Equal(t, []int{9090}, open, "the LISTEN socket on 0x2382, not the established one on 8080")
	assert.Equal(t, []int{35945}, local, "Docker's DNS resolver on 127.0.0.11 is on loopback")
}
