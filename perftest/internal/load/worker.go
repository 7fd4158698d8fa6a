package load

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"io"
	"net"
	"net/http"
	"net/url"
	"strconv"
	"time"

	"github.com/valyala/fasthttp"
)

// errTimeout is the cancel cause of a net/http request that ran past Config.Timeout.
var errTimeout = errors.New("request timeout")

// Request headers of the net/http path, shared read-only by every request.
var (
	headerPlain = http.Header{"User-Agent": {userAgent}}
	headerJSON  = http.Header{"User-Agent": {userAgent}, "Content-Type": {"application/json"}}
)

// maxKeptBody is how much of a response body the net/http path keeps; the
// rest is read and dropped.
const maxKeptBody = 64 << 10

// request is one request to send, its path already under the target's prefix.
type request struct {
	method, path, query string
	body                []byte // nil for none
}

// worker sends one request at a time, over fasthttp or net/http.
type worker struct {
	r    *runner
	body []byte // the request body being sent

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
	buf     []byte
}

func newWorker(r *runner) *worker {
	w := &worker{r: r, body: make([]byte, 0, 64)}
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
	o := j.op
	var t task
	if o == opGet || o == opUpdate || o == opDelete {
		var ok bool
		if t, ok = r.pool.pick(j.rnd, o == opDelete); !ok {
			o = opCreate
		}
	}

	ti := r.pickTarget()
	rq := request{path: t.path}
	switch o {
	case opList:
		rq.method, rq.path, rq.query = http.MethodGet, "/tasks", "limit=20"
		if j.rnd&1 == 1 {
			if after, ok := r.pool.pick(j.rnd>>1, false); ok {
				rq.query = after.after
			}
		}
	case opGet:
		rq.method = http.MethodGet
	case opCreate:
		rq.method, rq.path = http.MethodPost, "/tasks"
		rq.body = w.setBody(j.n, "")
	case opUpdate:
		rq.method = http.MethodPut
		rq.body = w.setBody(j.n, " updated")
	case opDelete:
		rq.method = http.MethodDelete
	}
	rq.path = r.cfg.targets[ti].prefix + rq.path

	sentAt := time.Since(r.start)
	var code int
	var body []byte
	var err error
	if r.fast != nil {
		code, body, err = w.sendFast(ti, &rq)
	} else {
		code, body, err = w.sendHTTP(ti, &rq)
	}
	doneAt := time.Since(r.start)

	oc := gotResponse
	if err != nil {
		oc = w.classify(err)
	}
	if oc == gotResponse && o == opCreate && code == http.StatusCreated {
		if t, ok := parseCreated(body); ok {
			r.pool.add(t, j.rnd>>8)
		}
	}

	// From the intended time when the request went out late, from the actual
	// send when the pacer released it early.
	begin := min(j.at, sentAt)
	sec := min(int(j.at/time.Second), len(r.seconds)-1)
	r.rec.add(o, sec, j.at, doneAt-begin, sentAt-j.at, code, oc)
	r.release(ti)
}

// setBody makes the request body {"task":"perf <n><suffix>"}.
func (w *worker) setBody(n uint64, suffix string) []byte {
	b := append(w.body[:0], `{"task":"perf `...)
	b = strconv.AppendUint(b, n, 10)
	b = append(b, suffix...)
	b = append(b, `"}`...)
	w.body = b
	return b
}

// sendFast sends rq to target ti with fasthttp. The body it returns is
// valid until the worker's next request.
func (w *worker) sendFast(ti int, rq *request) (int, []byte, error) {
	r := w.r
	if err := r.runCtx.Err(); err != nil {
		return 0, nil, err
	}
	req, resp := w.freq, w.fresp
	req.Reset()
	req.Header.SetMethod(rq.method)
	req.Header.SetHost(r.cfg.targets[ti].host)
	u := append(w.uri[:0], rq.path...)
	if rq.query != "" {
		u = append(u, '?')
		u = append(u, rq.query...)
	}
	w.uri = u
	req.SetRequestURIBytes(u)
	if rq.body != nil {
		req.Header.SetContentType("application/json")
		req.SetBody(rq.body)
	}
	if err := r.fast[ti].DoTimeout(req, resp, r.cfg.Timeout); err != nil {
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
	w.body = make([]byte, 0, 64)
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
		Header:     headerPlain,
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
func (w *worker) sendHTTP(ti int, rq *request) (int, []byte, error) {
	r := w.r
	tg := &r.cfg.targets[ti]
	u, req := w.url, w.req
	u.Scheme, u.Host, u.Path, u.RawQuery = tg.scheme, tg.host, rq.path, rq.query
	req.Method = rq.method
	if rq.body != nil {
		w.bodyR.Reset(rq.body)
		req.Header, req.Body, req.GetBody, req.ContentLength = headerJSON, w.bodyRC, w.getBody, int64(len(rq.body))
	} else {
		req.Header, req.Body, req.GetBody, req.ContentLength = headerPlain, nil, nil, 0
	}

	w.timer.Reset(r.cfg.Timeout)
	resp, err := r.client.Do(req)
	code, kept := 0, 0
	if err == nil {
		code = resp.StatusCode
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

// parseCreated reads the id of a created task, a JSON number or string.
func parseCreated(body []byte) (task, bool) {
	var v struct {
		ID json.RawMessage `json:"id"`
	}
	if json.Unmarshal(body, &v) != nil || len(v.ID) == 0 {
		return task{}, false
	}
	var id string
	if v.ID[0] == '"' {
		if json.Unmarshal(v.ID, &id) != nil {
			return task{}, false
		}
	} else {
		var num json.Number
		if json.Unmarshal(v.ID, &num) != nil {
			return task{}, false
		}
		id = num.String()
	}
	if id == "" {
		return task{}, false
	}
	return task{path: "/tasks/" + url.PathEscape(id), after: "limit=20&after=" + url.QueryEscape(id)}, true
}
