package gate

import (
	"encoding/json"
	"io"
	"math"
	"net/http"
	"net/http/httptest"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/prometheus/prometheus/promql"
	"github.com/prometheus/prometheus/promql/promqltest"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/perfgate/perfgate/perftest/internal/load"
	"github.com/perfgate/perfgate/perftest/internal/promq"
	"github.com/perfgate/perfgate/perftest/internal/report"
	"github.com/perfgate/perfgate/perftest/internal/verdict"
	"github.com/perfgate/perfgate/thresholds"
)

// engineStore serves Prometheus's query API from Prometheus's own engine
// over series written in promqltest's notation, one scrape a second from
// t=0: the seam the gate reads through, with real PromQL behind it.
func engineStore(t *testing.T, series string) *promq.Client {
	t.Helper()
	var lines []string // one load command: a blank line would end it
	for _, l := range strings.Split(series, "\n") {
		if strings.TrimSpace(l) != "" {
			lines = append(lines, l)
		}
	}
	st := promqltest.LoadedStorage(t, "load 1s\n"+strings.Join(lines, "\n"))
	eng := promqltest.NewTestEngine(t, false, 5*time.Minute, 1e6)
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "application/json")
		_ = r.ParseForm()
		if r.URL.Path != "/api/v1/query" {
			w.WriteHeader(http.StatusBadRequest)
			io.WriteString(w, `{"status":"error","errorType":"bad_data","error":"only instant queries here"}`)
			return
		}
		at, _ := strconv.ParseFloat(r.Form.Get("time"), 64)
		q, err := eng.NewInstantQuery(r.Context(), st, nil, r.Form.Get("query"), time.UnixMilli(int64(math.Round(at*1000))))
		if err != nil {
			w.WriteHeader(http.StatusBadRequest)
			json.NewEncoder(w).Encode(map[string]string{"status": "error", "errorType": "bad_data", "error": err.Error()})
			return
		}
		res := q.Exec(r.Context())
		if res.Err != nil {
			w.WriteHeader(http.StatusUnprocessableEntity)
			json.NewEncoder(w).Encode(map[string]string{"status": "error", "errorType": "execution", "error": res.Err.Error()})
			return
		}
		type sample struct {
			Metric map[string]string `json:"metric"`
			Value  [2]any            `json:"value"`
		}
		out := []sample{}
		if v, ok := res.Value.(promql.Vector); ok {
			for _, s := range v {
				out = append(out, sample{s.Metric.Map(), [2]any{float64(s.T) / 1000, strconv.FormatFloat(s.F, 'g', -1, 64)}})
			}
		}
		json.NewEncoder(w).Encode(map[string]any{"status": "success", "data": map[string]any{"resultType": "vector", "result": out}})
	}))
	t.Cleanup(srv.Close)
	pc, err := promq.New(srv.URL)
	require.NoError(t, err)
	return pc
}

// window is the measured window of these tests: [5s, 30s] of the loaded series.
func windowLoad() *load.Result {
	return &load.Result{Start: time.Unix(0, 0), MeasuredFrom: time.Unix(5, 0), End: time.Unix(30, 0),
		TargetRate: 100, AchievedRate: 100, Sent: 2500, Completed: 2500}
}

var p95Under50ms = thresholds.SLO{Name: "p95_latency", Metric: thresholds.Latency, Quantile: 0.95, Max: ptr(0.05), Unit: thresholds.Seconds}

// readWindow runs the gate's reading and judging of the window.
func readWindow(t *testing.T, pc *promq.Client, spec *thresholds.Spec, instances []string) report.Run {
	t.Helper()
	series := promq.SeriesOf(spec.ServiceOrDefault())
	if spec.Target != nil {
		series.Selector = spec.Target.Query.Selector
	}
	run, err := measure(t.Context(), Options{Spec: spec}, report.Run{}, window{Prom: pc, Series: series, Load: windowLoad(), Names: instances})
	require.NoError(t, err)
	return run
}

// Per second, replica-1 answers 100 requests under 1 ms and replica-2 100
// requests in 100–250 ms: the slow one decides the p95 of both.
const fastReplica = `
  up{job="tasksvc",instance="replica-1"} 1x35
  tasksvc_http_requests_total{job="tasksvc",instance="replica-1",route="/tasks",code="200"} 0+100x35
  tasksvc_http_request_duration_seconds_bucket{job="tasksvc",instance="replica-1",route="/tasks",le="0.001"} 0+100x35
  tasksvc_http_request_duration_seconds_bucket{job="tasksvc",instance="replica-1",route="/tasks",le="0.25"} 0+100x35
  tasksvc_http_request_duration_seconds_bucket{job="tasksvc",instance="replica-1",route="/tasks",le="+Inf"} 0+100x35
`

// A slow replica that dies between the window's end and the instant it is
// read takes its series with it: read at the window's end, replicas_up
// passed, and so did the p95 of the replica left.
func TestAReplicaThatDiesBeforeTheWindowIsReadFails(t *testing.T) {
	pc := engineStore(t, fastReplica+`
  up{job="tasksvc",instance="replica-2"} 1x30 0x5
  tasksvc_http_requests_total{job="tasksvc",instance="replica-2",route="/tasks",code="200"} 0+100x30 stale
  tasksvc_http_request_duration_seconds_bucket{job="tasksvc",instance="replica-2",route="/tasks",le="0.001"} 0x30 stale
  tasksvc_http_request_duration_seconds_bucket{job="tasksvc",instance="replica-2",route="/tasks",le="0.25"} 0+100x30 stale
  tasksvc_http_request_duration_seconds_bucket{job="tasksvc",instance="replica-2",route="/tasks",le="+Inf"} 0+100x30 stale
`)
	run := readWindow(t, pc, &thresholds.Spec{SLOs: []thresholds.SLO{p95Under50ms}, Load: thresholds.Load{MaxLag: 0.05}},
		[]string{"replica-1", "replica-2"})
	assert.Equal(t, verdict.Fail, run.Result.Verdict, run.Result.Reason)
	assert.Contains(t, run.Result.Reason, "replicas_up on replica-2")
}

// Its twin: both replicas fast and up to the read, the run passes.
func TestTwoHealthyReplicasPassTheSameReading(t *testing.T) {
	pc := engineStore(t, fastReplica+strings.ReplaceAll(fastReplica, "replica-1", "replica-2"))
	run := readWindow(t, pc, &thresholds.Spec{SLOs: []thresholds.SLO{p95Under50ms}, Load: thresholds.Load{MaxLag: 0.05}},
		[]string{"replica-1", "replica-2"})
	assert.Equal(t, verdict.Pass, run.Result.Verdict, run.Result.Reason)
}

// A replica that restarts inside the window counts from 0 again: newest
// minus oldest then reads its slow second half as a handful of requests
// (here p95 in (0, 1ms], a pass). The reset makes the window unreadable.
func TestACounterResetInTheWindowIsInconclusive(t *testing.T) {
	pc := engineStore(t, `
  up{job="tasksvc",instance="replica-1"} 1x35
  tasksvc_http_requests_total{job="tasksvc",instance="replica-1",route="/tasks",code="200"} 0+100x20 0+40x15
  tasksvc_http_request_duration_seconds_bucket{job="tasksvc",instance="replica-1",route="/tasks",le="0.001"} 0+100x20 0x15
  tasksvc_http_request_duration_seconds_bucket{job="tasksvc",instance="replica-1",route="/tasks",le="0.25"} 0+100x20 0+40x15
  tasksvc_http_request_duration_seconds_bucket{job="tasksvc",instance="replica-1",route="/tasks",le="+Inf"} 0+100x20 0+40x15
`)
	run := readWindow(t, pc, &thresholds.Spec{SLOs: []thresholds.SLO{p95Under50ms}, Load: thresholds.Load{MaxLag: 0.05}}, []string{"replica-1"})
	assert.Equal(t, verdict.Inconclusive, run.Result.Verdict, run.Result.Reason)
	assert.Contains(t, run.Result.Reason, "counters of replica-1 went back to 0 in the window")
}

// A deployment that does not name its instances, whose selector matches the
// series of one of its two URLs: the slow one was never read, and it passed.
func TestATargetWhoseSelectorMissesAnInstanceIsInconclusive(t *testing.T) {
	slow := strings.ReplaceAll(strings.ReplaceAll(fastReplica, "replica-1", "replica-2"), `job="tasksvc"`, `job="other"`)
	pc := engineStore(t, fastReplica+slow)
	spec := &thresholds.Spec{SLOs: []thresholds.SLO{p95Under50ms}, Load: thresholds.Load{MaxLag: 0.05},
		Target: &thresholds.Target{URLs: []string{"http://127.0.0.1:1", "http://127.0.0.1:2"}}}
	run := readWindow(t, pc, spec, nil)
	assert.Equal(t, verdict.Inconclusive, run.Result.Verdict, run.Result.Reason)
	assert.Contains(t, run.Result.Reason, `{job="tasksvc"} matches 1 instance(s) (replica-1) but the load went to 2 URLs`)

	// Its twin: a selector that finds both is read, each replica counted.
	spec.Target.Query.Selector = []string{`job=~"tasksvc|other"`}
	run = readWindow(t, pc, spec, nil)
	assert.Equal(t, verdict.Pass, run.Result.Verdict, run.Result.Reason)
	assert.Len(t, checksOf(run.Result, ReplicasUp), 2, "the instances found are each held to replicas_up")
}

// A replica that hangs on one request in fifty: the client gives up on them
// after its timeout and the server never records them, so its p99 read from
// the histogram alone was 1 ms, a pass, with the client's error rate within
// budget. Counted in, the p99 of that replica is beyond the timeout.
func TestRequestsTheClientGaveUpOnCountTowardLatency(t *testing.T) {
	pc := engineStore(t, fastReplica+strings.ReplaceAll(fastReplica, "replica-1", "replica-2"))
	perReplica := thresholds.SLO{Name: "p99_latency_per_replica", Metric: thresholds.Latency, Quantile: 0.99,
		Scope: thresholds.PerInstance, Max: ptr(0.150), Unit: thresholds.Seconds}
	spec := &thresholds.Spec{SLOs: []thresholds.SLO{perReplica}, Load: thresholds.Load{MaxLag: 0.05, Timeout: 2 * time.Second}}
	read := func(hung int64) report.Run {
		res := windowLoad()
		res.ByStatus = map[string]int64{"timeout": hung}
		res.TimedOutByTarget = []int64{0, hung}
		run, err := measure(t.Context(), Options{Spec: spec}, report.Run{},
			window{Prom: pc, Series: promq.DefaultSeries, Load: res, Names: []string{"replica-1", "replica-2"}})
		require.NoError(t, err)
		return run
	}
	run := read(54) // 2% of replica-2's 2,650 requests
	assert.Equal(t, verdict.Fail, run.Result.Verdict, run.Result.Reason)
	checks := checksOf(run.Result, perReplica.Name)
	require.Len(t, checks, 2)
	assert.Equal(t, verdict.StatusPass, checks[0].Status, "replica-1 answered everything: %s", checks[0].Why)
	assert.Equal(t, verdict.StatusFail, checks[1].Status, checks[1].Why)
	assert.Contains(t, checks[1].Why, "counting 54 requests the client gave up on")

	// Its twin: nothing given up on, the same histograms pass.
	assert.Equal(t, verdict.Pass, read(0).Result.Verdict)
}

func checksOf(r verdict.Result, name string) []verdict.Check {
	var out []verdict.Check
	for _, c := range r.Checks {
		if c.Name == name {
			out = append(out, c)
		}
	}
	return out
}
