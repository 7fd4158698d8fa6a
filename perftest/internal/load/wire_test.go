package load

import (
	"bufio"
	"context"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
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

func wireConnForTest() *wireConn {
	return &wireConn{buf: make([]byte, 64), body: make([]byte, 0, 16)} // small, to exercise growth
}

func TestWireRequestIsValidHTTP(t *testing.T) {
	got := make(chan *http.Request, 1)
	bodies := make(chan string, 1)
	addr := rawServer(t, func(c net.Conn) {
		req, err := http.ReadRequest(bufio.NewReader(c))
		if err != nil {
			close(got)
			return
		}
		body, _ := io.ReadAll(req.Body)
		got <- req
		bodies <- string(body)
		_, _ = io.WriteString(c, "HTTP/1.1 201 Created\r\nContent-Length: 2\r\n\r\nok")
	})
	c, err := net.Dial("tcp", addr)
	require.NoError(t, err)
	defer func() { _ = c.Close() }()

	wc := wireConnForTest()
	code, keep, _, err := wc.roundTrip(c, addr, &wireRequest{method: "POST", path: "/base/tasks", query: "limit=20&after=3", body: []byte(`{"task":"perf 7"}`)})
	require.NoError(t, err)
	assert.Equal(t, 201, code)
	assert.True(t, keep)
	assert.Equal(t, "ok", string(wc.body))

	req := <-got
	require.NotNil(t, req, "Go's server parses the request")
	assert.Equal(t, "POST", req.Method)
	assert.Equal(t, "/base/tasks?limit=20&after=3", req.RequestURI)
	assert.Equal(t, addr, req.Host)
	assert.Equal(t, "application/json", req.Header.Get("Content-Type"))
	assert.Equal(t, "perfgate-load", req.Header.Get("User-Agent"))
	assert.EqualValues(t, 17, req.ContentLength)
	assert.Equal(t, `{"task":"perf 7"}`, <-bodies)
}

func TestWireReadsResponses(t *testing.T) {
	tests := []struct {
		name     string
		response string
		code     int
		body     string
		keep     bool
		err      string
	}{
		{name: "a Content-Length body", response: "HTTP/1.1 200 OK\r\nContent-Length: 5\r\n\r\nhello", code: 200, body: "hello", keep: true},
		{name: "lower-case header names", response: "HTTP/1.1 200 OK\r\ncontent-length: 2\r\n\r\nok", code: 200, body: "ok", keep: true},
		{name: "bare line feeds", response: "HTTP/1.1 200 OK\nContent-Length: 2\n\nok", code: 200, body: "ok", keep: true},
		{name: "a chunked body with an extension and a trailer",
			response: "HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n5;x=y\r\nhello\r\n6\r\n world\r\n0\r\nX-Trailer: 1\r\n\r\n",
			code:     200, body: "hello world", keep: true},
		{name: "no content", response: "HTTP/1.1 204 No Content\r\n\r\n", code: 204, keep: true},
		{name: "informational responses first",
			response: "HTTP/1.1 100 Continue\r\n\r\nHTTP/1.1 103 Early Hints\r\nLink: </a>\r\n\r\nHTTP/1.1 404 Not Found\r\nContent-Length: 3\r\n\r\nno!",
			code:     404, body: "no!", keep: true},
		{name: "Connection: close", response: "HTTP/1.1 200 OK\r\nConnection: close\r\nContent-Length: 2\r\n\r\nok", code: 200, body: "ok"},
		{name: "HTTP/1.0 without a length reads to the end", response: "HTTP/1.0 200 OK\r\n\r\nall of it", code: 200, body: "all of it"},
		{name: "HTTP/1.0 keep-alive", response: "HTTP/1.0 200 OK\r\nConnection: keep-alive\r\nContent-Length: 2\r\n\r\nok", code: 200, body: "ok", keep: true},
		{name: "bytes beyond the response", response: "HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nokEXTRA", code: 200, body: "ok"},
		{name: "not HTTP", response: "SSH-2.0-OpenSSH_9.6\r\n", err: `malformed HTTP response: status line "SSH-2.0-OpenSSH_9.6"`},
		{name: "a status code that is not a number", response: "HTTP/1.1 2x0 OK\r\n\r\n", err: `malformed HTTP response: status line "HTTP/1.1 2x0 OK"`},
		{name: "a bad length", response: "HTTP/1.1 200 OK\r\nContent-Length: x\r\n\r\n", err: `malformed HTTP response: Content-Length "x"`},
		{name: "two lengths", response: "HTTP/1.1 200 OK\r\nContent-Length: 1\r\nContent-Length: 2\r\n\r\nok", err: `malformed HTTP response: Content-Length "2"`},
		{name: "an unknown transfer encoding", response: "HTTP/1.1 200 OK\r\nTransfer-Encoding: gzip\r\n\r\n", err: `malformed HTTP response: Transfer-Encoding "gzip"`},
		{name: "a bad chunk size", response: "HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\nzz\r\n", err: `malformed HTTP response: chunk size "zz"`},
		{name: "a chunk longer than its size", response: "HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n2\r\nokay\r\n0\r\n\r\n", err: "malformed HTTP response: chunk data longer than its size"},
		{name: "a header line without a colon", response: "HTTP/1.1 200 OK\r\nnonsense\r\n\r\n", err: `malformed HTTP response: header line "nonsense"`},
		{name: "a truncated body", response: "HTTP/1.1 200 OK\r\nContent-Length: 10\r\n\r\nshort", err: "unexpected EOF"},
		{name: "a truncated header section", response: "HTTP/1.1 200 OK\r\nContent-", err: "unexpected EOF"},
		{name: "a header section too large", response: "HTTP/1.1 200 OK\r\nX-Big: " + strings.Repeat("a", maxHeaderBytes) + "\r\n\r\n",
			err: "malformed HTTP response: more than 65536 bytes without a line end"},
		{name: "switching protocols", response: "HTTP/1.1 101 Switching Protocols\r\n\r\n", err: "malformed HTTP response: unexpected 101 Switching Protocols"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			addr := rawServer(t, func(c net.Conn) {
				if _, err := http.ReadRequest(bufio.NewReader(c)); err == nil {
					_, _ = io.WriteString(c, tt.response)
				}
			}) // the connection closes after the response
			c, err := net.Dial("tcp", addr)
			require.NoError(t, err)
			defer func() { _ = c.Close() }()
			require.NoError(t, c.SetDeadline(time.Now().Add(10*time.Second)))

			wc := wireConnForTest()
			code, keep, untouched, err := wc.roundTrip(c, addr, &wireRequest{method: "GET", path: "/tasks"})
			if tt.err != "" {
				require.Error(t, err)
				assert.Equal(t, tt.err, err.Error())
				assert.False(t, untouched, "the server answered something")
				return
			}
			require.NoError(t, err)
			assert.Equal(t, tt.code, code)
			assert.Equal(t, tt.body, string(wc.body))
			assert.Equal(t, tt.keep, keep, "keep-alive")
		})
	}
}

// wireWorker returns a worker on the wire path to base.
func wireWorker(t *testing.T, base string) *worker {
	p, err := Config{Targets: []string{base}, Stages: steady(1, s), Timeout: 5 * s}.prepare()
	require.NoError(t, err)
	r, cancel := newRunner(context.Background(), p)
	t.Cleanup(cancel)
	require.NotNil(t, r.wire, "plain HTTP targets use the wire client")
	return newWorker(r)
}

func TestWireKeepsConnectionsAndBoundsTheKeptBody(t *testing.T) {
	var conns atomic.Int64
	srv := httptest.NewUnstartedServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		_, _ = io.WriteString(w, strings.Repeat("x", 3*maxKeptBody)) // chunked: no length given
	}))
	srv.Config.ConnState = func(_ net.Conn, st http.ConnState) {
		if st == http.StateNew {
			conns.Add(1)
		}
	}
	srv.Start()
	t.Cleanup(srv.Close)
	w := wireWorker(t, srv.URL)

	for range 3 {
		code, body, err := w.sendWire(0, &wireRequest{method: "GET", path: "/tasks"})
		require.NoError(t, err)
		assert.Equal(t, 200, code)
		assert.Len(t, body, maxKeptBody)
	}
	assert.EqualValues(t, 1, conns.Load(), "one keep-alive connection carries every request")
}

func TestWireRetriesAConnectionClosedWhileIdle(t *testing.T) {
	var requests atomic.Int64
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		requests.Add(1)
		w.WriteHeader(http.StatusNoContent)
	}))
	t.Cleanup(srv.Close)
	w := wireWorker(t, srv.URL)

	_, _, err := w.sendWire(0, &wireRequest{method: "DELETE", path: "/tasks/1"})
	require.NoError(t, err)
	srv.CloseClientConnections() // the pooled connection goes stale
	time.Sleep(50 * time.Millisecond)

	code, _, err := w.sendWire(0, &wireRequest{method: "DELETE", path: "/tasks/1"})
	require.NoError(t, err, "the request went out again on a fresh connection")
	assert.Equal(t, 204, code)
	assert.EqualValues(t, 2, requests.Load(), "the server saw each request once")
}

func TestWireRetriesOnlyOnce(t *testing.T) {
	var attempts atomic.Int64
	addr := rawServer(t, func(c net.Conn) {
		br := bufio.NewReader(c)
		for {
			if _, err := http.ReadRequest(br); err != nil {
				return
			}
			if attempts.Add(1) > 1 {
				return // hang up without an answer
			}
			_, _ = io.WriteString(c, "HTTP/1.1 200 OK\r\nContent-Length: 0\r\n\r\n")
		}
	})
	w := wireWorker(t, "http://"+addr)

	_, _, err := w.sendWire(0, &wireRequest{method: "GET", path: "/tasks"})
	require.NoError(t, err)
	_, _, err = w.sendWire(0, &wireRequest{method: "GET", path: "/tasks"})
	require.ErrorIs(t, err, io.EOF)
	assert.EqualValues(t, 3, attempts.Load(), "the first request, the second and its one retry")
}
