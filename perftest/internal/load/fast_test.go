package load

import (
	"bufio"
	"context"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"strconv"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/perfgate/perfgate/perftest/internal/workload"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"github.com/valyala/fasthttp"
)

// rawServer accepts connections on 127.0.0.1 and hands each to serve.
func rawServer(t *testing.T, serve func(net.Conn)) string {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	require.NoError(t, err)
	t.Cleanup(func() { _ = ln.Close() })
	go func() {
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			go func() {
				defer func() { _ = c.Close() }()
				serve(c)
			}()
		}
	}()
	return ln.Addr().String()
}

// fastWorker returns a worker on the fasthttp path to base.
func fastWorker(t *testing.T, base string) *worker { return fastWorkerTimeout(t, base, 5*s) }

// fastWorkerTimeout is fastWorker with a request timeout.
func fastWorkerTimeout(t *testing.T, base string, timeout time.Duration) *worker {
	p, err := Config{Targets: []string{base}, Stages: steady(1, s), Workload: listOnly, Timeout: timeout}.prepare()
	require.NoError(t, err)
	r, cancel := newRunner(context.Background(), p)
	t.Cleanup(cancel)
	require.NotNil(t, r.fast, "plain HTTP targets use fasthttp")
	w := newWorker(r)
	t.Cleanup(w.close)
	return w
}

func TestFastRequestIsWhatTheAPIExpects(t *testing.T) {
	got := make(chan *http.Request, 1)
	bodies := make(chan string, 1)
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		body, _ := io.ReadAll(r.Body)
		got <- r
		bodies <- string(body)
		w.WriteHeader(http.StatusCreated)
		_, _ = io.WriteString(w, `{"id":7}`)
	}))
	t.Cleanup(srv.Close)
	w := fastWorker(t, srv.URL+"/base/")

	code, body, err := w.sendFast(0, &workload.Request{Method: "POST", Path: []byte("/tasks/a%2Fb"), Query: []byte("limit=20&after=3"),
		Headers: []workload.Header{{Name: "Content-Type", Value: []byte("application/json")}}, Body: []byte(`{"task":"perf 7"}`)})
	require.NoError(t, err)
	assert.Equal(t, 201, code)
	assert.Equal(t, `{"id":7}`, string(body))

	req := <-got
	assert.Equal(t, "POST", req.Method)
	assert.Equal(t, "/base/tasks/a%2Fb?limit=20&after=3", req.RequestURI, "the escaped path goes out as it is")
	assert.Equal(t, strings.TrimPrefix(srv.URL, "http://"), req.Host)
	assert.Equal(t, "application/json", req.Header.Get("Content-Type"))
	assert.Equal(t, "perfgate-load", req.Header.Get("User-Agent"))
	assert.EqualValues(t, 17, req.ContentLength)
	assert.Equal(t, `{"task":"perf 7"}`, <-bodies)

	// The same request object, reused for a GET, carries nothing of the POST.
	code, _, err = w.sendFast(0, &workload.Request{Method: "GET", Path: []byte("/tasks")})
	require.NoError(t, err)
	assert.Equal(t, 201, code)
	req = <-got
	assert.Equal(t, "GET", req.Method)
	assert.Equal(t, "/base/tasks", req.RequestURI)
	assert.Empty(t, req.Header.Get("Content-Type"))
	assert.Empty(t, <-bodies)
}

func TestFastKeepsConnectionsAndReadsWholeBodies(t *testing.T) {
	var conns atomic.Int64
	big := strings.Repeat("x", 3*maxKeptBody)
	srv := httptest.NewUnstartedServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		_, _ = io.WriteString(w, big) // chunked: no length given
	}))
	srv.Config.ConnState = func(_ net.Conn, st http.ConnState) {
		if st == http.StateNew {
			conns.Add(1)
		}
	}
	srv.Start()
	t.Cleanup(srv.Close)
	w := fastWorker(t, srv.URL)

	for range 3 {
		code, body, err := w.sendFast(0, &workload.Request{Method: "GET", Path: []byte("/tasks")})
		require.NoError(t, err)
		assert.Equal(t, 200, code)
		assert.Equal(t, len(big), len(body))
	}
	assert.EqualValues(t, 1, conns.Load(), "one keep-alive connection carries every request")
}

func TestFastRefusesAnOversizedBody(t *testing.T) {
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		_, _ = w.Write(make([]byte, maxResponseBody+1))
	}))
	t.Cleanup(srv.Close)
	w := fastWorker(t, srv.URL)

	_, _, err := w.sendFast(0, &workload.Request{Method: "GET", Path: []byte("/tasks")})
	require.ErrorIs(t, err, fasthttp.ErrBodyTooLarge)
	assert.Equal(t, transportError, w.classify(err))
}

// hangUp reads requests and closes the connection without an answer,
// counting the requests it saw.
func hangUp(t *testing.T, seen *atomic.Int64) string {
	return rawServer(t, func(c net.Conn) {
		if _, err := http.ReadRequest(bufio.NewReader(c)); err == nil {
			seen.Add(1)
		}
	})
}

func TestFastNeverRetries(t *testing.T) {
	t.Parallel()
	var seen atomic.Int64
	addr := hangUp(t, &seen)
	// GET is idempotent: fasthttp would retry it by default.
	res := run(t, Config{Targets: []string{"http://" + addr}, Stages: steady(50, s), Workload: listOnly, MaxInFlight: 8, Timeout: s})
	require.Positive(t, res.Sent)
	assert.Equal(t, res.Sent, seen.Load(), "the server saw each request once")
	assert.Equal(t, res.Sent, res.ByStatus["error"])
	assert.Equal(t, res.Sent, res.Errors)
}

// The twin of TestFastNeverRetries: with fasthttp's defaults the same server
// sees a request more than once, so that test would catch a retry.
func TestFastDefaultsRetryAHangUp(t *testing.T) {
	var seen atomic.Int64
	hc := &fasthttp.HostClient{Addr: hangUp(t, &seen)}
	req, resp := fasthttp.AcquireRequest(), fasthttp.AcquireResponse()
	defer fasthttp.ReleaseRequest(req)
	defer fasthttp.ReleaseResponse(resp)
	req.SetRequestURI("http://" + hc.Addr + "/tasks")
	require.Error(t, hc.DoTimeout(req, resp, 5*s))
	assert.Greater(t, seen.Load(), int64(1))
}

func TestConnSetClosesWhatIsOpenAndRefusesMore(t *testing.T) {
	closed := make(chan struct{}, 2)
	addr := rawServer(t, func(c net.Conn) {
		_, _ = io.Copy(io.Discard, c) // until the client closes
		closed <- struct{}{}
	})
	set := newConnSet(context.Background(), s)

	kept, err := set.dial(addr, 0)
	require.NoError(t, err)
	gone, err := set.dial(addr, time.Millisecond*500)
	require.NoError(t, err)
	require.NoError(t, gone.Close())
	<-closed
	set.mu.Lock()
	assert.Len(t, set.open, 1, "a closed connection leaves the set")
	set.mu.Unlock()

	set.closeAll()
	select {
	case <-closed:
	case <-time.After(5 * s):
		t.Fatal("the open connection was not closed")
	}
	_, err = kept.Read(make([]byte, 1))
	assert.ErrorIs(t, err, net.ErrClosed)
	_, err = set.dial(addr, 0)
	assert.ErrorIs(t, err, net.ErrClosed, "no connection after the run")
}

// sleepyServer answers GET /ms/N after N milliseconds, or when the client
// goes away, and counts the connections it accepted.
func sleepyServer(t *testing.T, conns *atomic.Int64) string {
	srv := httptest.NewUnstartedServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		ms, _ := strconv.Atoi(strings.TrimPrefix(r.URL.Path, "/ms/"))
		select {
		case <-time.After(time.Duration(ms) * time.Millisecond):
			_, _ = io.WriteString(w, "ok")
		case <-r.Context().Done():
		}
	}))
	srv.Config.ConnState = func(_ net.Conn, st http.ConnState) {
		if st == http.StateNew {
			conns.Add(1)
		}
	}
	srv.Start()
	t.Cleanup(srv.Close)
	return srv.URL
}

func get(w *worker, path string) (time.Duration, error) {
	start := time.Now()
	_, _, err := w.sendFast(0, &workload.Request{Method: "GET", Path: []byte(path)})
	return time.Since(start), err
}

func TestFastRequestGetsItsWholeTimeout(t *testing.T) {
	t.Parallel()
	const timeout = 300 * time.Millisecond
	var conns atomic.Int64
	w := fastWorkerTimeout(t, sleepyServer(t, &conns), timeout)

	// The first request sets the connection's deadline; the second starts
	// within the slack and does not move it; the third does; the fourth
	// comes after the deadline passed while the connection was idle.
	for i, path := range []string{"/ms/0", "/ms/240", "/ms/240", "sleep", "/ms/240"} {
		if path == "sleep" {
			time.Sleep(timeout + deadlineSlack(timeout))
			continue
		}
		_, err := get(w, path)
		require.NoError(t, err, "request %d", i)
	}
	assert.EqualValues(t, 1, conns.Load(), "one connection carried every request")
}

func TestFastRequestPastItsTimeoutEndsItsConnection(t *testing.T) {
	t.Parallel()
	const timeout = 200 * time.Millisecond
	var conns atomic.Int64
	w := fastWorkerTimeout(t, sleepyServer(t, &conns), timeout)

	_, err := get(w, "/ms/0")
	require.NoError(t, err)
	took, err := get(w, "/ms/60000")
	require.Error(t, err)
	assert.Equal(t, timedOut, w.classify(err), "%v", err)
	assert.GreaterOrEqual(t, took, timeout)
	assert.Less(t, took, timeout+deadlineSlack(timeout)+200*time.Millisecond, "ended soon after its timeout")

	_, err = get(w, "/ms/0")
	require.NoError(t, err, "the next request goes out on a fresh connection")
	assert.EqualValues(t, 2, conns.Load(), "the timed-out connection was not reused")
}

func TestDeadlineSlack(t *testing.T) {
	assert.Equal(t, time.Millisecond, deadlineSlack(5*time.Millisecond))
	assert.Equal(t, 20*time.Millisecond, deadlineSlack(200*time.Millisecond))
	assert.Equal(t, 100*time.Millisecond, deadlineSlack(5*s))
}
