package perftest

import (
	"context"
	"fmt"
	"io"
	"io/fs"
	"net"
	"net/http"
	"net/http/httptest"
	"net/http/httputil"
	"net/url"
	"os"
	"path/filepath"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/perfgate/perfgate/perftest/internal/gate"
	"github.com/perfgate/perfgate/perftest/internal/promq"
	"github.com/perfgate/perfgate/perftest/internal/stack"
	"github.com/perfgate/perfgate/perftest/internal/verdict"
	"github.com/perfgate/perfgate/thresholds"
)

// deployment starts the task API's two replicas and Prometheus with the
// gate's own stack package: the "existing deployment" target mode is
// pointed at. It returns the stack, torn down when the test ends.
func deployment(t *testing.T, args ...string) *stack.Stack {
	t.Helper()
	ctx := context.Background()
	svc, err := stack.BuildServiceImage(ctx, moduleRoot(t), nil)
	if err != nil {
		t.Fatal(err)
	}
	prom, err := stack.PrometheusImage(ctx, settings.Prometheus, os.Stdout)
	if err != nil {
		t.Fatal(err)
	}
	st, err := stack.Start(ctx, stack.Config{ServiceImage: svc.Tag, PrometheusImage: prom.Tag, ServiceArgs: args})
	t.Cleanup(func() {
		if err := st.Close(context.WithoutCancel(ctx)); err != nil {
			t.Error(err)
		}
		if n, err := stack.Leftovers(context.Background(), stack.LabelRun, st.RunID); err != nil || n != 0 {
			t.Errorf("the deployment left %d resources behind (%v)", n, err)
		}
	})
	if err != nil {
		t.Fatal(err)
	}
	pc, err := promq.New(st.PrometheusURL)
	if err != nil {
		t.Fatal(err)
	}
	wctx, cancel := context.WithTimeout(ctx, time.Minute)
	defer cancel()
	if err := pc.WaitForTargets(wctx, "tasksvc", len(st.Replicas), 100*time.Millisecond); err != nil {
		t.Fatal(err)
	}
	return st
}

// targetSpec is the committed spec in target mode: a 10 s load, no
// comparison, the deployment's URLs, its query API and selector.
func targetSpec(t *testing.T, st *stack.Stack, queryURL, selector, headers string) string {
	t.Helper()
	b, err := os.ReadFile(filepath.Join(moduleRoot(t), "thresholds", thresholds.DefaultFile))
	if err != nil {
		t.Fatal(err)
	}
	spec := string(b)
	spec = spec[:strings.Index(spec, "\ncompare:")] + "\n"
	a, z := strings.Index(spec, "\nload:\n"), strings.Index(spec, "\nworkload:")
	spec = spec[:a] + `
load:
  warmup: 3s
  stages:
    - {duration: 3s, target: 60/s}
    - {duration: 7s, target: 60/s}
` + spec[z:]
	spec = strings.Replace(spec, "min: 75/s", "min: 50/s", 1) // the throughput SLO, for 60/s
	var urls, names []string
	for _, r := range st.Replicas {
		urls = append(urls, r.URL)
		names = append(names, r.Name)
	}
	spec += fmt.Sprintf("target:\n  urls: [%s]\n  instances: [%s]\n  query:\n    url: %s\n    selector: ['%s']\n%s",
		strings.Join(urls, ", "), strings.Join(names, ", "), queryURL, selector, headers)
	f := filepath.Join(t.TempDir(), "target.yaml")
	if err := os.WriteFile(f, []byte(spec), 0o644); err != nil {
		t.Fatal(err)
	}
	return f
}

// authProxy puts a query API behind a bearer token, like a hosted store.
func authProxy(t *testing.T, upstream, token string) string {
	u, err := url.Parse(upstream)
	if err != nil {
		t.Fatal(err)
	}
	rp := httputil.NewSingleHostReverseProxy(u)
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.Header.Get("Authorization") != "Bearer "+token {
			http.Error(w, "unauthorized", http.StatusUnauthorized)
			return
		}
		rp.ServeHTTP(w, r)
	}))
	t.Cleanup(srv.Close)
	return srv.URL
}

// requireNoData fails the test unless a run that read no series is no pass
// and some check of it says no data.
func requireNoData(t *testing.T, o gate.Outcome) {
	t.Helper()
	if o.Decision.Verdict == verdict.Pass {
		t.Fatal("a run that read no series passed")
	}
	noData := 0
	for _, c := range o.Run.Result.Checks {
		if c.Status == verdict.StatusNoData {
			noData++
		}
	}
	if noData == 0 {
		t.Errorf("no check reads no data: %+v", o.Run.Result.Checks)
	}
}

func targetGate(t *testing.T, spec string, env map[string]string) (gate.Outcome, error) {
	t.Helper()
	return targetGateTo(t, spec, env, t.TempDir(), os.Stdout)
}

// targetGateTo is targetGate with the reports in dir and the output to out.
func targetGateTo(t *testing.T, spec string, env map[string]string, dir string, out io.Writer) (gate.Outcome, error) {
	t.Helper()
	return gate.Gate(context.Background(), gate.Settings{
		Spec: spec, Root: moduleRoot(t), ReportDir: dir, Out: out,
		Getenv: func(k string) string { return env[k] },
	})
}

// requireNowhere fails the test when any file under dir, or log, holds one
// of the secrets.
func requireNowhere(t *testing.T, dir, log string, secrets ...string) {
	t.Helper()
	files := 0
	err := filepath.WalkDir(dir, func(path string, d fs.DirEntry, err error) error {
		if err != nil || d.IsDir() {
			return err
		}
		files++
		b, err := os.ReadFile(path)
		if err != nil {
			return err
		}
		for _, s := range secrets {
			if strings.Contains(string(b), s) {
				t.Errorf("%s holds the secret %q", path, s)
			}
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	for _, s := range secrets {
		if strings.Contains(log, s) {
			t.Errorf("the output holds the secret %q", s)
		}
	}
	t.Logf("%d report files and %d bytes of output hold none of %d secrets", files, len(log), len(secrets))
}

// TestARedirectingStoreGetsNoCredentialsBeyondItsHost points target mode at
// a query API on 127.0.0.1 that redirects to a server on localhost: the
// gate stops before any load, the other server gets no request (so no
// header), and the target none either.
func TestARedirectingStoreGetsNoCredentialsBeyondItsHost(t *testing.T) {
	var targetHits, elsewhereHits atomic.Int64
	target := httptest.NewServer(http.HandlerFunc(func(http.ResponseWriter, *http.Request) { targetHits.Add(1) }))
	t.Cleanup(target.Close)
	ln, err := net.Listen("tcp", "localhost:0")
	if err != nil {
		t.Fatal(err)
	}
	elsewhere := &httptest.Server{Listener: ln, Config: &http.Server{Handler: http.HandlerFunc(func(http.ResponseWriter, *http.Request) {
		elsewhereHits.Add(1)
	})}}
	elsewhere.Start()
	t.Cleanup(elsewhere.Close)
	to := fmt.Sprintf("http://localhost:%d", ln.Addr().(*net.TCPAddr).Port)
	store := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		http.Redirect(w, r, to+r.URL.RequestURI(), http.StatusTemporaryRedirect)
	}))
	t.Cleanup(store.Close)

	st := &stack.Stack{Replicas: []stack.Replica{{Name: "replica-1", URL: target.URL}}}
	headers := "    headers: {Authorization: PERF_QUERY_TEST_AUTH, X-Scope-OrgID: PERF_QUERY_TEST_TENANT}\n"
	env := map[string]string{"PERF_QUERY_TEST_AUTH": "Bearer t0ken", "PERF_QUERY_TEST_TENANT": "tenant-s3cret"}
	var out strings.Builder
	dir := t.TempDir()
	_, err = targetGateTo(t, targetSpec(t, st, store.URL, `job="tasksvc"`, headers), env, dir, &out)
	if n := elsewhereHits.Load(); n != 0 {
		t.Errorf("the host the store redirects to got %d requests", n)
	}
	if n := targetHits.Load(); n != 0 {
		t.Errorf("the target got %d requests from a run whose store cannot be read", n)
	}
	if err == nil || !strings.Contains(err.Error(), "the query API redirects to "+to+"/api/v1/query") || !strings.Contains(err.Error(), "redirects are not followed") {
		t.Fatalf("got %v, want the redirect named and refused", err)
	}
	requireNowhere(t, dir, out.String()+err.Error(), "t0ken", "tenant-s3cret")
}

// TestCredentialsInTheQueryURLAreRefusedUnprinted: user info and a query
// string in the query URL are bad input, and the refusal names neither.
func TestCredentialsInTheQueryURLAreRefusedUnprinted(t *testing.T) {
	st := &stack.Stack{Replicas: []stack.Replica{{Name: "replica-1", URL: "http://127.0.0.1:1"}}}
	for _, q := range []string{"http://admin:pw-s3cret@127.0.0.1:9090", "http://127.0.0.1:9090/?api_key=key-s3cret", "https://metrics.example.com/#frag-s3cret"} {
		var out strings.Builder
		dir := t.TempDir()
		_, err := targetGateTo(t, targetSpec(t, st, q, `job="tasksvc"`, ""), nil, dir, &out)
		if code := gate.ExitCode(gate.Outcome{}, err); code != gate.ExitBadInput {
			t.Fatalf("%s: exit %d (%v), want %d", q, code, err, gate.ExitBadInput)
		}
		if !strings.Contains(err.Error(), "target.query.url") {
			t.Errorf("the refusal does not name the field: %v", err)
		}
		requireNowhere(t, dir, out.String()+err.Error(), "s3cret")
	}
}

// TestTargetModeGatesAnExistingDeployment runs the gate against a stack it
// did not start, through a query API that wants a bearer token: the same
// verdicts as the built-in mode, no data when the selector matches nothing,
// and a clear error when the API is unreachable or refuses the token.
func TestTargetModeGatesAnExistingDeployment(t *testing.T) {
	requireDocker(t)
	st := deployment(t)
	api := authProxy(t, st.PrometheusURL, "t0ken")
	headers := "    headers: {Authorization: PERF_QUERY_TEST_AUTH, X-Scope-OrgID: PERF_QUERY_TEST_TENANT}\n"
	good := map[string]string{"PERF_QUERY_TEST_AUTH": "Bearer t0ken", "PERF_QUERY_TEST_TENANT": "tenant-s3cret"}

	t.Run("healthy passes", func(t *testing.T) {
		var out strings.Builder
		dir := t.TempDir()
		o, err := targetGateTo(t, targetSpec(t, st, api, `job="tasksvc"`, headers), good, dir, io.MultiWriter(os.Stdout, &out))
		if err != nil {
			t.Fatal(err)
		}
		requireNowhere(t, dir, out.String(), "t0ken", "tenant-s3cret")
		if o.Decision.Verdict != verdict.Pass {
			t.Fatalf("verdict %s: %s", o.Decision.Verdict, strings.Join(o.Decision.Failures, "; "))
		}
		if !strings.Contains(o.Run.Service, "existing deployment at ") {
			t.Errorf("the report does not state the target: %q", o.Run.Service)
		}
	})
	t.Run("a selector that matches nothing is no data", func(t *testing.T) {
		o, err := targetGate(t, targetSpec(t, st, api, `job="nothing-here"`, headers), good)
		if err != nil {
			t.Fatal(err)
		}
		requireNoData(t, o)
	})
	t.Run("a refused token is an error before any load", func(t *testing.T) {
		var out strings.Builder
		dir := t.TempDir()
		_, err := targetGateTo(t, targetSpec(t, st, api, `job="tasksvc"`, headers), map[string]string{"PERF_QUERY_TEST_AUTH": "Bearer wr0ng-t0ken", "PERF_QUERY_TEST_TENANT": "tenant-s3cret"}, dir, &out)
		if err == nil || !strings.Contains(err.Error(), "cannot be used") || !strings.Contains(err.Error(), "401") {
			t.Fatalf("got %v, want the query API refusing the token", err)
		}
		requireNowhere(t, dir, out.String()+err.Error(), "t0ken", "tenant-s3cret")
	})
	t.Run("an unset header variable is bad input", func(t *testing.T) {
		_, err := targetGate(t, targetSpec(t, st, api, `job="tasksvc"`, headers), nil)
		if code := gate.ExitCode(gate.Outcome{}, err); code != gate.ExitBadInput {
			t.Fatalf("exit %d (%v), want %d", code, err, gate.ExitBadInput)
		}
	})
	t.Run("an unreachable query API is an error", func(t *testing.T) {
		_, err := targetGate(t, targetSpec(t, st, "http://127.0.0.1:1", `job="tasksvc"`, ""), nil)
		if err == nil || !strings.Contains(err.Error(), "cannot be used") {
			t.Fatalf("got %v, want the query API unreachable", err)
		}
	})
}

// TestTargetModeFailsWhereTheBuiltInModeFails is the twin: a deployment
// answering 10% of requests with 500 fails error_rate in target mode too.
func TestTargetModeFailsWhereTheBuiltInModeFails(t *testing.T) {
	requireDocker(t)
	st := deployment(t, "-fault-error-ratio=0.1")
	o, err := targetGate(t, targetSpec(t, st, st.PrometheusURL, `job="tasksvc"`, ""), nil)
	if err != nil {
		t.Fatal(err)
	}
	if o.Decision.Verdict != verdict.Fail || !strings.Contains(strings.Join(o.Decision.Failures, "\n"), "error_rate") {
		t.Fatalf("verdict %s, failures %v: want error_rate to fail", o.Decision.Verdict, o.Decision.Failures)
	}
}
