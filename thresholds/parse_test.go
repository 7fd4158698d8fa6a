package thresholds

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io/fs"
	"math"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/perfgate/perfgate/thresholds/units"
)

var update = flag.Bool("update", false, "rewrite testdata/*.err from the current messages")

func ptr(x float64) *float64 { return &x }

func goodFiles(t testing.TB) []string {
	files, err := filepath.Glob("testdata/*.good.yaml")
	require.NoError(t, err)
	return append([]string{DefaultFile}, files...)
}

func TestEveryCommittedSpecIsValid(t *testing.T) {
	files := goodFiles(t)
	require.GreaterOrEqual(t, len(files), 4)
	for _, file := range files {
		t.Run(file, func(t *testing.T) {
			s, err := ParseFile(file)
			require.NoError(t, err)
			require.NoError(t, s.Validate())
			assert.Equal(t, file, s.File)
			assert.NotEmpty(t, s.SLOs)
		})
	}
}

func TestCommittedSpecHasTheDocumentedProfile(t *testing.T) {
	s, err := ParseFile(DefaultFile)
	require.NoError(t, err)

	l := s.Load
	assert.Equal(t, 5*time.Second, l.WarmUp)
	assert.Equal(t, []Stage{{5 * time.Second, 40}, {20 * time.Second, 120}, {5 * time.Second, 120}}, l.Stages)
	assert.Equal(t, 30*time.Second, l.Duration())
	assert.Equal(t, 25*time.Second, l.Window())
	// The comment in slo.yaml promises 2,200 requests in the window, 88/s on average.
	assert.InDelta(t, 2200, l.Requests(l.WarmUp, l.Duration()), 1e-9)
	type tmpl struct {
		name, method, path string
		weight             int
	}
	var templates []tmpl
	for _, w := range s.Workload {
		templates = append(templates, tmpl{w.Name, w.Method, w.Path, w.Weight})
	}
	assert.Equal(t, []tmpl{
		{"list", "GET", "/tasks?limit=20", 20},
		{"get", "GET", "/tasks/${task}", 40},
		{"create", "POST", "/tasks", 20},
		{"update", "PUT", "/tasks/${task}", 10},
		{"delete", "DELETE", "/tasks/${task}", 10},
	}, templates, "the task API's read-mostly mix")
	assert.Equal(t, 128, l.MaxInFlight)
	assert.Equal(t, 2*time.Second, l.Timeout)
	assert.InDelta(t, 0.05, l.MaxLag, 1e-12)

	type row struct {
		name     string
		metric   Metric
		scope    Scope
		unit     Unit
		quantile float64
		max, min *float64
	}
	var got []row
	for _, o := range s.SLOs {
		got = append(got, row{o.Name, o.Metric, o.Scope, o.Unit, o.Quantile, o.Max, o.Min})
	}
	assert.Equal(t, []row{
		{"error_rate", ErrorRate, Aggregate, Ratio, 0, ptr(0.01), nil},
		{"p95_latency", Latency, Aggregate, Seconds, 0.95, ptr(0.05), nil},
		{"p99_latency_per_replica", Latency, PerInstance, Seconds, 0.99, ptr(0.1), nil},
		{"cpu_per_replica", CPU, PerInstance, Ratio, 0, ptr(0.2), nil},
		{"memory_per_replica", Memory, PerInstance, Bytes, 0, ptr(64 << 20), nil},
		{"throughput", Throughput, Aggregate, PerSecond, 0, nil, ptr(75)},
		{"cpu_per_request", CPUPerRequest, Aggregate, Seconds, 0, ptr(0.002), nil},
		{"allocs_per_request", AllocsPerRequest, Aggregate, None, 0, ptr(400), nil},
		{"alloc_bytes_per_request", BytesPerRequest, Aggregate, Bytes, 0, ptr(64 << 10), nil},
		{"list_p95", Custom, Aggregate, Seconds, 0, ptr(0.05), nil},
	}, got)
	assert.Contains(t, s.SLOs[9].Query, "[$window]")

	// The comparison: ten pairs of rounds, every metric but GC cycles budgeted.
	require.NotNil(t, s.Compare)
	c := s.Compare
	assert.InDelta(t, 0.01, c.Alpha, 1e-12)
	assert.Equal(t, 10, c.Rounds)
	assert.Equal(t, Round{WarmUp: time.Second, Duration: 4 * time.Second, Rate: 800}, c.Round)
	assert.InDelta(t, 3200, c.Round.Requests(), 1e-9, "the comment in slo.yaml promises 3,200 requests per round")
	assert.Less(t, MinP(c.Rounds), c.Alpha/4, "the smallest p of the committed pairs is well below alpha")
	type budget struct {
		metric   string
		unit     Unit
		up, down *float64
	}
	var budgets []budget
	for _, b := range c.Metrics {
		budgets = append(budgets, budget{b.Metric, b.Unit(), b.MaxIncrease, b.MaxDecrease})
	}
	assert.Equal(t, []budget{
		{CompareAllocs, None, ptr(0.05), nil},
		{CompareAllocBytes, Bytes, ptr(0.05), nil},
		{CompareCPUPerRequest, Seconds, ptr(0.05), nil},
		{CompareP50, Seconds, ptr(0.10), nil},
		{CompareP95, Seconds, ptr(0.15), nil},
		{CompareP99, Seconds, ptr(0.30), nil},
		{ComparePeakRSS, Bytes, ptr(0.15), nil},
		{CompareRSSGrowth, units.BytesPer1k, ptr(64 << 10), nil},
		{CompareHeapGrowth, units.BytesPer1k, ptr(64 << 10), nil},
		{CompareGoroutineGrowth, units.Per1k, ptr(5), nil},
		{CompareWaitPerRequest, units.Waited, ptr(50e-6), nil},
		{CompareQueries, None, ptr(0.05), nil},
		{CompareThroughput, PerSecond, nil, ptr(0.05)},
		{CompareErrorRate, Ratio, ptr(0.005), nil},
	}, budgets, "every comparable metric, in file order")
	assert.Less(t, MinP(c.Rounds), c.Alpha, "the committed rounds must be able to find a difference")
	require.NotNil(t, c.Contention)
	assert.Equal(t, Contention{Rounds: 8, Burst: 8}, *c.Contention)
	assert.Less(t, MinP(c.Contention.Rounds), c.Alpha, "the contention pairs must be able to find a difference")
	assert.True(t, c.Contended(CompareWaitPerRequest))
	assert.False(t, c.Contended(CompareCPUPerRequest))
	assert.Equal(t, 18, c.Pairs())
}

func TestCompareSectionTakesTheDefaults(t *testing.T) {
	s, err := ParseFile("testdata/compare.good.yaml")
	require.NoError(t, err)
	require.NotNil(t, s.Compare)
	assert.Equal(t, &Compare{
		Alpha:  DefaultCompare.Alpha,
		Rounds: DefaultCompare.Rounds,
		Round:  Round{WarmUp: DefaultCompare.Round.WarmUp, Duration: DefaultCompare.Round.Duration, Rate: 50},
		Metrics: []Budget{
			{Metric: CompareThroughput, MaxDecrease: ptr(0.025), Line: 16, Col: 5},
			{Metric: CompareP99, MaxIncrease: ptr(0.30), Line: 17, Col: 5},
		},
	}, s.Compare)

	// Without a compare section the gate runs in absolute mode only.
	m, err := ParseFile("testdata/minimal.good.yaml")
	require.NoError(t, err)
	assert.Nil(t, m.Compare)
}

// MinP is the signed-rank test with every pair moving one way: 2/2ⁿ.
func TestMinPIsTheSmallestPOfTheSignedRankTest(t *testing.T) {
	assert.Equal(t, 1.0, MinP(0))
	assert.InDelta(t, 2.0/64, MinP(6), 1e-12)
	assert.InDelta(t, 2.0/1024, MinP(10), 1e-12)
	assert.Less(t, MinP(DefaultCompare.Rounds), DefaultCompare.Alpha/4, "the default pairs reach well below the default alpha")
	assert.GreaterOrEqual(t, MinP(minRounds), 0.05, "the floor stays below what any alpha needs, so the MinP check speaks")
}

// A round duration whose product with the rounds overflows is reported as
// too long, never as a comparison of 0s.
func TestCompareDurationDoesNotOverflow(t *testing.T) {
	c := Compare{Rounds: 50, Round: Round{WarmUp: time.Minute, Duration: time.Duration(math.MaxInt64 / 4)}}
	assert.Equal(t, time.Duration(math.MaxInt64), c.Duration())
	c.Round.Duration = 8 * time.Second
	assert.Equal(t, 100*68*time.Second, c.Duration())
}

func TestQuickProfileIsShort(t *testing.T) {
	s, err := ParseFile("testdata/quick.good.yaml")
	require.NoError(t, err)
	assert.Equal(t, 3*time.Second, s.Load.WarmUp)
	assert.Equal(t, 12*time.Second, s.Load.Duration())
	assert.Equal(t, 9*time.Second, s.Load.Window())
	assert.InDelta(t, 450, s.Load.Requests(s.Load.WarmUp, s.Load.Duration()), 1e-9)
	// The self-tests need one SLO of every metric to prove each check can fail.
	seen := map[Metric]bool{}
	for _, o := range s.SLOs {
		seen[o.Metric] = true
	}
	assert.Len(t, seen, len(metrics))

	// The same requests as the committed spec, so faults show up as they would there.
	committed, err := ParseFile(DefaultFile)
	require.NoError(t, err)
	placeless := func(w []Template) []Template {
		out := slices.Clone(w)
		for i := range out {
			out[i].Line, out[i].Col = 0, 0
		}
		return out
	}
	assert.Equal(t, placeless(committed.Workload), placeless(s.Workload))
}

func TestMinimalSpecTakesTheDefaults(t *testing.T) {
	s, err := ParseFile("testdata/minimal.good.yaml")
	require.NoError(t, err)
	want := DefaultLoad
	want.Stages = []Stage{{10 * time.Second, 20}}
	assert.Equal(t, want, s.Load)
	assert.Equal(t, []Template{{Name: "home", Weight: 1, Method: "GET", Path: "/", Line: 11, Col: 5}}, s.Workload)
	require.Len(t, s.SLOs, 1)
	assert.Equal(t, SLO{Name: "errors", Metric: ErrorRate, Scope: Aggregate, Max: ptr(0), Unit: Ratio, Line: 7, Col: 5}, s.SLOs[0])
	assert.Nil(t, s.Compare)
}

func TestEveryUnitSpellingDecodes(t *testing.T) {
	s, err := ParseFile("testdata/units.good.yaml")
	require.NoError(t, err)
	assert.Equal(t, Load{
		WarmUp: 1500 * time.Millisecond,
		Stages: []Stage{
			{time.Minute, 0.5},
			{2500 * time.Millisecond, 10},
			{90 * time.Second, 25},
		},
		MaxInFlight: 1,
		Timeout:     250 * time.Millisecond,
		MaxLag:      0.005,
	}, s.Load)

	type row struct {
		name     string
		unit     Unit
		scope    Scope
		route    string
		quantile float64
		max, min *float64
		line     int
	}
	var got []row
	for _, o := range s.SLOs {
		got = append(got, row{o.Name, o.Unit, o.Scope, o.Route, o.Quantile, o.Max, o.Min, o.Line})
	}
	assert.Equal(t, []row{
		{"flow_style", Seconds, Aggregate, "", 0.5, ptr(800e-6), nil, 15},
		{"micro_sign", Seconds, Aggregate, "/tasks/{id}", 0.999, ptr(1.5), ptr(1e-6), 16},
		{"error_floor", Ratio, Aggregate, "/tasks", 0, ptr(1), ptr(0.005), 22},
		{"decimal_memory", Bytes, Aggregate, "", 0, ptr(100e6), nil, 28},
		{"binary_memory", Bytes, PerInstance, "", 0, ptr(1.5 * (1 << 30)), ptr(1024), 31},
		{"cpu_cores", Ratio, Aggregate, "", 0, ptr(1.5), nil, 36},
		{"route_throughput", PerSecond, Aggregate, "/tasks", 0, ptr(30), ptr(1), 39},
		{"custom_seconds", Seconds, Aggregate, "", 0, ptr(0.01), nil, 44},
		{"custom_ratio", Ratio, Aggregate, "", 0, ptr(0.05), nil, 49},
		{"custom_bytes", Bytes, Aggregate, "", 0, ptr(64 << 20), nil, 56},
		{"custom_rate", PerSecond, Aggregate, "", 0, nil, ptr(0.1), 61},
		{"custom_signed", None, Aggregate, "", 0, ptr(10), ptr(-10), 66},
	}, got)
	assert.Equal(t, "sum(rate(tasksvc_http_requests_total{code=~\"4..\"}[$window]))\n  / sum(rate(tasksvc_http_requests_total[$window]))\n", s.SLOs[8].Query)
	assert.Equal(t, "proves injected faults show up", s.SLOs[2].Description)

	assert.Equal(t, []Template{
		{Name: "home", Weight: 1, Method: "GET", Path: "/", Line: 74, Col: 5},
		{Name: "create", Weight: 0, Method: "POST", Path: "/items",
			Headers: []Header{{"X-Request-Id", "req-${seq}-${rand:12}"}, {"Content-Type", "text/plain"}},
			Body:    "costs $$5", Expect: []int{201},
			Capture: []Capture{{Pool: "item", Header: "Location"}, {Pool: "etag", Header: "ETag", Sticky: true}},
			Line:    75, Col: 5},
		{Name: "patch", Weight: 1, Method: "PATCH", Path: "${item}",
			Query:  []Param{{Name: "note", Value: "${etag}"}, {Name: "page", Value: "2"}, {Name: "tag", Value: "x", Chance: 1}},
			Take:   []string{"item", "etag"},
			Expect: []int{200, 204, 404}, Fallback: "create", Line: 87, Col: 5},
	}, s.Workload)
	need, optional := s.Workload[2].Pools()
	assert.Equal(t, []string{"item", "etag"}, need)
	assert.Equal(t, [][]string{nil}, optional, "tag names no pool")
}

// Each bad fixture keeps its exact expected messages in a sibling .err file.
func TestBadFixturesFailWithExactMessages(t *testing.T) {
	files, err := filepath.Glob("testdata/*.bad.yaml")
	require.NoError(t, err)
	require.GreaterOrEqual(t, len(files), 25)
	for _, file := range files {
		t.Run(strings.TrimSuffix(filepath.Base(file), ".bad.yaml"), func(t *testing.T) {
			errFile := strings.TrimSuffix(file, ".yaml") + ".err"
			s, err := ParseFile(file)
			require.Error(t, err)
			assert.Nil(t, s)
			var errs Errors
			require.ErrorAs(t, err, &errs)
			for _, e := range errs {
				assert.Equal(t, file, e.File)
			}
			if *update {
				require.NoError(t, os.WriteFile(errFile, []byte(err.Error()+"\n"), 0o644))
			}
			want, rerr := os.ReadFile(errFile)
			require.NoError(t, rerr, "every bad fixture needs its expected messages in %s", errFile)
			assert.Equal(t, string(want), err.Error()+"\n")
		})
	}
	// And no expectation is left without its fixture.
	errFiles, err := filepath.Glob("testdata/*.bad.err")
	require.NoError(t, err)
	for _, ef := range errFiles {
		_, err := os.Stat(strings.TrimSuffix(ef, ".err") + ".yaml")
		assert.NoError(t, err)
	}
}

// knownGood is a valid spec that the table below changes one field of at a time.
const knownGood = `version: 1
load:
  warmup: 5s
  stages:
    - {duration: 5s, target: 40/s}
    - {duration: 20s, target: 120/s}
  # the requests are the workload at the end
  max_in_flight: 128
  timeout: 2s
  max_lag: 5%
slos:
  - name: error_rate
    metric: error_rate
    max: 1%
  - name: p95_latency
    metric: latency
    quantile: 0.95
    max: 50ms
  - name: cpu_per_replica
    metric: cpu
    scope: per_instance
    max: 70%
  - name: memory_per_replica
    metric: memory
    scope: per_instance
    max: 96MiB
  - name: throughput
    metric: throughput
    min: 60/s
  - name: list_p95
    metric: custom
    query: histogram_quantile(0.95, sum by (le) (rate(d_bucket[$window])))
    unit: s
    max: 50ms
compare:
  alpha: 0.05
  rounds: 6
  round:
    warmup: 2s
    duration: 8s
    rate: 100/s
  metrics:
    p95_latency: {max_increase: 10%}
    throughput: {max_decrease: 5%}
    error_rate: {max_increase: 0.5%}
workload:
  - name: list
    weight: 20
    path: /tasks?limit=20
    query:
      after: {value: "${task}", chance: 50%}
  - name: get
    weight: 40
    method: GET
    path: /tasks/${task}
    expect: [200, 404]
    fallback: create
  - name: create
    weight: 20
    method: POST
    path: /tasks
    headers: {Content-Type: application/json}
    body: '{"task":"perf ${seq} ${rand:8}"}'
    expect: 201
    capture: {task: {json: id}}
  - name: delete
    weight: 10
    method: DELETE
    path: /tasks/${task}
    take: task
    fallback: create
service:
  name: kvsvc
  build:
    dockerfile: kv/Dockerfile.multistage
    context: .
    go: {package: ./kv/cmd/kvsvc, cgo: false, tags: [netgo], dockerfile: kv/Dockerfile, dirs: [data]}
  port: 8081
  ready: /healthz
  args: ["-name={{.Instance}}"]
  env: {KV_MODE: fast}
  replicas: 3
  volume: /data
  metrics:
    requests: kv_requests_total
    duration: kv_request_duration_seconds
    labels: {method: verb, route: path, code: status}
    ignore_routes: [/metrics, /healthz]
    cpu: process_cpu_seconds_total
    memory: process_resident_memory_bytes
    allocs: go_memstats_mallocs_total
    alloc_bytes: go_memstats_alloc_bytes_total
    gc_cycles: go_gc_duration_seconds_count
`

func TestOneChangedFieldGivesOneExactMessage(t *testing.T) {
	const file = "thresholds/slo.yaml"
	tests := []struct {
		name     string
		old, new string
		want     string // "" means the changed spec is valid
	}{
		{"the unchanged spec is valid", "", "", ""},
		{"a negative latency limit is refused", "0.95\n    max: 50ms", "0.95\n    max: -5ms",
			`thresholds/slo.yaml:18:10: slos[1].max: must be > 0, got "-5ms"`},
		{"a zero latency limit is refused", "0.95\n    max: 50ms", "0.95\n    max: 0s",
			`thresholds/slo.yaml:18:10: slos[1].max: must be > 0, got "0s"`},
		{"a misspelt field is unknown", "max: 1%", "maxx: 1%",
			`thresholds/slo.yaml:12:5: slos[0]: needs max, min or both` + "\n" +
				`thresholds/slo.yaml:14:5: slos[0]: unknown field "maxx"`},
		{"a duration in words is refused", "{duration: 5s, target: 40/s}", "{duration: 5 seconds, target: 40/s}",
			`thresholds/slo.yaml:5:18: load.stages[0].duration: invalid duration "5 seconds": use a unit like 500ms, 5s or 1m`},
		{"a size on a latency asks for a duration", "0.95\n    max: 50ms", "0.95\n    max: 5MiB",
			`thresholds/slo.yaml:18:10: slos[1].max: expected a duration like 250ms, got "5MiB"`},
		{"a duration on a memory limit asks for a size", "max: 96MiB", "max: 96ms",
			`thresholds/slo.yaml:26:10: slos[3].max: expected a size like 96MiB, got "96ms"`},
		{"a plain error rate is ambiguous", "max: 1%", "max: 1",
			`thresholds/slo.yaml:14:10: slos[0].max: expected a percentage like 1%, got "1"`},
		{"a plain cpu share is ambiguous", "max: 70%", "max: 0.7",
			`thresholds/slo.yaml:22:10: slos[2].max: expected a percentage of one core like 70%, got "0.7"`},
		{"a plain throughput is per second", "min: 60/s", "min: 60", ""},
		{"a throughput with another unit is refused", "min: 60/s", "min: 60/m",
			`thresholds/slo.yaml:29:10: slos[4].min: expected a rate like 80/s, got "60/m"`},
		{"NaN is not a limit", "0.95\n    max: 50ms", "0.95\n    max: .nan",
			`thresholds/slo.yaml:18:10: slos[1].max: must be a finite number, got ".nan"`},
		{"infinity is not a limit", "min: 60/s", "min: +Inf",
			`thresholds/slo.yaml:29:10: slos[4].min: must be a finite number, got "+Inf"`},
		{"a quantile above one is refused", "quantile: 0.95", "quantile: 95",
			`thresholds/slo.yaml:17:15: slos[1].quantile: must be between 0 and 1 (exclusive), like 0.95, got "95"`},
		{"a percentile spelling is not a quantile", "quantile: 0.95", "quantile: p95",
			`thresholds/slo.yaml:17:15: slos[1].quantile: expected a number like 0.95, got "p95"`},
		{"an unknown metric lists the known ones", "metric: cpu", "metric: cpus",
			`thresholds/slo.yaml:20:13: slos[2].metric: unknown metric "cpus": use one of error_rate, latency, throughput, cpu, memory, cpu_per_request, allocs_per_request, alloc_bytes_per_request, custom`},
		{"an unknown scope lists the known ones", "scope: per_instance\n    max: 70%", "scope: per_pod\n    max: 70%",
			`thresholds/slo.yaml:21:12: slos[2].scope: unknown scope "per_pod": use aggregate or per_instance`},
		{"a duplicate name points at the first", "name: cpu_per_replica", "name: p95_latency",
			`thresholds/slo.yaml:19:11: slos[2].name: duplicate name "p95_latency" (first at line 15)`},
		{"broken PromQL carries the parser's message", "(rate(d_bucket[$window])))", "(rate(d_bucket[$window]))",
			`thresholds/slo.yaml:32:12: slos[5].query: invalid PromQL: 1:63: parse error: unclosed left parenthesis`},
		{"a custom query must use the measured window", "[$window]", "[5m]",
			`thresholds/slo.yaml:32:12: slos[5].query: must use $window as the range, like rate(x[$window]), so it covers only the measured window`},
		{"a custom unit must be known", "unit: s", "unit: ms",
			`thresholds/slo.yaml:33:11: slos[5].unit: unknown unit "ms": use one of s, ratio, bytes, 1/s, none`},
		{"min must stay below max", "max: 1%", "max: 1%\n    min: 2%",
			`thresholds/slo.yaml:15:10: slos[0].min: must be below max (1%), got "2%"`},
		{"a throughput floor above the load can never pass", "min: 60/s", "min: 121/s",
			`thresholds/slo.yaml:29:10: slos[4].min: must be at most the load's peak of 120/s, got "121/s"`},
		{"the version is required", "version: 1\n", "",
			`thresholds/slo.yaml:1:1: missing field "version": add "version: 1" at the top`},
		{"only version 1 is read", "version: 1", "version: 2",
			`thresholds/slo.yaml:1:10: version: unsupported version 2: this perfgate reads version 1`},
		{"stages cannot be empty", "  stages:\n    - {duration: 5s, target: 40/s}\n    - {duration: 20s, target: 120/s}\n", "  stages: []\n",
			`thresholds/slo.yaml:4:11: load.stages: is empty: add at least one stage like {duration: 10s, target: 50/s}`},
		{"stages over an hour are refused", "{duration: 20s, target: 120/s}", "{duration: 2h, target: 120/s}",
			`thresholds/slo.yaml:5:5: load.stages: last 2h0m5s in total, over the 1h limit: shorten them`},
		{"an absurd target is refused", "target: 120/s", "target: 150000/s",
			`thresholds/slo.yaml:6:31: load.stages[1].target: must be at most 100000/s, got "150000/s"`},
		{"all-zero targets send nothing", "target: 40/s}\n    - {duration: 20s, target: 120/s}", "target: 0/s}\n    - {duration: 20s, target: 0/s}",
			`thresholds/slo.yaml:5:5: load.stages: every target is 0/s, so the run would send no requests: raise a target`},
		{"a warm-up must leave a window", "warmup: 5s", "warmup: 22s",
			`thresholds/slo.yaml:3:11: load.warmup: 22s leaves a 3s measured window of the 25s of stages: keep at least 5s after the warm-up`},
		{"a mix under load is gone", "  # the requests are the workload at the end\n", "  mix: {get: 1}\n",
			`thresholds/slo.yaml:7:3: load.mix: is no longer read: write the requests as a top-level workload: list of templates instead (see thresholds/slo.yaml)`},
		{"a workload template may leave out method and weight", "    weight: 20\n    path: /tasks?limit=20", "    path: /tasks?limit=20", ""},
		{"a placeholder must name a pool some template fills", "path: /tasks/${task}\n    expect: [200, 404]", "path: /tasks/${tasks}\n    expect: [200, 404]",
			`thresholds/slo.yaml:55:11: workload[1].path: unknown placeholder ${tasks}: no template captures into pool "tasks" (the pools are task; the others are ${seq} and ${rand:8})`},
		{"a pool nobody captures into leaves every use unknown", "    capture: {task: {json: id}}\n", "",
			`thresholds/slo.yaml:51:22: workload[0].query.after.value: unknown placeholder ${task}: no template captures into pool "task" (no template captures into any pool; the others are ${seq} and ${rand:8})` + "\n" +
				`thresholds/slo.yaml:55:11: workload[1].path: unknown placeholder ${task}: no template captures into pool "task" (no template captures into any pool; the others are ${seq} and ${rand:8})` + "\n" +
				`thresholds/slo.yaml:68:11: workload[3].path: unknown placeholder ${task}: no template captures into pool "task" (no template captures into any pool; the others are ${seq} and ${rand:8})`},
		{"a fallback must name a template", "fallback: create\n  - name: create", "fallback: crate\n  - name: create",
			`thresholds/slo.yaml:57:15: workload[1].fallback: unknown template "crate": use one of list, get, create, delete`},
		{"a fallback to itself is a cycle", "fallback: create\n  - name: create", "fallback: get\n  - name: create",
			`thresholds/slo.yaml:57:15: workload[1].fallback: fallbacks go round in a cycle (get → get): end the chain at a template that needs no pool`},
		{"a template that always uses a pool needs a fallback", "    take: task\n    fallback: create\n", "    take: task\n",
			`thresholds/slo.yaml:66:5: workload[3]: missing field "fallback": pool "task" is empty until a response fills it: name a template to send meanwhile, like fallback: create`},
		{"a fallback applies only where a pool is needed", "chance: 50%}", "chance: 50%}\n    fallback: create",
			`thresholds/slo.yaml:52:15: workload[0].fallback: only applies to a template that always uses a pool`},
		{"an unknown method lists the known ones", "method: DELETE", "method: REMOVE",
			`thresholds/slo.yaml:68:13: workload[3].method: unknown method "REMOVE": use one of GET, HEAD, POST, PUT, PATCH, DELETE, OPTIONS`},
		{"a method is written in capitals", "method: POST", "method: post",
			`thresholds/slo.yaml:60:13: workload[2].method: unknown method "post": use one of GET, HEAD, POST, PUT, PATCH, DELETE, OPTIONS`},
		{"a GET takes no body", "method: POST", "method: GET",
			`thresholds/slo.yaml:63:11: workload[2].body: a GET request takes no body`},
		{"take names a pool the request uses", "take: task", "take: tasks",
			`thresholds/slo.yaml:70:11: workload[3].take[0]: the request does not always use pool "tasks": take only a pool its path, headers, body or a query value without chance names`},
		{"a 5xx is never expected", "expect: 201", "expect: 503",
			`thresholds/slo.yaml:64:13: workload[2].expect[0]: a 5xx always counts as an error, got 503: expect only codes below 500`},
		{"a status code is a number", "expect: 201", "expect: created",
			`thresholds/slo.yaml:64:13: workload[2].expect[0]: must be a whole number, got "created"`},
		{"a random string needs a length", "${rand:8}", "${rand}",
			`thresholds/slo.yaml:63:11: workload[2].body: placeholder ${rand} needs a length, like ${rand:8}`},
		{"a random string has a sane length", "${rand:8}", "${rand:1000}",
			`thresholds/slo.yaml:63:11: workload[2].body: placeholder ${rand:1000}: the length must be a whole number from 1 to 256`},
		{"an unclosed placeholder is refused", "perf ${seq}", "perf ${seq",
			`thresholds/slo.yaml:63:11: workload[2].body: unclosed placeholder "${seq": close it with }`},
		{"a chance is a percentage", "chance: 50%", "chance: 0.5",
			`thresholds/slo.yaml:51:41: workload[0].query.after.chance: expected a percentage like 50%, got "0.5"`},
		{"a chance of 0% is refused", "chance: 50%", "chance: 0%",
			`thresholds/slo.yaml:51:41: workload[0].query.after.chance: must be above 0% and at most 100%, got "0%"`},
		{"a chance is at most 100%", "chance: 50%", "chance: 150%",
			`thresholds/slo.yaml:51:41: workload[0].query.after.chance: must be above 0% and at most 100%, got "150%"`},
		{"an optional parameter needs its value", `{value: "${task}", chance: 50%}`, `{chance: 50%}`,
			`thresholds/slo.yaml:51:14: workload[0].query.after: missing field "value": the parameter's value, like "${task}"`},
		{"a capture takes json or a header, not both", "{json: id}", "{json: id, header: Location}",
			`thresholds/slo.yaml:65:21: workload[2].capture.task: takes json or header, not both`},
		{"a capture from the Location header is fine", "{json: id}", "{header: Location}", ""},
		{"a JSON field is names joined by dots", "{json: id}", "{json: a..b}",
			`thresholds/slo.yaml:65:28: workload[2].capture.task.json: invalid JSON field "a..b": use names joined by dots, like id or data.id`},
		{"the generator sets the Host header", "{Content-Type: application/json}", "{Host: example.com}",
			`thresholds/slo.yaml:62:21: workload[2].headers.Host: is set by the generator: leave it out`},
		{"a path begins with a slash", "path: /tasks\n    headers", "path: tasks\n    headers",
			`thresholds/slo.yaml:61:11: workload[2].path: must begin with / (or with a pool captured from a Location header), got "tasks"`},
		{"a template name is used once", "name: delete", "name: get",
			`thresholds/slo.yaml:66:11: workload[3].name: duplicate name "get" (first at line 52)`},
		{"a weight is not negative", "weight: 10\n    method: DELETE", "weight: -1\n    method: DELETE",
			`thresholds/slo.yaml:67:13: workload[3].weight: must be >= 0, got -1`},
		{"an unknown template field is refused", "take: task", "takes: task",
			`thresholds/slo.yaml:70:5: workload[3]: unknown field "takes"`},
		{"a plain lag is ambiguous", "max_lag: 5%", "max_lag: 0.05",
			`thresholds/slo.yaml:10:12: load.max_lag: expected a percentage like 5%, got "0.05"`},
		{"a route applies to request metrics only", "scope: per_instance\n    max: 70%", "route: /tasks\n    max: 70%",
			`thresholds/slo.yaml:21:12: slos[2].route: only applies to metrics error_rate, latency and throughput`},
		{"a route on latency is fine", "quantile: 0.95", "quantile: 0.95\n    route: /tasks/{id}", ""},
		{"alpha above one half is refused", "alpha: 0.05", "alpha: 0.6",
			`thresholds/slo.yaml:36:10: compare.alpha: must be above 0 and at most 0.5, like 0.05, got "0.6"`},
		{"alpha of zero is refused", "alpha: 0.05", "alpha: 0",
			`thresholds/slo.yaml:36:10: compare.alpha: must be above 0 and at most 0.5, like 0.05, got "0"`},
		{"alpha as a percentage is refused", "alpha: 0.05", "alpha: 5%",
			`thresholds/slo.yaml:36:10: compare.alpha: expected a number like 0.05, got "5%"`},
		{"three rounds are too few", "rounds: 6", "rounds: 3",
			`thresholds/slo.yaml:37:11: compare.rounds: must be between 4 and 50, got 3`},
		{"fifty-one rounds are too many", "rounds: 6", "rounds: 51",
			`thresholds/slo.yaml:37:11: compare.rounds: must be between 4 and 50, got 51`},
		{"six pairs are enough at alpha 0.05", "rounds: 6", "rounds: 6", ""},
		{"five pairs can never reach alpha 0.05", "rounds: 6", "rounds: 5",
			`thresholds/slo.yaml:37:11: compare.rounds: 5 rounds can never reach p < 0.05: the smallest p of the signed-rank test over 5 pairs is 0.0625; use at least 6`},
		{"six pairs can never reach alpha 0.01", "alpha: 0.05\n  rounds: 6", "alpha: 0.01\n  rounds: 6",
			`thresholds/slo.yaml:37:11: compare.rounds: 6 rounds can never reach p < 0.01: the smallest p of the signed-rank test over 6 pairs is 0.0312; use at least 8`},
		{"a round duration that overflows the comparison's total is refused", "duration: 8s", "duration: 2562047h",
			`thresholds/slo.yaml:40:15: compare.round.duration: must be at most 10m, got "2562047h"`},
		{"a round shorter than three seconds is refused", "duration: 8s", "duration: 2s",
			`thresholds/slo.yaml:40:15: compare.round.duration: must be at least 3s, the measured part of a round after its warm-up, got "2s"`},
		{"a negative round warm-up is refused", "warmup: 2s", "warmup: -2s",
			`thresholds/slo.yaml:39:13: compare.round.warmup: must be >= 0, got "-2s"`},
		{"a round without warm-up is fine", "    warmup: 2s\n", "", ""},
		{"a zero rate is refused", "rate: 100/s", "rate: 0/s",
			`thresholds/slo.yaml:41:11: compare.round.rate: must be > 0, got "0/s"`},
		{"a round rate needs a rate unit", "rate: 100/s", "rate: 100/m",
			`thresholds/slo.yaml:41:11: compare.round.rate: expected a rate like 100/s, got "100/m"`},
		{"a round too light for a p99 is refused", "rate: 100/s", "rate: 12/s",
			`thresholds/slo.yaml:39:5: compare.round: plans 96 requests per round (rate × duration): a p99 needs at least 100, so raise the rate or the duration`},
		{"a round without a rate is refused", "    rate: 100/s\n", "",
			`thresholds/slo.yaml:39:5: compare.round: missing field "rate": the constant arrival rate of a round, like 100/s`},
		{"rounds that last over an hour are refused", "rounds: 6\n  round:\n    warmup: 2s\n    duration: 8s", "rounds: 50\n  round:\n    warmup: 2s\n    duration: 40s",
			`thresholds/slo.yaml:39:5: compare.round: 50 rounds of both builds at 42s each last 1h10m, over the 1h limit: shorten the rounds or use fewer`},
		{"an unknown compare field is refused", "alpha: 0.05\n  rounds: 6", "confidence: 0.95\n  rounds: 10",
			`thresholds/slo.yaml:36:3: compare: unknown field "confidence"`},
		{"an unknown metric lists the comparable ones", "p95_latency: {max_increase", "p90_latency: {max_increase",
			`thresholds/slo.yaml:43:5: compare.metrics: unknown metric "p90_latency": use one of p50_latency, p95_latency, p99_latency, cpu_per_request, allocs_per_request, alloc_bytes_per_request, gc_per_request, queries_per_request, wait_per_request, peak_rss, rss_growth, heap_growth, goroutine_growth, throughput, error_rate`},
		{"a metric named twice points at the first", "error_rate: {max_increase: 0.5%}", "p95_latency: {max_increase: 20%}",
			`thresholds/slo.yaml:45:5: compare.metrics: duplicate metric "p95_latency" (first at line 43)`},
		{"throughput takes no max_increase", "throughput: {max_decrease: 5%}", "throughput: {max_increase: 5%}",
			`thresholds/slo.yaml:44:17: compare.metrics.throughput: missing field "max_decrease": how far it may get worse before a significant change fails, like 10%` + "\n" +
				`thresholds/slo.yaml:44:32: compare.metrics.throughput.max_increase: does not apply to throughput, where a drop is the regression: use max_decrease`},
		{"latency takes no max_decrease", "p95_latency: {max_increase: 10%}", "p95_latency: {max_increase: 10%, max_decrease: 10%}",
			`thresholds/slo.yaml:43:52: compare.metrics.p95_latency.max_decrease: only applies to throughput: a rise in p95_latency is the regression, so use max_increase`},
		{"a budget of zero fails on noise", "max_increase: 10%", "max_increase: 0%",
			`thresholds/slo.yaml:43:33: compare.metrics.p95_latency.max_increase: must be > 0, got "0%": a budget of nothing fails on noise alone`},
		{"a budget of a thousand percent allows anything", "max_increase: 10%", "max_increase: 1000%",
			`thresholds/slo.yaml:43:33: compare.metrics.p95_latency.max_increase: must be below 1000%, got "1000%"`},
		{"a plain budget is ambiguous", "max_increase: 10%", "max_increase: 0.1",
			`thresholds/slo.yaml:43:33: compare.metrics.p95_latency.max_increase: expected a percentage like 10%, got "0.1"`},
		{"an error rate budget is in points", "max_increase: 0.5%", "max_increase: 0.5",
			`thresholds/slo.yaml:45:32: compare.metrics.error_rate.max_increase: expected percentage points like 0.5%, got "0.5"`},
		{"an error rate budget over a hundred points is refused", "max_increase: 0.5%", "max_increase: 150%",
			`thresholds/slo.yaml:45:32: compare.metrics.error_rate.max_increase: must be at most 100% (percentage points of the error rate), got "150%"`},
		{"throughput cannot fall by all of itself", "max_decrease: 5%", "max_decrease: 100%",
			`thresholds/slo.yaml:44:32: compare.metrics.throughput.max_decrease: must be below 100%: throughput cannot fall by all of itself, got "100%"`},
		{"an empty budget list can never fail", "  metrics:\n    p95_latency: {max_increase: 10%}\n    throughput: {max_decrease: 5%}\n    error_rate: {max_increase: 0.5%}\n", "  metrics: {}\n",
			`thresholds/slo.yaml:42:12: compare.metrics: is empty: budget at least one metric, or the comparison can never fail`},
		{"a heap growth budget is a size per 1,000 requests", "error_rate: {max_increase: 0.5%}", "error_rate: {max_increase: 0.5%}\n    heap_growth: {max_increase: 64KiB}", ""},
		{"a heap growth budget is not a percentage", "error_rate: {max_increase: 0.5%}", "error_rate: {max_increase: 0.5%}\n    heap_growth: {max_increase: 10%}",
			`thresholds/slo.yaml:46:33: compare.metrics.heap_growth.max_increase: expected bytes per 1,000 requests like 64KiB, got "10%"`},
		{"an rss growth budget is not a percentage either", "error_rate: {max_increase: 0.5%}", "error_rate: {max_increase: 0.5%}\n    rss_growth: {max_increase: 10%}",
			`thresholds/slo.yaml:46:32: compare.metrics.rss_growth.max_increase: expected bytes per 1,000 requests like 64KiB, got "10%"`},
		{"a goroutine growth budget above 0", "error_rate: {max_increase: 0.5%}", "error_rate: {max_increase: 0.5%}\n    goroutine_growth: {max_increase: 0}",
			`thresholds/slo.yaml:46:38: compare.metrics.goroutine_growth.max_increase: must be > 0, got "0": a budget of nothing fails on noise alone`},
		{"a budget as a bare percentage is refused", "{max_increase: 10%}", "10%",
			`thresholds/slo.yaml:43:18: compare.metrics.p95_latency: must be a mapping like {max_increase: 10%}, got "10%"`},
		{"a compare section that is not a mapping is refused", "compare:\n  alpha: 0.05\n  rounds: 6\n  round:\n    warmup: 2s\n    duration: 8s\n    rate: 100/s\n  metrics:\n    p95_latency: {max_increase: 10%}\n    throughput: {max_decrease: 5%}\n    error_rate: {max_increase: 0.5%}\n", "compare: yes\n",
			`thresholds/slo.yaml:35:10: compare: must be a mapping of alpha, rounds, round and metrics, got "yes"`},
		// yaml.v3 alone would say line 9, the line before the sequence that is never closed.
		{"a YAML syntax error points at the faulty line", "  max_lag: 5%", "  max_lag: [5%",
			`thresholds/slo.yaml:10: invalid YAML: did not find expected ',' or ']'`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if tt.old != "" {
				require.Equal(t, 1, strings.Count(knownGood, tt.old), "the change must apply once: %q", tt.old)
			}
			doc := strings.Replace(knownGood, tt.old, tt.new, 1)
			s, err := Parse(file, []byte(doc))
			if tt.want == "" {
				require.NoError(t, err)
				require.NoError(t, s.Validate())
				return
			}
			require.Error(t, err)
			assert.Equal(t, tt.want, err.Error())
		})
	}
}

func TestAllErrorsAreCollectedInFileOrder(t *testing.T) {
	doc := strings.NewReplacer(
		"max: 50ms", "max: -5ms",
		"metric: cpu", "metric: gpu",
		"version: 1", "version: 7",
		"timeout: 2s", "timeout: 2",
	).Replace(knownGood)
	_, err := Parse("slo.yaml", []byte(doc))
	var errs Errors
	require.ErrorAs(t, err, &errs)
	var fields []string
	for _, e := range errs {
		fields = append(fields, e.Field)
	}
	assert.Equal(t, []string{"version", "load.timeout", "slos[1].max", "slos[2].metric"}, fields)
	// errors.As reaches each one too.
	var one Error
	require.ErrorAs(t, err, &one)
	assert.Equal(t, "version", one.Field)
}

func TestValidateChecksSpecsBuiltInCode(t *testing.T) {
	good := func() *Spec {
		l := DefaultLoad
		l.Stages = []Stage{{10 * time.Second, 50}}
		return &Spec{Version: 1, File: "code", Load: l, Workload: []Template{{Name: "home", Weight: 1, Method: "GET", Path: "/"}}, SLOs: []SLO{
			{Name: "p95", Metric: Latency, Quantile: 0.95, Scope: Aggregate, Unit: Seconds, Max: ptr(0.05)},
			{Name: "mem", Metric: Memory, Scope: PerInstance, Unit: Bytes, Max: ptr(64 << 20), Line: 9, Col: 5},
		}}
	}
	tests := []struct {
		name   string
		change func(*Spec)
		want   string
	}{
		{"the unchanged spec is valid", func(*Spec) {}, ""},
		{"a negative limit is shown in its unit", func(s *Spec) { s.SLOs[0].Max = ptr(-0.005) },
			`code: slos[0].max: must be > 0, got "-5ms"`},
		{"an SLO's own line locates its errors", func(s *Spec) { s.SLOs[1].Min = ptr(128 << 20) },
			`code:9:5: slos[1].min: must be below max (64MiB), got "128MiB"`},
		{"a unit that does not fit the metric is refused", func(s *Spec) { s.SLOs[0].Unit = Bytes },
			`code: slos[0].unit: must be "s" for metric latency, got "bytes"`},
		{"an empty scope is refused", func(s *Spec) { s.SLOs[0].Scope = "" },
			`code: slos[0].scope: unknown scope "": use aggregate or per_instance`},
		{"a version of 0 is missing", func(s *Spec) { s.Version = 0 },
			`code: missing field "version": add "version: 1" at the top`},
		{"no stages means no load", func(s *Spec) { s.Load.Stages = nil },
			`code: missing field "load": describe the load with warmup and stages`},
		{"NaN limits are refused", func(s *Spec) { s.SLOs[0].Max = ptr(math.NaN()) },
			`code: slos[0].max: must be a finite number, got "NaN"`},
		{"duplicate names point at the first", func(s *Spec) { s.SLOs[1].Name = "p95" },
			`code:9:5: slos[1].name: duplicate name "p95" (first at slos[0])`},
		{"no SLOs means a gate that cannot fail", func(s *Spec) { s.SLOs = nil },
			`code: missing field "slos": list the SLOs the gate enforces`},
		{"a comparison with the defaults and a budget is valid", func(s *Spec) {
			c := DefaultCompare
			c.Round.Rate = 100
			c.Metrics = []Budget{{Metric: CompareP95, MaxIncrease: ptr(0.1)}}
			s.Compare = &c
		}, ""},
		{"a comparison without rate or metrics says both are missing", func(s *Spec) {
			c := DefaultCompare
			s.Compare = &c
		}, `code: compare: missing field "round": the load of one round, like {warmup: 2s, duration: 8s, rate: 100/s}` + "\n" +
			`code: compare: missing field "metrics": budget at least one metric, like p95_latency: {max_increase: 10%}`},
		{"an unknown metric in code lists the comparable ones", func(s *Spec) {
			s.Compare = &Compare{Alpha: 0.05, Rounds: 6, Round: Round{Duration: 8 * time.Second, Rate: 100},
				Metrics: []Budget{{Metric: "p90", MaxIncrease: ptr(0.1), Line: 12, Col: 5}}}
		}, `code:12:5: compare.metrics[0]: unknown metric "p90": use one of p50_latency, p95_latency, p99_latency, cpu_per_request, allocs_per_request, alloc_bytes_per_request, gc_per_request, queries_per_request, wait_per_request, peak_rss, rss_growth, heap_growth, goroutine_growth, throughput, error_rate`},
		{"a metric budgeted twice in code is refused", func(s *Spec) {
			s.Compare = &Compare{Alpha: 0.05, Rounds: 6, Round: Round{Duration: 8 * time.Second, Rate: 100},
				Metrics: []Budget{{Metric: CompareP95, MaxIncrease: ptr(0.1)}, {Metric: CompareP95, MaxIncrease: ptr(0.2)}}}
		}, `code: compare.metrics[1]: duplicate metric "p95_latency" (first at compare.metrics[0])`},
		{"a NaN budget is refused", func(s *Spec) {
			s.Compare = &Compare{Alpha: 0.05, Rounds: 6, Round: Round{Duration: 8 * time.Second, Rate: 100},
				Metrics: []Budget{{Metric: CompareP95, MaxIncrease: ptr(math.NaN()), Line: 20, Col: 5}}}
		}, `code:20:5: compare.metrics.p95_latency.max_increase: must be a finite number, got "NaN"`},
		{"a zero alpha is refused, not taken as the default", func(s *Spec) {
			s.Compare = &Compare{Rounds: 6, Round: Round{Duration: 8 * time.Second, Rate: 100},
				Metrics: []Budget{{Metric: CompareP95, MaxIncrease: ptr(0.1)}}}
		}, `code: compare.alpha: must be above 0 and at most 0.5, like 0.05, got "0"`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			s := good()
			tt.change(s)
			err := s.Validate()
			if tt.want == "" {
				require.NoError(t, err)
				return
			}
			require.Error(t, err)
			assert.Equal(t, tt.want, err.Error())
		})
	}
}

func TestValidateAfterChangingAParsedSpec(t *testing.T) {
	s, err := Parse("slo.yaml", []byte(knownGood))
	require.NoError(t, err)

	s.SLOs[1].Max = ptr(-0.005)
	s.SLOs = append(s.SLOs, SLO{Name: "extra", Metric: Throughput, Scope: Aggregate, Unit: PerSecond, Min: ptr(10)})
	err = s.Validate()
	require.Error(t, err)
	// The changed value is shown as it is now, at the place it was parsed from;
	// the appended SLO is complete, so nothing is said about it.
	assert.Equal(t, `slo.yaml:18:10: slos[1].max: must be > 0, got "-5ms"`, err.Error())
}

func TestErrorFormat(t *testing.T) {
	tests := []struct {
		name string
		err  Error
		want string
	}{
		{"every part", Error{File: "f.yaml", Line: 3, Col: 7, Field: "slos[0].max", Msg: "m"}, "f.yaml:3:7: slos[0].max: m"},
		{"no column", Error{File: "f.yaml", Line: 3, Msg: "m"}, "f.yaml:3: m"},
		{"no position", Error{File: "f.yaml", Field: "load", Msg: "m"}, "f.yaml: load: m"},
		{"nothing but the message", Error{Msg: "m"}, "m"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			assert.Equal(t, tt.want, tt.err.Error())
		})
	}
	assert.Equal(t, "a\nb", Errors{{Msg: "a"}, {Msg: "b"}}.Error())
}

func TestParseFileSaysWhichFileIsMissing(t *testing.T) {
	_, err := ParseFile("testdata/nope.yaml")
	require.ErrorIs(t, err, fs.ErrNotExist)
	assert.Contains(t, err.Error(), "testdata/nope.yaml")
}

func TestOversizedInputIsRefused(t *testing.T) {
	doc := knownGood + "#" + strings.Repeat("x", maxFileSize) + "\n"
	_, err := Parse("big.yaml", []byte(doc))
	require.Error(t, err)
	assert.Equal(t, "big.yaml: is larger than 1048576 bytes, the most a spec may be", err.Error())
	assert.False(t, errors.Is(err, fs.ErrNotExist))
}

func TestReadFileStopsPastTheCap(t *testing.T) {
	if _, err := os.Stat("/dev/zero"); err != nil {
		t.Skip("no /dev/zero")
	}
	// Without the cap this read would never end.
	_, err := ParseFile("/dev/zero")
	require.EqualError(t, err, "/dev/zero: is larger than 1048576 bytes, the most a spec may be")
}

// bigSpec is a valid spec of about size bytes in few, long lines (the
// shape that made a search over every prefix take minutes), then tail.
func bigSpec(size int, tail string) []byte {
	var b strings.Builder
	b.WriteString(knownGood)
	for b.Len() < size {
		b.WriteString("# " + strings.Repeat("padding ", 300) + "\n")
	}
	b.WriteString(tail)
	return []byte(b.String())
}

func TestASyntaxErrorOnTheLastLineOfABigSpecIsFoundInLinearTime(t *testing.T) {
	doc := bigSpec(950_000, "extra: [\n")
	lines := strings.Count(string(doc), "\n")
	_, err := Parse("big.yaml", doc)
	require.Error(t, err)
	assert.Equal(t, fmt.Sprintf("big.yaml:%d: invalid YAML: did not find expected node content", lines), err.Error())

	// Work, not time: a handful of parses of the document, not one per line
	// (which read 127 s once).
	d := newDecoder(context.Background(), "big.yaml", "spec", "")
	require.Nil(t, d.document(doc))
	assert.LessOrEqual(t, d.read, (maxSearchLines+1)*len(doc), "bytes parsed for a spec of %d bytes in %d lines", len(doc), lines)
	assert.Greater(t, d.read, len(doc), "the search parsed no prefix: the test no longer covers it")
}

// endsAfter is a context that ends on the n-th time it is asked.
type endsAfter struct {
	context.Context
	n int
}

func (c *endsAfter) Err() error {
	if c.n--; c.n < 0 {
		return context.Canceled
	}
	return nil
}

func TestParseGivesUpWhenTheContextEnds(t *testing.T) {
	doc := bigSpec(950_000, "extra: [\n")
	_, err := ParseContext(&endsAfter{Context: context.Background(), n: 10}, "big.yaml", doc)
	require.ErrorIs(t, err, context.Canceled)
	assert.Equal(t, "big.yaml: not parsed: context canceled", err.Error())

	// It stops where the context ended, not at the end of the document.
	d := newDecoder(&endsAfter{Context: context.Background(), n: 10}, "big.yaml", "spec", "")
	d.document(doc)
	assert.Less(t, d.read, 100_000, "bytes parsed of %d after the context ended", len(doc))
}

func TestLongValuesAreNotEchoedWhole(t *testing.T) {
	name := "p95 " + strings.Repeat("n", 900_000)
	doc := strings.Replace(knownGood, "name: p95_latency", "name: "+name+"\n    nope: 1", 1)
	_, err := Parse("long.yaml", []byte(doc))
	require.Error(t, err)
	assert.Less(t, len(err.Error()), 1000, "the message quotes a few dozen characters of the name at most")
	assert.Contains(t, err.Error(), `"p95 nnnn`)
	assert.Contains(t, err.Error(), "n…\"")

	// And where a value is described, as in "got ..." of a wrong type.
	_, err = Parse("long.yaml", []byte("version: 1\nload: x"+strings.Repeat("9", 900_000)+"\n"))
	require.Error(t, err)
	assert.Less(t, len(err.Error()), 1000)
	assert.Contains(t, err.Error(), `long.yaml:2:7: load: must be`)
}
