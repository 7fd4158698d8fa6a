package thresholds

import (
	"sync"
	"time"

	"golang.org/x/perf/benchmath"
)

// The metrics a compare section may budget, one value per round and variant.
const (
	CompareP50           = "p50_latency"     // median request latency
	CompareP95           = "p95_latency"     // 95th percentile latency
	CompareP99           = "p99_latency"     // 99th percentile latency
	CompareCPUPerRequest = "cpu_per_request" // CPU seconds spent per request
	ComparePeakRSS       = "peak_rss"        // peak resident set size
	CompareThroughput    = "throughput"      // completed requests per second
	CompareErrorRate     = "error_rate"      // share of 5xx answers, compared in percentage points
)

// compareMetrics lists the comparable metrics in the order messages name them.
var compareMetrics = []string{
	CompareP50, CompareP95, CompareP99, CompareCPUPerRequest, ComparePeakRSS, CompareThroughput, CompareErrorRate,
}

// DefaultCompare holds the values used for compare fields the file leaves out.
// Round.Rate and Metrics have no default: a spec must say how hard to push and what to watch.
var DefaultCompare = Compare{
	Alpha:  0.05,
	Rounds: 6,
	Round:  Round{WarmUp: 2 * time.Second, Duration: 8 * time.Second},
}

// Compare configures the statistical comparison of a candidate build with its
// baseline (the merge-base): both run under the same load in interleaved rounds
// (A B B A A B B A …) and each budgeted metric is compared with a Mann-Whitney U test.
type Compare struct {
	Alpha   float64  // significance level of the U test, in (0, 0.5]
	Rounds  int      // rounds per variant
	Round   Round    // the load of one round
	Metrics []Budget // in file order
}

// Round is the load of one round: a constant arrival rate after a short warm-up.
type Round struct {
	WarmUp   time.Duration // excluded from the round's figures
	Duration time.Duration // measured, after the warm-up
	Rate     float64       // requests per second
}

// Budget is how far one metric may move for the worse before a significant change fails.
// Both are ratios (0.1 = 10%) of the baseline, except for error_rate, where a
// ratio of near-zero rates means nothing and MaxIncrease is in points (0.005 = 0.5%).
type Budget struct {
	Metric      string
	MaxIncrease *float64 // every metric but throughput
	MaxDecrease *float64 // throughput only
	Line, Col   int      // where the metric is named in the file
}

// Unit is the base unit of the metric's per-round values.
func (b Budget) Unit() Unit {
	switch b.Metric {
	case CompareP50, CompareP95, CompareP99, CompareCPUPerRequest:
		return Seconds
	case ComparePeakRSS:
		return Bytes
	case CompareThroughput:
		return PerSecond
	case CompareErrorRate:
		return Ratio
	}
	return ""
}

// Duration is the load time of the whole comparison: every round of both variants.
func (c Compare) Duration() time.Duration {
	return 2 * time.Duration(c.Rounds) * (c.Round.WarmUp + c.Round.Duration)
}

// Requests is the number of arrivals planned in the measured part of one round.
func (r Round) Requests() float64 { return r.Rate * r.Duration.Seconds() }

// Bounds of a comparison that fits a CI job and still says something.
const (
	minRounds        = 4 // benchmath's U test cannot reach p < 0.05 with fewer
	maxRounds        = 50
	maxAlpha         = 0.5
	minRoundDuration = 3 * time.Second // Prometheus scrapes every 1 s
	maxRoundWarmUp   = time.Minute
	minRoundRequests = 100  // below this a p99 is just the slowest request
	maxBudget        = 10.0 // 1000%: beyond it a budget allows anything
)

var minPCache sync.Map // rounds → float64

// MinP is the smallest p-value benchmath's Mann-Whitney U test can give for two
// samples of n values each: that of two samples that do not overlap at all.
// A comparison whose MinP is not below alpha can never find a difference.
func MinP(n int) float64 {
	if p, ok := minPCache.Load(n); ok {
		return p.(float64)
	}
	lo, hi := make([]float64, n), make([]float64, n)
	for i := range n {
		lo[i], hi[i] = float64(i), float64(n+i)
	}
	t := &benchmath.Thresholds{CompareAlpha: benchmath.DefaultThresholds.CompareAlpha}
	p := benchmath.AssumeNothing.Compare(benchmath.NewSample(lo, t), benchmath.NewSample(hi, t)).P
	minPCache.Store(n, p)
	return p
}
