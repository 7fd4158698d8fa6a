package promq

import (
	"context"
	"errors"
	"fmt"
	"net"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/prometheus/prometheus/promql/parser"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/perfgate/perfgate/thresholds"
)

func TestQueryRendersValidPromQLForEveryMetric(t *testing.T) {
	cases := []struct {
		name string
		slo  thresholds.SLO
		want string
	}{
		{"aggregate error rate counts scraped growth and keeps a zero when no 5xx series exists",
			thresholds.SLO{Metric: thresholds.ErrorRate},
			`(sum (tasksvc_http_requests_total{job="tasksvc",route!~"/metrics|/healthz|/readyz",code=~"5.."} - (tasksvc_http_requests_total{job="tasksvc",route!~"/metrics|/healthz|/readyz",code=~"5.."} offset 26500ms or tasksvc_http_requests_total{job="tasksvc",route!~"/metrics|/healthz|/readyz",code=~"5.."} * 0)) or ` +
				`sum (tasksvc_http_requests_total{job="tasksvc",route!~"/metrics|/healthz|/readyz"} - (tasksvc_http_requests_total{job="tasksvc",route!~"/metrics|/healthz|/readyz"} offset 26500ms or tasksvc_http_requests_total{job="tasksvc",route!~"/metrics|/healthz|/readyz"} * 0)) * 0) / ` +
				`sum (tasksvc_http_requests_total{job="tasksvc",route!~"/metrics|/healthz|/readyz"} - (tasksvc_http_requests_total{job="tasksvc",route!~"/metrics|/healthz|/readyz"} offset 26500ms or tasksvc_http_requests_total{job="tasksvc",route!~"/metrics|/healthz|/readyz"} * 0))`},
		{"per-instance latency reads the buckets by instance",
			thresholds.SLO{Metric: thresholds.Latency, Quantile: 0.99, Scope: thresholds.PerInstance},
			`sum by (le, instance) (tasksvc_http_request_duration_seconds_bucket{job="tasksvc",route!~"/metrics|/healthz|/readyz"} - (tasksvc_http_request_duration_seconds_bucket{job="tasksvc",route!~"/metrics|/healthz|/readyz"} offset 26500ms or tasksvc_http_request_duration_seconds_bucket{job="tasksvc",route!~"/metrics|/healthz|/readyz"} * 0))`},
		{"a route narrows the selector",
			thresholds.SLO{Metric: thresholds.Throughput, Route: "/tasks/{id}"},
			`sum (rate(tasksvc_http_requests_total{job="tasksvc",route="/tasks/{id}"}[25s]))`},
		{"cpu is the rate of process CPU seconds",
			thresholds.SLO{Metric: thresholds.CPU, Scope: thresholds.PerInstance},
			`sum by (instance) (rate(tasksvc_process_cpu_seconds_total{job="tasksvc"}[25s]))`},
		{"memory is the peak resident set over the window",
			thresholds.SLO{Metric: thresholds.Memory, Scope: thresholds.PerInstance},
			`sum by (instance) (max_over_time(tasksvc_process_resident_memory_bytes{job="tasksvc"}[25s]))`},
		{"allocations per request divide the runtime's counter by requests served",
			thresholds.SLO{Metric: thresholds.AllocsPerRequest},
			`sum (go_memstats_mallocs_total{job="tasksvc"} - (go_memstats_mallocs_total{job="tasksvc"} offset 26500ms or go_memstats_mallocs_total{job="tasksvc"} * 0)) / ` +
				`sum (tasksvc_http_requests_total{job="tasksvc",route!~"/metrics|/healthz|/readyz"} - (tasksvc_http_requests_total{job="tasksvc",route!~"/metrics|/healthz|/readyz"} offset 26500ms or tasksvc_http_requests_total{job="tasksvc",route!~"/metrics|/healthz|/readyz"} * 0))`},
		{"custom queries get the window substituted",
			thresholds.SLO{Metric: thresholds.Custom, Query: `sum(increase(tasksvc_http_requests_total[$window]))`},
			`sum(increase(tasksvc_http_requests_total[25s]))`},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			q := DefaultSeries.Query(tc.slo, 25*time.Second)
			assert.Equal(t, tc.want, q)
			_, err := parser.NewParser(parser.Options{}).ParseExpr(q)
			assert.NoError(t, err)
		})
	}
}

func TestComparisonQueriesSelectOneVariant(t *testing.T) {
	p := parser.NewParser(parser.Options{})
	cpu := DefaultSeries.VariantCostQuery(thresholds.CPUPerRequest, "candidate", 6*time.Second)
	assert.Contains(t, cpu, `tasksvc_process_cpu_seconds_total{job="tasksvc",variant="candidate"} offset 7500ms`)
	assert.Contains(t, cpu, `tasksvc_http_requests_total{job="tasksvc",variant="candidate",route!~"/metrics|/healthz|/readyz"}`)
	rss := DefaultSeries.PeakRSSQuery("baseline", 6*time.Second)
	assert.Equal(t, `max(max_over_time(tasksvc_process_resident_memory_bytes{job="tasksvc",variant="baseline"}[6s]))`, rss)
	queries := DefaultSeries.VariantCostQuery(thresholds.CompareQueries, "baseline", 6*time.Second)
	assert.Contains(t, queries, `tasksvc_db_queries_total{job="tasksvc",variant="baseline"} offset 7500ms`)
	for _, q := range []string{cpu, rss, queries, DefaultSeries.CPUTimelineQuery(), DefaultSeries.VariantCostQuery("gc_per_request", "baseline", time.Second)} {
		_, err := p.ParseExpr(q)
		assert.NoError(t, err, q)
	}
}

func TestRangeRoundsToWholeSeconds(t *testing.T) {
	assert.Equal(t, "1s", Range(200*time.Millisecond))
	assert.Equal(t, "25s", Range(24600*time.Millisecond))
}

// fakePrometheus answers /api/v1/query with body for every request.
func fakePrometheus(t *testing.T, body string) *Client {
	t.Helper()
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "application/json")
		if strings.Contains(body, `"status":"error"`) {
			w.WriteHeader(http.StatusBadRequest)
		}
		_, _ = w.Write([]byte(body))
	}))
	t.Cleanup(srv.Close)
	c, err := New(srv.URL)
	require.NoError(t, err)
	return c
}

func TestInstantReturnsOneSamplePerInstanceSorted(t *testing.T) {
	c := fakePrometheus(t, `{"status":"success","data":{"resultType":"vector","result":[
		{"metric":{"instance":"replica-2"},"value":[1700000000,"0.25"]},
		{"metric":{"instance":"replica-1"},"value":[1700000000,"0.5"]}]}}`)
	got, err := c.Instant(context.Background(), "up", time.Now())
	require.NoError(t, err)
	assert.Equal(t, []Sample{{Instance: "replica-1", Value: 0.5}, {Instance: "replica-2", Value: 0.25}}, got)
}

func TestInstantReturnsNoSamplesForAnEmptyVector(t *testing.T) {
	c := fakePrometheus(t, `{"status":"success","data":{"resultType":"vector","result":[]}}`)
	got, err := c.Instant(context.Background(), "up", time.Now())
	require.NoError(t, err)
	assert.Empty(t, got, "an empty result must reach the verdict as no data")
}

func TestInstantReportsQueryErrors(t *testing.T) {
	c := fakePrometheus(t, `{"status":"error","errorType":"bad_data","error":"parse error: unexpected end of input"}`)
	_, err := c.Instant(context.Background(), "sum(", time.Now())
	require.Error(t, err)
	assert.Contains(t, err.Error(), "unexpected end of input")
}

func TestWaitForTargetsGivesUpWithTheLastCount(t *testing.T) {
	c := fakePrometheus(t, `{"status":"success","data":{"resultType":"vector","result":[{"metric":{},"value":[1700000000,"1"]}]}}`)
	ctx, cancel := context.WithTimeout(context.Background(), 300*time.Millisecond)
	defer cancel()
	err := c.WaitForTargets(ctx, "tasksvc", 2, 50*time.Millisecond)
	require.Error(t, err)
	assert.Contains(t, err.Error(), "1 of 2 targets up")
}

func TestWaitForTargetsReturnsWhenAllAreUp(t *testing.T) {
	c := fakePrometheus(t, `{"status":"success","data":{"resultType":"vector","result":[{"metric":{},"value":[1700000000,"2"]}]}}`)
	require.NoError(t, c.WaitForTargets(context.Background(), "tasksvc", 2, 10*time.Millisecond))
}

func TestClientSendsItsHeadersAndAsksForWholeAnswers(t *testing.T) {
	var got *http.Request
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		got = r
		w.Header().Set("Content-Type", "application/json")
		_, _ = w.Write([]byte(`{"status":"success","data":{"resultType":"vector","result":[]}}`))
	}))
	t.Cleanup(srv.Close)
	c, err := NewWithHeaders(srv.URL, map[string]string{"X-Scope-OrgID": "tenant-1", "Authorization": "Bearer s3cret"})
	require.NoError(t, err)
	_, err = c.Instant(context.Background(), "up", time.Unix(100, 0))
	require.NoError(t, err)
	require.NotNil(t, got)
	assert.Equal(t, "tenant-1", got.Header.Get("X-Scope-OrgID"))
	assert.Equal(t, "Bearer s3cret", got.Header.Get("Authorization"))
	assert.Equal(t, "false", got.URL.Query().Get("partial_response"))
}

func TestAWarningIsPassedOnAndAPartialAnswerIsNoData(t *testing.T) {
	c := fakePrometheus(t, `{"status":"success","warnings":["query hit the series limit of a store"],"data":{"resultType":"vector","result":[{"metric":{},"value":[1,"3"]}]}}`)
	var warned []string
	c.Warn = func(_, w string) { warned = append(warned, w) }
	s, err := c.Instant(context.Background(), "up", time.Unix(1, 0))
	require.NoError(t, err)
	assert.Len(t, s, 1)
	assert.Equal(t, []string{"query hit the series limit of a store"}, warned)

	c = fakePrometheus(t, `{"status":"success","warnings":["No StoreAPIs matched for this query; partial response"],"data":{"resultType":"vector","result":[{"metric":{},"value":[1,"3"]}]}}`)
	_, err = c.Instant(context.Background(), "up", time.Unix(1, 0))
	require.ErrorIs(t, err, ErrPartial)
}

func TestARejectedRequestSaysSo(t *testing.T) {
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		http.Error(w, "authentication required", http.StatusUnauthorized)
	}))
	t.Cleanup(srv.Close)
	c, err := New(srv.URL)
	require.NoError(t, err)
	_, err = c.Instant(context.Background(), "up", time.Unix(1, 0))
	require.Error(t, err)
	assert.Contains(t, err.Error(), "401")
}

// scrapes is a query API whose targets were last scraped at the given times.
func scrapes(t *testing.T, last ...time.Time) *Client {
	var result []string
	for i, at := range last {
		result = append(result, fmt.Sprintf(`{"metric":{"instance":"replica-%d"},"value":[1700000000,"%.3f"]}`, i+1, float64(at.UnixMilli())/1000))
	}
	return fakePrometheus(t, `{"status":"success","data":{"resultType":"vector","result":[`+strings.Join(result, ",")+`]}}`)
}

func TestQuietAfterIsJustBeforeTheEarliestNextScrape(t *testing.T) {
	end := time.UnixMilli(1_700_000_000_000)
	c := scrapes(t, end.Add(300*time.Millisecond), end.Add(800*time.Millisecond))
	at, err := c.QuietAfter(context.Background(), DefaultSeries, end, time.Second, time.Millisecond)
	require.NoError(t, err)
	assert.Equal(t, end.Add(1299*time.Millisecond), at, "both newest samples are at or before it, both next ones after it")
}

func TestQuietAfterWaitsForEveryTarget(t *testing.T) {
	end := time.UnixMilli(1_700_000_000_000)
	for name, c := range map[string]*Client{
		"one target not scraped since": scrapes(t, end.Add(-200*time.Millisecond), end.Add(500*time.Millisecond)),
		"scrapes off their schedule":   scrapes(t, end.Add(100*time.Millisecond), end.Add(1500*time.Millisecond)),
		"no target at all":             scrapes(t),
	} {
		ctx, cancel := context.WithTimeout(context.Background(), 50*time.Millisecond)
		_, err := c.QuietAfter(ctx, DefaultSeries, end, time.Second, 5*time.Millisecond)
		cancel()
		assert.ErrorIs(t, err, context.DeadlineExceeded, name)
	}
}

// elsewhere is a server on localhost that records what reaches it: the host
// a redirecting store points to.
func elsewhere(t *testing.T) (base string, got chan *http.Request) {
	got = make(chan *http.Request, 16)
	ln, err := net.Listen("tcp", "localhost:0")
	require.NoError(t, err)
	srv := &httptest.Server{Listener: ln, Config: &http.Server{Handler: http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		got <- r
		w.Header().Set("Content-Type", "application/json")
		_, _ = w.Write([]byte(`{"status":"success","data":{"resultType":"vector","result":[]}}`))
	})}}
	srv.Start()
	t.Cleanup(srv.Close)
	return fmt.Sprintf("http://localhost:%d", ln.Addr().(*net.TCPAddr).Port), got
}

func TestClientNeverFollowsARedirectNorSendsItsHeadersElsewhere(t *testing.T) {
	to, got := elsewhere(t)
	var asked atomic.Int64
	store := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		asked.Add(1)
		assert.Equal(t, "Bearer s3cret", r.Header.Get("Authorization"), "the query host gets its headers")
		http.Redirect(w, r, to+r.URL.RequestURI(), http.StatusTemporaryRedirect)
	}))
	t.Cleanup(store.Close)
	c, err := NewWithHeaders(store.URL, map[string]string{"X-Scope-OrgID": "tenant-1", "Authorization": "Bearer s3cret"})
	require.NoError(t, err)
	_, err = c.Instant(context.Background(), "up", time.Unix(100, 0))
	require.Error(t, err)
	assert.Contains(t, err.Error(), "the query API redirects to "+to+"/api/v1/query?partial_response=xxxxx: redirects are not followed; set target.query.url to where it points")
	_, err = c.RangeQuery(context.Background(), "up", time.Unix(100, 0), time.Unix(200, 0), time.Second)
	require.Error(t, err)
	_, err = c.Version(context.Background())
	require.Error(t, err)
	assert.Equal(t, int64(3), asked.Load())
	select {
	case r := <-got:
		t.Fatalf("the host the store redirects to got %s %s with Authorization %q, X-Scope-OrgID %q", r.Method, r.URL, r.Header.Get("Authorization"), r.Header.Get("X-Scope-OrgID"))
	default:
	}
}

func TestHeadersGoOnlyToTheQueryHost(t *testing.T) {
	to, got := elsewhere(t)
	var seen *http.Request
	h := headerTripper{base: roundTripFunc(func(r *http.Request) (*http.Response, error) {
		seen = r
		return nil, errors.New("not sent")
	}), headers: map[string]string{"Authorization": "Bearer s3cret"}, scheme: "http", host: "127.0.0.1:9090"}
	for _, u := range []string{to + "/api/v1/query", "https://127.0.0.1:9090/api/v1/query", "http://127.0.0.1:9091/api/v1/query"} {
		req, err := http.NewRequest(http.MethodGet, u, nil)
		require.NoError(t, err)
		_, _ = h.RoundTrip(req)
		assert.Empty(t, seen.Header.Get("Authorization"), u)
	}
	req, err := http.NewRequest(http.MethodGet, "http://127.0.0.1:9090/api/v1/query", nil)
	require.NoError(t, err)
	_, _ = h.RoundTrip(req)
	assert.Equal(t, "Bearer s3cret", seen.Header.Get("Authorization"))
	assert.Empty(t, got)
}

type roundTripFunc func(*http.Request) (*http.Response, error)

func (f roundTripFunc) RoundTrip(r *http.Request) (*http.Response, error) { return f(r) }

func TestClientRefusesCredentialsWhereTheyWouldLeak(t *testing.T) {
	h := map[string]string{"Authorization": "Bearer s3cret"}
	for _, tt := range []struct {
		url     string
		headers map[string]string
		want    string
	}{
		{"http://admin:pw@127.0.0.1:9090", nil, "prometheus client for http://xxxxx@127.0.0.1:9090: credentials go in headers, not in the URL"},
		{"http://metrics.example.com:9090", h, "prometheus client for http://metrics.example.com:9090: headers would go to metrics.example.com:9090 in the clear: use https, or a query API on loopback"},
		{"ftp://127.0.0.1", h, `prometheus client: "ftp://127.0.0.1" is not an http(s) URL`},
	} {
		_, err := NewWithHeaders(tt.url, tt.headers)
		require.Error(t, err, tt.url)
		assert.Equal(t, tt.want, err.Error())
	}
	for _, ok := range []string{"https://metrics.example.com", "http://127.0.0.1:9090", "http://localhost:9090", "http://[::1]:9090"} {
		_, err := NewWithHeaders(ok, h)
		assert.NoError(t, err, ok)
	}
}

func TestErrorsHideTheURLsQueryValues(t *testing.T) {
	c, err := New("http://127.0.0.1:1/?api_key=s3cret%2Fx")
	require.NoError(t, err)
	_, err = c.Instant(context.Background(), "up", time.Unix(100, 0))
	require.Error(t, err)
	assert.NotContains(t, err.Error(), "s3cret")
	assert.Contains(t, err.Error(), "api_key=xxxxx")
}

func TestWaitForScrapeKeepsTheLastAnswerWhenTimeRunsOutMidQuery(t *testing.T) {
	// The store answers "stale" once, then hangs until the caller gives up:
	// the error must still say the store lags, not only that time ran out.
	end := time.UnixMilli(1_700_000_000_000)
	var calls atomic.Int32
	release := make(chan struct{})
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if calls.Add(1) > 1 {
			select {
			case <-r.Context().Done():
			case <-release:
			}
			return
		}
		w.Header().Set("Content-Type", "application/json")
		fmt.Fprintf(w, `{"status":"success","data":{"resultType":"vector","result":[{"metric":{},"value":[1700000000,"%.3f"]}]}}`,
			float64(end.Add(-time.Second).UnixMilli())/1000)
	}))
	t.Cleanup(srv.Close)
	t.Cleanup(func() { close(release) }) // runs first
	c, err := New(srv.URL)
	require.NoError(t, err)
	ctx, cancel := context.WithTimeout(context.Background(), 200*time.Millisecond)
	defer cancel()
	err = c.WaitForScrape(ctx, DefaultSeries, end, end, time.Millisecond)
	var stale *StaleError
	assert.ErrorAs(t, err, &stale)
	assert.ErrorIs(t, err, context.DeadlineExceeded)
}
