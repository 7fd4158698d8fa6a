// Package telemetry measures the service: a private Prometheus registry, HTTP metrics and access logs, and this process's own CPU and memory.
package telemetry

import (
	"log/slog"
	"net/http"
	"strings"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/promhttp"
)

// DurationBuckets suit an API answering in milliseconds: fine steps from
// 0.25 ms to 100 ms, where SLOs sit, then coarse ones to 10 s so injected
// latency and lock waits still land in a bucket.
var DurationBuckets = []float64{
	.00025, .0005, .001, .0025, .005, .01, .025, .05, .1, .25, .5, 1, 2.5, 5, 10,
}

// Unmatched is the route label of requests that no route pattern matched.
const Unmatched = "unmatched"

// OtherMethod is the method label of requests with a non-standard method.
const OtherMethod = "other"

// HTTP holds the request metrics, labelled by method and route, never by raw
// path, so a client cannot create series at will.
type HTTP struct {
	Requests *prometheus.CounterVec
	Duration *prometheus.HistogramVec
	InFlight prometheus.Gauge

	routes map[string]string
}

// NewHTTP registers the request metrics on reg. routes are the path patterns
// (without method) that may appear as route labels, such as "/tasks/{id}".
func NewHTTP(reg prometheus.Registerer, routes ...string) *HTTP {
	h := &HTTP{
		Requests: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "tasksvc_http_requests_total",
			Help: "HTTP requests answered, by method, route pattern and status code.",
		}, []string{"method", "route", "code"}),
		Duration: prometheus.NewHistogramVec(prometheus.HistogramOpts{
			Name:    "tasksvc_http_request_duration_seconds",
			Help:    "Time from request headers read to handler return, by method and route pattern.",
			Buckets: DurationBuckets,
		}, []string{"method", "route"}),
		InFlight: prometheus.NewGauge(prometheus.GaugeOpts{
			Name: "tasksvc_http_requests_in_flight",
			Help: "HTTP requests being served right now.",
		}),
		routes: map[string]string{},
	}
	for _, r := range routes {
		h.routes[r] = r
	}
	reg.MustRegister(h.Requests, h.Duration, h.InFlight)
	return h
}

// Route returns the route label of a request that went through a ServeMux:
// its matched pattern without the method, or Unmatched. It must be called
// after the mux has served r, because the mux sets r.Pattern.
func (h *HTTP) Route(r *http.Request) string {
	p := r.Pattern
	if i := strings.IndexByte(p, ' '); i >= 0 {
		p = p[i+1:]
	}
	if route, ok := h.routes[p]; ok {
		return route
	}
	return Unmatched
}

// Method returns the method label: the standard method names as they are,
// anything else as OtherMethod.
func Method(r *http.Request) string {
	switch r.Method {
	case http.MethodGet, http.MethodHead, http.MethodPost, http.MethodPut,
		http.MethodPatch, http.MethodDelete, http.MethodOptions:
		return r.Method
	}
	return OtherMethod
}

// Wrap instruments next, which must be (or end in) the ServeMux whose
// patterns were given to NewHTTP.
func (h *HTTP) Wrap(next http.Handler) http.Handler {
	labels := []promhttp.Option{
		promhttp.WithLabelFromRequest("method", Method),
		promhttp.WithLabelFromRequest("route", h.Route),
	}
	return promhttp.InstrumentHandlerInFlight(h.InFlight,
		promhttp.InstrumentHandlerCounter(h.Requests,
			promhttp.InstrumentHandlerDuration(h.Duration, next, labels...),
			labels...))
}

// AccessLog writes one line per request at info level: method, route, path,
// status, duration and response bytes.
func AccessLog(log *slog.Logger, route func(*http.Request) string, next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		ctx := r.Context()
		if !log.Enabled(ctx, slog.LevelInfo) {
			next.ServeHTTP(w, r)
			return
		}
		start := time.Now()
		rec := &recorder{ResponseWriter: w}
		next.ServeHTTP(rec, r)
		log.LogAttrs(ctx, slog.LevelInfo, "request",
			slog.String("method", r.Method),
			slog.String("route", route(r)),
			slog.String("path", r.URL.Path),
			slog.Int("status", rec.Status()),
			slog.Float64("duration_ms", float64(time.Since(start).Microseconds())/1000),
			slog.Int64("bytes", rec.bytes),
		)
	})
}

// recorder remembers the status and body size a handler wrote.
type recorder struct {
	http.ResponseWriter
	code  int
	bytes int64
}

func (r *recorder) WriteHeader(code int) {
	if r.code == 0 {
		r.code = code
	}
	r.ResponseWriter.WriteHeader(code)
}

func (r *recorder) Write(b []byte) (int, error) {
	if r.code == 0 {
		r.code = http.StatusOK
	}
	n, err := r.ResponseWriter.Write(b)
	r.bytes += int64(n)
	return n, err
}

// Status is the status sent, 200 when the handler wrote nothing.
func (r *recorder) Status() int {
	if r.code == 0 {
		return http.StatusOK
	}
	return r.code
}

// Unwrap lets http.ResponseController reach the connection's writer.
func (r *recorder) Unwrap() http.ResponseWriter { return r.ResponseWriter }
