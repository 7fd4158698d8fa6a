package verdict

import (
	"math"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/perfgate/perfgate/thresholds"
	"github.com/perfgate/perfgate/thresholds/units"
)

func ptr(v float64) *float64 { return &v }

// paired gives each objective the observation at its index, or none.
func paired(objs []Objective, obs []Observation) []Measured {
	ms := make([]Measured, len(objs))
	for i, o := range objs {
		ms[i].Objective = o
		if i < len(obs) {
			ms[i].Observation = obs[i]
		}
	}
	return ms
}

var (
	p95 = Objective{Name: "p95_latency", Description: "95th percentile", Metric: "latency", Unit: units.Seconds, Max: ptr(0.050)}
	rss = Objective{Name: "memory_rss", Metric: "memory", Unit: units.Bytes, PerInstance: true, Max: ptr(128 << 20)}
	tps = Objective{Name: "throughput", Metric: "throughput", Unit: units.PerSecond, Min: ptr(95)}
	cpu = Objective{Name: "cpu", Metric: "cpu", Unit: units.Ratio, PerInstance: true, Min: ptr(0.01), Max: ptr(0.80)}
	// steady is a generator that kept up with its target.
	steady = Load{TargetRate: 100, AchievedRate: 99.6, MaxLag: 0.05, Sent: 2988}
)

func agg(name string, v float64) Observation {
	return Observation{Query: "q:" + name, Samples: []Sample{{Value: v}}}
}

func each(name string, kv ...any) Observation {
	o := Observation{Query: "q:" + name}
	for i := 0; i < len(kv); i += 2 {
		o.Samples = append(o.Samples, Sample{Instance: kv[i].(string), Value: kv[i+1].(float64)})
	}
	return o
}

func with(o Objective, f func(*Objective)) Objective { f(&o); return o }

// bucket is a quantile known to lie in the histogram bucket (lo, hi], estimated at v.
func bucket(name string, v, lo, hi float64) Observation {
	return Observation{Query: "q:" + name, Samples: []Sample{{Value: v, Bounded: true, Lo: lo, Hi: hi}}}
}

var p99 = Objective{Name: "p99_latency", Metric: "latency", Unit: units.Seconds, Max: ptr(0.150)}

// lines renders checks as "status name[/instance] op limit: why" for exact comparison.
func lines(cs []Check) []string {
	var out []string
	for _, c := range cs {
		label := c.Name
		if c.Instance != "" {
			label += "/" + c.Instance
		}
		bound := ""
		if c.Op != "" {
			bound = " " + c.Op + " " + c.Unit.Format(c.Limit)
		}
		out = append(out, string(c.Status)+" "+label+bound+": "+c.Why)
	}
	return out
}

func TestEvaluate(t *testing.T) {
	tests := []struct {
		name    string
		objs    []Objective
		obs     []Observation
		load    Load
		verdict Verdict
		checks  []string
		reason  string // compared when set
	}{
		{
			name:    "aggregate latency under its max passes",
			objs:    []Objective{p95},
			obs:     []Observation{agg("p95_latency", 0.0421)},
			load:    steady,
			verdict: Pass,
			checks:  []string{"pass p95_latency <= 50ms: p95_latency 42.1ms <= 50ms"},
			reason:  "the only check passed",
		},
		{
			name:    "aggregate latency over its max fails with the overshoot",
			objs:    []Objective{p95},
			obs:     []Observation{agg("p95_latency", 0.0732)},
			load:    steady,
			verdict: Fail,
			checks:  []string{"fail p95_latency <= 50ms: p95_latency 73.2ms > 50ms (+46%)"},
			reason:  "1 of 1 check failed: p95_latency 73.2ms > 50ms (+46%)",
		},
		{
			name:    "a value exactly at its max passes",
			objs:    []Objective{p95},
			obs:     []Observation{agg("p95_latency", 0.050)},
			load:    steady,
			verdict: Pass,
			checks:  []string{"pass p95_latency <= 50ms: p95_latency 50ms <= 50ms"},
		},
		{
			name:    "a value a hair over its max fails and shows the digits that tell them apart",
			objs:    []Objective{p95},
			obs:     []Observation{agg("p95_latency", 0.05004)},
			load:    steady,
			verdict: Fail,
			checks:  []string{"fail p95_latency <= 50ms: p95_latency 50.04ms > 50ms (+0.1%)"},
		},
		{
			name:    "throughput above its min passes",
			objs:    []Objective{tps},
			obs:     []Observation{agg("throughput", 99.4)},
			load:    steady,
			verdict: Pass,
			checks:  []string{"pass throughput >= 95/s: throughput 99.4/s >= 95/s"},
		},
		{
			name:    "throughput below its min fails",
			objs:    []Objective{tps},
			obs:     []Observation{agg("throughput", 87.7)},
			load:    steady,
			verdict: Fail,
			checks:  []string{"fail throughput >= 95/s: throughput 87.7/s < 95/s (-8%)"},
		},
		{
			name:    "per-instance memory passes when every instance is under, in instance order",
			objs:    []Objective{rss},
			obs:     []Observation{each("memory_rss", "replica-2", 90e6, "replica-1", 85.4e6)},
			load:    steady,
			verdict: Pass,
			checks: []string{
				"pass memory_rss/replica-1 <= 128MiB: memory_rss on replica-1 81.4MiB <= 128MiB",
				"pass memory_rss/replica-2 <= 128MiB: memory_rss on replica-2 85.8MiB <= 128MiB",
			},
		},
		{
			name:    "per-instance memory fails when one instance is over",
			objs:    []Objective{rss},
			obs:     []Observation{each("memory_rss", "replica-2", 200e6, "replica-1", 85.4e6)},
			load:    steady,
			verdict: Fail,
			checks: []string{
				"pass memory_rss/replica-1 <= 128MiB: memory_rss on replica-1 81.4MiB <= 128MiB",
				"fail memory_rss/replica-2 <= 128MiB: memory_rss on replica-2 191MiB > 128MiB (+49%)",
			},
		},
		{
			name:    "min and max both met give one passing check per bound, max first",
			objs:    []Objective{cpu},
			obs:     []Observation{each("cpu", "replica-1", 0.42)},
			load:    steady,
			verdict: Pass,
			checks: []string{
				"pass cpu/replica-1 <= 80%: cpu on replica-1 42% <= 80%",
				"pass cpu/replica-1 >= 1%: cpu on replica-1 42% >= 1%",
			},
		},
		{
			name:    "min and max with a value above max fails the max check only",
			objs:    []Objective{cpu},
			obs:     []Observation{each("cpu", "replica-1", 1.25)},
			load:    steady,
			verdict: Fail,
			checks: []string{
				"fail cpu/replica-1 <= 80%: cpu on replica-1 125% > 80% (+56%)",
				"pass cpu/replica-1 >= 1%: cpu on replica-1 125% >= 1%",
			},
		},
		{
			name:    "an error rate limit of zero fails without a percentage overshoot",
			objs:    []Objective{{Name: "error_rate", Metric: "error_rate", Unit: units.Ratio, Max: ptr(0)}},
			obs:     []Observation{agg("error_rate", 0.0125)},
			load:    steady,
			verdict: Fail,
			checks:  []string{"fail error_rate <= 0%: error_rate 1.25% > 0%"},
		},
		{
			name:    "an error rate of zero against a limit of zero passes",
			objs:    []Objective{{Name: "error_rate", Metric: "error_rate", Unit: units.Ratio, Max: ptr(0)}},
			obs:     []Observation{agg("error_rate", 0)},
			load:    steady,
			verdict: Pass,
			checks:  []string{"pass error_rate <= 0%: error_rate 0% <= 0%"},
		},

		// Missing data: each of these would pass had the data been there (see above).
		{
			name:    "an objective nobody observed is no data: inconclusive, never a pass",
			objs:    []Objective{p95},
			load:    steady,
			verdict: Inconclusive,
			checks:  []string{"no_data p95_latency <= 50ms: no data: no observation was made"},
			reason:  "1 of 1 check could not tell, which is not a pass: p95_latency: no data: no observation was made",
		},
		{
			name:    "a failed query is no data carrying the query's error",
			objs:    []Objective{p95},
			obs:     []Observation{{Query: "q", Err: "bad_data: parse error at char 4"}},
			load:    steady,
			verdict: Inconclusive,
			checks:  []string{"no_data p95_latency <= 50ms: no data: bad_data: parse error at char 4"},
		},
		{
			name:    "a query with no series is no data",
			objs:    []Objective{p95},
			obs:     []Observation{{Query: "q"}},
			load:    steady,
			verdict: Inconclusive,
			checks:  []string{"no_data p95_latency <= 50ms: no data: query returned no series"},
		},
		{
			name:    "a NaN value is no data, never a pass",
			objs:    []Objective{p95},
			obs:     []Observation{agg("p95_latency", math.NaN())},
			load:    steady,
			verdict: Inconclusive,
			checks:  []string{"no_data p95_latency <= 50ms: no data: value is NaN (no requests in the window?)"},
		},
		{
			name:    "an infinite value is no data",
			objs:    []Objective{p95},
			obs:     []Observation{agg("p95_latency", math.Inf(1))},
			load:    steady,
			verdict: Inconclusive,
			checks:  []string{"no_data p95_latency <= 50ms: no data: value is +Inf (not a finite measurement)"},
		},
		{
			name:    "a negative error rate is no data, never a pass",
			objs:    []Objective{{Name: "error_rate", Metric: "error_rate", Unit: units.Ratio, Max: ptr(0.01)}},
			obs:     []Observation{agg("error_rate", -0.25)},
			load:    steady,
			verdict: Inconclusive,
			checks:  []string{"no_data error_rate <= 1%: no data: value is -25%, which no measurement of error_rate can be (a counter went backwards?)"},
		},
		{
			name:    "a per-instance objective with no series gets one no-data check per bound",
			objs:    []Objective{cpu},
			obs:     []Observation{{Query: "q"}},
			load:    steady,
			verdict: Inconclusive,
			checks: []string{
				"no_data cpu <= 80%: no data: query returned no series",
				"no_data cpu >= 1%: no data: query returned no series",
			},
		},
		{
			name:    "an expected instance that reported nothing is no data",
			objs:    []Objective{with(rss, func(o *Objective) { o.Instances = []string{"replica-1", "replica-2"} })},
			obs:     []Observation{each("memory_rss", "replica-1", 85.4e6)},
			load:    steady,
			verdict: Inconclusive,
			checks: []string{
				"pass memory_rss/replica-1 <= 128MiB: memory_rss on replica-1 81.4MiB <= 128MiB",
				"no_data memory_rss/replica-2 <= 128MiB: no data: query returned no series for this instance",
			},
			reason: "1 of 2 checks could not tell, which is not a pass: memory_rss on replica-2: no data: query returned no series for this instance",
		},
		{
			name:    "expected instances that all reported pass",
			objs:    []Objective{with(rss, func(o *Objective) { o.Instances = []string{"replica-1", "replica-2"} })},
			obs:     []Observation{each("memory_rss", "replica-1", 85.4e6, "replica-2", 85.4e6)},
			load:    steady,
			verdict: Pass,
			checks: []string{
				"pass memory_rss/replica-1 <= 128MiB: memory_rss on replica-1 81.4MiB <= 128MiB",
				"pass memory_rss/replica-2 <= 128MiB: memory_rss on replica-2 81.4MiB <= 128MiB",
			},
		},

		// Objectives and observations that do not fit together are errors.
		{
			name:    "an aggregate query returning one series per instance is an error",
			objs:    []Objective{p95},
			obs:     []Observation{each("p95_latency", "replica-1", 0.01, "replica-2", 0.01)},
			load:    steady,
			verdict: Fail,
			checks: []string{
				"error p95_latency <= 50ms: query returned 2 series where one aggregate was expected: it must sum or average over instances",
			},
		},
		{
			name:    "a per-instance query returning a series without an instance is an error",
			objs:    []Objective{rss},
			obs:     []Observation{agg("memory_rss", 1)},
			load:    steady,
			verdict: Fail,
			checks: []string{
				"error memory_rss <= 128MiB: per-instance query returned a series without an instance label: group it by instance",
			},
		},
		{
			name:    "a per-instance query naming one instance twice is an error",
			objs:    []Objective{rss},
			obs:     []Observation{each("memory_rss", "replica-1", 1.0, "replica-1", 2.0)},
			load:    steady,
			verdict: Fail,
			checks:  []string{`error memory_rss <= 128MiB: query returned instance "replica-1" twice`},
		},
		{
			name:    "an objective with neither max nor min is an error, not a free pass",
			objs:    []Objective{{Name: "custom", Unit: units.None}},
			obs:     []Observation{agg("custom", 1)},
			load:    steady,
			verdict: Fail,
			checks:  []string{`error custom: objective "custom" has neither max nor min: nothing to check`},
		},
		{
			name:    "an objective whose min is above its max is an error",
			objs:    []Objective{{Name: "cpu", Unit: units.Ratio, Min: ptr(0.9), Max: ptr(0.5)}},
			obs:     []Observation{agg("cpu", 0.7)},
			load:    steady,
			verdict: Fail,
			checks:  []string{`error cpu: objective "cpu" has min 90% above max 50%: it can never pass`},
		},
		{
			name:    "an objective with a NaN limit is an error",
			objs:    []Objective{{Name: "cpu", Unit: units.Ratio, Max: ptr(math.NaN())}},
			obs:     []Observation{agg("cpu", 0.7)},
			load:    steady,
			verdict: Fail,
			checks:  []string{`error cpu: objective "cpu" has a limit that is not a finite number`},
		},
		{
			name:    "an objective without a name is an error",
			objs:    []Objective{p95, {Max: ptr(1)}},
			obs:     []Observation{agg("p95_latency", 0.0421)},
			load:    steady,
			verdict: Fail,
			checks: []string{
				"pass p95_latency <= 50ms: p95_latency 42.1ms <= 50ms",
				"error : objective #2 has no name",
			},
		},
		{
			name:    "an objective defined twice is an error on the second",
			objs:    []Objective{p95, p95},
			obs:     []Observation{agg("p95_latency", 0.0421)},
			load:    steady,
			verdict: Fail,
			checks: []string{
				"pass p95_latency <= 50ms: p95_latency 42.1ms <= 50ms",
				`error p95_latency: objective "p95_latency" is defined twice`,
			},
		},
		{
			name:    "no objectives at all fail: nothing checked is not a pass",
			load:    steady,
			verdict: Fail,
			reason:  "no objectives to check: a gate with nothing to check cannot pass",
		},

		// A quantile from histogram buckets is known only to its bucket: a limit inside
		// the bucket cannot be judged by interpolation, which is wrong by up to its width.
		{
			name:    "a true p99 of 240ms in the 100ms–250ms bucket cannot pass a 150ms limit",
			objs:    []Objective{p99},
			obs:     []Observation{bucket("p99_latency", 0.139, 0.1, 0.25)},
			load:    steady,
			verdict: Inconclusive,
			checks: []string{"no_data p99_latency <= 150ms: cannot tell: p99_latency is between 100ms and 250ms, a histogram bucket that holds the 150ms limit; " +
				"give the histogram a bucket boundary at 150ms or put the limit on a boundary"},
		},
		{
			name:    "a p99 in a bucket wholly under the limit passes",
			objs:    []Objective{p99},
			obs:     []Observation{bucket("p99_latency", 0.004, 0.0025, 0.005)},
			load:    steady,
			verdict: Pass,
			checks:  []string{"pass p99_latency <= 150ms: p99_latency 4ms <= 150ms (between 2.5ms and 5ms)"},
		},
		{
			name:    "a bucket that ends on the limit passes: every request in it took at most that",
			objs:    []Objective{with(p99, func(o *Objective) { o.Max = ptr(0.1) })},
			obs:     []Observation{bucket("p99_latency", 0.09, 0.05, 0.1)},
			load:    steady,
			verdict: Pass,
			checks:  []string{"pass p99_latency <= 100ms: p99_latency 90ms <= 100ms (between 50ms and 100ms)"},
		},
		{
			name:    "a p99 in a bucket wholly over the limit fails",
			objs:    []Objective{p99},
			obs:     []Observation{bucket("p99_latency", 0.3, 0.25, 0.5)},
			load:    steady,
			verdict: Fail,
			checks:  []string{"fail p99_latency <= 150ms: p99_latency 300ms > 150ms: between 250ms and 500ms"},
		},
		{
			name:    "beyond the largest bucket fails a limit below it and says so",
			objs:    []Objective{p99},
			obs:     []Observation{bucket("p99_latency", 10, 10, math.Inf(1))},
			load:    steady,
			verdict: Fail,
			checks:  []string{"fail p99_latency <= 150ms: p99_latency 10s > 150ms: beyond the histogram's largest bucket, 10s"},
		},
		{
			name:    "beyond the largest bucket cannot tell a limit above it",
			objs:    []Objective{with(p99, func(o *Objective) { o.Max = ptr(20) })},
			obs:     []Observation{bucket("p99_latency", 10, 10, math.Inf(1))},
			load:    steady,
			verdict: Inconclusive,
			checks: []string{"no_data p99_latency <= 20s: cannot tell: p99_latency is beyond the histogram's largest bucket, 10s, a histogram bucket that holds the 20s limit; " +
				"give the histogram a bucket boundary at 20s or put the limit on a boundary"},
		},
		{
			name:    "a bucketed quantile with no requests is no data",
			objs:    []Objective{p99},
			obs:     []Observation{bucket("p99_latency", math.NaN(), math.NaN(), math.NaN())},
			load:    steady,
			verdict: Inconclusive,
			checks:  []string{"no_data p99_latency <= 150ms: no data: no requests in the window, so no quantile (bucket NaN–NaN)"},
		},

		// Could not tell is not a breach: the committed p99 limit of 150ms sits
		// inside the (100ms, 250ms] bucket, and a p99 of 110ms within the SLO
		// once read FAIL, exit 1. A breach beside it still fails.
		{
			name:    "a p99 of 110ms in the 100ms–250ms bucket cannot tell a 150ms limit: inconclusive, not a breach",
			objs:    []Objective{p99},
			obs:     []Observation{bucket("p99_latency", 0.110, 0.1, 0.25)},
			load:    steady,
			verdict: Inconclusive,
			checks: []string{"no_data p99_latency <= 150ms: cannot tell: p99_latency is between 100ms and 250ms, a histogram bucket that holds the 150ms limit; " +
				"give the histogram a bucket boundary at 150ms or put the limit on a boundary"},
			reason: "1 of 1 check could not tell, which is not a pass: cannot tell: p99_latency is between 100ms and 250ms, a histogram bucket that holds the 150ms limit; " +
				"give the histogram a bucket boundary at 150ms or put the limit on a boundary",
		},
		{
			name:    "a breach beside a check that cannot tell fails the run",
			objs:    []Objective{p99, p95},
			obs:     []Observation{bucket("p99_latency", 0.110, 0.1, 0.25), agg("p95_latency", 0.0732)},
			load:    steady,
			verdict: Fail,
			checks: []string{"no_data p99_latency <= 150ms: cannot tell: p99_latency is between 100ms and 250ms, a histogram bucket that holds the 150ms limit; " +
				"give the histogram a bucket boundary at 150ms or put the limit on a boundary",
				"fail p95_latency <= 50ms: p95_latency 73.2ms > 50ms (+46%)"},
			reason: "1 of 2 checks failed: p95_latency 73.2ms > 50ms (+46%); 1 could not tell",
		},

		// A generator that stalls and then bursts keeps its mean rate but not its schedule.
		{
			name:    "a stalled generator makes a passing run inconclusive",
			objs:    []Objective{p95},
			obs:     []Observation{agg("p95_latency", 0.0421)},
			load:    Load{TargetRate: 100, AchievedRate: 99.9, MaxLag: 0.05, Sent: 2997, SendLagP99: 1.9, MaxSendLag: 0.05},
			verdict: Inconclusive,
			checks:  []string{"pass p95_latency <= 50ms: p95_latency 42.1ms <= 50ms"},
			reason:  "generator stalled: 1% of requests left more than 1.9s after their intended time (50ms allowed): the run cannot vouch for the service",
		},
		{
			name:    "a generator on schedule passes",
			objs:    []Objective{p95},
			obs:     []Observation{agg("p95_latency", 0.0421)},
			load:    Load{TargetRate: 100, AchievedRate: 99.9, MaxLag: 0.05, Sent: 2997, SendLagP99: 0.002, MaxSendLag: 0.05},
			verdict: Pass,
			checks:  []string{"pass p95_latency <= 50ms: p95_latency 42.1ms <= 50ms"},
		},

		// A sharded run whose merge lacks a shard, or has a late one, is not the plan.
		{
			name:    "a missing shard makes a passing run inconclusive",
			objs:    []Objective{p95},
			obs:     []Observation{agg("p95_latency", 0.0421)},
			load:    Load{TargetRate: 100, AchievedRate: 99.9, MaxLag: 0.05, Sent: 2997, Unsound: []string{"the load is not the whole plan: no result from shard 1/3"}},
			verdict: Inconclusive,
			checks:  []string{"pass p95_latency <= 50ms: p95_latency 42.1ms <= 50ms"},
			reason:  "the load is not the whole plan: no result from shard 1/3: the run cannot vouch for the service",
		},

		// The generator must have applied the load it promised.
		{
			name:    "a generator exactly at its allowed lag passes",
			objs:    []Objective{p95},
			obs:     []Observation{agg("p95_latency", 0.0421)},
			load:    Load{TargetRate: 100, AchievedRate: 95, MaxLag: 0.05, Sent: 2850},
			verdict: Pass,
			checks:  []string{"pass p95_latency <= 50ms: p95_latency 42.1ms <= 50ms"},
		},
		{
			name:    "a generator beyond its allowed lag makes a passing run inconclusive",
			objs:    []Objective{p95},
			obs:     []Observation{agg("p95_latency", 0.0421)},
			load:    Load{TargetRate: 100, AchievedRate: 87.7, MaxLag: 0.05, Sent: 2631},
			verdict: Inconclusive,
			checks:  []string{"pass p95_latency <= 50ms: p95_latency 42.1ms <= 50ms"},
			reason:  "generator fell 12.3% behind its target rate (87.7/s of 100/s, 5% allowed): the run cannot vouch for the service",
		},
		{
			name:    "a lagging generator with failing checks is inconclusive and names the failures",
			objs:    []Objective{p95},
			obs:     []Observation{agg("p95_latency", 0.0732)},
			load:    Load{TargetRate: 100, AchievedRate: 50, MaxLag: 0.05, Sent: 1500},
			verdict: Inconclusive,
			checks:  []string{"fail p95_latency <= 50ms: p95_latency 73.2ms > 50ms (+46%)"},
			reason: "generator fell 50.0% behind its target rate (50/s of 100/s, 5% allowed): the run cannot vouch for the service; " +
				"1 of 1 check failed: p95_latency 73.2ms > 50ms (+46%)",
		},
		// A breach of a share or a cost per request stands however the generator
		// kept up: 20% 5xx with a 10% shortfall once read inconclusive, which the
		// Action's fail-on: fail let through.
		{
			name:    "a lagging generator does not hide an error rate breach",
			objs:    []Objective{{Name: "error_rate", Metric: "error_rate", Unit: units.Ratio, Max: ptr(0.01)}, p95},
			obs:     []Observation{agg("error_rate", 0.20), agg("p95_latency", 0.0421)},
			load:    Load{TargetRate: 100, AchievedRate: 90, MaxLag: 0.05, Sent: 2700},
			verdict: Fail,
			checks:  []string{"fail error_rate <= 1%: error_rate 20% > 1% (+1900%)", "pass p95_latency <= 50ms: p95_latency 42.1ms <= 50ms"},
			reason: "1 of 2 checks failed: error_rate 20% > 1% (+1900%); " +
				"and generator fell 10.0% behind its target rate (90/s of 100/s, 5% allowed): the run cannot vouch for the service",
		},
		{
			name:    "a stalled generator does not hide a cost per request breach",
			objs:    []Objective{{Name: "cpu_per_request", Metric: "cpu_per_request", Unit: units.Seconds, Max: ptr(0.002)}},
			obs:     []Observation{agg("cpu_per_request", 0.004)},
			load:    Load{TargetRate: 100, AchievedRate: 99.9, MaxLag: 0.05, Sent: 2997, SendLagP99: 0.09, MaxSendLag: 0.05},
			verdict: Fail,
			checks:  []string{"fail cpu_per_request <= 2ms: cpu_per_request 4ms > 2ms (+100%)"},
		},
		// Part of a cost per request is fixed, so fewer requests than planned
		// each carry more of it: taken as all fixed and spread over the plan,
		// 2.5ms at two thirds of the plan is 1.67ms, under the limit.
		{
			name:    "a cost per request breach a short load can explain is inconclusive",
			objs:    []Objective{{Name: "cpu_per_request", Metric: "cpu_per_request", Unit: units.Seconds, Max: ptr(0.002)}},
			obs:     []Observation{agg("cpu_per_request", 0.0025)},
			load:    Load{TargetRate: 60, AchievedRate: 40, MaxLag: 0.05, Sent: 280, Unsound: []string{"the load is not the whole plan: no result from shard 1/3"}},
			verdict: Inconclusive,
			checks:  []string{"fail cpu_per_request <= 2ms: cpu_per_request 2.5ms > 2ms (+25%)"},
			reason:  "the load is not the whole plan: no result from shard 1/3: the run cannot vouch for the service; 1 of 1 check failed: cpu_per_request 2.5ms > 2ms (+25%)",
		},
		{
			name:    "a cost per request breach a short load cannot explain stands",
			objs:    []Objective{{Name: "allocs_per_request", Metric: "allocs_per_request", Unit: units.None, Max: ptr(400)}},
			obs:     []Observation{agg("allocs_per_request", 900)},
			load:    Load{TargetRate: 60, AchievedRate: 40, MaxLag: 0.05, Sent: 280, Unsound: []string{"the load is not the whole plan: no result from shard 1/3"}},
			verdict: Fail,
			checks:  []string{"fail allocs_per_request <= 400: allocs_per_request 900 > 400 (+125%)"},
		},
		{
			name:    "a cost per request breach beside an unknown shortfall is inconclusive",
			objs:    []Objective{{Name: "cpu_per_request", Metric: "cpu_per_request", Unit: units.Seconds, Max: ptr(0.002)}},
			obs:     []Observation{agg("cpu_per_request", 0.004)},
			load:    Load{TargetRate: 100, AchievedRate: math.NaN(), MaxLag: 0.05, Sent: 2997},
			verdict: Inconclusive,
			checks:  []string{"fail cpu_per_request <= 2ms: cpu_per_request 4ms > 2ms (+100%)"},
		},
		{
			name:    "a lagging generator with only a throughput shortfall is inconclusive: less sent, less served",
			objs:    []Objective{tps},
			obs:     []Observation{agg("throughput", 88)},
			load:    Load{TargetRate: 100, AchievedRate: 88, MaxLag: 0.05, Sent: 2640},
			verdict: Inconclusive,
			checks:  []string{"fail throughput >= 95/s: throughput 88/s < 95/s (-7%)"},
		},
		{
			name:    "no lag allowed and any shortfall is inconclusive",
			objs:    []Objective{p95},
			obs:     []Observation{agg("p95_latency", 0.0421)},
			load:    Load{TargetRate: 100, AchievedRate: 99.9, Sent: 2997},
			verdict: Inconclusive,
			reason:  "generator fell 0.1% behind its target rate (99.9/s of 100/s, 0% allowed): the run cannot vouch for the service",
			checks:  []string{"pass p95_latency <= 50ms: p95_latency 42.1ms <= 50ms"},
		},
		{
			name:    "a target rate of zero is inconclusive",
			objs:    []Objective{p95},
			obs:     []Observation{agg("p95_latency", 0.0421)},
			load:    Load{AchievedRate: 99, MaxLag: 0.05, Sent: 2970},
			verdict: Inconclusive,
			checks:  []string{"pass p95_latency <= 50ms: p95_latency 42.1ms <= 50ms"},
			reason:  "generator reported no target rate: the run cannot vouch for the service",
		},
		{
			name:    "a generator that sent nothing is inconclusive",
			objs:    []Objective{p95},
			obs:     []Observation{agg("p95_latency", 0.0421)},
			load:    Load{TargetRate: 100, AchievedRate: 100, MaxLag: 0.05},
			verdict: Inconclusive,
			checks:  []string{"pass p95_latency <= 50ms: p95_latency 42.1ms <= 50ms"},
			reason:  "generator sent no requests: the run cannot vouch for the service",
		},
		{
			name:    "a NaN achieved rate is inconclusive",
			objs:    []Objective{p95},
			obs:     []Observation{agg("p95_latency", 0.0421)},
			load:    Load{TargetRate: 100, AchievedRate: math.NaN(), MaxLag: 0.05, Sent: 10},
			verdict: Inconclusive,
			checks:  []string{"pass p95_latency <= 50ms: p95_latency 42.1ms <= 50ms"},
			reason:  "generator reported no achieved rate: the run cannot vouch for the service",
		},
		{
			name:    "an allowed lag outside [0, 1) is inconclusive",
			objs:    []Objective{p95},
			obs:     []Observation{agg("p95_latency", 0.0421)},
			load:    Load{TargetRate: 100, AchievedRate: 1, MaxLag: 1, Sent: 10},
			verdict: Inconclusive,
			checks:  []string{"pass p95_latency <= 50ms: p95_latency 42.1ms <= 50ms"},
			reason:  "allowed generator lag 1 is not a ratio in [0, 1): the run cannot vouch for the service",
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			r := Evaluate(paired(tt.objs, tt.obs), tt.load)
			assert.Equal(t, tt.verdict, r.Verdict, "reason: %s", r.Reason)
			assert.Equal(t, tt.checks, lines(r.Checks))
			if tt.reason != "" {
				assert.Equal(t, tt.reason, r.Reason)
			}
			if !math.IsNaN(tt.load.AchievedRate) {
				assert.Equal(t, tt.load, r.Load)
			}
			require.NotEmpty(t, r.Reason)
		})
	}
}

func TestEvaluateKeepsObjectiveOrderAndQueries(t *testing.T) {
	objs := []Objective{tps, rss, p95}
	obs := []Observation{
		agg("throughput", 99),
		each("memory_rss", "replica-b", 1.0, "replica-a", 2.0),
		agg("p95_latency", 0.0421),
	}
	r := Evaluate(paired(objs, obs), steady)
	require.Equal(t, Pass, r.Verdict, r.Reason)

	var got []string
	for _, c := range r.Checks {
		got = append(got, c.Name+"/"+c.Instance+" "+c.Query)
		assert.True(t, c.HasObserved, c.Name)
	}
	assert.Equal(t, []string{
		"throughput/ q:throughput",
		"memory_rss/replica-a q:memory_rss",
		"memory_rss/replica-b q:memory_rss",
		"p95_latency/ q:p95_latency",
	}, got)
	assert.Equal(t, 2.0, r.Checks[1].Observed)
	assert.Equal(t, units.Bytes, r.Checks[1].Unit)
	assert.Equal(t, thresholds.Memory, r.Checks[1].Metric)
	assert.Equal(t, "95th percentile", r.Checks[3].Description)
}

func TestEvaluateNoDataHasNoObservedValue(t *testing.T) {
	r := Evaluate(paired([]Objective{p95}, []Observation{agg("p95_latency", math.NaN())}), steady)
	require.Len(t, r.Checks, 1)
	assert.False(t, r.Checks[0].HasObserved)
	assert.False(t, r.Checks[0].OK())
	assert.Equal(t, "q:p95_latency", r.Checks[0].Query)
}

func TestEvaluateReasonListsAtMostThreeFailures(t *testing.T) {
	objs := []Objective{p95, tps, rss}
	obs := []Observation{
		agg("p95_latency", 0.1),
		agg("throughput", 10),
		each("memory_rss", "a", 1e9, "b", 1e9, "c", 1.0),
	}
	r := Evaluate(paired(objs, obs), steady)
	require.Equal(t, Fail, r.Verdict)
	assert.Equal(t, "4 of 5 checks failed: p95_latency 100ms > 50ms (+100%); throughput 10/s < 95/s (-89%); "+
		"memory_rss on a 954MiB > 128MiB (+645%); and 1 more", r.Reason)
}

func TestEvaluateDoesNotChangeItsInputs(t *testing.T) {
	obs := []Observation{each("memory_rss", "replica-2", 1.0, "replica-1", 2.0)}
	Evaluate(paired([]Objective{rss}, obs), steady)
	assert.Equal(t, "replica-2", obs[0].Samples[0].Instance)
}

func TestEveryCheckCarriesItsObjectivesFacts(t *testing.T) {
	obj := Objective{Name: "latency_ceiling", Metric: thresholds.Latency, Quantile: 0.99, Route: "/tasks",
		Unit: units.Seconds, PerInstance: true, Max: ptr(0.2), Min: ptr(0.001)}
	r := Evaluate(paired([]Objective{obj}, []Observation{each("latency_ceiling", "replica-1", 0.1, "replica-2", 0.3)}), steady)
	require.Len(t, r.Checks, 4)
	for _, c := range r.Checks {
		assert.Equal(t, thresholds.Latency, c.Metric)
		assert.Equal(t, 0.99, c.Quantile)
		assert.Equal(t, "/tasks", c.Route)
		assert.Equal(t, units.Seconds, c.Unit)
	}
}
