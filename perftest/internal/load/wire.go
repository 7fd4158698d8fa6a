package load

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"strconv"
	"sync"
	"syscall"
	"time"
)

// The wire client speaks just enough HTTP/1.1 for the task API over plain
// TCP: one request at a time per keep-alive connection, responses framed by
// Content-Length, chunked encoding or connection close. It exists for CPU:
// on the project's machines a net/http client spends ~40 µs of CPU per
// request on loopback, of which ~20 µs are its own goroutine hand-offs,
// header maps and allocations; the wire client spends under 5 µs on top of
// the system calls. A Config.Client switches it off.

// wirePool keeps the idle connections to one target, most recent first out,
// so that the number of open connections follows the concurrency.
type wirePool struct {
	addr   string
	dialer *net.Dialer

	mu   sync.Mutex
	idle []net.Conn
}

func newWirePool(addr string, timeout time.Duration) *wirePool {
	return &wirePool{addr: addr, dialer: &net.Dialer{Timeout: timeout, KeepAlive: 30 * time.Second}}
}

// get returns an idle connection, or dials one by deadline when there is
// none or fresh is set; reused tells which.
func (p *wirePool) get(ctx context.Context, deadline time.Time, fresh bool) (c net.Conn, reused bool, err error) {
	if !fresh {
		p.mu.Lock()
		if n := len(p.idle); n > 0 {
			c = p.idle[n-1]
			p.idle[n-1] = nil
			p.idle = p.idle[:n-1]
			p.mu.Unlock()
			return c, true, nil
		}
		p.mu.Unlock()
	}
	d := *p.dialer
	d.Deadline = deadline
	c, err = d.DialContext(ctx, "tcp", p.addr)
	return c, false, err
}

func (p *wirePool) put(c net.Conn) {
	p.mu.Lock()
	p.idle = append(p.idle, c)
	p.mu.Unlock()
}

func (p *wirePool) closeIdle() {
	p.mu.Lock()
	idle := p.idle
	p.idle = nil
	p.mu.Unlock()
	for _, c := range idle {
		_ = c.Close()
	}
}

// wireRequest is one request, ready to write.
type wireRequest struct {
	method, path, query string
	body                []byte // nil for none
}

var errWireProtocol = errors.New("malformed HTTP response")

// Response limits: a header section or chunk line beyond them is an error.
const (
	maxHeaderBytes = 64 << 10
	maxLineBytes   = 4 << 10
)

// wireConn reads responses for one worker; its buffers outlive connections.
type wireConn struct {
	out  []byte // the request being written
	buf  []byte // read buffer; unread data is buf[r:w]
	r, w int
	got  int    // bytes read for the current request
	body []byte // the response body, up to maxKeptBody
	conn net.Conn
}

// roundTrip writes rq on c and reads the response. It reports whether the
// connection can carry another request, and whether the failure happened
// before the server sent a single byte (then a fresh connection may retry).
func (wc *wireConn) roundTrip(c net.Conn, host string, rq *wireRequest) (code int, keep, untouched bool, err error) {
	wc.conn, wc.r, wc.w, wc.got, wc.body = c, 0, 0, 0, wc.body[:0]
	b := append(wc.out[:0], rq.method...)
	b = append(b, ' ')
	b = append(b, rq.path...)
	if rq.query != "" {
		b = append(b, '?')
		b = append(b, rq.query...)
	}
	b = append(b, " HTTP/1.1\r\nHost: "...)
	b = append(b, host...)
	b = append(b, "\r\nUser-Agent: perfgate-load\r\n"...)
	if rq.body != nil {
		b = append(b, "Content-Type: application/json\r\nContent-Length: "...)
		b = strconv.AppendInt(b, int64(len(rq.body)), 10)
		b = append(b, "\r\n"...)
	}
	b = append(b, "\r\n"...)
	b = append(b, rq.body...)
	wc.out = b
	if _, err := c.Write(b); err != nil {
		return 0, false, true, err
	}
	code, keep, err = wc.readResponse()
	return code, keep, err != nil && wc.got == 0 && isStale(err), err
}

// isStale tells a connection the server closed while it sat idle.
func isStale(err error) bool {
	return errors.Is(err, io.EOF) || errors.Is(err, syscall.ECONNRESET) || errors.Is(err, syscall.EPIPE)
}

// fill reads more from the connection, growing the buffer up to limit.
func (wc *wireConn) fill(limit int) error {
	if wc.w == len(wc.buf) {
		if wc.r > 0 {
			wc.w = copy(wc.buf, wc.buf[wc.r:wc.w])
			wc.r = 0
		} else if len(wc.buf) >= limit {
			return fmt.Errorf("%w: more than %d bytes without a line end", errWireProtocol, limit)
		} else {
			wc.buf = append(wc.buf, make([]byte, len(wc.buf))...)
		}
	}
	n, err := wc.conn.Read(wc.buf[wc.w:])
	wc.w += n
	wc.got += n
	if n > 0 {
		return nil
	}
	if err == nil {
		err = io.ErrNoProgress
	}
	return err
}

// line returns the next line without its line end.
func (wc *wireConn) line(limit int) ([]byte, error) {
	for {
		if i := bytes.IndexByte(wc.buf[wc.r:wc.w], '\n'); i >= 0 {
			l := wc.buf[wc.r : wc.r+i]
			wc.r += i + 1
			return bytes.TrimSuffix(l, []byte{'\r'}), nil
		}
		if err := wc.fill(limit); err != nil {
			if errors.Is(err, io.EOF) && wc.w > 0 {
				err = io.ErrUnexpectedEOF
			}
			return nil, err
		}
	}
}

// readResponse reads one final response; 1xx responses before it are skipped.
func (wc *wireConn) readResponse() (code int, keep bool, err error) {
	for {
		status, err := wc.line(maxHeaderBytes)
		if err != nil {
			return 0, false, err
		}
		// "HTTP/1.1 200 OK"
		if len(status) < 12 || !bytes.HasPrefix(status, []byte("HTTP/1.")) || status[8] != ' ' {
			return 0, false, fmt.Errorf("%w: status line %q", errWireProtocol, status)
		}
		code = 0
		for _, d := range status[9:12] {
			if d < '0' || d > '9' {
				return 0, false, fmt.Errorf("%w: status line %q", errWireProtocol, status)
			}
			code = code*10 + int(d-'0')
		}
		if code < 100 || (len(status) > 12 && status[12] != ' ') {
			return 0, false, fmt.Errorf("%w: status line %q", errWireProtocol, status)
		}
		keep = status[7] == '1' // HTTP/1.0 closes unless asked otherwise
		length, chunked := int64(-1), false
		for size := len(status); ; {
			h, err := wc.line(maxHeaderBytes)
			if err != nil {
				return 0, false, err
			}
			if size += len(h); size > maxHeaderBytes {
				return 0, false, fmt.Errorf("%w: header section over %d bytes", errWireProtocol, maxHeaderBytes)
			}
			if len(h) == 0 {
				break
			}
			colon := bytes.IndexByte(h, ':')
			if colon <= 0 {
				return 0, false, fmt.Errorf("%w: header line %q", errWireProtocol, h)
			}
			name, value := h[:colon], bytes.TrimSpace(h[colon+1:])
			switch {
			case bytes.EqualFold(name, []byte("Content-Length")):
				n, err := strconv.ParseInt(string(value), 10, 64)
				if err != nil || n < 0 || (length >= 0 && n != length) {
					return 0, false, fmt.Errorf("%w: Content-Length %q", errWireProtocol, value)
				}
				length = n
			case bytes.EqualFold(name, []byte("Transfer-Encoding")):
				if !bytes.EqualFold(value, []byte("chunked")) {
					return 0, false, fmt.Errorf("%w: Transfer-Encoding %q", errWireProtocol, value)
				}
				chunked = true
			case bytes.EqualFold(name, []byte("Connection")):
				if bytes.EqualFold(value, []byte("close")) {
					keep = false
				} else if bytes.EqualFold(value, []byte("keep-alive")) {
					keep = true
				}
			}
		}
		switch {
		case code == 101:
			return 0, false, fmt.Errorf("%w: unexpected 101 Switching Protocols", errWireProtocol)
		case code < 200:
			continue // informational: the final response follows
		case code == 204 || code == 304:
			// no body
		case chunked:
			err = wc.readChunked()
		case length >= 0:
			err = wc.readBody(length)
		default:
			err, keep = wc.readBody(-1), false
		}
		if err != nil {
			return 0, false, err
		}
		// Bytes the server sent ahead of a request would break the next response.
		return code, keep && wc.r == wc.w, nil
	}
}

// readBody reads n bytes of body, or up to EOF when n < 0.
func (wc *wireConn) readBody(n int64) error {
	for n != 0 {
		if wc.r == wc.w {
			wc.r, wc.w = 0, 0
			if err := wc.fill(len(wc.buf)); err != nil {
				if n < 0 && errors.Is(err, io.EOF) {
					return nil
				}
				if errors.Is(err, io.EOF) {
					err = io.ErrUnexpectedEOF
				}
				return err
			}
		}
		chunk := wc.buf[wc.r:wc.w]
		if n >= 0 && int64(len(chunk)) > n {
			chunk = chunk[:n]
		}
		if room := maxKeptBody - len(wc.body); room > 0 {
			wc.body = append(wc.body, chunk[:min(room, len(chunk))]...)
		}
		wc.r += len(chunk)
		if n > 0 {
			n -= int64(len(chunk))
		}
	}
	return nil
}

// readChunked reads a chunked body and its trailer section.
func (wc *wireConn) readChunked() error {
	for {
		l, err := wc.line(maxLineBytes)
		if err != nil {
			return err
		}
		if i := bytes.IndexByte(l, ';'); i >= 0 {
			l = l[:i]
		}
		size, err := strconv.ParseInt(string(bytes.TrimSpace(l)), 16, 64)
		if err != nil || size < 0 {
			return fmt.Errorf("%w: chunk size %q", errWireProtocol, l)
		}
		if size == 0 {
			for {
				t, err := wc.line(maxHeaderBytes)
				if err != nil {
					return err
				}
				if len(t) == 0 {
					return nil
				}
			}
		}
		if err := wc.readBody(size); err != nil {
			return err
		}
		if crlf, err := wc.line(maxLineBytes); err != nil {
			return err
		} else if len(crlf) != 0 {
			return fmt.Errorf("%w: chunk data longer than its size", errWireProtocol)
		}
	}
}
