package load

import (
	"context"
	"crypto/tls"
	"net"
	"net/http"
	"net/http/httptest"
	"strconv"
	"sync/atomic"
	"testing"

	"github.com/perfgate/perfgate/perftest/internal/workload"
	"github.com/perfgate/perfgate/thresholds"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// elsewhere is a server on localhost that counts what reaches it: the host a
// redirect points to, which must see no request.
func elsewhere(t *testing.T) (url string, hits *atomic.Int64) {
	hits = new(atomic.Int64)
	ln, err := net.Listen("tcp", "localhost:0")
	require.NoError(t, err)
	srv := &httptest.Server{Listener: ln, Config: &http.Server{Handler: http.HandlerFunc(func(http.ResponseWriter, *http.Request) {
		hits.Add(1)
	})}}
	srv.Start()
	t.Cleanup(srv.Close)
	return "http://localhost:" + strconv.Itoa(ln.Addr().(*net.TCPAddr).Port), hits
}

// redirecting answers every request with a 307 to to.
func redirecting(to string) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		http.Redirect(w, r, to+r.URL.RequestURI(), http.StatusTemporaryRedirect)
	})
}

var postOnly = []thresholds.Template{{Name: "create", Weight: 1, Method: "POST", Path: "/tasks", Body: `{"task":"x"}`}}

func TestRunNeverFollowsARedirect(t *testing.T) {
	t.Parallel()
	check := func(t *testing.T, res *Result, hits *atomic.Int64) {
		t.Helper()
		require.Positive(t, res.Sent)
		assert.Zero(t, hits.Load(), "the host the target redirects to got requests")
		assert.Equal(t, res.Completed, res.ByStatus["307"], "a 3xx is the response")
		assert.Equal(t, res.Completed, res.ByTemplate["create"].Errors, "a 307 the template does not expect is an error")
	}
	eachClient(t, func(t *testing.T, client *http.Client) {
		to, hits := elsewhere(t)
		srv := httptest.NewServer(redirecting(to))
		t.Cleanup(srv.Close)
		check(t, run(t, Config{Client: client, Targets: []string{srv.URL}, Stages: steady(100, s/2), Workload: postOnly, MaxInFlight: 8, Timeout: s}), hits)
	})
	t.Run("https with a client that follows", func(t *testing.T) {
		t.Parallel()
		to, hits := elsewhere(t)
		srv := httptest.NewTLSServer(redirecting(to))
		t.Cleanup(srv.Close)
		client := srv.Client() // follows redirects, as http.Client does by default
		check(t, run(t, Config{Client: client, Targets: []string{srv.URL}, Stages: steady(100, s/2), Workload: postOnly, MaxInFlight: 8, Timeout: s}), hits)
	})
	t.Run("https with the generator's client", func(t *testing.T) {
		t.Parallel()
		to, hits := elsewhere(t)
		srv := httptest.NewTLSServer(redirecting(to))
		t.Cleanup(srv.Close)
		p, err := Config{Targets: []string{srv.URL}, Stages: steady(1, s), Workload: postOnly, Timeout: s}.prepare()
		require.NoError(t, err)
		r, cancel := newRunner(context.Background(), p)
		t.Cleanup(cancel)
		require.Nil(t, r.fast, "https targets use net/http")
		// Trust the test server's certificate, nothing else changed.
		r.client.Transport.(*http.Transport).TLSClientConfig = &tls.Config{RootCAs: srv.Client().Transport.(*http.Transport).TLSClientConfig.RootCAs}
		w := newWorker(r)
		t.Cleanup(w.close)
		code, _, err := w.sendHTTP(0, &workload.Request{Template: 0, Method: "POST", Path: []byte("/tasks"), Body: []byte(`{"task":"x"}`)})
		require.NoError(t, err)
		assert.Equal(t, http.StatusTemporaryRedirect, code)
		assert.Zero(t, hits.Load(), "the host the target redirects to got a request")
	})
}
