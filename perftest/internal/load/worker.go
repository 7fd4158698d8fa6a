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
)

// errTimeout is the cancel cause of a request that ran past Config.Timeout.
var errTimeout = errors.New("request timeout")

// Request headers, shared read-only by every request.
var (
	headerPlain = http.Header{"User-Agent": {"perfgate-load"}}
	headerJSON  = http.Header{"User-Agent": {"perfgate-load"}, "Content-Type": {"application/json"}}
)

// maxKeptBody is how much of a response body a worker reads into its buffer;
// the rest is drained unread.
const maxKeptBody = 64 << 10

// worker sends one request at a time. It reuses its request, URL, body and
// context between requests, which net/http allows once the response body is
// closed; after a failed request it builds them afresh, since the transport
// may still hold the old ones.
type worker struct {
	r *runner

	ctx    context.Context
	cancel context.CancelCauseFunc
	timer  *time.Timer // cancels ctx after Timeout

	req     *http.Request
	url     *url.URL
	body    []byte
	bodyR   *bytes.Reader
	bodyRC  io.ReadCloser
	getBody func() (io.ReadCloser, error)
	buf     []byte
}

func newWorker(r *runner) *worker {
	w := &worker{r: r, buf: make([]byte, 4<<10)}
	w.renew()
	return w
}

// renew gives the worker a fresh context, request and body.
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

func (w *worker) close() {
	if w.cancel != nil {
		w.timer.Stop()
		w.cancel(context.Canceled)
	}
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
	tg := &r.cfg.targets[ti]
	u, req := w.url, w.req
	u.Scheme, u.Host, u.RawQuery = tg.scheme, tg.host, ""
	req.Header, req.Body, req.GetBody, req.ContentLength = headerPlain, nil, nil, 0
	path := t.path
	switch o {
	case opList:
		req.Method, path = http.MethodGet, "/tasks"
		u.RawQuery = "limit=20"
		if j.rnd&1 == 1 {
			if after, ok := r.pool.pick(j.rnd>>1, false); ok {
				u.RawQuery = after.after
			}
		}
	case opGet:
		req.Method = http.MethodGet
	case opCreate:
		req.Method, path = http.MethodPost, "/tasks"
		w.setBody(j.n, "")
	case opUpdate:
		req.Method = http.MethodPut
		w.setBody(j.n, " updated")
	case opDelete:
		req.Method = http.MethodDelete
	}
	u.Path = tg.prefix + path

	w.timer.Reset(r.cfg.Timeout)
	sentAt := time.Since(r.start)
	resp, err := r.client.Do(req)
	code, kept := 0, 0
	if err == nil {
		code = resp.StatusCode
		kept, err = w.read(resp.Body)
		_ = resp.Body.Close()
	}
	doneAt := time.Since(r.start)
	fired := !w.timer.Stop()

	oc := gotResponse
	if err != nil {
		oc = w.classify(err)
	}
	if err != nil || fired {
		w.renew()
	}
	if oc == gotResponse && o == opCreate && code == http.StatusCreated {
		if t, ok := parseCreated(w.buf[:kept]); ok {
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
func (w *worker) setBody(n uint64, suffix string) {
	b := append(w.body[:0], `{"task":"perf `...)
	b = strconv.AppendUint(b, n, 10)
	b = append(b, suffix...)
	b = append(b, `"}`...)
	w.body = b
	w.bodyR.Reset(b)
	req := w.req
	req.Header = headerJSON
	req.Body = w.bodyRC
	req.GetBody = w.getBody
	req.ContentLength = int64(len(b))
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
	if errors.Is(context.Cause(w.ctx), errTimeout) {
		return timedOut
	}
	if w.r.userCtx.Err() != nil {
		return canceled
	}
	if w.r.runCtx.Err() != nil { // the run's own deadline: past any request's Timeout
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
