package perftest

import (
	"bytes"
	"context"
	"fmt"
	"io"
	"maps"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/perfgate/perfgate/perftest/internal/compare"
	"github.com/perfgate/perfgate/perftest/internal/corpus"
	"github.com/perfgate/perfgate/perftest/internal/gate"
	"github.com/perfgate/perfgate/perftest/internal/rates"
	"github.com/perfgate/perfgate/perftest/internal/stack"
	"github.com/perfgate/perfgate/perftest/internal/verdict"
	"github.com/perfgate/perfgate/thresholds"
)

// runCompare runs a comparison with Ctrl-C turned into a clean teardown,
// checks that it left nothing behind, and stops the test if it could not run.
func runCompare(t *testing.T, o gate.CompareOptions) gate.Comparison {
	t.Helper()
	c, err := tryCompare(t, o)
	if err != nil {
		t.Fatalf("the comparison could not run: %v", err)
	}
	return c
}

// tryCompare is runCompare for callers that go on after an error.
func tryCompare(t *testing.T, o gate.CompareOptions) (gate.Comparison, error) {
	t.Helper()
	o.ModuleRoot = moduleRoot(t)
	o.Prometheus = settings.Prometheus
	if o.Log == nil {
		o.Log = os.Stdout
	}
	var c gate.Comparison
	err := cleanRun(t, 15*time.Minute, func(ctx context.Context, started func(*stack.Stack)) (err error) {
		o.Started = started
		c, err = gate.Compare(ctx, o)
		return err
	})
	if err != nil {
		return c, err
	}
	for _, r := range c.Result.Rows {
		fmt.Printf("  %-16s %-12s %s\n", r.Metric, r.Status, r.Why)
	}
	return c, nil
}

// compareSpec is the committed spec, which must have a compare section.
func compareSpec(t *testing.T) *thresholds.Spec {
	spec := loadSpec(t, moduleRoot(t)+"/thresholds/"+thresholds.DefaultFile)
	if spec.Compare == nil {
		t.Fatal("thresholds/slo.yaml has no compare section")
	}
	return spec
}

func rowsWith(c gate.Comparison, status compare.Status) []string {
	var names []string
	for _, r := range c.Result.Rows {
		if r.Status == status {
			names = append(names, r.Metric)
		}
	}
	return names
}

// TestCompareCatchesALatencyRegression builds baseline and candidate from the
// work tree and slows the candidate down: 20ms of injected latency against
// 30ms. The comparison must call latency worse and fail.
func TestCompareCatchesALatencyRegression(t *testing.T) {
	spec := compareSpec(t)
	requireDocker(t)
	c := runCompare(t, gate.CompareOptions{Spec: spec,
		BaselineArgs: []string{"-fault-latency=20ms"}, CandidateArgs: []string{"-fault-latency=30ms"}})
	if c.Result.Verdict != verdict.Fail {
		t.Fatalf("verdict %q, want fail: %s", c.Result.Verdict, c.Result.Reason)
	}
	worse := strings.Join(rowsWith(c, compare.Worse), " ")
	if !strings.Contains(worse, thresholds.CompareP50) {
		t.Errorf("p50 latency is not worse; worse: %s", worse)
	}
}

// TestCompareCatchesTheNPlusOne is the comparison's twin on real code: the
// corpus entry n_plus_one_get (GET /tasks/{id} reads its row four times),
// committed on top of HEAD and built from git like a pull request, against
// HEAD. It must fail on metrics that measure work: the allocations of a Go
// service, and the queries any service can count (four a GET, not one).
func TestCompareCatchesTheNPlusOne(t *testing.T) {
	spec := compareSpec(t)
	requireDocker(t)
	root := moduleRoot(t)
	entry := corpusEntry(t, root, "n_plus_one_get")
	ctx := context.Background()
	head, err := gitOut(ctx, root, "rev-parse", "HEAD")
	if err != nil {
		t.Fatal(err)
	}
	commit, err := corpus.Commit(ctx, root, head, entry)
	if err != nil {
		t.Fatal(err)
	}
	c := runCompare(t, gate.CompareOptions{Spec: spec, Baseline: head, Candidate: commit})
	if c.Result.Verdict != verdict.Fail {
		t.Fatalf("verdict %q, want fail: %s", c.Result.Verdict, c.Result.Reason)
	}
	worse := rowsWith(c, compare.Worse)
	for _, m := range []string{thresholds.CompareAllocs, thresholds.CompareQueries} {
		if !slices.Contains(worse, m) {
			t.Errorf("%s is not worse; worse: %v", m, worse)
		}
	}
	// The profiled pairs ran, and say why under every metric that failed
	// (which functions they name is a rate over runs, in the README).
	if len(c.Profiles) != len(rowsWith(c, compare.Worse)) {
		t.Errorf("%d profile diffs for %d worse metrics", len(c.Profiles), len(rowsWith(c, compare.Worse)))
	}
	for _, d := range c.Profiles {
		t.Logf("why %s: %s", d.Metric, strings.Join(d.Text(), "; "))
		// cpu, allocs, goroutine and block, of each build
		if strings.Contains(d.Why, "could not run") || len(c.ProfileFiles) != 8 {
			t.Errorf("the profiled pairs did not run: %s (%d merged profiles)", d.Why, len(c.ProfileFiles))
		}
	}
}

// TestCompareCatchesALeak is the growth metrics' twin on real code: the
// corpus entry goroutine_leak starts a goroutine per write that never ends,
// which no level check budgets. It must fail on goroutine_growth (about
// +400 per 1,000 requests against a budget of 5); TestCompareAAPasses is the
// twin that must not. audit_trail, a leak of the heap alone, is caught on
// heap_growth too, but at p from 0.002 to 0.0098 against α = 0.01 over 6
// runs: too close to the edge for a test that must not flake (README).
func TestCompareCatchesALeak(t *testing.T) {
	compareCatches(t, "goroutine_leak", thresholds.CompareGoroutineGrowth)
}

// TestCompareCatchesALeakInTheResidentSet is rss_growth's twin on real code,
// the leak a service in any language shows: audit_trail keeps 181 bytes a
// request, which the resident set shows in steps, and its trend over the run
// reads about +250 to +300KiB per 1,000 requests against a budget of 64KiB
// (p ≤ 3·10⁻⁸ in 6 of 6 runs, README); TestCompareAAPasses must not fail.
func TestCompareCatchesALeakInTheResidentSet(t *testing.T) {
	compareCatches(t, "audit_trail", thresholds.CompareRSSGrowth)
}

// TestCompareCatchesALock is the contention pairs' twin on real code: the
// corpus entry global_mutex serialises the handlers behind one mutex, which
// costs nothing until requests meet. It must fail on wait_per_request, read
// from the pairs whose arrivals come in bursts (about +300 µs a request
// against a budget of 50 µs); TestCompareAAPasses is the twin that must not.
func TestCompareCatchesALock(t *testing.T) {
	compareCatches(t, "global_mutex", thresholds.CompareWaitPerRequest)
}

// compareCatches compares the corpus entry, committed on top of HEAD, with
// HEAD, without profiling, and wants it to fail on metric.
func compareCatches(t *testing.T, entry, metric string) {
	spec := compareSpec(t)
	requireDocker(t)
	root := moduleRoot(t)
	ctx := context.Background()
	head, err := gitOut(ctx, root, "rev-parse", "HEAD")
	if err != nil {
		t.Fatal(err)
	}
	commit, err := corpus.Commit(ctx, root, head, corpusEntry(t, root, entry))
	if err != nil {
		t.Fatal(err)
	}
	c := runCompare(t, gate.CompareOptions{Spec: spec, Baseline: head, Candidate: commit, Profile: gate.ProfileNever})
	if c.Result.Verdict != verdict.Fail {
		t.Fatalf("verdict %q, want fail: %s", c.Result.Verdict, c.Result.Reason)
	}
	if worse := rowsWith(c, compare.Worse); !slices.Contains(worse, metric) {
		t.Errorf("%s is not worse; worse: %v", metric, worse)
	}
}

// TestCompareAAPasses is the comparison's other twin: HEAD against itself,
// built the same way, must not fail.
func TestCompareAAPasses(t *testing.T) {
	spec := compareSpec(t)
	requireDocker(t)
	root := moduleRoot(t)
	head, err := gitOut(context.Background(), root, "rev-parse", "HEAD")
	if err != nil {
		t.Fatal(err)
	}
	var log bytes.Buffer
	c := runCompare(t, gate.CompareOptions{Spec: spec, Baseline: head, Candidate: head, Log: io.MultiWriter(os.Stdout, &log)})
	if c.Result.Verdict == verdict.Fail {
		t.Errorf("A/A verdict fail: %s", c.Result.Reason)
	}
	// Each replica on its own CPU for the evenly paced pairs, shared by the
	// two builds; every CPU for the contention pairs.
	if !strings.Contains(log.String(), "replicas not pinned to CPUs:") {
		for _, line := range []string{"baseline-1 ready at http://127.0.0.1:", " on CPU 0\n", "candidate-1 ready at", "replicas on every CPU\n"} {
			if !strings.Contains(log.String(), line) {
				t.Errorf("the log does not say %q", line)
			}
		}
	}
}

func corpusEntry(t *testing.T, root, name string) corpus.Entry {
	t.Helper()
	entries, err := corpus.Load(filepath.Join(root, "perftest", "testdata", "regressions"))
	if err != nil {
		t.Fatal(err)
	}
	for _, e := range entries {
		if e.Name == name {
			return e
		}
	}
	t.Fatalf("no corpus entry %q", name)
	return corpus.Entry{}
}

// TestCompareAA is the calibration run behind `make perf-aa`: the same build
// on both sides. It reports the noise of this machine and the smallest
// regression it can detect, and fails if it finds a difference that is not there.
func TestCompareAA(t *testing.T) {
	if os.Getenv("PERF_AA") == "" {
		t.Skip("the noise calibration runs with make perf-aa (PERF_AA=1)")
	}
	spec := compareSpec(t)
	requireDocker(t)
	// PERF_AA_CANDIDATE_ARGS measures what a flag costs: the same build,
	// the candidate's replicas with it (make perf-aa CANDIDATE_ARGS=-pprof=false).
	// PERF_AA_PAIRS runs more pairs than the spec's, for a finer figure
	// of the noise (make perf-aa PAIRS=20).
	if n, _ := strconv.Atoi(os.Getenv("PERF_AA_PAIRS")); n > 0 {
		spec.Compare.Rounds = n
	}
	args := strings.Fields(os.Getenv("PERF_SERVICE_ARGS"))
	c := runCompare(t, gate.CompareOptions{Spec: spec, BaselineArgs: args,
		CandidateArgs: append(slices.Clone(args), strings.Fields(os.Getenv("PERF_AA_CANDIDATE_ARGS"))...)})
	// Both sides are one build here, so all rounds measure the noise.
	noise := compare.Calibrate(gate.Samples(c.Rounds, *spec.Compare), compare.Options{Alpha: spec.Compare.Alpha})
	for _, n := range noise {
		fmt.Printf("noise %-16s %s\n", n.Metric, n.Why)
	}
	for _, r := range c.Result.Rows { // the rounds themselves, pair by pair, to see what the noise is made of
		fmt.Printf("rounds %-24s", r.Metric)
		for i := range r.BaselineRounds {
			fmt.Printf(" %.4g/%.4g", r.BaselineRounds[i], r.CandidateRounds[i])
		}
		fmt.Println()
	}
	if c.Result.Verdict != verdict.Pass {
		t.Errorf("A/A verdict %q: %s", c.Result.Verdict, c.Result.Reason)
	}
}

// TestCompareDetectionRates measures how often the comparison is right, the
// script behind `make perf-rates N=5`: N A/A runs (HEAD against itself), and N
// runs of every entry of the regression corpus (perftest/testdata/regressions),
// each a commit of its own on top of HEAD built from git like a pull request,
// compared with HEAD. Every run is appended as a JSON line to
// perftest/testdata/rates/results.jsonl, so rates accumulate over batches; the
// table at the end counts every line recorded with this spec's compare settings.
// PERF_RATES_ONLY=name,name limits the entries ("aa" is the A/A run).
// PERF_RATES_VIEW=nongo judges without the budgets on the Go runtime's
// metrics (rates.GoRuntime), as a service in another language is judged.
// PERF_NOISE=name starts that standard neighbour (rates.Neighbours) beside
// every comparison and records its name with it (make perf-rates NOISE=memhog).
func TestCompareDetectionRates(t *testing.T) {
	n, _ := strconv.Atoi(os.Getenv("PERF_RATES"))
	tableOnly := os.Getenv("PERF_RATES") == "table" // make perf-rates N=table: the table of what is recorded, no runs
	if n <= 0 && !tableOnly {
		t.Skip("measures detection rates over many runs: make perf-rates N=5 (PERF_RATES=5)")
	}
	spec := compareSpec(t)
	if !tableOnly {
		requireDocker(t)
	}
	judged := spec.Compare
	switch view := os.Getenv("PERF_RATES_VIEW"); view {
	case "":
	case "nongo":
		judged = rates.WithoutGoRuntime(spec.Compare)
		fmt.Printf("Judged without the budgets on %s: the view of a service that exports no Go runtime counters.\n", strings.Join(rates.GoRuntime, ", "))
	default:
		t.Fatalf("PERF_RATES_VIEW=%s: the one view is nongo", view)
	}
	root := moduleRoot(t)
	entries, err := corpus.Load(filepath.Join(root, "perftest", "testdata", "regressions"))
	if err != nil {
		t.Fatal(err)
	}
	only := map[string]bool{}
	for _, name := range strings.FieldsFunc(os.Getenv("PERF_RATES_ONLY"), func(r rune) bool { return r == ',' || r == ' ' }) {
		only[name] = true
	}
	ctx := context.Background()
	head, err := gitOut(ctx, root, "rev-parse", "HEAD")
	if err != nil {
		t.Fatal(err)
	}
	out := filepath.Join(root, "perftest", "testdata", "rates", "results.jsonl")
	if tableOnly {
		recs, err := rates.Read(out)
		if err != nil {
			t.Fatal(err)
		}
		fmt.Print(rates.Table(recs, judged, entries))
		return
	}
	type job struct {
		name, expect, candidate string
	}
	jobs := []job{{name: rates.AA, expect: string(corpus.ExpectPass), candidate: head}}
	for _, e := range entries {
		commit, err := corpus.Commit(ctx, root, head, e)
		if err != nil {
			t.Fatal(err)
		}
		jobs = append(jobs, job{e.Name, string(e.Expect), commit})
	}
	noise := os.Getenv("PERF_NOISE")
	neighbour, ok := rates.Neighbours[noise]
	if noise != "" && !ok {
		t.Fatalf("PERF_NOISE=%s: no such neighbour; the standard ones are %v", noise, slices.Sorted(maps.Keys(rates.Neighbours)))
	}
	if noise != "" {
		if _, err := exec.LookPath(neighbour[0]); err != nil {
			t.Fatalf("the %s neighbour needs %s: apt-get install %s", noise, neighbour[0], neighbour[0])
		}
	}
	var profile gate.ProfileWhen
	if err := profile.Set(os.Getenv("PERF_PROFILE")); err != nil {
		t.Fatalf("PERF_PROFILE: %v", err)
	}
	batch := time.Now().UTC().Format(time.RFC3339)
	for i := range n {
		for _, j := range jobs {
			if len(only) > 0 && !only[j.name] {
				continue
			}
			stop := startNeighbour(t, neighbour)
			seed := uint64(time.Now().UnixNano())
			c, err := tryCompare(t, gate.CompareOptions{Spec: spec, Seed: seed, Baseline: head, Candidate: j.candidate, Profile: profile})
			stop()
			rec := rates.New(batch, j.name, j.expect, head, spec.Compare, seed, c.Result, err)
			rec.Noise, rec.Rounds, rec.Reruns = noise, len(c.Rounds), len(c.Result.Reruns)
			rec.Why = rates.WhyOf(c.Profiles)
			for _, r := range c.Rounds {
				if r.Unsound != "" {
					rec.Unsound++
				}
			}
			if err := rates.Append(out, rec); err != nil {
				t.Fatal(err)
			}
			fmt.Printf("run %d/%d %-22s %-12s %s; %d of %d rounds unsound\n", i+1, n, j.name, rec.Verdict, rec.Outcome(), rec.Unsound, rec.Rounds)
			for _, d := range c.Profiles {
				for _, line := range d.Text() {
					fmt.Printf("    why %s: %s\n", d.Metric, line)
				}
			}
		}
	}
	recs, err := rates.Read(out)
	if err != nil {
		t.Fatal(err)
	}
	fmt.Println()
	fmt.Print(rates.Table(recs, judged, entries))
	for _, row := range rates.Tally(recs, judged, noise) {
		if row.Wrong > 0 && row.Expect == string(corpus.ExpectPass) && row.Name != rates.AA {
			t.Errorf("%s must pass, and failed %d of %d", row.Name, row.Wrong, row.Runs)
		}
	}
}

// startNeighbour starts the neighbour's command, if any, and returns what
// stops it; it must not outlive the comparison it runs beside.
func startNeighbour(t *testing.T, cmd []string) (stop func()) {
	if len(cmd) == 0 {
		return func() {}
	}
	c := exec.Command(cmd[0], append(cmd[1:], "--timeout", "30m")...)
	c.SysProcAttr = &syscall.SysProcAttr{Setpgid: true} // its workers go with it
	if err := c.Start(); err != nil {
		t.Fatalf("starting the neighbour %v: %v", cmd, err)
	}
	return func() {
		_ = syscall.Kill(-c.Process.Pid, syscall.SIGTERM)
		done := make(chan struct{})
		go func() { _ = c.Wait(); close(done) }()
		select {
		case <-done:
		case <-time.After(10 * time.Second):
			_ = syscall.Kill(-c.Process.Pid, syscall.SIGKILL)
			<-done
		}
	}
}

func gitOut(ctx context.Context, dir string, args ...string) (string, error) {
	out, err := exec.CommandContext(ctx, "git", append([]string{"-C", dir}, args...)...).Output()
	return strings.TrimSpace(string(out)), err
}
