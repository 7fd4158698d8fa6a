package app

import (
	"context"
	"fmt"
	"io"
	"log/slog"
	"math/rand/v2"
	"net"
	"net/http"
	"net/http/httptest"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/testutil"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/perfgate/perfgate/service/internal/api"
	"github.com/perfgate/perfgate/service/internal/fault"
	"github.com/perfgate/perfgate/service/internal/store"
	"github.com/perfgate/perfgate/service/internal/telemetry"
)

func openStore(t testing.TB) *store.Store {
	t.Helper()
	s, err := store.Open(context.Background(), filepath.Join(t.TempDir(), "tasks.db"), store.DefaultOptions)
	require.NoError(t, err)
	t.Cleanup(func() { s.Close() })
	return s
}

func newHandler(t testing.TB, s api.Store, cfg fault.Config) (http.Handler, *prometheus.Registry) {
	t.Helper()
	faults, err := fault.New(cfg)
	require.NoError(t, err)
	reg := telemetry.NewRegistry(telemetry.ReadBuildInfo("test", "test"))
	return Handler(s, reg, slog.New(slog.DiscardHandler), api.DefaultMaxBody, faults), reg
}

func do(h http.Handler, method, target, body string) *httptest.ResponseRecorder {
	req := httptest.NewRequest(method, target, strings.NewReader(body))
	if body != "" {
		req.Header.Set("Content-Type", "application/json")
	}
	rec := httptest.NewRecorder()
	h.ServeHTTP(rec, req)
	return rec
}

func requests(t *testing.T, reg prometheus.Gatherer, method, route, code string) float64 {
	t.Helper()
	mfs, err := reg.Gather()
	require.NoError(t, err)
	for _, mf := range mfs {
		if mf.GetName() != "tasksvc_http_requests_total" {
			continue
		}
		for _, m := range mf.GetMetric() {
			l := map[string]string{}
			for _, lp := range m.GetLabel() {
				l[lp.GetName()] = lp.GetValue()
			}
			if l["method"] == method && l["route"] == route && l["code"] == code {
				return m.GetCounter().GetValue()
			}
		}
	}
	return 0
}

func TestEveryRouteIsCountedUnderItsPattern(t *testing.T) {
	h, reg := newHandler(t, openStore(t), fault.Config{})
	require.Equal(t, 201, do(h, "POST", "/tasks", `{"task":"a"}`).Code)
	require.Equal(t, 200, do(h, "GET", "/tasks/1", "").Code)
	require.Equal(t, 200, do(h, "GET", "/tasks", "").Code)
	require.Equal(t, 404, do(h, "GET", "/tasks/2", "").Code)
	require.Equal(t, 400, do(h, "POST", "/tasks", `null`).Code)
	require.Equal(t, 200, do(h, "GET", "/healthz", "").Code)
	require.Equal(t, 200, do(h, "GET", "/readyz", "").Code)
	require.Equal(t, 405, do(h, "DELETE", "/metrics", "").Code)
	require.Equal(t, 404, do(h, "GET", "/tasks/1/x", "").Code)
	metrics := do(h, "GET", "/metrics", "")
	require.Equal(t, 200, metrics.Code)

	for _, c := range []struct {
		method, route, code string
	}{
		{"POST", "/tasks", "201"}, {"GET", "/tasks/{id}", "200"}, {"GET", "/tasks", "200"},
		{"GET", "/tasks/{id}", "404"}, {"POST", "/tasks", "400"}, {"GET", "/healthz", "200"},
		{"GET", "/readyz", "200"}, {"DELETE", "/metrics", "405"}, {"GET", "unmatched", "404"},
		{"GET", "/metrics", "200"},
	} {
		assert.Equal(t, 1.0, requests(t, reg, c.method, c.route, c.code), "%v", c)
	}
	// The scrape shows what happened before it, with contract names.
	body := metrics.Body.String()
	assert.Contains(t, body, `tasksvc_http_requests_total{code="201",method="POST",route="/tasks"} 1`)
	assert.Contains(t, body, `tasksvc_http_request_duration_seconds_bucket{method="GET",route="/tasks/{id}",le="+Inf"} 2`)
	assert.Contains(t, body, `tasksvc_http_requests_in_flight 1`, "the scrape itself is in flight")
	assert.Contains(t, body, `tasksvc_build_info{`)
}

func TestLabelCardinalityIsBounded(t *testing.T) {
	h, reg := newHandler(t, openStore(t), fault.Config{})
	rnd := rand.New(rand.NewPCG(1, 2))
	methods := []string{"GET", "POST", "PUT", "DELETE", "PATCH", "HEAD", "OPTIONS", "BREW", "PROPFIND", "get", "X-" + fmt.Sprint(rnd.Int())}
	segments := []string{"tasks", "healthz", "readyz", "metrics", "x", "..", ".", "%41", "1", "999", "{id}", ""}
	for i := range 10000 {
		var path strings.Builder
		for range 1 + rnd.IntN(4) {
			path.WriteString("/")
			if rnd.IntN(3) == 0 {
				path.WriteString(fmt.Sprint(rnd.Int64()))
			} else {
				path.WriteString(segments[rnd.IntN(len(segments))])
			}
		}
		method := methods[rnd.IntN(len(methods))]
		if i%10 == 0 {
			method = fmt.Sprintf("M%d", i) // a fresh method every time
		}
		req := httptest.NewRequest("GET", "/", nil)
		req.Method = method
		req.URL.Path = path.String()
		req.RequestURI = path.String()
		rec := httptest.NewRecorder()
		h.ServeHTTP(rec, req)
		require.Less(t, rec.Code, 500, "%s %s", method, path.String())
	}

	mfs, err := reg.Gather()
	require.NoError(t, err)
	routes, methodLabels, series := map[string]bool{}, map[string]bool{}, 0
	for _, mf := range mfs {
		if mf.GetName() != "tasksvc_http_requests_total" {
			continue
		}
		for _, m := range mf.GetMetric() {
			series++
			for _, lp := range m.GetLabel() {
				switch lp.GetName() {
				case "route":
					routes[lp.GetValue()] = true
				case "method":
					methodLabels[lp.GetValue()] = true
				}
			}
		}
	}
	allowedRoutes := append(slices.Clone(Routes), telemetry.Unmatched)
	for r := range routes {
		assert.Contains(t, allowedRoutes, r)
	}
	for m := range methodLabels {
		assert.Contains(t, []string{"GET", "HEAD", "POST", "PUT", "PATCH", "DELETE", "OPTIONS", telemetry.OtherMethod}, m)
	}
	assert.True(t, routes[telemetry.Unmatched] && methodLabels[telemetry.OtherMethod], "the random traffic reached the catch-alls")
	// 8 methods × 6 routes × a handful of codes at most; 10,000 raw paths
	// would otherwise mean thousands of series.
	assert.LessOrEqual(t, series, 8*6*4)
	t.Logf("%d series from 10,000 random requests", series)
}

func TestInjectedErrorsAreCountedAsServerErrors(t *testing.T) {
	h, reg := newHandler(t, openStore(t), fault.Config{ErrorRatio: 1})
	for range 5 {
		assert.Equal(t, 500, do(h, "GET", "/tasks", "").Code)
		assert.Equal(t, 500, do(h, "POST", "/tasks", `{"task":"a"}`).Code)
	}
	assert.Equal(t, 5.0, requests(t, reg, "GET", "/tasks", "500"))
	assert.Equal(t, 5.0, requests(t, reg, "POST", "/tasks", "500"))

	// Probes and scrapes are never faulted.
	for _, target := range []string{"/healthz", "/readyz", "/metrics"} {
		assert.Equal(t, 200, do(h, "GET", target, "").Code, target)
	}
}

func TestInjectedLatencyShowsInTheHistogram(t *testing.T) {
	h, reg := newHandler(t, openStore(t), fault.Config{Latency: 30 * time.Millisecond})
	for range 3 {
		require.Equal(t, 200, do(h, "GET", "/tasks", "").Code)
	}
	require.Equal(t, 200, do(h, "GET", "/healthz", "").Code)
	mfs, err := reg.Gather()
	require.NoError(t, err)
	var checked int
	for _, mf := range mfs {
		if mf.GetName() != "tasksvc_http_request_duration_seconds" {
			continue
		}
		for _, m := range mf.GetMetric() {
			route := ""
			for _, lp := range m.GetLabel() {
				if lp.GetName() == "route" {
					route = lp.GetValue()
				}
			}
			for _, b := range m.GetHistogram().GetBucket() {
				if b.GetUpperBound() == 0.025 {
					switch route {
					case "/tasks":
						assert.Zero(t, b.GetCumulativeCount(), "every faulted request took over 25 ms")
						checked++
					case "/healthz":
						assert.Equal(t, uint64(1), b.GetCumulativeCount(), "health checks are not delayed")
						checked++
					}
				}
			}
		}
	}
	assert.Equal(t, 2, checked)
}

// panicking is a Store that panics, as a bug would.
type panicking struct{ api.Store }

func (panicking) Get(context.Context, int64) (store.Task, error) { panic("bug") }

func TestPanicIsACounted500(t *testing.T) {
	h, reg := newHandler(t, panicking{openStore(t)}, fault.Config{})
	rec := do(h, "GET", "/tasks/1", "")
	assert.Equal(t, 500, rec.Code)
	assert.JSONEq(t, `{"error":"internal error"}`, rec.Body.String())
	assert.Equal(t, 1.0, requests(t, reg, "GET", "/tasks/{id}", "500"))
}

func TestRunServesAndShutsDownCleanly(t *testing.T) {
	var logs syncBuffer
	log := slog.New(slog.NewJSONHandler(&logs, nil))
	cfg := Config{
		Addr:            "127.0.0.1:0",
		DB:              filepath.Join(t.TempDir(), "tasks.db"),
		MaxBody:         api.DefaultMaxBody,
		BusyTimeout:     time.Second,
		Readers:         3,
		ShutdownTimeout: 5 * time.Second,
		// Slow enough that the request below is in flight at shutdown.
		Fault: fault.Config{Latency: 300 * time.Millisecond},
		Build: telemetry.ReadBuildInfo("", ""),
	}
	ctx, cancel := context.WithCancel(context.Background())
	addrs := make(chan net.Addr, 1)
	ran := make(chan error, 1)
	go func() { ran <- Run(ctx, cfg, log, func(a net.Addr) { addrs <- a }) }()
	var base string
	select {
	case a := <-addrs:
		base = "http://" + a.String()
	case err := <-ran:
		t.Fatalf("Run returned early: %v", err)
	}

	resp, err := http.Get(base + "/healthz")
	require.NoError(t, err)
	resp.Body.Close()
	assert.Equal(t, 200, resp.StatusCode)

	// The real server also exports pool, process and utilisation metrics;
	// utilisation appears after its first 1 s sample.
	require.EventuallyWithT(t, func(c *assert.CollectT) {
		resp, err := http.Get(base + "/metrics")
		require.NoError(c, err)
		b, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		scrape := string(b)
		assert.Contains(c, scrape, `go_sql_max_open_connections{db_name="tasks",pool="write"} 1`)
		assert.Contains(c, scrape, `go_sql_max_open_connections{db_name="tasks",pool="read"} 3`)
		assert.Contains(c, scrape, "\ntasksvc_process_cpu_seconds_total ")
		assert.Contains(c, scrape, "\ntasksvc_process_resident_memory_bytes ")
		assert.Contains(c, scrape, "\ntasksvc_process_cpu_utilization_ratio ")
		assert.Contains(c, scrape, `tasksvc_http_requests_total{code="200",method="GET",route="/healthz"} 1`)
	}, 5*time.Second, 200*time.Millisecond)

	// A request in flight when the context ends still gets its answer.
	var wg sync.WaitGroup
	wg.Add(1)
	var slow *http.Response
	var slowErr error
	go func() {
		defer wg.Done()
		slow, slowErr = http.Post(base+"/tasks", "application/json", strings.NewReader(`{"task":"last"}`))
	}()
	time.Sleep(100 * time.Millisecond)
	cancel()
	wg.Wait()
	require.NoError(t, slowErr)
	body, _ := io.ReadAll(slow.Body)
	slow.Body.Close()
	assert.Equal(t, 201, slow.StatusCode, string(body))

	require.NoError(t, <-ran)
	out := logs.String()
	for _, msg := range []string{`"msg":"listening"`, `"msg":"shutting down"`, `"msg":"requests drained"`, `"msg":"database closed"`} {
		assert.Contains(t, out, msg)
	}
	_, err = http.Get(base + "/healthz")
	assert.Error(t, err, "the listener is closed")

	// The write made it to disk.
	s, err := store.Open(context.Background(), cfg.DB, store.DefaultOptions)
	require.NoError(t, err)
	defer s.Close()
	task, err := s.Get(context.Background(), 1)
	require.NoError(t, err)
	assert.Equal(t, "last", task.Task)
}

func TestRunReportsBadSetup(t *testing.T) {
	base := Config{
		Addr: "127.0.0.1:0", DB: filepath.Join(t.TempDir(), "tasks.db"), MaxBody: 1,
		BusyTimeout: time.Second, ShutdownTimeout: time.Second,
	}
	tests := []struct {
		name   string
		change func(*Config)
		want   string
	}{
		{"a database in a missing directory", func(c *Config) { c.DB = "/does/not/exist/tasks.db" }, "database directory /does/not/exist"},
		{"an address that cannot be listened on", func(c *Config) { c.Addr = "256.0.0.1:0" }, "listen on 256.0.0.1:0"},
		{"an invalid fault", func(c *Config) { c.Fault.ErrorRatio = 2 }, "fault error ratio"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			cfg := base
			tt.change(&cfg)
			err := Run(context.Background(), cfg, slog.New(slog.DiscardHandler), nil)
			require.Error(t, err)
			assert.Contains(t, err.Error(), tt.want)
		})
	}
}

type syncBuffer struct {
	mu sync.Mutex
	b  strings.Builder
}

func (s *syncBuffer) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.Write(p)
}

func (s *syncBuffer) String() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.String()
}

func TestWithProfilesServesGoProfilesOutsideTheMetrics(t *testing.T) {
	h, reg := newHandler(t, openStore(t), fault.Config{})
	srv := httptest.NewServer(WithProfiles(h))
	defer srv.Close()
	resp, err := http.Get(srv.URL + RouteProfiles + "allocs")
	require.NoError(t, err)
	body, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	require.Equal(t, http.StatusOK, resp.StatusCode)
	assert.True(t, len(body) > 2 && body[0] == 0x1f && body[1] == 0x8b, "a gzip'd pprof profile")

	resp, err = http.Get(srv.URL + "/healthz")
	require.NoError(t, err)
	resp.Body.Close()
	assert.Equal(t, http.StatusOK, resp.StatusCode, "the service's own routes still answer")
	n, err := testutil.GatherAndCount(reg, "tasksvc_http_requests_total")
	require.NoError(t, err)
	assert.Equal(t, 1, n, "only /healthz is counted, not the profile")

	// Every other request costs no allocation more than without profiles.
	wrapped := WithProfiles(http.HandlerFunc(func(http.ResponseWriter, *http.Request) {}))
	req, rec := httptest.NewRequest(http.MethodGet, "/tasks/42", nil), httptest.NewRecorder()
	assert.Zero(t, testing.AllocsPerRun(100, func() { wrapped.ServeHTTP(rec, req) }))
}
