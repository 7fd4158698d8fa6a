package corpus

import (
	"bufio"
	stdcmp "cmp"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"math"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/prometheus/common/expfmt"
	"github.com/prometheus/common/model"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/perfgate/perfgate/perftest/internal/load"
	"github.com/perfgate/perfgate/thresholds"
	"github.com/perfgate/perfgate/thresholds/units"
)

// The true-effect harness: each build as its own process on 127.0.0.1 with
// GOMAXPROCS=1 and its own database, driven by the project's generator at a
// constant rate in pairs of rounds run in the same seconds (duets), the
// service's own /metrics read before and after each round's measured part.
// A duet takes half the time of rounds one after the other and, measured
// side by side, spreads CPU per request no wider (the corpus README);
// PERF_EFFECT_SEQUENTIAL=1 runs them one after the other, A B B A ….
const (
	effectRate    = 500.0
	effectWarmUp  = 2 * time.Second
	effectMeasure = 8 * time.Second
	effectPairs   = 6
	// effectRoundLimit bounds one round in time; the stages bound it in count.
	effectRoundLimit = 30 * time.Second
	// maxRedone bounds the pairs measured again after a stall.
	maxRedone = 3
)

// TestTrueEffect measures every corpus entry against its base and writes the
// effect into the entry's YAML and the corpus README. It is load: run it
// alone on the machine, e.g.
//
//	PERF_EFFECT=1 flock /tmp/perfgate-load.lock go test -run TestTrueEffect -v -timeout 60m ./perftest/internal/corpus
//
// PERF_EFFECT_ONLY=a,b measures only those entries ("aa" measures the base
// against itself, for the noise floor, and writes nothing); PERF_EFFECT_BASE
// is the base commit-ish (HEAD); PERF_EFFECT_PAIRS the rounds per build (6);
// PERF_EFFECT_SEQUENTIAL=1 runs a pair's rounds one after the other.
func TestTrueEffect(t *testing.T) {
	if os.Getenv("PERF_EFFECT") != "1" {
		t.Skip("load measurement: set PERF_EFFECT=1 and run under flock /tmp/perfgate-load.lock")
	}
	requireGitRepo(t, moduleRoot)
	ctx := t.Context()
	pairs := effectPairs
	if s := os.Getenv("PERF_EFFECT_PAIRS"); s != "" {
		n, err := strconv.Atoi(s)
		require.NoError(t, err, "PERF_EFFECT_PAIRS")
		require.GreaterOrEqual(t, n, 1, "PERF_EFFECT_PAIRS")
		pairs = n
	}
	base := cmp(os.Getenv("PERF_EFFECT_BASE"), "HEAD")
	var only []string
	if s := os.Getenv("PERF_EFFECT_ONLY"); s != "" {
		only = strings.Split(s, ",")
	}

	h := newHarness(ctx, t, base)
	plan := roundPlan{rate: effectRate, warmUp: effectWarmUp, measure: effectMeasure, pairs: pairs, workload: h.workload,
		duet: os.Getenv("PERF_EFFECT_SEQUENTIAL") != "1"}
	t.Logf("base %.12s, %s, workload of %d templates", h.baseID, plan, len(h.workload))
	h.each(ctx, t, only, func(t *testing.T, e *Entry, bin string) {
		ef, err := measure(ctx, t, h.baseBin, bin, plan)
		require.NoError(t, err)
		if e == nil {
			logEffect(t, "aa (base against itself)", ef)
			return
		}
		ef.Base = h.baseID[:12]
		e.Effect = ef
		logEffect(t, e.Name, ef)
		require.NoError(t, WriteFile(*e))
	})
	entries, err := Load(regressionsDir)
	require.NoError(t, err)
	require.NoError(t, UpdateREADME(filepath.Join(regressionsDir, "README.md"), entries))
}

func cmp(s, def string) string {
	if s == "" {
		return def
	}
	return s
}

func logEffect(t *testing.T, name string, ef *Effect) {
	t.Helper()
	var b strings.Builder
	fmt.Fprintf(&b, "%s: %d pairs", name, ef.Pairs)
	for _, n := range MetricNames {
		if c := ef.Metrics.Get(n); c != nil {
			fmt.Fprintf(&b, "\n  %-24s %s → %s  %s (%s … %s)", n, c.Baseline, c.Candidate, signed(c.Change), signed(c.Spread[0]), signed(c.Spread[1]))
		}
	}
	for _, g := range Growths {
		if c := ef.Metrics.Growth(g.Name); c != nil {
			fmt.Fprintf(&b, "\n  %-24s %s → %s  %s (%s … %s)", g.Name, c.Baseline, c.Candidate, c.Difference, c.Spread[0], c.Spread[1])
		}
	}
	if ef.Note != "" {
		b.WriteString("\n  note: " + ef.Note)
	}
	t.Log(b.String())
}

// readWorkload reads the workload of the committed spec.
func readWorkload(path string) ([]thresholds.Template, error) {
	spec, err := thresholds.ParseFile(path)
	if err != nil {
		return nil, err
	}
	return spec.Workload, nil
}

// build compiles the service at commit into out, in a worktree of its own.
func build(ctx context.Context, repo, commit, out string) error {
	wt, remove, err := AddWorktree(ctx, repo, commit)
	if err != nil {
		return err
	}
	defer remove()
	cmd := exec.CommandContext(ctx, "go", "build", "-o", out, "./service/cmd/tasksvc")
	cmd.Dir = wt
	cmd.Env = append(os.Environ(), "CGO_ENABLED=1")
	if b, err := cmd.CombinedOutput(); err != nil {
		return fmt.Errorf("go build at %.12s: %w\n%s", commit, err, b)
	}
	return nil
}

// service is one running tasksvc process.
type service struct {
	name string
	url  string
	cmd  *exec.Cmd
	done chan error
}

// start runs bin on a free port of 127.0.0.1 with its own database, on one
// core, and waits until it answers /healthz. Cleanup stops it.
func start(ctx context.Context, t *testing.T, bin, name string) *service {
	return startWith(ctx, t, bin, name, 1)
}

// startWith starts the service with gomaxprocs Ps.
func startWith(ctx context.Context, t *testing.T, bin, name string, gomaxprocs int) *service {
	t.Helper()
	dir := t.TempDir()
	cmd := exec.Command(bin, "-addr=127.0.0.1:0", "-db="+filepath.Join(dir, "tasks.db"), "-instance="+name)
	for _, kv := range os.Environ() {
		if !strings.HasPrefix(kv, "TASKSVC_") && !strings.HasPrefix(kv, "GOMAXPROCS=") {
			cmd.Env = append(cmd.Env, kv)
		}
	}
	cmd.Env = append(cmd.Env, "GOMAXPROCS="+strconv.Itoa(gomaxprocs))
	stdout, err := cmd.StdoutPipe()
	require.NoError(t, err)
	cmd.Stderr = os.Stderr
	require.NoError(t, cmd.Start())
	s := &service{name: name, cmd: cmd, done: make(chan error, 1)}
	addr := make(chan string, 1)
	go func() {
		sc := bufio.NewScanner(stdout)
		sc.Buffer(make([]byte, 64<<10), 1<<20)
		for sc.Scan() {
			var line struct{ Msg, Addr string }
			if json.Unmarshal(sc.Bytes(), &line) == nil && line.Msg == "listening" {
				addr <- line.Addr
				break
			}
		}
		_, _ = io.Copy(io.Discard, stdout) // the access log, as deployed, read and dropped
		s.done <- cmd.Wait()
	}()
	t.Cleanup(func() {
		_ = cmd.Process.Signal(syscall.SIGTERM)
		select {
		case <-s.done:
		case <-time.After(10 * time.Second):
			_ = cmd.Process.Kill()
			<-s.done
		}
	})
	select {
	case a := <-addr:
		s.url = "http://" + a
	case err := <-s.done:
		t.Fatalf("%s exited before listening: %v", name, err)
	case <-time.After(10 * time.Second):
		t.Fatalf("%s: no listening line within 10s", name)
	}
	for deadline := time.Now().Add(5 * time.Second); ; {
		resp, err := http.Get(s.url + "/healthz")
		if err == nil {
			resp.Body.Close()
			if resp.StatusCode == http.StatusOK {
				break
			}
		}
		require.True(t, time.Now().Before(deadline), "%s never answered /healthz: %v", name, err)
		select {
		case <-ctx.Done():
			t.Fatal(ctx.Err())
		case <-time.After(20 * time.Millisecond):
		}
	}
	return s
}

// counters are the cumulative figures of one scrape, and the two gauges a
// leak grows.
type counters struct {
	requests, mallocs, allocBytes, cpu float64
	heapLive, goroutines               float64
	mutexWait, poolWait                float64 // seconds blocked on a mutex, waiting for a pooled database connection
}

// scrape reads the service's /metrics.
func scrape(ctx context.Context, url string) (counters, error) {
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, url+"/metrics", nil)
	if err != nil {
		return counters{}, err
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		return counters{}, err
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		return counters{}, fmt.Errorf("GET /metrics: %s", resp.Status)
	}
	p := expfmt.NewTextParser(model.UTF8Validation)
	fams, err := p.TextToMetricFamilies(resp.Body)
	if err != nil {
		return counters{}, fmt.Errorf("GET /metrics: %w", err)
	}
	one := func(name string) (float64, bool) {
		f := fams[name]
		if f == nil || len(f.GetMetric()) != 1 {
			return 0, false
		}
		m := f.GetMetric()[0]
		if m.GetCounter() != nil {
			return m.GetCounter().GetValue(), true
		}
		if m.GetGauge() != nil {
			return m.GetGauge().GetValue(), true
		}
		return m.GetUntyped().GetValue(), m.GetUntyped() != nil
	}
	var c counters
	var ok bool
	var missing []string
	if c.mallocs, ok = one("go_memstats_mallocs_total"); !ok {
		missing = append(missing, "go_memstats_mallocs_total")
	}
	if c.allocBytes, ok = one("go_memstats_alloc_bytes_total"); !ok {
		missing = append(missing, "go_memstats_alloc_bytes_total")
	}
	if c.cpu, ok = one("tasksvc_process_cpu_seconds_total"); !ok {
		if c.cpu, ok = one("process_cpu_seconds_total"); !ok {
			missing = append(missing, "tasksvc_process_cpu_seconds_total or process_cpu_seconds_total")
		}
	}
	if c.heapLive, ok = one("go_gc_heap_live_bytes"); !ok {
		missing = append(missing, "go_gc_heap_live_bytes")
	}
	if c.goroutines, ok = one("go_goroutines"); !ok {
		missing = append(missing, "go_goroutines")
	}
	// Waits, summed over their series (the pools); a build without them reads 0.
	sum := func(name string) float64 {
		var v float64
		for _, m := range fams[name].GetMetric() {
			v += m.GetCounter().GetValue() + m.GetUntyped().GetValue()
		}
		return v
	}
	c.mutexWait, c.poolWait = sum("go_sync_mutex_wait_total_seconds_total"), sum("go_sql_wait_duration_seconds_total")
	f := fams["tasksvc_http_requests_total"]
	if f == nil {
		missing = append(missing, "tasksvc_http_requests_total")
	}
	for _, m := range f.GetMetric() {
		serving := true
		for _, l := range m.GetLabel() {
			if l.GetName() == "route" && l.GetValue() == "/metrics" {
				serving = false
			}
		}
		if serving {
			c.requests += m.GetCounter().GetValue()
		}
	}
	if len(missing) > 0 {
		return c, fmt.Errorf("GET /metrics: missing %s", strings.Join(missing, ", "))
	}
	return c, nil
}

// roundPlan is the load of every round.
type roundPlan struct {
	rate            float64
	warmUp, measure time.Duration
	pairs           int
	workload        []thresholds.Template
	inFlight        int  // requests outstanding at most; 0 is 64
	duet            bool // a pair's rounds run in the same seconds; else one after the other
}

func (p roundPlan) String() string {
	return fmt.Sprintf("%d pairs of rounds at %g/s, %s", p.pairs, p.rate, p.round())
}

// round describes one round, and how a pair's two run.
func (p roundPlan) round() string {
	how := "one after the other"
	if p.duet {
		how = "both builds at once"
	}
	return fmt.Sprintf("%s warm-up + %s measured, %s", p.warmUp, p.measure, how)
}

// pair measures one pair of rounds with one seed: at once when p.duet, else
// one after the other in order.
func pair(ctx context.Context, order []*service, p roundPlan, seed uint64) (map[*service]sample, error) {
	type result struct {
		s   *service
		sm  sample
		err error
	}
	results := make(chan result, len(order))
	for _, s := range order {
		run := func() { sm, err := round(ctx, s, p, seed); results <- result{s, sm, err} }
		if p.duet {
			go run()
		} else {
			run()
		}
	}
	got := map[*service]sample{}
	var errs []error
	for range order {
		r := <-results
		got[r.s] = r.sm
		if r.err != nil {
			errs = append(errs, fmt.Errorf("%s: %w", r.s.name, r.err))
		}
	}
	return got, errors.Join(errs...)
}

// sample is what one round measured, per served request.
type sample struct {
	values                  map[string]float64 // by metric name
	errors, served, dropped int64
	waits                   [2]float64 // seconds per request blocked on a mutex, waiting for a connection: logged, not yet compared
}

// round drives s for warm-up + measure and reads /metrics when the warm-up
// ends and after the last response.
func round(ctx context.Context, s *service, p roundPlan, seed uint64) (sample, error) {
	ctx, cancel := context.WithTimeout(ctx, effectRoundLimit)
	defer cancel()
	type scraped struct {
		c   counters
		err error
	}
	before := make(chan scraped, 1)
	timer := time.AfterFunc(p.warmUp, func() {
		c, err := scrape(ctx, s.url)
		before <- scraped{c, err}
	})
	defer timer.Stop()
	res, err := load.Run(ctx, load.Config{
		Targets:     []string{s.url},
		Stages:      []load.Stage{{Duration: 0, Target: p.rate}, {Duration: p.warmUp + p.measure, Target: p.rate}},
		WarmUp:      p.warmUp,
		Workload:    p.workload,
		MaxInFlight: stdcmp.Or(p.inFlight, 64),
		Timeout:     2 * time.Second,
		Seed:        seed,
	})
	if err != nil {
		return sample{}, err
	}
	after, err := scrape(ctx, s.url)
	if err != nil {
		return sample{}, err
	}
	var b scraped
	select {
	case b = <-before:
	case <-ctx.Done():
		return sample{}, ctx.Err()
	}
	if b.err != nil {
		return sample{}, b.err
	}
	n := after.requests - b.c.requests
	if n <= 0 {
		return sample{}, errors.New("no request served in the measured window")
	}
	return sample{
		dropped: res.Dropped,
		values: map[string]float64{
			"allocs_per_request":      (after.mallocs - b.c.mallocs) / n,
			"alloc_bytes_per_request": (after.allocBytes - b.c.allocBytes) / n,
			"cpu_per_request":         (after.cpu - b.c.cpu) / n,
			"p50_latency":             res.Quantile(0.50).Seconds(),
			"p95_latency":             res.Quantile(0.95).Seconds(),
			"heap_growth":             1000 * (after.heapLive - b.c.heapLive) / n,
			"goroutine_growth":        1000 * (after.goroutines - b.c.goroutines) / n,
		},
		errors: res.Errors,
		served: int64(n),
		waits:  [2]float64{(after.mutexWait - b.c.mutexWait) / n, (after.poolWait - b.c.poolWait) / n},
	}, nil
}

// measure runs baseline and candidate side by side in pairs of rounds,
// A B then B A, each pair with its own seed, after one unmeasured round each.
func measure(ctx context.Context, t *testing.T, baseBin, candBin string, p roundPlan) (*Effect, error) {
	a := start(ctx, t, baseBin, "baseline")
	b := start(ctx, t, candBin, "candidate")
	warm := p
	warm.measure = time.Second
	if _, err := pair(ctx, []*service{a, b}, warm, 1000); err != nil {
		return nil, fmt.Errorf("warm-up round: %w", err)
	}
	var base, cand []sample
	redone := 0
	for i := 0; i < p.pairs; i++ {
		seed := uint64(i + 1)
		order := []*service{a, b}
		if i%2 == 1 {
			order = []*service{b, a}
		}
		got, err := pair(ctx, order, p, seed)
		if err != nil {
			return nil, fmt.Errorf("pair %d: %w", i+1, err)
		}
		// A stall that made the generator drop requests is the machine's,
		// not the build's: the pair is measured again, a bounded number of times.
		if d := got[a].dropped + got[b].dropped; d > 0 {
			if redone == maxRedone {
				return nil, fmt.Errorf("pair %d: %d requests dropped at 64 in flight, and %d pairs were already measured again: the machine is too busy", i+1, d, redone)
			}
			redone++
			t.Logf("pair %d: %d requests dropped at 64 in flight (baseline %d, candidate %d); measuring the pair again", i+1, d, got[a].dropped, got[b].dropped)
			i--
			continue
		}
		base, cand = append(base, got[a]), append(cand, got[b])
		t.Logf("pair %d: waits per request: mutex %.2fµs / %.2fµs, pool %.2fµs / %.2fµs", i+1,
			base[i].waits[0]*1e6, cand[i].waits[0]*1e6, base[i].waits[1]*1e6, cand[i].waits[1]*1e6)
		t.Logf("pair %d: allocs %.1f / %.1f, cpu %.0fµs / %.0fµs, p50 %.0fµs / %.0fµs, heap %s / %s, goroutines %s / %s", i+1,
			base[i].values["allocs_per_request"], cand[i].values["allocs_per_request"],
			base[i].values["cpu_per_request"]*1e6, cand[i].values["cpu_per_request"]*1e6,
			base[i].values["p50_latency"]*1e6, cand[i].values["p50_latency"]*1e6,
			units.BytesPer1k.Format(base[i].values["heap_growth"]), units.BytesPer1k.Format(cand[i].values["heap_growth"]),
			units.Per1k.Format(base[i].values["goroutine_growth"]), units.Per1k.Format(cand[i].values["goroutine_growth"]))
	}
	ef := summarise(base, cand)
	if redone > 0 {
		ef.Note = strings.TrimPrefix(ef.Note+fmt.Sprintf("; %d pairs measured again after the generator dropped requests", redone), "; ")
	}
	ef.Date = time.Now().Format(time.DateOnly)
	ef.Rate = strconv.FormatFloat(p.rate, 'f', -1, 64) + "/s"
	ef.Round = p.round()
	return ef, nil
}

// summarise turns paired samples into an Effect: per metric the median over
// pairs of candidate/baseline − 1 and the smallest and largest pair's.
func summarise(base, cand []sample) *Effect {
	ef := &Effect{Pairs: len(base)}
	for _, name := range MetricNames {
		var ratios, bv, cv []float64
		for i := range base {
			x, y := base[i].values[name], cand[i].values[name]
			if x > 0 && y > 0 && !math.IsInf(x, 0) && !math.IsInf(y, 0) {
				ratios = append(ratios, y/x)
				bv, cv = append(bv, x), append(cv, y)
			}
		}
		if len(ratios) != len(base) || len(ratios) == 0 {
			continue // a metric missing in any round is not reported at all
		}
		ef.Metrics.Set(name, &Change{
			Baseline:  formatValue(name, median(bv)),
			Candidate: formatValue(name, median(cv)),
			Change:    Percent(median(ratios) - 1),
			Spread:    [2]Percent{Percent(slices.Min(ratios) - 1), Percent(slices.Max(ratios) - 1)},
		})
	}
	for _, g := range Growths {
		var diffs, bv, cv []float64
		for i := range base {
			x, okx := base[i].values[g.Name]
			y, oky := cand[i].values[g.Name]
			if okx && oky && !math.IsInf(x, 0) && !math.IsInf(y, 0) && !math.IsNaN(x) && !math.IsNaN(y) {
				diffs = append(diffs, math.Round((y-x)*100)/100) // finer than 0.01 per 1,000 requests is the rounds' lengths, not the builds
				bv, cv = append(bv, x), append(cv, y)
			}
		}
		if len(diffs) != len(base) || len(diffs) == 0 {
			continue
		}
		ef.Metrics.SetGrowth(g.Name, &Growth{
			Baseline:   g.Unit().Format(median(bv)),
			Candidate:  g.Unit().Format(median(cv)),
			Difference: g.Unit().FormatDelta(median(diffs)),
			Spread:     [2]string{g.Unit().FormatDelta(slices.Min(diffs)), g.Unit().FormatDelta(slices.Max(diffs))},
		})
	}
	var errs, served int64
	for _, s := range cand {
		errs += s.errors
		served += s.served
	}
	var notes []string
	if ef.IsTiny() {
		notes = append(notes, "tiny: under 5% on every metric")
	}
	if errs > 0 {
		notes = append(notes, fmt.Sprintf("the candidate answered %d of %d measured requests with an error", errs, served))
	}
	ef.Note = strings.Join(notes, "; ")
	return ef
}

func median(xs []float64) float64 {
	s := slices.Clone(xs)
	slices.Sort(s)
	n := len(s)
	if n%2 == 1 {
		return s[n/2]
	}
	return (s[n/2-1] + s[n/2]) / 2
}

// formatValue writes one per-request figure with its unit.
func formatValue(name string, v float64) string {
	switch name {
	case "allocs_per_request":
		return strconv.FormatFloat(v, 'f', 1, 64) + " allocs"
	case "alloc_bytes_per_request":
		return strconv.FormatFloat(v/1024, 'f', 2, 64) + " KiB"
	}
	return strconv.FormatFloat(v*1e6, 'f', 0, 64) + " µs" // seconds
}

func TestSummarise(t *testing.T) {
	s := func(allocs, cpu float64) sample {
		return sample{values: map[string]float64{"allocs_per_request": allocs, "cpu_per_request": cpu}, served: 100}
	}
	base := []sample{s(40, 100e-6), s(40, 100e-6), s(40, 100e-6)}
	cand := []sample{s(80, 101e-6), s(76, 99e-6), s(84, 0)}
	ef := summarise(base, cand)
	assert.Equal(t, 3, ef.Pairs)
	assert.Equal(t, &Change{Baseline: "40.0 allocs", Candidate: "80.0 allocs", Change: 1, Spread: [2]Percent{0.9, 1.1}},
		roundChange(ef.Metrics.AllocsPerRequest))
	assert.Nil(t, ef.Metrics.CPUPerRequest, "a metric missing in one round is not reported")
	assert.Nil(t, ef.Metrics.P50Latency)
	assert.Equal(t, "", ef.Note)

	ef = summarise(base, []sample{s(41, 100e-6), s(40, 100e-6), s(39, 100e-6)})
	assert.Equal(t, "tiny: under 5% on every metric", ef.Note)
	assert.Nil(t, ef.Metrics.HeapGrowth, "not measured, not reported")

	// A growth is a difference: the baseline keeps about nothing, or less.
	g := func(heap float64) sample {
		return sample{values: map[string]float64{"heap_growth": heap, "goroutine_growth": 0}, served: 100}
	}
	ef = summarise([]sample{g(-2048), g(1024), g(0)}, []sample{g(180 << 10), g(200 << 10), g(170 << 10)})
	assert.Equal(t, &Growth{Baseline: "0B/1k", Candidate: "180KiB/1k", Difference: "+182KiB/1k", Spread: [2]string{"+170KiB/1k", "+199KiB/1k"}}, ef.Metrics.HeapGrowth)
	assert.Equal(t, "heap +182KiB/1k (+170KiB/1k…+199KiB/1k); goroutines 0/1k (0/1k…0/1k)", ef.Kept())
}

func roundChange(c *Change) *Change {
	r := func(p Percent) Percent { return Percent(math.Round(float64(p)*1e6) / 1e6) }
	c.Change, c.Spread = r(c.Change), [2]Percent{r(c.Spread[0]), r(c.Spread[1])}
	return c
}

func TestReadWorkload(t *testing.T) {
	w, err := readWorkload(filepath.Join(moduleRoot, "thresholds", "slo.yaml"))
	require.NoError(t, err)
	require.NotEmpty(t, w)
	assert.True(t, slices.ContainsFunc(w, func(t thresholds.Template) bool { return len(t.Capture) > 0 }), "the committed workload reads by id")
}

// TestCapacity measures what the lock_contention entries cost where requests
// overlap, which a round at a constant rate of 500/s does not make them do:
// each build alone on the machine with GOMAXPROCS=2, offered 8,000/s with
// at most PERF_CAPACITY_C requests in flight (16), what it served read from
// its own counter over 3 s. The base serves about 7,800/s there with a p50
// of 0.2 ms: close to, not beyond, what one process can do, so a lock
// shows as requests queueing behind it and fewer served. PERF_CAPACITY_RATE
// offers another rate: at the gate's few hundred a second, what requests
// wait for on a mutex or for a pooled connection is what a lock shows in.
// Run alone:
//
//	PERF_CAPACITY=1 PERF_EFFECT_ONLY=aa,global_mutex flock /tmp/perfgate-load.lock go test -run TestCapacity -v -timeout 30m ./perftest/internal/corpus
func TestCapacity(t *testing.T) {
	if os.Getenv("PERF_CAPACITY") != "1" {
		t.Skip("load measurement: set PERF_CAPACITY=1 and run under flock /tmp/perfgate-load.lock")
	}
	requireGitRepo(t, moduleRoot)
	ctx := t.Context()
	c := 16
	if s := os.Getenv("PERF_CAPACITY_C"); s != "" {
		n, err := strconv.Atoi(s)
		require.NoError(t, err, "PERF_CAPACITY_C")
		c = n
	}
	rate := 8000.0
	if s := os.Getenv("PERF_CAPACITY_RATE"); s != "" {
		r, err := strconv.ParseFloat(s, 64)
		require.NoError(t, err, "PERF_CAPACITY_RATE")
		require.True(t, r > 0 && r <= 20000, "PERF_CAPACITY_RATE %v: from 1 to 20000 a second", r)
		rate = r
	}
	only := strings.Split(os.Getenv("PERF_EFFECT_ONLY"), ",")
	h := newHarness(ctx, t, "HEAD")
	plan := roundPlan{rate: rate, warmUp: time.Second, measure: 3 * time.Second, pairs: effectPairs, workload: h.workload, inFlight: c}
	h.each(ctx, t, only, func(t *testing.T, _ *Entry, candBin string) {
		a, b := startWith(ctx, t, h.baseBin, "baseline", 2), startWith(ctx, t, candBin, "candidate", 2)
		var changes []float64
		for i := -1; i < plan.pairs; i++ { // pair -1 primes both, unmeasured
			order := []*service{a, b}
			if i%2 != 0 {
				order = []*service{b, a}
			}
			got, err := pair(ctx, order, plan, uint64(i+2))
			require.NoError(t, err)
			if i < 0 {
				continue
			}
			ca, cb := float64(got[a].served)/plan.measure.Seconds(), float64(got[b].served)/plan.measure.Seconds()
			changes = append(changes, cb/ca-1)
			t.Logf("pair %d: served %.0f/s / %.0f/s (%+.1f%%), p50 %.2fms / %.2fms, cpu %.0fµs / %.0fµs", i+1, ca, cb, 100*(cb/ca-1),
				got[a].values["p50_latency"]*1e3, got[b].values["p50_latency"]*1e3,
				got[a].values["cpu_per_request"]*1e6, got[b].values["cpu_per_request"]*1e6)
			t.Logf("pair %d: waits per request: mutex %.2fµs / %.2fµs, pool %.2fµs / %.2fµs", i+1,
				got[a].waits[0]*1e6, got[b].waits[0]*1e6, got[a].waits[1]*1e6, got[b].waits[1]*1e6)
		}
		slices.Sort(changes)
		t.Logf("offered %.0f/s, served per second at %d in flight: median change %+.1f%% [%+.1f%%, %+.1f%%] over %d pairs", rate, c, 100*median(changes), 100*changes[0], 100*changes[len(changes)-1], len(changes))
	})
}

// harness is what the corpus's measurements start from: the repository,
// its base commit built, the gate's workload and the corpus's entries.
type harness struct {
	top, baseID, bins, baseBin string
	workload                   []thresholds.Template
	entries                    []Entry
}

func newHarness(ctx context.Context, t *testing.T, base string) harness {
	t.Helper()
	var h harness
	var err error
	h.top, err = git(ctx, moduleRoot, nil, "rev-parse", "--show-toplevel")
	require.NoError(t, err)
	h.baseID, err = git(ctx, h.top, nil, "rev-parse", "--verify", base+"^{commit}")
	require.NoError(t, err)
	h.workload, err = readWorkload(filepath.Join(h.top, "thresholds", "slo.yaml"))
	require.NoError(t, err)
	h.entries, err = Load(regressionsDir)
	require.NoError(t, err)
	h.bins = t.TempDir()
	h.baseBin = filepath.Join(h.bins, "base")
	require.NoError(t, build(ctx, h.top, h.baseID, h.baseBin))
	return h
}

// each runs fn as a subtest for "aa" (the base against itself, e nil) and
// for every entry named in only (all of them when only is nil), with the
// candidate's binary: the entry committed on the base and built.
func (h harness) each(ctx context.Context, t *testing.T, only []string, fn func(t *testing.T, e *Entry, bin string)) {
	if slices.Contains(only, "aa") {
		t.Run("aa", func(t *testing.T) { fn(t, nil, h.baseBin) })
	}
	for _, e := range h.entries {
		if only != nil && !slices.Contains(only, e.Name) {
			continue
		}
		t.Run(e.Name, func(t *testing.T) {
			id, err := Commit(ctx, h.top, h.baseID, e)
			require.NoError(t, err)
			bin := filepath.Join(h.bins, e.Name)
			require.NoError(t, build(ctx, h.top, id, bin))
			fn(t, &e, bin)
		})
	}
}
