// Package promq turns SLO definitions into PromQL over a measured window and runs them against Prometheus.
package promq

import (
	"context"
	"errors"
	"fmt"
	"math"
	"net/http"
	"net/url"
	"regexp"
	"sort"
	"strconv"
	"strings"
	"time"

	"github.com/prometheus/client_golang/api"
	v1 "github.com/prometheus/client_golang/api/prometheus/v1"
	"github.com/prometheus/common/model"

	"github.com/perfgate/perfgate/thresholds"
)

// Series names what one service under test exports: its Prometheus job and
// the metrics of its service section. It is the contract between service and
// gate, and every query is built from it.
type Series struct {
	Job string
	thresholds.ServiceMetrics
	// Selector, when set, selects the service's series instead of its job:
	// an existing deployment's label matchers, like job="api",env="staging".
	Selector []string
	// Settle is how long after a window's end its counters are read; 0 is
	// Settle, right for scrapes every second. A store scraped every 15 s
	// needs 15 s and a little more.
	Settle time.Duration
	// ScrapeInterval, when known (the gate's own Prometheus), lets a window
	// be read as soon as every target has a scrape after it (QuietAfter),
	// instead of a fixed Settle later.
	ScrapeInterval time.Duration
}

// settle is the Series' Settle, or the package's.
func (n Series) settle() time.Duration {
	if n.Settle > 0 {
		return n.Settle
	}
	return Settle
}

// SeriesOf is the Series of a spec's service.
func SeriesOf(s thresholds.Service) Series {
	return Series{Job: s.Name, ServiceMetrics: s.Metrics}
}

// DefaultSeries is the reference task API's.
var DefaultSeries = SeriesOf(thresholds.DefaultService)

// Settle is how long after a window's end its counters are read: the service
// updates them when a request ends, Prometheus sees them at its next scrape
// (every 1 s), so an instant query at the window's end would miss the last
// second. Counter queries are evaluated at end+Settle and count from the last
// scrape at or before the window's start.
const Settle = 1500 * time.Millisecond

// Delta is how much the counters selected by sel grew over a window of the
// given length ending at the evaluation time, per series, exactly as
// scraped: the newest sample minus the one at the window's start, where a
// series that did not exist yet counts from 0. rate() and increase() instead
// ignore the first sample of a series created inside the window, which hides
// the first burst of a counter created lazily, such as the first 500s of a
// route. A counter reset inside the window (a restarted replica) makes it
// wrong, which the replicas_up check reports.
func Delta(sel string, window time.Duration) string {
	return fmt.Sprintf(`(%s - (%s offset %s or %s * 0))`, sel, sel, offset(window), sel)
}

// offset renders a window as a PromQL duration to the millisecond, so a
// window's start lands where it is, not on the nearest whole second.
func offset(window time.Duration) string {
	ms := max(window.Milliseconds(), 1)
	if ms%1000 == 0 {
		return strconv.FormatInt(ms/1000, 10) + "s"
	}
	return strconv.FormatInt(ms, 10) + "ms"
}

// job selects the service's series.
func (n Series) job() string {
	if len(n.Selector) > 0 {
		return strings.Join(n.Selector, ",")
	}
	return fmt.Sprintf(`job=%q`, n.Job)
}

// serving leaves out the scrapes and probes, which are not user traffic.
func (n Series) serving() string {
	if len(n.IgnoreRoutes) == 0 {
		return n.job()
	}
	quoted := make([]string, len(n.IgnoreRoutes))
	for i, r := range n.IgnoreRoutes {
		quoted[i] = regexp.QuoteMeta(r)
	}
	return fmt.Sprintf(`%s,%s!~%q`, n.job(), n.Route, strings.Join(quoted, "|"))
}

// servedBy is serving for the series sel selects (the job and a variant).
func (n Series) servedBy(sel string) string { return strings.Replace(n.serving(), n.job(), sel, 1) }

// Query returns the PromQL that measures slo over a window of the given length
// ending at the evaluation time. Aggregate SLOs yield one series, per-instance
// SLOs one series per replica, labelled by instance.
func (n Series) Query(slo thresholds.SLO, window time.Duration) string {
	w := Range(window)
	by := ""
	if slo.Scope == thresholds.PerInstance {
		by = " by (instance)"
	}
	sel := n.serving()
	if slo.Route != "" {
		sel = fmt.Sprintf(`%s,%s=%q`, n.job(), n.Route, slo.Route)
	}
	switch slo.Metric {
	case thresholds.ErrorRate:
		// Evaluated at the window's end + Settle over window + Settle (see Delta).
		all := fmt.Sprintf(`sum%s %s`, by, Delta(fmt.Sprintf(`%s{%s}`, n.Requests, sel), window+n.settle()))
		bad := fmt.Sprintf(`sum%s %s`, by, Delta(fmt.Sprintf(`%s{%s,%s=~"5.."}`, n.Requests, sel, n.Code), window+n.settle()))
		// "or ... * 0" keeps a zero where no 5xx series exists at all, so a clean run reads 0%, not "no data".
		return fmt.Sprintf(`(%s or %s * 0) / %s`, bad, all, all)
	case thresholds.Latency:
		return n.BucketsQuery(sel, slo.Scope == thresholds.PerInstance, window)
	case thresholds.CPUPerRequest, thresholds.AllocsPerRequest, thresholds.BytesPerRequest:
		return n.PerRequestQuery(slo.Metric, n.job(), slo.Scope == thresholds.PerInstance, window)
	case thresholds.Throughput:
		return fmt.Sprintf(`sum%s (rate(%s{%s}[%s]))`, by, n.Requests, sel, w)
	case thresholds.CPU:
		return fmt.Sprintf(`sum%s (rate(%s{%s}[%s]))`, by, n.CPU, n.job(), w)
	case thresholds.Memory:
		return fmt.Sprintf(`sum%s (max_over_time(%s{%s}[%s]))`, by, n.Memory, n.job(), w)
	default:
		return strings.ReplaceAll(slo.Query, "$window", w)
	}
}

// At is when Query's query for metric must be evaluated, given the window's end.
func (n Series) At(m thresholds.Metric, end time.Time) time.Time {
	switch m {
	case thresholds.ErrorRate, thresholds.Latency, thresholds.CPUPerRequest, thresholds.AllocsPerRequest, thresholds.BytesPerRequest:
		return end.Add(n.settle())
	}
	return end
}

// SettleAt is when a window ending at end can be read: end + the Series' Settle.
func (n Series) SettleAt(end time.Time) time.Time { return end.Add(n.settle()) }

// BucketsQuery is the count of requests per latency bucket over the window
// (evaluated at its end + Settle), by le and, per instance, by instance; the
// gate reads a quantile's bucket from it with Quantile.
func (n Series) BucketsQuery(sel string, perInstance bool, window time.Duration) string {
	by := "le"
	if perInstance {
		by = "le, instance"
	}
	return fmt.Sprintf(`sum by (%s) %s`, by, Delta(fmt.Sprintf(`%s_bucket{%s}`, n.Duration, sel), window+n.settle()))
}

// counter is the cost counter a per-request metric divides by requests served.
func (n Series) counter(m thresholds.Metric) string {
	switch m {
	case thresholds.CPUPerRequest:
		return n.CPU
	case thresholds.AllocsPerRequest:
		return n.Allocs
	case thresholds.BytesPerRequest:
		return n.AllocBytes
	case thresholds.CompareGCPerRequest:
		return n.GCCycles
	case thresholds.CompareQueries:
		return n.Queries
	}
	return ""
}

// PerRequestQuery is the growth of a cost counter (CPU seconds, heap
// allocations, bytes allocated, GC cycles, queries) per request served over the
// window, for the series matched by sel (the job, plus a variant):
// the work one request costs, scrapes and probes not counted as requests.
// Evaluated at the window's end + Settle. It is "" when the service exports
// no such counter: there is nothing to query, and the metric has no data.
func (n Series) PerRequestQuery(m thresholds.Metric, sel string, perInstance bool, window time.Duration) string {
	by := ""
	if perInstance {
		by = " by (instance)"
	}
	c := n.counter(m)
	if c == "" {
		return ""
	}
	w := window + n.settle()
	served := n.servedBy(sel)
	return fmt.Sprintf(`sum%s %s / sum%s %s`,
		by, Delta(fmt.Sprintf(`%s{%s}`, c, sel), w),
		by, Delta(fmt.Sprintf(`%s{%s}`, n.Requests, served), w))
}

// UpQuery is the lowest `up` of each replica from the window's start to the
// instant it is read (evaluate it at At(Latency, end)): 1 when Prometheus
// reached it at every scrape, 0 once it missed one (a crash, a hang). A
// replica that dies after the window but before it is read takes its series
// with it, so it must be counted down too.
func (n Series) UpQuery(window time.Duration) string {
	return fmt.Sprintf(`min by (instance) (min_over_time(up{%s}[%s]))`, n.job(), offset(window+n.settle()))
}

// counters are the service's counters the gate reads as a difference over
// the window: requests, latency buckets and the costs per request.
func (n Series) counters() []string {
	var out []string
	for _, c := range append([]string{n.Requests, n.Duration + "_bucket", n.CPU, n.Allocs, n.AllocBytes, n.GCCycles, n.Queries}, n.Waits...) {
		if c != "" && c != "_bucket" {
			out = append(out, regexp.QuoteMeta(c))
		}
	}
	return out
}

// ResetsQuery names the instances whose counters went backwards between the
// window's start and the instant it is read (evaluate it at At(Latency, end)):
// a restarted process starts its counters from 0, and a difference over the
// window is then wrong, by as much as everything counted before the restart.
func (n Series) ResetsQuery(window time.Duration) string {
	return fmt.Sprintf(`count by (instance) (resets({__name__=~"%s",%s}[%s]) > 0)`,
		strings.Join(n.counters(), "|"), n.job(), offset(window+n.settle()))
}

// InstancesQuery lists the instances the series selects that were scraped
// in the window, for a deployment that does not name them.
func (n Series) InstancesQuery(window time.Duration) string {
	return fmt.Sprintf(`count by (instance) (count_over_time(up{%s}[%s]))`, n.job(), offset(window+n.settle()))
}

// CPUTimelineQuery is the CPU of all replicas, in cores, smoothed over a few
// scrapes: the chart of a run.
func (n Series) CPUTimelineQuery() string {
	return fmt.Sprintf(`sum(rate(%s{%s}[3s]))`, n.CPU, n.job())
}

// VariantCostQuery is PerRequestQuery for the replicas of one variant of a
// comparison, all of them together.
func (n Series) VariantCostQuery(m thresholds.Metric, variant string, window time.Duration) string {
	return n.PerRequestQuery(m, fmt.Sprintf(`%s,variant=%q`, n.job(), variant), false, window)
}

// gauge is the gauge a growth metric reads; "" when the service exports none.
func (n Series) gauge(metric string) string {
	switch metric {
	case thresholds.CompareHeapGrowth:
		return n.HeapLive
	case thresholds.CompareGoroutineGrowth:
		return n.Goroutines
	case thresholds.CompareRSSGrowth:
		return n.Memory
	}
	return ""
}

// GrowthQuery is how much the gauge a growth metric reads (the live heap,
// the goroutines) grew over the window, summed over a variant's replicas,
// per 1,000 requests they served: what a leak keeps for every request,
// however short the run. Evaluated at the window's end + Settle, like the
// costs, so the gauge is read where the counters are. It is "" when the
// service exports no such gauge.
func (n Series) GrowthQuery(metric, variant string, window time.Duration) string {
	g := n.gauge(metric)
	if g == "" {
		return ""
	}
	sel := fmt.Sprintf(`%s,variant=%q`, n.job(), variant)
	served := n.servedBy(sel)
	w := window + n.settle()
	return fmt.Sprintf(`1000 * (sum(%s{%s}) - sum(%s{%s} offset %s)) / sum %s`,
		g, sel, g, sel, offset(w), Delta(fmt.Sprintf(`%s{%s}`, n.Requests, served), w))
}

// LevelQuery is the level of the gauge a growth metric reads, summed over
// a variant's replicas, and ServedQuery the requests they have served since
// they started: a trend's two axes. Evaluated where GrowthQuery is. LevelQuery
// is "" when the service exports no such gauge.
func (n Series) LevelQuery(metric, variant string) string {
	g := n.gauge(metric)
	if g == "" {
		return ""
	}
	return fmt.Sprintf(`sum(%s{%s,variant=%q})`, g, n.job(), variant)
}

// ServedQuery: see LevelQuery.
func (n Series) ServedQuery(variant string) string {
	return fmt.Sprintf(`sum(%s{%s})`, n.Requests, n.servedBy(fmt.Sprintf(`%s,variant=%q`, n.job(), variant)))
}

// WaitQuery is the seconds the counters of Waits grew over the window,
// summed over a variant's replicas and over the counters, per request they
// served: what a request waited for locks and pooled connections. Each
// counter is summed on its own first, so counters of different names and
// labels add up. Evaluated at the window's end + Settle, like the costs. It
// is "" when the service names no wait counter.
func (n Series) WaitQuery(variant string, window time.Duration) string {
	if len(n.Waits) == 0 {
		return ""
	}
	sel := fmt.Sprintf(`%s,variant=%q`, n.job(), variant)
	w := window + n.settle()
	waits := make([]string, len(n.Waits))
	for i, c := range n.Waits {
		waits[i] = "sum " + Delta(fmt.Sprintf(`%s{%s}`, c, sel), w)
	}
	return fmt.Sprintf(`(%s) / sum %s`, strings.Join(waits, " + "), Delta(fmt.Sprintf(`%s{%s}`, n.Requests, n.servedBy(sel)), w))
}

// ReplicaCPUQuery is one replica's CPU in cores, over a few scrapes: a chart line.
func (n Series) ReplicaCPUQuery(instance string) string {
	return fmt.Sprintf(`sum(rate(%s{%s,instance=%q}[3s]))`, n.CPU, n.job(), instance)
}

// ReplicaRSSQuery is one replica's resident memory: a chart line.
func (n Series) ReplicaRSSQuery(instance string) string {
	return fmt.Sprintf(`sum(%s{%s,instance=%q})`, n.Memory, n.job(), instance)
}

// PeakRSSQuery is the highest resident set of any replica of a variant over the window.
func (n Series) PeakRSSQuery(variant string, window time.Duration) string {
	return fmt.Sprintf(`max(max_over_time(%s{%s,variant=%q}[%s]))`, n.Memory, n.job(), variant, Range(window))
}

// Range renders a window as a PromQL range in whole seconds (at least 1s).
func Range(window time.Duration) string {
	s := int64(math.Round(window.Seconds()))
	if s < 1 {
		s = 1
	}
	return strconv.FormatInt(s, 10) + "s"
}

// Sample is one series of an instant query: the instance it belongs to ("" when
// aggregated), its bucket's upper bound for histogram buckets ("" otherwise), and its value.
type Sample struct {
	Instance string
	Le       string
	Value    float64
}

// Point is one step of a range query.
type Point struct {
	T     time.Time
	Value float64
}

// Client runs PromQL through client_golang's HTTP API, against Prometheus
// or any store that serves its API (Thanos, Mimir, VictoriaMetrics, Cortex).
type Client struct {
	api    v1.API
	redact *strings.Replacer // hides the URL's query values in errors; nil when it has none
	// Warn, when set, receives the warnings a store sends beside an answer.
	Warn func(query, warning string)
}

// New returns a Client for the Prometheus server at url.
func New(url string) (*Client, error) { return NewWithHeaders(url, nil) }

// NewWithHeaders returns a Client that sends headers with every request: a
// bearer token, a tenant (X-Scope-OrgID for Mimir and Cortex). It asks for
// whole answers only (partial_response=false, which Thanos honours).
//
// The headers go to raw's host only, and only over https or to loopback; a
// redirect is never followed (it is an error that names where it points),
// and raw takes no user info: credentials travel in headers, never in a URL
// that errors print. Errors show raw's query values as "xxxxx".
func NewWithHeaders(raw string, headers map[string]string) (*Client, error) {
	shown := thresholds.Redacted(raw)
	u, err := url.Parse(raw)
	switch {
	case err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "":
		return nil, fmt.Errorf("prometheus client: %q is not an http(s) URL", shown)
	case u.User != nil:
		return nil, fmt.Errorf("prometheus client for %s: credentials go in headers, not in the URL", shown)
	case len(headers) > 0 && u.Scheme != "https" && !thresholds.Loopback(u.Hostname()):
		return nil, fmt.Errorf("prometheus client for %s: headers would go to %s in the clear: use https, or a query API on loopback", shown, u.Host)
	}
	hc := &http.Client{
		Transport:     headerTripper{base: api.DefaultRoundTripper, headers: headers, scheme: u.Scheme, host: u.Host},
		CheckRedirect: refuseRedirect,
	}
	c, err := api.NewClient(api.Config{Address: raw, Client: hc})
	if err != nil {
		return nil, fmt.Errorf("prometheus client for %s: %w", shown, err)
	}
	return &Client{api: v1.NewAPI(c), redact: redactor(raw, shown)}, nil
}

// refuseRedirect stops at a redirect: the query API is the configured URL,
// and no header or query goes anywhere else.
func refuseRedirect(req *http.Request, _ []*http.Request) error {
	return fmt.Errorf("the query API redirects to %s: redirects are not followed; set target.query.url to where it points", thresholds.Redacted(req.URL.String()))
}

// redactor replaces raw's query values in an error message with shown's.
func redactor(raw, shown string) *strings.Replacer {
	u, err := url.Parse(raw)
	if err != nil || u.RawQuery == "" {
		return nil
	}
	var pairs []string
	for _, vs := range u.Query() {
		for _, v := range vs {
			if v != "" {
				pairs = append(pairs, v, "xxxxx", url.QueryEscape(v), "xxxxx")
			}
		}
	}
	return strings.NewReplacer(append([]string{raw, shown}, pairs...)...)
}

// headerTripper adds headers to the requests for the query API's own scheme
// and host, and partial_response=false to every request.
type headerTripper struct {
	base         http.RoundTripper
	headers      map[string]string
	scheme, host string
}

func (h headerTripper) RoundTrip(r *http.Request) (*http.Response, error) {
	r = r.Clone(r.Context())
	if r.URL.Scheme == h.scheme && r.URL.Host == h.host {
		for k, v := range h.headers {
			r.Header.Set(k, v)
		}
	}
	q := r.URL.Query()
	q.Set("partial_response", "false")
	r.URL.RawQuery = q.Encode()
	return h.base.RoundTrip(r)
}

// redactedError is an error whose message hides the query API URL's
// query values; errors.Is and As still see the error it wraps.
type redactedError struct {
	err error
	r   *strings.Replacer
}

func (e *redactedError) Error() string { return e.r.Replace(e.err.Error()) }
func (e *redactedError) Unwrap() error { return e.err }

// scrub hides the URL's query values in err's message.
func (c *Client) scrub(err error) error {
	if err == nil || c.redact == nil {
		return err
	}
	return &redactedError{err, c.redact}
}

// ErrNoSeries is a selector that matches no series at all.
var ErrNoSeries = errors.New("no series match")

// ErrPartial is a store's answer that says it is missing part of the data:
// no data, never a number computed from part of it.
var ErrPartial = errors.New("partial response")

// checkWarnings passes warnings on, and turns one that reports a partial
// answer into ErrPartial.
func (c *Client) checkWarnings(q string, ws v1.Warnings) error {
	for _, w := range ws {
		if c.Warn != nil {
			c.Warn(q, w)
		}
		if strings.Contains(strings.ToLower(w), "partial") {
			return fmt.Errorf("query %s: %w: %s", q, ErrPartial, w)
		}
	}
	return nil
}

// Instant evaluates q at t and returns one Sample per series, sorted by instance.
func (c *Client) Instant(ctx context.Context, q string, at time.Time) ([]Sample, error) {
	v, ws, _, err := c.api.Query(ctx, q, at)
	if err != nil {
		return nil, fmt.Errorf("query %s: %w", q, c.scrub(err))
	}
	if err := c.checkWarnings(q, ws); err != nil {
		return nil, err
	}
	switch v := v.(type) {
	case model.Vector:
		out := make([]Sample, 0, len(v))
		for _, s := range v {
			out = append(out, Sample{Instance: string(s.Metric["instance"]), Le: string(s.Metric["le"]), Value: float64(s.Value)})
		}
		sort.SliceStable(out, func(i, j int) bool { return out[i].Instance < out[j].Instance })
		return out, nil
	case *model.Scalar:
		return []Sample{{Value: float64(v.Value)}}, nil
	default:
		return nil, fmt.Errorf("query %s: got a %s, want an instant vector or scalar", q, v.Type())
	}
}

// RangeQuery evaluates q from..to every step and returns the first series (the query must aggregate to one).
func (c *Client) RangeQuery(ctx context.Context, q string, from, to time.Time, step time.Duration) ([]Point, error) {
	// Aligned to the step, so a caching store (Thanos, Mimir) answers
	// the same range the same way.
	from, to = from.Truncate(step), to.Truncate(step).Add(step)
	v, ws, _, err := c.api.QueryRange(ctx, q, v1.Range{Start: from, End: to, Step: step})
	if err != nil {
		return nil, fmt.Errorf("range query %s: %w", q, c.scrub(err))
	}
	if err := c.checkWarnings(q, ws); err != nil {
		return nil, err
	}
	m, ok := v.(model.Matrix)
	if !ok {
		return nil, fmt.Errorf("range query %s: got a %s, want a matrix", q, v.Type())
	}
	if len(m) == 0 {
		return nil, nil
	}
	out := make([]Point, 0, len(m[0].Values))
	for _, p := range m[0].Values {
		out = append(out, Point{T: p.Timestamp.Time(), Value: float64(p.Value)})
	}
	return out, nil
}

// poll evaluates q at at() every interval until done accepts the answer
// (returns nil), and returns ctx's error with done's last complaint, or the
// query's, when ctx ends first.
func (c *Client) poll(ctx context.Context, q string, at func() time.Time, interval time.Duration, done func([]Sample) error) error {
	var last error // what the last answer said: a query cut short by ctx says nothing
	for {
		s, err := c.Instant(ctx, q, at())
		if err == nil {
			if err = done(s); err == nil {
				return nil
			}
		}
		if last == nil || ctx.Err() == nil {
			last = err
		}
		select {
		case <-ctx.Done():
			return fmt.Errorf("%w (last: %w)", ctx.Err(), last)
		case <-time.After(interval):
		}
	}
}

// WaitForTargets blocks until n targets of the job report up==1, so load never
// starts before Prometheus can see every replica.
func (c *Client) WaitForTargets(ctx context.Context, job string, n int, poll time.Duration) error {
	err := c.poll(ctx, fmt.Sprintf(`count(up{job=%q} == 1)`, job), time.Now, poll, func(s []Sample) error {
		switch {
		case len(s) == 1 && int(s[0].Value) == n:
			return nil
		case len(s) == 1:
			return fmt.Errorf("%d of %d targets up", int(s[0].Value), n)
		}
		return fmt.Errorf("0 of %d targets up", n)
	})
	if err != nil {
		return fmt.Errorf("waiting for %d scrape targets of job %q: %w", n, job, err)
	}
	return nil
}

// WaitForScrape blocks until every target of the job has a sample taken
// after after, as a query evaluated at at sees it: then counters read at at
// hold everything the service counted up to after.
func (c *Client) WaitForScrape(ctx context.Context, series Series, after, at time.Time, poll time.Duration) error {
	err := c.poll(ctx, fmt.Sprintf(`min(timestamp(up{%s}))`, series.job()), func() time.Time { return at }, poll, func(s []Sample) error {
		switch {
		case len(s) == 1 && s[0].Value > float64(after.UnixMilli())/1000:
			return nil
		case len(s) == 1:
			return &StaleError{Oldest: scrapeTime(s[0].Value)}
		}
		return ErrNoSeries
	})
	if err != nil {
		return fmt.Errorf("waiting for a scrape of {%s} after %s: %w", series.job(), after.UTC().Format("15:04:05.000"), err)
	}
	return nil
}

// StaleError says the store holds the service's series, but not a scrape
// of every target after the window: it lags behind (a VictoriaMetrics
// latency offset, a remote-write queue), so the window cannot be read whole.
type StaleError struct{ Oldest time.Time }

func (e *StaleError) Error() string {
	return "the oldest last scrape is at " + e.Oldest.UTC().Format("15:04:05.000")
}

// QuietAfter waits until every target of series has a scrape after the
// instant after, and returns the quiet instant just before the earliest of
// their next scrapes: every target's newest sample is at or before it and
// no later one will be, so queries evaluated there read the same samples
// whenever they run, even once the targets are gone (a failed scrape ends a
// series at its own, later, time). interval is the targets' scrape interval.
func (c *Client) QuietAfter(ctx context.Context, series Series, after time.Time, interval, poll time.Duration) (time.Time, error) {
	var at time.Time
	err := c.poll(ctx, fmt.Sprintf(`timestamp(up{%s})`, series.job()), time.Now, poll, func(s []Sample) error {
		if len(s) == 0 {
			return ErrNoSeries
		}
		lo, hi := s[0].Value, s[0].Value
		for _, x := range s[1:] {
			lo, hi = min(lo, x.Value), max(hi, x.Value)
		}
		oldest, newest := scrapeTime(lo), scrapeTime(hi)
		at = oldest.Add(interval - time.Millisecond)
		switch {
		case !oldest.After(after):
			return &StaleError{Oldest: oldest}
		case newest.After(at):
			// Scrapes more than an interval apart: one target is off its
			// schedule, and its next scrape may fall before at.
			return fmt.Errorf("the last scrapes are %s apart, more than the %s interval", newest.Sub(oldest), interval)
		}
		return nil
	})
	if err != nil {
		return time.Time{}, fmt.Errorf("waiting for a scrape of every {%s} after %s: %w", series.job(), after.UTC().Format("15:04:05.000"), err)
	}
	return at, nil
}

// scrapeTime is a timestamp() value as a time, to the millisecond Prometheus keeps.
func scrapeTime(v float64) time.Time { return time.UnixMilli(int64(math.Round(v * 1000))) }

// Version reports the Prometheus server's version, for the report.
func (c *Client) Version(ctx context.Context) (string, error) {
	b, err := c.api.Buildinfo(ctx)
	if err != nil {
		return "", c.scrub(err)
	}
	if b.Version == "" {
		return "", errors.New("prometheus reported no version")
	}
	return b.Version, nil
}
