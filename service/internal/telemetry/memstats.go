package telemetry

import (
	"runtime"
	"strings"

	"github.com/prometheus/client_golang/prometheus"
)

// exactAllocs wraps client_golang's Go collector so that its two allocation
// counters, go_memstats_mallocs_total and go_memstats_alloc_bytes_total, are
// exact. The Go collector reads them from runtime/metrics, which counts a
// small object only when the span it came from leaves the per-P cache: a
// reading can miss thousands of allocations (10 allocations of 64 bytes read
// as 0, 10,000 as 9,937 here), which is most of the noise of "allocations per
// request" over a few-second round. runtime.ReadMemStats flushes those caches
// first; it stops the world for some microseconds, once per scrape.
type exactAllocs struct {
	prometheus.Collector
}

// Collect implements prometheus.Collector.
func (c exactAllocs) Collect(ch chan<- prometheus.Metric) {
	inner := make(chan prometheus.Metric, 128)
	go func() {
		c.Collector.Collect(inner)
		close(inner)
	}()
	var ms runtime.MemStats
	read := false
	for m := range inner {
		d := m.Desc()
		var v float64
		switch name := fqName(d); name {
		case "go_memstats_mallocs_total", "go_memstats_alloc_bytes_total":
			if !read {
				runtime.ReadMemStats(&ms)
				read = true
			}
			v = float64(ms.Mallocs)
			if name == "go_memstats_alloc_bytes_total" {
				v = float64(ms.TotalAlloc)
			}
			m = prometheus.MustNewConstMetric(d, prometheus.CounterValue, v)
		}
		ch <- m
	}
}

// fqName is a descriptor's metric name, which client_golang shows only in its String.
func fqName(d *prometheus.Desc) string {
	s := d.String()
	const key = `fqName: "`
	i := strings.Index(s, key)
	if i < 0 {
		return ""
	}
	s = s[i+len(key):]
	if j := strings.IndexByte(s, '"'); j >= 0 {
		return s[:j]
	}
	return ""
}
