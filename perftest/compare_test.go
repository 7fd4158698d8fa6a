package perftest

import (
	"context"
	"flag"
	"fmt"
	"os"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/perfgate/perfgate/perftest/internal/compare"
	"github.com/perfgate/perfgate/perftest/internal/gate"
	"github.com/perfgate/perfgate/perftest/internal/stack"
	"github.com/perfgate/perfgate/perftest/internal/verdict"
	"github.com/perfgate/perfgate/thresholds"
)

var baselineFlag = flag.String("perf.baseline", "", "git ref of the baseline to compare with (default $PERF_BASELINE, else the merge-base with main; none disables)")

// baselineRef decides what TestGate compares against: the flag or
// PERF_BASELINE; "none" turns comparison off; else the merge-base with the
// pull request's base branch in GitHub Actions, or with main locally. A
// merge-base equal to an unchanged work tree leaves nothing to compare.
func baselineRef(t *testing.T, root string) (string, bool) {
	ref := setting(*baselineFlag, "PERF_BASELINE", "")
	if ref == "none" {
		return "", false
	}
	if ref != "" {
		return ref, true
	}
	bases := []string{"origin/main", "main"}
	if b := os.Getenv("GITHUB_BASE_REF"); b != "" {
		bases = append([]string{"origin/" + b}, bases...)
	}
	ctx := context.Background()
	mb, err := stack.MergeBase(ctx, root, bases...)
	if err != nil {
		fmt.Printf("no baseline: %v; absolute SLOs only\n", err)
		return "", false
	}
	if stack.Clean(ctx, root, mb) {
		fmt.Printf("no baseline: the work tree is its merge-base %s; absolute SLOs only\n", mb[:12])
		return "", false
	}
	return mb, true
}

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
	o.Log = os.Stdout
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

// TestCompareAA is the calibration run behind `make perf-aa`: the same build
// on both sides. It reports the noise of this machine and the smallest
// regression it can detect, and fails if it finds a difference that is not there.
func TestCompareAA(t *testing.T) {
	if os.Getenv("PERF_AA") == "" {
		t.Skip("the noise calibration runs with make perf-aa (PERF_AA=1)")
	}
	spec := compareSpec(t)
	requireDocker(t)
	c := runCompare(t, gate.CompareOptions{Spec: spec, BaselineArgs: strings.Fields(os.Getenv("PERF_SERVICE_ARGS")), CandidateArgs: strings.Fields(os.Getenv("PERF_SERVICE_ARGS"))})
	// Both sides are one build here, so all rounds measure the noise.
	noise := compare.Calibrate(gate.Samples(c.Rounds, spec.Compare.Metrics), compare.Options{Alpha: spec.Compare.Alpha})
	for _, n := range noise {
		fmt.Printf("noise %-16s %s\n", n.Metric, n.Why)
	}
	if c.Result.Verdict != verdict.Pass {
		t.Errorf("A/A verdict %q: %s", c.Result.Verdict, c.Result.Reason)
	}
}

// TestCompareDetectionRates measures how often the comparison is right, the
// script behind `make perf-rates N=20`: N A/A runs (both builds with 20ms of
// injected latency) that should pass, and N runs whose candidate has 22ms
// (+10% latency) that should fail. It prints both rates and fails when the
// A/A runs pass less than 95% of the time or the +10% runs fail less than 95%.
func TestCompareDetectionRates(t *testing.T) {
	n, _ := strconv.Atoi(os.Getenv("PERF_RATES"))
	if n <= 0 {
		t.Skip("measures detection rates over many runs: make perf-rates N=20 (PERF_RATES=20)")
	}
	spec := compareSpec(t)
	requireDocker(t)
	base := []string{"-fault-latency=20ms"}
	var aaPass, abFail int
	for i := range n {
		aa := runCompare(t, gate.CompareOptions{Spec: spec, Seed: uint64(i), BaselineArgs: base, CandidateArgs: base})
		if aa.Result.Verdict == verdict.Pass {
			aaPass++
		}
		ab := runCompare(t, gate.CompareOptions{Spec: spec, Seed: uint64(i), BaselineArgs: base, CandidateArgs: []string{"-fault-latency=22ms"}})
		if ab.Result.Verdict == verdict.Fail {
			abFail++
		}
		fmt.Printf("run %d/%d: A/A %s, +10%% %s — so far A/A passed %d of %d, +10%% failed %d of %d\n",
			i+1, n, aa.Result.Verdict, ab.Result.Verdict, aaPass, i+1, abFail, i+1)
	}
	if aaPass*100 < 95*n {
		t.Errorf("A/A runs passed %d of %d, want at least 95%%", aaPass, n)
	}
	if abFail*100 < 95*n {
		t.Errorf("+10%% latency runs failed %d of %d, want at least 95%%", abFail, n)
	}
}
