package telemetry

import (
	"bytes"
	"encoding/json"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/testutil"
	dto "github.com/prometheus/client_model/go"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// testMux has the shape of the service's mux: method patterns, a per-path
// fallback and a catch-all.
func testMux() *http.ServeMux {
	mux := http.NewServeMux()
	mux.HandleFunc("GET /tasks", func(w http.ResponseWriter, r *http.Request) { w.Write([]byte("[]")) })
	mux.HandleFunc("POST /tasks", func(w http.ResponseWriter, r *http.Request) { w.WriteHeader(201) })
	mux.HandleFunc("/tasks", func(w http.ResponseWriter, r *http.Request) { w.WriteHeader(405) })
	mux.HandleFunc("GET /tasks/{id}", func(w http.ResponseWriter, r *http.Request) {
		if r.PathValue("id") == "boom" {
			w.WriteHeader(500)
			return
		}
		time.Sleep(20 * time.Millisecond)
		w.Write([]byte("{}"))
	})
	mux.HandleFunc("/", func(w http.ResponseWriter, r *http.Request) { w.WriteHeader(404) })
	return mux
}

func do(h http.Handler, method, target string) int {
	rec := httptest.NewRecorder()
	h.ServeHTTP(rec, httptest.NewRequest(method, target, nil))
	return rec.Code
}

func TestRouteLabel(t *testing.T) {
	h := NewHTTP(prometheus.NewRegistry(), "/tasks", "/tasks/{id}")
	tests := []struct {
		name, pattern, want string
	}{
		{"a method pattern loses its method", "GET /tasks", "/tasks"},
		{"a path-only pattern stays", "/tasks/{id}", "/tasks/{id}"},
		{"no pattern is unmatched", "", Unmatched},
		{"the catch-all is unmatched", "/", Unmatched},
		{"a pattern not declared as a route is unmatched", "GET /secret", Unmatched},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			r := httptest.NewRequest("GET", "/x", nil)
			r.Pattern = tt.pattern
			assert.Equal(t, tt.want, h.Route(r))
		})
	}
}

func TestMethodLabel(t *testing.T) {
	for method, want := range map[string]string{
		"GET": "GET", "HEAD": "HEAD", "POST": "POST", "PUT": "PUT", "PATCH": "PATCH",
		"DELETE": "DELETE", "OPTIONS": "OPTIONS",
		"get": OtherMethod, "PROPFIND": OtherMethod, "TRACE": OtherMethod, "X" + strings.Repeat("Y", 100): OtherMethod,
	} {
		r := httptest.NewRequest("GET", "/", nil)
		r.Method = method
		assert.Equal(t, want, Method(r), method)
	}
}

func TestRequestMetricValues(t *testing.T) {
	reg := prometheus.NewRegistry()
	m := NewHTTP(reg, "/tasks", "/tasks/{id}")
	h := m.Wrap(testMux())

	for range 3 {
		require.Equal(t, 200, do(h, "GET", "/tasks"))
	}
	require.Equal(t, 201, do(h, "POST", "/tasks"))
	require.Equal(t, 405, do(h, "PATCH", "/tasks"))
	require.Equal(t, 200, do(h, "GET", "/tasks/7"))
	require.Equal(t, 500, do(h, "GET", "/tasks/boom"))
	require.Equal(t, 404, do(h, "GET", "/nope"))
	require.Equal(t, 404, do(h, "BREW", "/coffee"))

	want := `
# HELP tasksvc_http_requests_total HTTP requests answered, by method, route pattern and status code.
# TYPE tasksvc_http_requests_total counter
tasksvc_http_requests_total{code="200",method="GET",route="/tasks"} 3
tasksvc_http_requests_total{code="201",method="POST",route="/tasks"} 1
tasksvc_http_requests_total{code="405",method="PATCH",route="/tasks"} 1
tasksvc_http_requests_total{code="200",method="GET",route="/tasks/{id}"} 1
tasksvc_http_requests_total{code="500",method="GET",route="/tasks/{id}"} 1
tasksvc_http_requests_total{code="404",method="GET",route="unmatched"} 1
tasksvc_http_requests_total{code="404",method="other",route="unmatched"} 1
`
	require.NoError(t, testutil.CollectAndCompare(m.Requests, strings.NewReader(want)))

	// Every answered request is observed once in the histogram, under the
	// same method and route.
	assert.Equal(t, 6, testutil.CollectAndCount(m.Duration), "one series per method and route seen")
	hist := histogram(t, reg, "tasksvc_http_request_duration_seconds", map[string]string{"method": "GET", "route": "/tasks/{id}"})
	assert.Equal(t, uint64(2), hist.GetSampleCount())
	// The 20 ms handler is slower than 10 ms and faster than 10 s.
	assert.GreaterOrEqual(t, hist.GetSampleSum(), 0.02)
	for _, b := range hist.GetBucket() {
		switch b.GetUpperBound() {
		case 0.01:
			assert.Equal(t, uint64(1), b.GetCumulativeCount(), "only the fast 500 is under 10 ms")
		case 10:
			assert.Equal(t, uint64(2), b.GetCumulativeCount())
		}
	}
	assert.Zero(t, testutil.ToFloat64(m.InFlight))
}

func histogram(t *testing.T, g prometheus.Gatherer, name string, labels map[string]string) *dto.Histogram {
	t.Helper()
	mfs, err := g.Gather()
	require.NoError(t, err)
	for _, mf := range mfs {
		if mf.GetName() != name {
			continue
		}
	next:
		for _, m := range mf.GetMetric() {
			for _, lp := range m.GetLabel() {
				if v, ok := labels[lp.GetName()]; ok && v != lp.GetValue() {
					continue next
				}
			}
			return m.GetHistogram()
		}
	}
	t.Fatalf("no %s%v", name, labels)
	return nil
}

func TestInFlight(t *testing.T) {
	m := NewHTTP(prometheus.NewRegistry())
	entered, release := make(chan struct{}), make(chan struct{})
	h := m.Wrap(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		entered <- struct{}{}
		<-release
	}))
	done := make(chan struct{})
	for range 2 {
		go func() {
			do(h, "GET", "/")
			done <- struct{}{}
		}()
	}
	<-entered
	<-entered
	assert.Equal(t, 2.0, testutil.ToFloat64(m.InFlight))
	close(release)
	<-done
	<-done
	assert.Equal(t, 0.0, testutil.ToFloat64(m.InFlight))
}

func TestAccessLog(t *testing.T) {
	var buf bytes.Buffer
	log := slog.New(slog.NewJSONHandler(&buf, nil)).With("instance", "replica-1")
	m := NewHTTP(prometheus.NewRegistry(), "/tasks", "/tasks/{id}")
	h := AccessLog(log, m.Route, m.Wrap(testMux()))

	do(h, "GET", "/tasks")
	do(h, "POST", "/tasks")
	do(h, "GET", "/tasks/9")
	do(h, "DELETE", "/what/ever")

	var lines []map[string]any
	for line := range strings.Lines(buf.String()) {
		var v map[string]any
		require.NoError(t, json.Unmarshal([]byte(line), &v), line)
		lines = append(lines, v)
	}
	require.Len(t, lines, 4, "one line per request")
	want := []struct {
		method, route, path string
		status, bytes       float64
	}{
		{"GET", "/tasks", "/tasks", 200, 2},
		{"POST", "/tasks", "/tasks", 201, 0},
		{"GET", "/tasks/{id}", "/tasks/9", 200, 2},
		{"DELETE", Unmatched, "/what/ever", 404, 0},
	}
	for i, w := range want {
		l := lines[i]
		assert.Equal(t, "request", l["msg"])
		assert.Equal(t, "replica-1", l["instance"])
		assert.Equal(t, w.method, l["method"])
		assert.Equal(t, w.route, l["route"])
		assert.Equal(t, w.path, l["path"])
		assert.Equal(t, w.status, l["status"])
		assert.Equal(t, w.bytes, l["bytes"])
		assert.IsType(t, float64(0), l["duration_ms"])
	}
	assert.GreaterOrEqual(t, lines[2]["duration_ms"], 20.0, "the 20 ms handler's duration")
}

func TestAccessLogOffAboveInfo(t *testing.T) {
	var buf bytes.Buffer
	log := slog.New(slog.NewJSONHandler(&buf, &slog.HandlerOptions{Level: slog.LevelWarn}))
	m := NewHTTP(prometheus.NewRegistry(), "/tasks")
	h := AccessLog(log, m.Route, m.Wrap(testMux()))
	assert.Equal(t, 200, do(h, "GET", "/tasks"))
	assert.Empty(t, buf.String())
}
