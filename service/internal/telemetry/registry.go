package telemetry

import (
	"database/sql"
	"fmt"
	"regexp"
	"runtime"
	"runtime/debug"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"
)

// BuildInfo identifies the running binary.
type BuildInfo struct {
	Version, Revision, GoVersion string
}

// ReadBuildInfo reads the binary's module version and VCS revision; version
// and revision, when not empty (set with -ldflags -X), take precedence.
func ReadBuildInfo(version, revision string) BuildInfo {
	bi := BuildInfo{Version: "unknown", Revision: "unknown", GoVersion: runtime.Version()}
	if info, ok := debug.ReadBuildInfo(); ok {
		if info.Main.Version != "" {
			bi.Version = info.Main.Version
		}
		for _, s := range info.Settings {
			if s.Key == "vcs.revision" && s.Value != "" {
				bi.Revision = s.Value
			}
		}
	}
	if version != "" {
		bi.Version = version
	}
	if revision != "" {
		bi.Revision = revision
	}
	return bi
}

// NewRegistry returns a registry holding the Go runtime and process
// collectors and tasksvc_build_info. It never touches the global registry.
func NewRegistry(info BuildInfo) *prometheus.Registry {
	reg := prometheus.NewRegistry()
	reg.MustRegister(
		// Beside the defaults: the live heap after the last GC,
		// go_gc_heap_live_bytes, what a leak grows without the garbage
		// between two GCs that go_memstats_heap_alloc_bytes also counts; and
		// the time goroutines spent blocked on a mutex,
		// go_sync_mutex_wait_total_seconds_total, which a lock shows in
		// before it costs a throughput.
		exactAllocs{collectors.NewGoCollector(collectors.WithGoCollectorRuntimeMetrics(
			collectors.GoRuntimeMetricsRule{Matcher: regexp.MustCompile(`^/gc/heap/live:bytes$|^/sync/mutex/wait/total:seconds$`)},
		))},
		collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}),
		prometheus.NewGaugeFunc(prometheus.GaugeOpts{
			Name: "tasksvc_build_info",
			Help: "Always 1; the labels identify the running build.",
			ConstLabels: prometheus.Labels{
				"version":   info.Version,
				"revision":  info.Revision,
				"goversion": info.GoVersion,
			},
		}, func() float64 { return 1 }),
	)
	return reg
}

// RegisterDBPools exports database/sql statistics of the writer and reader
// pools of one database as go_sql_* {db_name=name, pool="write"|"read"},
// and the statements both ran, queries(), as tasksvc_db_queries_total.
func RegisterDBPools(reg prometheus.Registerer, name string, write, read *sql.DB, queries func() uint64) error {
	// The counter of statements first: a pool's stats say how long queries
	// waited for a connection, not how many there were.
	if err := reg.Register(prometheus.NewCounterFunc(prometheus.CounterOpts{
		Name:        "tasksvc_db_queries_total",
		Help:        "Statements run on the database by both pools, prepared or not: an N+1 shows here.",
		ConstLabels: prometheus.Labels{"db_name": name},
	}, func() float64 { return float64(queries()) })); err != nil {
		return fmt.Errorf("telemetry: register the query counter: %w", err)
	}
	for pool, db := range map[string]*sql.DB{"write": write, "read": read} {
		r := prometheus.WrapRegistererWith(prometheus.Labels{"pool": pool}, reg)
		if err := r.Register(collectors.NewDBStatsCollector(db, name)); err != nil {
			return fmt.Errorf("telemetry: register %s pool stats: %w", pool, err)
		}
	}
	return nil
}
