package telemetry

import (
	"context"
	"database/sql"
	"errors"
	"math"
	"path/filepath"
	"runtime"
	"strings"
	"syscall"
	"testing"
	"time"

	_ "github.com/mattn/go-sqlite3"
	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/testutil"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// gauge gathers the single value of a metric without labels.
func gauge(t *testing.T, c prometheus.Collector, name string) (float64, bool) {
	t.Helper()
	reg := prometheus.NewPedanticRegistry()
	require.NoError(t, reg.Register(c))
	mfs, err := reg.Gather()
	require.NoError(t, err)
	for _, mf := range mfs {
		if mf.GetName() == name {
			m := mf.GetMetric()[0]
			if m.GetCounter() != nil {
				return m.GetCounter().GetValue(), true
			}
			return m.GetGauge().GetValue(), true
		}
	}
	return 0, false
}

func ownCPU() time.Duration {
	var ru syscall.Rusage
	syscall.Getrusage(syscall.RUSAGE_SELF, &ru)
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}

func TestProcessCPUFollowsThisProcess(t *testing.T) {
	p, err := NewProcess()
	require.NoError(t, err)
	before, ok := gauge(t, p, "tasksvc_process_cpu_seconds_total")
	require.True(t, ok)
	// Burn 300 ms of CPU as the kernel counts it, however busy the machine.
	start := ownCPU()
	x := 0
	for ownCPU()-start < 300*time.Millisecond {
		for i := range 100000 {
			x += i
		}
	}
	after, _ := gauge(t, p, "tasksvc_process_cpu_seconds_total")
	assert.InDelta(t, 0.3, after-before, 0.1, "CPU seconds grew by the work done (x=%d)", x)
}

func TestProcessRSSFollowsThisProcess(t *testing.T) {
	p, err := NewProcess()
	require.NoError(t, err)
	before, ok := gauge(t, p, "tasksvc_process_resident_memory_bytes")
	require.True(t, ok)
	require.Greater(t, before, float64(1<<20))

	buf := make([]byte, 128<<20)
	for i := 0; i < len(buf); i += 4096 {
		buf[i] = 1
	}
	after, _ := gauge(t, p, "tasksvc_process_resident_memory_bytes")
	runtime.KeepAlive(buf)
	assert.Greater(t, after-before, float64(100<<20), "RSS grew with 128 MiB touched")
}

func TestUtilizationSampling(t *testing.T) {
	cpu := 10.0
	p := newProcess(func() (float64, error) { return cpu, nil }, func() (uint64, error) { return 4096, nil })

	_, ok := gauge(t, p, "tasksvc_process_cpu_utilization_ratio")
	assert.False(t, ok, "no utilisation before two samples")

	t0 := time.Unix(1000, 0)
	p.sample(t0)
	_, ok = gauge(t, p, "tasksvc_process_cpu_utilization_ratio")
	assert.False(t, ok, "no utilisation after one sample")

	cpu = 10.5
	p.sample(t0.Add(time.Second))
	u, ok := gauge(t, p, "tasksvc_process_cpu_utilization_ratio")
	require.True(t, ok)
	assert.InDelta(t, 0.5, u, 1e-9, "half a core over one second")

	cpu = 14.5
	p.sample(t0.Add(3 * time.Second))
	u, _ = gauge(t, p, "tasksvc_process_cpu_utilization_ratio")
	assert.InDelta(t, 2.0, u, 1e-9, "two cores over two seconds")

	p.sample(t0.Add(3 * time.Second))
	u, _ = gauge(t, p, "tasksvc_process_cpu_utilization_ratio")
	assert.InDelta(t, 2.0, u, 1e-9, "a sample at the same instant keeps the last value")
}

func TestRunSamplesTheRealProcess(t *testing.T) {
	p, err := NewProcess()
	require.NoError(t, err)
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() {
		p.Run(ctx, 50*time.Millisecond)
		close(done)
	}()
	var u float64
	require.Eventually(t, func() bool {
		var ok bool
		u, ok = gauge(t, p, "tasksvc_process_cpu_utilization_ratio")
		return ok
	}, 5*time.Second, 10*time.Millisecond)
	assert.GreaterOrEqual(t, u, 0.0)
	// Clock-tick (10 ms) rounding over a 50 ms window can overshoot a little.
	assert.LessOrEqual(t, u, float64(runtime.NumCPU())*1.6)
	cancel()
	<-done
}

func TestUnreadableProcessIsAnErrorNotZero(t *testing.T) {
	gone := errors.New("no such process")
	p := newProcess(func() (float64, error) { return 0, gone }, func() (uint64, error) { return 0, gone })
	reg := prometheus.NewRegistry()
	require.NoError(t, reg.Register(p))
	_, err := reg.Gather()
	require.Error(t, err)
	assert.Contains(t, err.Error(), "no such process")
}

func TestBuildInfo(t *testing.T) {
	info := ReadBuildInfo("v1.2.3", "abc123")
	assert.Equal(t, "v1.2.3", info.Version)
	assert.Equal(t, "abc123", info.Revision)
	assert.Equal(t, runtime.Version(), info.GoVersion)

	unset := ReadBuildInfo("", "")
	assert.NotEmpty(t, unset.Version)
	assert.NotEmpty(t, unset.Revision)

	reg := NewRegistry(info)
	want := `
# HELP tasksvc_build_info Always 1; the labels identify the running build.
# TYPE tasksvc_build_info gauge
tasksvc_build_info{goversion="` + runtime.Version() + `",revision="abc123",version="v1.2.3"} 1
`
	require.NoError(t, testutil.GatherAndCompare(reg, strings.NewReader(want), "tasksvc_build_info"))
}

func TestDBPoolStats(t *testing.T) {
	dir := t.TempDir()
	w, err := sql.Open("sqlite3", filepath.Join(dir, "a.db"))
	require.NoError(t, err)
	defer w.Close()
	r, err := sql.Open("sqlite3", filepath.Join(dir, "a.db"))
	require.NoError(t, err)
	defer r.Close()
	w.SetMaxOpenConns(1)
	r.SetMaxOpenConns(4)

	reg := prometheus.NewRegistry()
	queries := uint64(7)
	require.NoError(t, RegisterDBPools(reg, "tasks", w, r, func() uint64 { return queries }))
	queries = 9 // read at each scrape
	want := `
# HELP go_sql_max_open_connections Maximum number of open connections to the database.
# TYPE go_sql_max_open_connections gauge
go_sql_max_open_connections{db_name="tasks",pool="read"} 4
go_sql_max_open_connections{db_name="tasks",pool="write"} 1
# HELP tasksvc_db_queries_total Statements run on the database by both pools, prepared or not: an N+1 shows here.
# TYPE tasksvc_db_queries_total counter
tasksvc_db_queries_total{db_name="tasks"} 9
`
	require.NoError(t, testutil.GatherAndCompare(reg, strings.NewReader(want), "go_sql_max_open_connections", "tasksvc_db_queries_total"))
	assert.Error(t, RegisterDBPools(reg, "tasks", w, r, func() uint64 { return 0 }), "registering the same pools twice is refused")
}

func TestMetricsPassLint(t *testing.T) {
	reg := NewRegistry(ReadBuildInfo("", ""))
	m := NewHTTP(reg, "/tasks")
	m.Requests.WithLabelValues("GET", "/tasks", "200").Inc()
	m.Duration.WithLabelValues("GET", "/tasks").Observe(0.001)
	p, err := NewProcess()
	require.NoError(t, err)
	reg.MustRegister(p)
	now := time.Now()
	p.sample(now)
	p.sample(now.Add(time.Second))
	db, err := sql.Open("sqlite3", filepath.Join(t.TempDir(), "a.db"))
	require.NoError(t, err)
	defer db.Close()
	require.NoError(t, RegisterDBPools(reg, "tasks", db, db, func() uint64 { return 0 }))

	problems, err := testutil.GatherAndLint(reg)
	require.NoError(t, err)
	assert.Empty(t, problems)

	// The contract's names are all there.
	mfs, err := reg.Gather()
	require.NoError(t, err)
	names := map[string]bool{}
	for _, mf := range mfs {
		names[mf.GetName()] = true
	}
	for _, n := range []string{
		"tasksvc_http_requests_total", "tasksvc_http_request_duration_seconds",
		"tasksvc_http_requests_in_flight", "tasksvc_process_cpu_seconds_total",
		"tasksvc_process_resident_memory_bytes", "tasksvc_process_cpu_utilization_ratio", "tasksvc_build_info",
		"go_sql_open_connections", "go_sql_wait_duration_seconds_total", "go_goroutines", "go_gc_heap_live_bytes",
		"go_sync_mutex_wait_total_seconds_total", "process_cpu_seconds_total", "tasksvc_db_queries_total",
	} {
		assert.True(t, names[n], n)
	}
}

// CPU time is read to the microsecond, not in the 10 ms clock ticks of
// /proc/<pid>/stat: spinning until the counter moves shows its step.
func TestProcessCPUTimeIsFinerThanClockTicks(t *testing.T) {
	p, err := NewProcess()
	require.NoError(t, err)
	smallest := math.Inf(1)
	for range 20 {
		start, err := p.cpuTimes()
		require.NoError(t, err)
		var now float64
		for i := 0; i < 1e8; i++ { // bounded: far more than one tick of spinning
			if now, err = p.cpuTimes(); err != nil || now != start {
				break
			}
		}
		require.NoError(t, err)
		smallest = min(smallest, now-start)
	}
	assert.Less(t, smallest, 0.002, "the counter moves in steps of %v s", smallest)
	assert.Greater(t, smallest, 0.0)
}
