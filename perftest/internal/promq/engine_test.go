package promq

import (
	"context"
	"math"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/prometheus/prometheus/promql"
	"github.com/prometheus/prometheus/promql/promqltest"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/perfgate/perfgate/thresholds"
)

// These tests run the gate's PromQL on Prometheus's own engine over scrapes
// laid out like a run: one scrape a second from t=0, the window [5s, 30s],
// the queries evaluated where the gate evaluates them.

var (
	windowFrom = time.Unix(5, 0)
	windowTo   = time.Unix(30, 0)
)

func evalAt(t *testing.T, series, q string, at time.Time) []Sample {
	t.Helper()
	st := promqltest.LoadedStorage(t, "load 1s\n"+strings.TrimLeft(series, "\n"))
	eng := promqltest.NewTestEngine(t, false, 5*time.Minute, 1e6)
	qry, err := eng.NewInstantQuery(context.Background(), st, nil, q, at)
	require.NoError(t, err, q)
	res := qry.Exec(context.Background())
	require.NoError(t, res.Err, q)
	var out []Sample
	switch v := res.Value.(type) {
	case promql.Vector:
		for _, s := range v {
			out = append(out, Sample{Instance: s.Metric.Get("instance"), Le: s.Metric.Get("le"), Value: s.F})
		}
	case promql.Scalar:
		out = append(out, Sample{Value: v.V})
	}
	return out
}

func query(t *testing.T, series string, slo thresholds.SLO) []Sample {
	return evalAt(t, series, DefaultSeries.Query(slo, windowTo.Sub(windowFrom)), DefaultSeries.At(slo.Metric, windowTo))
}

// 88 requests a second answered 200 throughout; 50 requests answered 500
// between the scrapes at 9 s and 10 s, on a route that had none before, so the
// 500 series is created lazily and its first sample is already 50.
const lazy500s = `
  tasksvc_http_requests_total{job="tasksvc",instance="replica-1",route="/tasks",code="200"} 0+88x35
  tasksvc_http_requests_total{job="tasksvc",instance="replica-1",route="/tasks",code="500"} _x10 50x25
`

func TestErrorRateCountsALazilyCreated5xxSeries(t *testing.T) {
	got := query(t, lazy500s, thresholds.SLO{Metric: thresholds.ErrorRate})
	require.Len(t, got, 1)
	// 50 errors of 50 + 88×26 requests counted between the scrapes at 5 s and 31 s.
	assert.InDelta(t, 50.0/(50+88*26), got[0].Value, 1e-9)

	// The query it replaces, rate() with "or … * 0", reads 0%: the failure this guards against.
	old := `(sum (rate(tasksvc_http_requests_total{code=~"5.."}[25s])) or sum (rate(tasksvc_http_requests_total[25s])) * 0) / sum (rate(tasksvc_http_requests_total[25s]))`
	before := evalAt(t, lazy500s, old, windowTo)
	require.Len(t, before, 1)
	assert.Equal(t, 0.0, before[0].Value)

	per := query(t, lazy500s, thresholds.SLO{Metric: thresholds.ErrorRate, Scope: thresholds.PerInstance})
	require.Len(t, per, 1)
	assert.Equal(t, "replica-1", per[0].Instance)
	assert.InDelta(t, 50.0/(50+88*26), per[0].Value, 1e-9)
}

func TestErrorRateOfACleanRunIsZeroNotNoData(t *testing.T) {
	got := query(t, `  tasksvc_http_requests_total{job="tasksvc",instance="replica-1",route="/tasks",code="200"} 0+88x35`+"\n",
		thresholds.SLO{Metric: thresholds.ErrorRate})
	require.Len(t, got, 1)
	assert.Equal(t, 0.0, got[0].Value)
}

// The last second's requests reach Prometheus only at the scrape after the
// window: a query at the window's end would not see them.
func TestErrorRateSeesRequestsScrapedAfterTheWindow(t *testing.T) {
	series := `
  tasksvc_http_requests_total{job="tasksvc",instance="replica-1",route="/tasks",code="200"} 0+100x30 3000x5
  tasksvc_http_requests_total{job="tasksvc",instance="replica-1",route="/tasks",code="500"} 0x30 100x5
`
	got := query(t, series, thresholds.SLO{Metric: thresholds.ErrorRate})
	require.Len(t, got, 1)
	assert.InDelta(t, 100.0/2600, got[0].Value, 1e-9)
}

// Buckets read with Quantiles give histogram_quantile's estimate and the bucket around it.
func TestQuantilesAgreeWithHistogramQuantile(t *testing.T) {
	// Per second: 90 requests under 1 ms, 8 in 1–2.5 ms, 2 in 100–250 ms.
	series := `
  tasksvc_http_request_duration_seconds_bucket{job="tasksvc",instance="r1",route="/tasks",le="0.001"} 0+90x35
  tasksvc_http_request_duration_seconds_bucket{job="tasksvc",instance="r1",route="/tasks",le="0.0025"} 0+98x35
  tasksvc_http_request_duration_seconds_bucket{job="tasksvc",instance="r1",route="/tasks",le="0.1"} 0+98x35
  tasksvc_http_request_duration_seconds_bucket{job="tasksvc",instance="r1",route="/tasks",le="0.25"} 0+100x35
  tasksvc_http_request_duration_seconds_bucket{job="tasksvc",instance="r1",route="/tasks",le="+Inf"} 0+100x35
`
	buckets := query(t, series, thresholds.SLO{Metric: thresholds.Latency, Quantile: 0.99})
	for _, q := range []float64{0.5, 0.95, 0.99} {
		bs, err := Quantiles(buckets, q)
		require.NoError(t, err)
		require.Len(t, bs, 1)
		want := evalAt(t, series, `histogram_quantile(`+ftoa(q)+`, sum by (le) (rate(tasksvc_http_request_duration_seconds_bucket[25s])))`, windowTo)
		assert.InDelta(t, want[0].Value, bs[0].Est, 1e-9, "q=%v", q)
		assert.True(t, bs[0].Lo < bs[0].Est && bs[0].Est <= bs[0].Hi, "%+v", bs[0])
	}
	p99, _ := Quantiles(buckets, 0.99)
	// The p99 lies in the 100–250 ms bucket: interpolation says 175 ms; the truth
	// may be anything in the bucket, so a 150 ms limit cannot be judged.
	assert.Equal(t, 0.1, p99[0].Lo)
	assert.Equal(t, 0.25, p99[0].Hi)
}

func TestQuantilesBeyondTheLargestBucket(t *testing.T) {
	bs, err := Quantiles([]Sample{{Le: "0.1", Value: 10}, {Le: "10", Value: 50}, {Le: "+Inf", Value: 100}}, 0.99)
	require.NoError(t, err)
	assert.Equal(t, Bound{Est: 10, Lo: 10, Hi: math.Inf(1), Count: 100, Total: 100}, bs[0])

	none, err := Quantiles([]Sample{{Le: "0.1", Value: 0}, {Le: "+Inf", Value: 0}}, 0.99)
	require.NoError(t, err)
	assert.True(t, math.IsNaN(none[0].Lo), "no requests, no quantile")

	_, err = Quantiles([]Sample{{Le: "0.1", Value: 1}}, 0.5)
	assert.ErrorContains(t, err, "no +Inf bucket")
	_, err = Quantiles([]Sample{{Le: "", Value: 1}}, 0.5)
	assert.ErrorContains(t, err, "not a histogram")
}

func TestCostPerRequestDividesByRequestsServed(t *testing.T) {
	series := `
  tasksvc_http_requests_total{job="tasksvc",variant="candidate",instance="r1",route="/tasks",code="200"} 0+100x35
  tasksvc_http_requests_total{job="tasksvc",variant="candidate",instance="r1",route="/metrics",code="200"} 0+1x35
  go_memstats_mallocs_total{job="tasksvc",variant="candidate",instance="r1"} 0+12000x35
  go_memstats_mallocs_total{job="tasksvc",variant="baseline",instance="r2"} 0+99x35
`
	got := evalAt(t, series, DefaultSeries.VariantCostQuery(thresholds.AllocsPerRequest, "candidate", 25*time.Second), DefaultSeries.At(thresholds.AllocsPerRequest, windowTo))
	require.Len(t, got, 1)
	assert.InDelta(t, 120, got[0].Value, 1e-9, "scrapes are not requests, and the baseline's counters stay out")
}

// A growth is the gauge's rise over the window per 1,000 requests served by
// the variant's replicas together; a heap that shrank reads negative.
func TestGrowthIsPerThousandRequestsServed(t *testing.T) {
	series := `
  tasksvc_http_requests_total{job="tasksvc",variant="candidate",instance="r1",route="/tasks",code="200"} 0+100x35
  tasksvc_http_requests_total{job="tasksvc",variant="candidate",instance="r2",route="/tasks",code="201"} 0+100x35
  tasksvc_http_requests_total{job="tasksvc",variant="candidate",instance="r1",route="/metrics",code="200"} 0+1x35
  tasksvc_http_requests_total{job="tasksvc",variant="baseline",instance="r3",route="/tasks",code="200"} 0+100x35
  go_gc_heap_live_bytes{job="tasksvc",variant="candidate",instance="r1"} 4000000+10000x35
  go_gc_heap_live_bytes{job="tasksvc",variant="candidate",instance="r2"} 4000000+10000x35
  go_gc_heap_live_bytes{job="tasksvc",variant="baseline",instance="r3"} 4000000-500x35
  go_goroutines{job="tasksvc",variant="candidate",instance="r1"} 10+3x35
  go_goroutines{job="tasksvc",variant="candidate",instance="r2"} 10x35
  tasksvc_process_resident_memory_bytes{job="tasksvc",variant="candidate",instance="r1"} 20000000+40000x35
  tasksvc_process_resident_memory_bytes{job="tasksvc",variant="candidate",instance="r2"} 20000000x35
`
	w, at := windowTo.Sub(windowFrom), DefaultSeries.At(thresholds.CPUPerRequest, windowTo)
	heap := evalAt(t, series, DefaultSeries.GrowthQuery(thresholds.CompareHeapGrowth, "candidate", w), at)
	require.Len(t, heap, 1)
	// 2 × 26 scrapes × 10 kB kept, for 2 × 26 × 100 requests: 100 B a request, 100 kB per 1,000.
	assert.InDelta(t, 100000, heap[0].Value, 1e-6, "scrapes are not requests")
	shrank := evalAt(t, series, DefaultSeries.GrowthQuery(thresholds.CompareHeapGrowth, "baseline", w), at)
	require.Len(t, shrank, 1)
	assert.InDelta(t, -5000, shrank[0].Value, 1e-6)
	gs := evalAt(t, series, DefaultSeries.GrowthQuery(thresholds.CompareGoroutineGrowth, "candidate", w), at)
	require.Len(t, gs, 1)
	assert.InDelta(t, 15, gs[0].Value, 1e-9, "3 goroutines a second on one replica, 200 requests a second in all")
	rss := evalAt(t, series, DefaultSeries.GrowthQuery(thresholds.CompareRSSGrowth, "candidate", w), at)
	require.Len(t, rss, 1)
	assert.InDelta(t, 200000, rss[0].Value, 1e-6, "the resident set: 40 kB a second on one replica, 200 requests a second in all")

	level := evalAt(t, series, DefaultSeries.LevelQuery(thresholds.CompareRSSGrowth, "candidate"), at)
	require.Len(t, level, 1)
	// Read at the 31st scrape, where the growth's window ends.
	assert.InDelta(t, 40e6+40000*31, level[0].Value, 1e-6, "both replicas' resident sets at the window's end")
	n := evalAt(t, series, DefaultSeries.ServedQuery("candidate"), at)
	require.Len(t, n, 1)
	assert.InDelta(t, 2*100*31, n[0].Value, 1e-6, "requests served since start, scrapes left out")

	none := DefaultSeries
	none.HeapLive = ""
	assert.Empty(t, none.GrowthQuery(thresholds.CompareHeapGrowth, "candidate", w), "no gauge, no query: the metric has no data")
	none.Memory = ""
	assert.Empty(t, none.GrowthQuery(thresholds.CompareRSSGrowth, "candidate", w))
	assert.Empty(t, none.LevelQuery(thresholds.CompareRSSGrowth, "candidate"))
}

func ftoa(f float64) string { return strconvFormat(f) }

func strconvFormat(f float64) string { return strconv.FormatFloat(f, 'g', -1, 64) }

// A service with names and labels of its own: the queries follow its
// service section, and the reference names find nothing in its series.
func TestQueriesFollowTheServiceSection(t *testing.T) {
	kv := Series{Job: "kvsvc", ServiceMetrics: thresholds.ServiceMetrics{
		Requests: "kv_requests_total", Duration: "kv_request_duration_seconds",
		Labels: thresholds.Labels{Method: "verb", Route: "path", Code: "status"}, IgnoreRoutes: []string{"/metrics", "/healthz"},
		CPU: "process_cpu_seconds_total", Memory: "process_resident_memory_bytes",
		Allocs: "go_memstats_mallocs_total",
	}}
	const series = `
  kv_requests_total{job="kvsvc",instance="r1",path="/kv/{key}",verb="GET",status="200"} 0+90x35
  kv_requests_total{job="kvsvc",instance="r1",path="/kv/{key}",verb="GET",status="503"} 0+10x35
  kv_requests_total{job="kvsvc",instance="r1",path="/metrics",verb="GET",status="200"} 0+1x35
  kv_request_duration_seconds_bucket{job="kvsvc",instance="r1",path="/kv/{key}",verb="GET",le="0.001"} 0+95x35
  kv_request_duration_seconds_bucket{job="kvsvc",instance="r1",path="/kv/{key}",verb="GET",le="+Inf"} 0+100x35
  go_memstats_mallocs_total{job="kvsvc",instance="r1"} 0+3000x35
`
	w := windowTo.Sub(windowFrom)
	errs := evalAt(t, series, kv.Query(thresholds.SLO{Metric: thresholds.ErrorRate}, w), DefaultSeries.At(thresholds.ErrorRate, windowTo))
	require.Len(t, errs, 1)
	assert.InDelta(t, 0.10, errs[0].Value, 1e-9, "503s over requests served, the scrapes left out")

	allocs := evalAt(t, series, kv.Query(thresholds.SLO{Metric: thresholds.AllocsPerRequest}, w), DefaultSeries.At(thresholds.AllocsPerRequest, windowTo))
	require.Len(t, allocs, 1)
	assert.InDelta(t, 30, allocs[0].Value, 1e-9)

	buckets := evalAt(t, series, kv.Query(thresholds.SLO{Metric: thresholds.Latency, Quantile: 0.95}, w), DefaultSeries.At(thresholds.Latency, windowTo))
	assert.Len(t, buckets, 2)

	assert.Empty(t, evalAt(t, series, DefaultSeries.Query(thresholds.SLO{Metric: thresholds.ErrorRate}, w), DefaultSeries.At(thresholds.ErrorRate, windowTo)),
		"the reference names read no data here, never a pass")
	assert.Empty(t, kv.PerRequestQuery(thresholds.BytesPerRequest, `job="kvsvc"`, false, w), "no bytes counter: nothing to query")
}

// Requests the client gave up on after 2 s: certain ones push the p99 past
// every bucket; ones that may or may not belong to the series leave it
// anywhere from its own bucket to beyond the largest.
func TestQuantilesCountingTheRequestsTheClientGaveUpOn(t *testing.T) {
	buckets := []Sample{{Le: "0.001", Value: 95}, {Le: "0.25", Value: 100}, {Le: "+Inf", Value: 100}}
	certain, err := QuantilesCounting(buckets, 0.99, func(string) Unanswered { return Unanswered{Certain: 5, After: 2} })
	require.NoError(t, err)
	assert.Equal(t, Bound{Est: 0.25, Lo: 0.25, Hi: math.Inf(1), Count: 105, Total: 105, Unanswered: 5}, certain[0])

	possible, err := QuantilesCounting(buckets, 0.99, func(string) Unanswered { return Unanswered{Possible: 5, After: 2} })
	require.NoError(t, err)
	assert.Equal(t, 0.001, possible[0].Lo, "had they gone elsewhere, the p99 is in its own bucket")
	assert.True(t, math.IsInf(possible[0].Hi, 1))

	none, err := QuantilesCounting(buckets, 0.99, func(string) Unanswered { return Unanswered{} })
	require.NoError(t, err)
	plain, _ := Quantiles(buckets, 0.99)
	assert.Equal(t, plain, none)
}
