package perftest

import (
	"context"
	"fmt"
	"math"
	"os"
	"sort"
	"strings"
	"testing"
	"time"

	"github.com/perfgate/perfgate/perftest/internal/gate"
	"github.com/perfgate/perfgate/perftest/internal/promq"
	"github.com/perfgate/perfgate/perftest/internal/report"
	"github.com/perfgate/perfgate/perftest/internal/stack"
	"github.com/perfgate/perfgate/perftest/internal/verdict"
	"github.com/perfgate/perfgate/thresholds"
)

// victoriaDeployment is deployment with VictoriaMetrics single-node beside
// its Prometheus, scraping the same replicas every second: a second
// Prometheus-compatible store for target mode to read. The image is built
// around a local binary (PERF_VICTORIA_BIN, else stack.VictoriaMetricsVersion
// compiled once into the user cache); a build that fails here fails the test
// with its reason.
func victoriaDeployment(t *testing.T, args ...string) victoriaStack {
	t.Helper()
	ctx := context.Background()
	img, err := stack.VictoriaMetricsImage(ctx, os.Getenv("PERF_VICTORIA_BIN"), os.Stdout)
	if err != nil {
		t.Fatalf("no VictoriaMetrics image: %v", err)
	}
	t.Logf("VictoriaMetrics: %s", img.Source)
	st := deployment(t, args...)
	return victoriaStack{Stack: st, image: img.Tag, api: startVictoria(t, st, img.Tag, "")}
}

// noLatencyOffset is the query string that has VictoriaMetrics evaluate a
// query at the time asked for whatever its -search.latencyOffset; other
// stores ignore it.
const noLatencyOffset = "?latency_offset=1ms"

// victoriaStack is a deployment with VictoriaMetrics' query API at api.
type victoriaStack struct {
	*stack.Stack
	image, api string
}

// startVictoria starts VictoriaMetrics from image beside the stack, named
// name (the default when "") and with extra flags, waits until it has
// scraped every replica, and returns its URL. Its cleanup runs before the stack's, so the
// container leaves the network before the stack removes it.
func startVictoria(t *testing.T, st *stack.Stack, image, name string, flags ...string) string {
	t.Helper()
	ctx := context.Background()
	vm, err := st.StartVictoriaMetrics(ctx, stack.VictoriaConfig{Image: image, Name: name, Args: flags})
	t.Cleanup(func() {
		if err := vm.Close(context.WithoutCancel(ctx)); err != nil {
			t.Error(err)
		}
	})
	if err != nil {
		t.Fatal(err)
	}
	pc, err := promq.New(vm.URL + "/" + noLatencyOffset) // else a store at the default offset sees its targets only after 30 s
	if err != nil {
		t.Fatal(err)
	}
	wctx, cancel := context.WithTimeout(ctx, time.Minute)
	defer cancel()
	if err := pc.WaitForTargets(wctx, thresholds.DefaultService.Name, len(st.Replicas), 100*time.Millisecond); err != nil {
		t.Fatalf("%v\n%s", err, vm.Logs(ctx, 20))
	}
	return vm.URL
}

// TestVictoriaMetricsTargetModeGatesAnExistingDeployment is
// TestTargetModeGatesAnExistingDeployment with VictoriaMetrics answering the
// queries: a healthy deployment passes, and a selector that matches nothing
// is no data, never a pass. Every query of the healthy run is then asked of
// both stores at the same instant, which must answer with the same series.
func TestVictoriaMetricsTargetModeGatesAnExistingDeployment(t *testing.T) {
	requireDocker(t)
	vs := victoriaDeployment(t)
	st, api := vs.Stack, vs.api

	t.Run("healthy passes", func(t *testing.T) {
		o, err := targetGate(t, targetSpec(t, st, api, `job="tasksvc"`, ""), nil)
		if err != nil {
			t.Fatal(err)
		}
		if o.Decision.Verdict != verdict.Pass {
			t.Fatalf("verdict %s: %s", o.Decision.Verdict, strings.Join(o.Decision.Failures, "; "))
		}
		if !strings.Contains(o.Run.Prometheus, api) {
			t.Errorf("the report does not name the query API: %q", o.Run.Prometheus)
		}
		sameSeries(t, o.Run, api, st.PrometheusURL)
	})
	t.Run("a store at its default latency offset is never a pass", func(t *testing.T) {
		// By default VictoriaMetrics evaluates a query for the last 30 s
		// 30 s earlier and stamps the answer with the time asked for: the
		// window's last 30 s are older data or none. (The per-query
		// override, ?latency_offset=1ms, cannot go in target.query.url,
		// which takes no query string: every report prints that URL.)
		def := startVictoria(t, st, vs.image, "vm-default", "-search.latencyOffset=30s")
		o, err := targetGate(t, targetSpec(t, st, def, `job="tasksvc"`, ""), nil)
		if err != nil {
			t.Fatal(err)
		}
		if o.Decision.Verdict == verdict.Pass {
			t.Fatalf("a store 30 s behind passed: %s", o.Decision.Reason)
		}
		t.Logf("read 30 s behind: %s: %s", o.Decision.Verdict, o.Decision.Reason)
	})
	t.Run("a selector that matches nothing is no data", func(t *testing.T) {
		o, err := targetGate(t, targetSpec(t, st, api, `job="nothing-here"`, ""), nil)
		if err != nil {
			t.Fatal(err)
		}
		requireNoData(t, o)
	})
}

// TestVictoriaMetricsTargetModeFailsWhereTheBuiltInModeFails is the twin: a
// deployment answering 10% of requests with 500 fails error_rate when
// VictoriaMetrics answers the queries, and the same SLOs fail when the
// deployment's Prometheus answers them in the next run.
func TestVictoriaMetricsTargetModeFailsWhereTheBuiltInModeFails(t *testing.T) {
	requireDocker(t)
	vs := victoriaDeployment(t, "-fault-error-ratio=0.1")
	failed := map[string]string{}
	for _, store := range []struct{ name, url string }{{"VictoriaMetrics", vs.api}, {"Prometheus", vs.PrometheusURL}} {
		o, err := targetGate(t, targetSpec(t, vs.Stack, store.url, `job="tasksvc"`, ""), nil)
		if err != nil {
			t.Fatal(err)
		}
		var names []string
		for _, c := range o.Run.Result.Checks {
			if c.Status != verdict.StatusPass {
				names = append(names, c.Name+" "+string(c.Status))
			}
			if c.Name == "error_rate" {
				t.Logf("%s: error_rate %.2f%%", store.name, c.Observed*100)
			}
		}
		failed[store.name] = strings.Join(names, ", ")
		if o.Decision.Verdict != verdict.Fail || !strings.Contains(strings.Join(o.Decision.Failures, "\n"), "error_rate") {
			t.Fatalf("%s: verdict %s, failures %v: want error_rate to fail", store.name, o.Decision.Verdict, o.Decision.Failures)
		}
	}
	if failed["VictoriaMetrics"] != failed["Prometheus"] {
		t.Errorf("the stores disagree on what fails: VictoriaMetrics %q, Prometheus %q", failed["VictoriaMetrics"], failed["Prometheus"])
	}
}

// sameSeries asks each store every query the gate ran, at the instant the
// gate ran it, and fails when one store answers with series the other does
// not: a query one backend cannot answer the same way. The values come
// from two scrapers that sampled the replicas at different instants, so
// they are logged side by side, not compared.
func sameSeries(t *testing.T, run report.Run, a, b string) {
	t.Helper()
	ctx := context.Background()
	// Both with noLatencyOffset: Prometheus must ignore what it does not know.
	ca, err := promq.New(a + "/" + noLatencyOffset)
	if err != nil {
		t.Fatal(err)
	}
	cb, err := promq.New(b + "/" + noLatencyOffset)
	if err != nil {
		t.Fatal(err)
	}
	seen := map[string]bool{}
	for _, c := range run.Result.Checks {
		if c.Query == "" || c.Name == gate.ClientErrorRate || seen[c.Query] { // the generator's own, not PromQL
			continue
		}
		seen[c.Query] = true
		at := promq.DefaultSeries.At(thresholds.Metric(c.Metric), run.WindowTo)
		sa, errA := ca.Instant(ctx, c.Query, at)
		sb, errB := cb.Instant(ctx, c.Query, at)
		if errA != nil || errB != nil {
			t.Errorf("%s: VictoriaMetrics %v, Prometheus %v", c.Name, errA, errB)
			continue
		}
		ka, kb := seriesKeys(sa), seriesKeys(sb)
		if ka != kb {
			t.Errorf("%s: VictoriaMetrics answers series %s, Prometheus %s\nquery: %s", c.Name, ka, kb, c.Query)
		}
		t.Logf("%-24s VictoriaMetrics %s | Prometheus %s", c.Name, values(sa), values(sb))
	}
}

func seriesKeys(s []promq.Sample) string {
	keys := make([]string, len(s))
	for i, x := range s {
		keys[i] = fmt.Sprintf("{instance=%q,le=%q}", x.Instance, x.Le)
	}
	sort.Strings(keys)
	return strings.Join(keys, " ")
}

// values renders a small answer in full and a histogram's as its total.
func values(s []promq.Sample) string {
	if len(s) > 2 {
		total := 0.0
		for _, x := range s {
			if x.Le == "+Inf" {
				total += x.Value
			}
		}
		return fmt.Sprintf("%d series, %.0f in +Inf", len(s), total)
	}
	var out []string
	for _, x := range s {
		v := fmt.Sprintf("%.6g", x.Value)
		if math.IsNaN(x.Value) {
			v = "NaN"
		}
		if x.Instance != "" {
			v = x.Instance + "=" + v
		}
		out = append(out, v)
	}
	return "[" + strings.Join(out, " ") + "]"
}
