package load

import (
	"bytes"
	"context"
	"errors"
	"io"
	"net"
	"net/http"
	"net/textproto"
	"net/url"
	"time"

	"github.com/perfgate/perfgate/perftest/internal/workload"
	"github.com/valyala/fasthttp"
)

// errTimeout is the cancel cause of a net/http request that ran past Config.Timeout.
var errTimeout = errors.New("request timeout")

// maxKeptBody is how much of a response body the net/http path keeps; the
// rest is read and dropped.
const maxKeptBody = 64 << 10

// worker sends one request at a time, over fasthttp or net/http.
type worker struct {
	r     *runner
	rq    workload.Request // the request being sent, built into reused buffers
	stale bool             // rq's buffers may still be read by a failed request

	// fasthttp path: one request and response, reused for every request.
	freq  *fasthttp.Request
	fresp *fasthttp.Response
	uri   []byte

	// net/http path. The request, URL, body reader and context are reused
	// between requests, which net/http allows once the response body is
	// closed; after a failed request they are built afresh, since the
	// transport may still hold the old ones.
	ctx     context.Context
	cancel  context.CancelCauseFunc
	timer   *time.Timer // cancels ctx after Timeout
	req     *http.Request
	url     *url.URL
	bodyR   *bytes.Reader
	bodyRC  io.ReadCloser
	getBody func() (io.ReadCloser, error)
	body    []byte        // the body being sent, for getBody
	headers []http.Header // per template, built on first use
	respHdr http.Header   // of the last response
	target  []byte        // the target's prefix and the path
	opaque  string        // the last target as a string, reused while it repeats
	query   string        // the last query, likewise
	buf     []byte
}

func newWorker(r *runner) *worker {
	w := &worker{r: r}
	if r.fast != nil {
		w.freq, w.fresp, w.uri = fasthttp.AcquireRequest(), fasthttp.AcquireResponse(), make([]byte, 0, 128)
	} else {
		w.buf = make([]byte, 4<<10)
		w.renew()
	}
	return w
}

func (w *worker) do(j job) {
	r := w.r
	if w.stale {
		w.rq, w.stale = workload.Request{}, false
	}
	rq := &w.rq
	r.session.Build(rq, j.tmp, j.n, j.rnd)
	ti := r.pickTarget(rq.Pinned)
	rq.SentTo = ti

	sentAt := time.Since(r.start)
	var code int
	var body []byte
	var err error
	var hdr workload.Peeker
	if r.fast != nil {
		code, body, err = w.sendFast(ti, rq)
		hdr = fastHeader{&w.fresp.Header}
	} else {
		code, body, err = w.sendHTTP(ti, rq)
		hdr = httpHeader(w.respHdr)
	}
	doneAt := time.Since(r.start)

	oc := gotResponse
	if err != nil {
		oc = w.classify(err)
	}
	expected := oc == gotResponse && r.session.Done(rq, code, body, hdr)

	// From the intended time when the request went out late, from the actual
	// send when the pacer released it early.
	begin := min(j.at, sentAt)
	sec := min(int(j.at/time.Second), len(r.seconds)-1)
	stray := oc == gotResponse && code == http.StatusNotFound && rq.Carried
	r.rec.add(rq.Template, rq.Planned, ti, sec, j.at, doneAt-begin, sentAt-j.at, code, oc, expected, stray)
	r.release(ti)
}

// fastHeader reads a fasthttp response header by name in any case: header
// names arrive as the server wrote them.
type fastHeader struct{ h *fasthttp.ResponseHeader }

func (f fastHeader) Peek(name string) []byte {
	if v := f.h.Peek(name); len(v) > 0 {
		return v
	}
	for k, v := range f.h.All() {
		if len(k) == len(name) && bytes.EqualFold(k, []byte(name)) {
			return v
		}
	}
	return nil
}

// httpHeader reads a net/http response header by name.
type httpHeader http.Header

func (h httpHeader) Peek(name string) []byte {
	if v := http.Header(h).Get(name); v != "" {
		return []byte(v)
	}
	return nil
}

// sendFast sends rq to target ti with fasthttp. The body it returns is
// valid until the worker's next request.
func (w *worker) sendFast(ti int, rq *workload.Request) (int, []byte, error) {
	r := w.r
	if err := r.runCtx.Err(); err != nil {
		return 0, nil, err
	}
	req, resp := w.freq, w.fresp
	req.Reset()
	req.Header.SetMethod(rq.Method)
	tg := &r.cfg.targets[ti]
	req.Header.SetHost(tg.host)
	u := append(w.uri[:0], tg.prefix...)
	u = append(u, rq.Path...)
	if len(rq.Query) > 0 {
		u = append(u, '?')
		u = append(u, rq.Query...)
	}
	w.uri = u
	req.SetRequestURIBytes(u)
	for _, h := range rq.Headers {
		req.Header.SetBytesV(h.Name, h.Value)
	}
	if rq.Body != nil {
		req.SetBody(rq.Body)
	}
	// The connection bounds the request by Timeout (see trackedConn): a
	// timeout here would set two deadlines on it for every request.
	if err := r.fast[ti].Do(req, resp); err != nil {
		return 0, nil, err
	}
	return resp.StatusCode(), resp.Body(), nil
}

// renew gives the net/http path a fresh context, request and body reader.
func (w *worker) renew() {
	w.close()
	ctx, cancel := context.WithCancelCause(w.r.runCtx)
	w.ctx, w.cancel = ctx, cancel
	w.timer = time.AfterFunc(time.Hour, func() { cancel(errTimeout) })
	w.timer.Stop()
	w.url = &url.URL{}
	w.bodyR = bytes.NewReader(nil)
	// The transport may still read the last request's body and headers:
	// the next are built into buffers of their own.
	w.stale = true
	w.body = nil
	w.headers = nil
	w.bodyRC = io.NopCloser(w.bodyR)
	// The transport replays a body only within the request's own RoundTrip,
	// while w.body still holds it.
	w.getBody = func() (io.ReadCloser, error) { return io.NopCloser(bytes.NewReader(w.body)), nil }
	w.req = (&http.Request{
		Method:     http.MethodGet,
		URL:        w.url,
		Proto:      "HTTP/1.1",
		ProtoMajor: 1,
		ProtoMinor: 1,
	}).WithContext(ctx)
}

// close releases the worker's request and response, or the net/http
// path's context and timer.
func (w *worker) close() {
	if w.freq != nil {
		fasthttp.ReleaseRequest(w.freq)
		fasthttp.ReleaseResponse(w.fresp)
		w.freq, w.fresp = nil, nil
	}
	if w.cancel != nil {
		w.timer.Stop()
		w.cancel(context.Canceled)
	}
}

// sendHTTP sends rq to target ti with net/http.
func (w *worker) sendHTTP(ti int, rq *workload.Request) (int, []byte, error) {
	r := w.r
	tg := &r.cfg.targets[ti]
	u, req := w.url, w.req
	// The path goes out as it is, escapes and all: as the URL's opaque part.
	w.target = append(append(w.target[:0], tg.prefix...), rq.Path...)
	if string(w.target) != w.opaque {
		w.opaque = string(w.target)
	}
	if string(rq.Query) != w.query {
		w.query = string(rq.Query)
	}
	u.Scheme, u.Host, u.Opaque, u.RawQuery = tg.scheme, tg.host, w.opaque, w.query
	req.Method = rq.Method
	req.Header = w.header(rq)
	if rq.Body != nil {
		w.body = rq.Body
		w.bodyR.Reset(rq.Body)
		req.Body, req.GetBody, req.ContentLength = w.bodyRC, w.getBody, int64(len(rq.Body))
	} else {
		req.Body, req.GetBody, req.ContentLength = nil, nil, 0
	}

	w.timer.Reset(r.cfg.Timeout)
	resp, err := r.client.Do(req)
	code, kept := 0, 0
	w.respHdr = nil
	if err == nil {
		code, w.respHdr = resp.StatusCode, resp.Header
		kept, err = w.read(resp.Body)
		_ = resp.Body.Close()
	}
	fired := !w.timer.Stop()
	if err != nil {
		err = w.timeoutCause(err)
	}
	if err != nil || fired {
		w.renew()
	}
	return code, w.buf[:kept], err
}

// timeoutCause marks an error of a request that ran past its timeout.
func (w *worker) timeoutCause(err error) error {
	if errors.Is(context.Cause(w.ctx), errTimeout) {
		return errors.Join(errTimeout, err)
	}
	return err
}

// read reads body into the worker's buffer, up to maxKeptBody, and drains
// the rest so the connection can be reused.
func (w *worker) read(body io.Reader) (int, error) {
	n := 0
	for {
		if n == len(w.buf) {
			if len(w.buf) >= maxKeptBody {
				_, err := io.Copy(io.Discard, body)
				return n, err
			}
			w.buf = append(w.buf, make([]byte, len(w.buf))...)
		}
		m, err := body.Read(w.buf[n:])
		n += m
		if err == io.EOF {
			return n, nil
		}
		if err != nil {
			return n, err
		}
	}
}

// classify tells a timeout or a cancellation by the caller from a transport error.
func (w *worker) classify(err error) outcome {
	if errors.Is(err, errTimeout) {
		return timedOut
	}
	if w.r.userCtx.Err() != nil {
		return canceled
	}
	if w.r.runCtx.Err() != nil { // the run's own bound: past any request's Timeout
		return timedOut
	}
	if errors.Is(err, fasthttp.ErrTimeout) {
		return timedOut
	}
	var ne net.Error
	if errors.As(err, &ne) && ne.Timeout() {
		return timedOut
	}
	return transportError
}

// header returns the net/http request header of rq: one map per template,
// kept by the worker, whose values are set afresh only where they changed.
func (w *worker) header(rq *workload.Request) http.Header {
	if w.headers == nil {
		w.headers = make([]http.Header, len(w.r.cfg.program.Names()))
	}
	h := w.headers[rq.Template]
	if h == nil {
		h = make(http.Header, len(rq.Headers)+1)
		h["User-Agent"] = []string{userAgent}
		w.headers[rq.Template] = h
	}
	for _, hd := range rq.Headers {
		key := textproto.CanonicalMIMEHeaderKey(hd.Name)
		if v, ok := h[key]; ok && len(v) == 1 && v[0] == string(hd.Value) {
			continue
		}
		h[key] = []string{string(hd.Value)}
	}
	return h
}
