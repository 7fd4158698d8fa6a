package load

import (
	"context"
	"net"
	"sync"
	"time"

	"github.com/valyala/fasthttp"
)

// Plain-HTTP targets get a fasthttp client by default, for CPU: on the
// project's machines a net/http client spends ~40 µs of CPU per request on
// loopback, much of it in goroutine hand-offs, header maps and allocations
// that fasthttp's reused requests, responses and buffers avoid. The
// generator shares two cores with the service it measures, so its CPU per
// request is noise in the service's figures. A Config.Client switches it off.

// userAgent names the generator in every request.
const userAgent = "perfgate-load"

// maxResponseBody bounds a response body on the fasthttp path, which reads
// bodies whole: a larger one counts as a transport error rather than
// holding megabytes in each of up to MaxInFlight workers.
const maxResponseBody = 4 << 20

// newHostClient returns the client of one plain-HTTP target at addr
// (host:port), with a connection for each request that may be in flight.
func newHostClient(addr string, p prepared, conns *connSet) *fasthttp.HostClient {
	return &fasthttp.HostClient{
		Addr:        addr,
		Name:        userAgent,
		DialTimeout: conns.dial,
		MaxConns:    p.MaxInFlight,
		// Only a connection being closed while another is wanted makes a
		// request wait, and never beyond its own timeout.
		MaxConnWaitTimeout: p.Timeout,
		// Most recently used first, so that the number of open connections
		// follows the concurrency and idle ones expire.
		ConnPoolStrategy: fasthttp.LIFO,
		// A request that meets a connection the server closed while idle is
		// not retried, so idle connections close before common servers'
		// idle timeouts (Node's is 5 s) would.
		MaxIdleConnDuration: 2 * time.Second,
		// No ReadTimeout or WriteTimeout: the connection bounds each
		// request by Timeout itself (see trackedConn).
		MaxResponseBodySize: maxResponseBody,
		// The generator reads no response header by name, and its paths are
		// escaped already: normalizing them would decode an id's "%2F".
		DisableHeaderNamesNormalizing: true,
		DisablePathNormalizing:        true,
		// Every request the server may have seen counts once: a retry would
		// send a create or delete twice and hide a failure from the figures.
		RetryIfErr: func(*fasthttp.Request, int, error) (resetTimeout, retry bool) { return false, false },
	}
}

// connSet dials and tracks the connections of the fasthttp path. fasthttp
// takes no context, so ending a run closes every connection, which makes the
// requests in flight on them fail at once.
type connSet struct {
	ctx     context.Context
	dialer  net.Dialer
	timeout time.Duration // bounds each request
	slack   time.Duration // how much later than timeout a request may end

	mu     sync.Mutex
	open   map[*trackedConn]struct{}
	closed bool
}

func newConnSet(ctx context.Context, timeout time.Duration) *connSet {
	return &connSet{
		ctx:     ctx,
		dialer:  net.Dialer{Timeout: timeout, KeepAlive: 30 * time.Second},
		timeout: timeout,
		slack:   deadlineSlack(timeout),
		open:    map[*trackedConn]struct{}{},
	}
}

// deadlineSlack is how far past its Timeout a request may run before its
// connection's deadline ends it: a tenth of the timeout, within 1–100 ms. A
// connection moves its deadline at most once per slack, not twice per request.
func deadlineSlack(timeout time.Duration) time.Duration {
	return min(max(timeout/10, time.Millisecond), 100*time.Millisecond)
}

// dial is a fasthttp.DialFuncWithTimeout; a zero timeout means the dialer's.
func (s *connSet) dial(addr string, timeout time.Duration) (net.Conn, error) {
	d := s.dialer
	if timeout > 0 && timeout < d.Timeout {
		d.Timeout = timeout
	}
	began := time.Now()
	c, err := d.DialContext(s.ctx, "tcp", addr)
	if err != nil {
		return nil, err
	}
	// The request that dialed counts from the dial: its first write does
	// not start a request of its own.
	tc := &trackedConn{Conn: c, set: s, raw: newRawConn(c), writing: true}
	if err := tc.bound(began); err != nil {
		_ = c.Close()
		return nil, err
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.closed {
		_ = c.Close()
		return nil, net.ErrClosed
	}
	s.open[tc] = struct{}{}
	return tc, nil
}

// closeAll closes every open connection and refuses new ones.
func (s *connSet) closeAll() {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.closed = true
	for c := range s.open {
		_ = c.Conn.Close()
	}
	clear(s.open)
}

// trackedConn leaves its set when closed, and bounds every request on it by
// the set's timeout. fasthttp writes a request whole, then reads its
// response, so the first Write after a Read starts a request. Its deadline
// then must lie between start+timeout and start+timeout+slack; the
// connection's deadline, set for an earlier request, usually does, and moves
// only when it falls short. An overdue request fails with a timeout, and
// fasthttp closes a connection whose request failed.
//
// Reads and writes go through raw system calls where the platform allows
// (see rawConn): the socket is non-blocking, so they never block the thread.
type trackedConn struct {
	net.Conn
	set      *connSet
	raw      *rawConn  // nil: plain net.Conn reads and writes
	deadline time.Time // the connection's read and write deadline
	writing  bool      // a request is being written: a Write continues it
}

func (c *trackedConn) Write(b []byte) (int, error) {
	if !c.writing {
		c.writing = true
		if err := c.bound(time.Now()); err != nil {
			return 0, err
		}
	}
	if c.raw != nil {
		return c.raw.write(c.Conn, b)
	}
	return c.Conn.Write(b)
}

func (c *trackedConn) Read(b []byte) (int, error) {
	c.writing = false
	if c.raw != nil {
		return c.raw.read(c.Conn, b)
	}
	return c.Conn.Read(b)
}

// bound makes the deadline fit a request that started at start.
func (c *trackedConn) bound(start time.Time) error {
	if !c.deadline.Before(start.Add(c.set.timeout)) {
		return nil
	}
	c.deadline = start.Add(c.set.timeout + c.set.slack)
	return c.Conn.SetDeadline(c.deadline)
}

// SetDeadline, SetReadDeadline and SetWriteDeadline leave the deadline to
// the connection: fasthttp, with no timeouts of its own, only clears it on a
// new connection's first request, which would leave that request unbounded.
func (c *trackedConn) SetDeadline(time.Time) error      { return nil }
func (c *trackedConn) SetReadDeadline(time.Time) error  { return nil }
func (c *trackedConn) SetWriteDeadline(time.Time) error { return nil }

func (c *trackedConn) Close() error {
	c.set.mu.Lock()
	delete(c.set.open, c)
	c.set.mu.Unlock()
	return c.Conn.Close()
}
