package thresholds

import (
	"math"
	"time"

	"github.com/perfgate/perfgate/thresholds/units"
)

// The metrics a compare section may budget, one value per round and variant.
const (
	CompareP50           = "p50_latency"             // median request latency
	CompareP95           = "p95_latency"             // 95th percentile latency
	CompareP99           = "p99_latency"             // 99th percentile latency
	CompareCPUPerRequest = "cpu_per_request"         // CPU seconds spent per request
	ComparePeakRSS       = "peak_rss"                // peak resident set size
	CompareThroughput    = "throughput"              // completed requests per second
	CompareErrorRate     = "error_rate"              // share of failed requests (5xx, transport errors, drops), compared in percentage points
	CompareAllocs        = "allocs_per_request"      // Go heap allocations per served request
	CompareAllocBytes    = "alloc_bytes_per_request" // bytes allocated on the Go heap per served request
	CompareGCPerRequest  = "gc_per_request"          // Go GC cycles per served request
	CompareQueries       = "queries_per_request"     // database statements per served request: an N+1's count, in any language
	// Growth per 1,000 requests served, from a gauge read at a round's start
	// and end: a leak retains for every request, so it grows with them
	// however short the run. Budgets are absolute, in the metric's unit.
	CompareHeapGrowth      = "heap_growth"      // live heap after GC, bytes per 1,000 requests
	CompareGoroutineGrowth = "goroutine_growth" // goroutines per 1,000 requests
	// CompareRSSGrowth reads the resident set (service.metrics.memory): the
	// growth any process has, whatever its language or runtime.
	CompareRSSGrowth = "rss_growth" // resident set, bytes per 1,000 requests
	// CompareWaitPerRequest is the time a request spent waiting for a lock
	// or a pooled connection, from the counters service.metrics.waits names:
	// near 0 until requests contend, so its budget is absolute, in seconds.
	CompareWaitPerRequest = "wait_per_request"
)

// compareMetrics lists the comparable metrics in the order messages name them.
var compareMetrics = []string{
	CompareP50, CompareP95, CompareP99, CompareCPUPerRequest, CompareAllocs, CompareAllocBytes, CompareGCPerRequest,
	CompareQueries, CompareWaitPerRequest, ComparePeakRSS, CompareRSSGrowth, CompareHeapGrowth, CompareGoroutineGrowth, CompareThroughput, CompareErrorRate,
}

// DefaultCompare holds the values used for compare fields the file leaves out.
// Round.Rate and Metrics have no default: a spec must say how hard to push and what to watch.
var DefaultCompare = Compare{
	Alpha:  0.01,
	Rounds: 10,
	Round:  Round{WarmUp: 2 * time.Second, Duration: 8 * time.Second},
}

// Compare configures the statistical comparison of a candidate build with its
// baseline (the merge-base): both run under the same load in pairs of rounds that
// run at the same time (duets), and each budgeted metric is compared pair by pair with
// the Wilcoxon signed-rank test (error counts pooled, with Fisher's exact test).
type Compare struct {
	Alpha   float64 `yaml:"alpha" unit:"none" spec:"plain" want:"expected a number like 0.05"`   // significance level of the tests, in (0, 0.5]
	Rounds  int     `yaml:"rounds"`                                                              // rounds per variant, which is the number of pairs
	Round   Round   `yaml:"round" want:"a mapping like {warmup: 2s, duration: 8s, rate: 100/s}"` // the load of one round
	Metrics Budgets `yaml:"metrics" want:"a mapping of metric names to budgets like p95_latency: {max_increase: 10%}"`
	// Contention, when set, adds pairs whose arrivals come in bursts; nil: none.
	Contention *Contention `yaml:"contention" want:"a mapping like {rounds: 8, burst: 8}"`
}

// Budgets are a comparison's budgets in file order, written as a mapping keyed by metric.
type Budgets []Budget

// Round is the load of one round: a constant arrival rate after a short warm-up.
type Round struct {
	WarmUp   time.Duration `yaml:"warmup"`                                                         // excluded from the round's figures
	Duration time.Duration `yaml:"duration"`                                                       // measured, after the warm-up
	Rate     float64       `yaml:"rate" unit:"1/s" spec:"plain" want:"expected a rate like 100/s"` // requests per second
}

// Contention is a second set of pairs, run after the others, whose arrivals
// come Burst at once at the round's mean rate: requests then meet in the
// service, as under real traffic, and a lock or a pool of one makes them
// wait. wait_per_request is read from these pairs alone; every other metric
// from the evenly paced ones, whose CPU per request bursts blur (one A/A
// run each: an interval of ±1% evenly paced, ±5% in bursts of 8).
type Contention struct {
	Rounds int `yaml:"rounds"` // pairs
	Burst  int `yaml:"burst"`  // arrivals at once
}

// DefaultContention holds the values used for contention fields the file leaves out.
var DefaultContention = Contention{Rounds: 8, Burst: 8}

// Contended reports whether metric is read from the contention pairs.
func (c Compare) Contended(metric string) bool {
	return c.Contention != nil && metric == CompareWaitPerRequest
}

// Trended reports whether metric is judged by its trend over every pair of
// the run rather than pair by pair: the resident set, a high-water mark that
// grows in steps, shows a leak over the run and in a few rounds only.
func Trended(metric string) bool { return metric == CompareRSSGrowth }

// Pairs is how many pairs the comparison plans: the evenly paced ones and
// the contention pairs.
func (c Compare) Pairs() int {
	if c.Contention == nil {
		return c.Rounds
	}
	return c.Rounds + c.Contention.Rounds
}

// Budget is how far one metric may move for the worse before a significant change fails.
// Both are ratios (0.1 = 10%) of the baseline, except where a ratio to a
// baseline near zero means nothing: error_rate's MaxIncrease is in points
// (0.005 = 0.5%), a growth's and a wait's in their own unit (65536 bytes per
// 1,000 requests, 20e-6 seconds).
type Budget struct {
	Metric      string
	MaxIncrease *float64 `yaml:"max_increase" spec:"later"` // every metric but throughput
	MaxDecrease *float64 `yaml:"max_decrease" spec:"later"` // throughput only
	Line, Col   int      // where the metric is named in the file
}

// Unit is the base unit of the metric's per-round values.
func (b Budget) Unit() Unit { return budgetUnits[b.Metric] }

var budgetUnits = map[string]Unit{
	CompareP50: Seconds, CompareP95: Seconds, CompareP99: Seconds, CompareCPUPerRequest: Seconds,
	ComparePeakRSS: Bytes, CompareAllocBytes: Bytes, CompareAllocs: None, CompareGCPerRequest: None, CompareQueries: None,
	CompareThroughput: PerSecond, CompareErrorRate: Ratio,
	CompareHeapGrowth: units.BytesPer1k, CompareRSSGrowth: units.BytesPer1k, CompareGoroutineGrowth: units.Per1k, CompareWaitPerRequest: units.Waited,
}

// Duration is the load time of the whole comparison: every round of both
// variants; math.MaxInt64 when that does not fit a time.Duration.
func (c Compare) Duration() time.Duration {
	one, n := c.Round.WarmUp+c.Round.Duration, c.Pairs()
	if c.Rounds <= 0 || n <= 0 || one <= 0 {
		return 0
	}
	if one < c.Round.WarmUp || one > math.MaxInt64/time.Duration(2*n) {
		return math.MaxInt64
	}
	return 2 * time.Duration(n) * one
}

// Requests is the number of arrivals planned in the measured part of one round.
func (r Round) Requests() float64 { return r.Rate * r.Duration.Seconds() }

// Bounds of a comparison that fits a CI job and still says something.
const (
	minRounds        = 4 // a hard floor; MinP against alpha decides the real one
	maxAlpha         = 0.5
	minRoundDuration = 3 * time.Second // Prometheus scrapes every 1 s
	maxRoundDuration = 10 * time.Minute
	maxRoundWarmUp   = time.Minute
	minRoundRequests = 100  // below this a p99 is just the slowest request
	maxBudget        = 10.0 // 1000%: beyond it a budget allows anything
	maxBurst         = 64   // arrivals at once: far past any pool, and well inside max_in_flight
	minBurst         = 2    // one arrival at a time is no burst
)

// MinP is the smallest two-sided p-value of the Wilcoxon signed-rank test over
// n pairs: every pair moving the same way, 2/2ⁿ. A comparison whose MinP is not
// below alpha can never find a difference.
func MinP(n int) float64 { return math.Min(1, math.Ldexp(2, -n)) }

// MaxRounds is the most rounds per variant a comparison may run.
const MaxRounds = 50

// PairsNeeded is the fewest pairs, up to MaxRounds, whose MinP is below alpha.
func PairsNeeded(alpha float64) int {
	n := 1
	for n < MaxRounds && MinP(n) >= alpha {
		n++
	}
	return n
}
