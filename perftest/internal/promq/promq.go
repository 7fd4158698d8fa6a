// Package promq turns SLO definitions into PromQL over a measured window and runs them against Prometheus.
package promq

import (
	"context"
	"errors"
	"fmt"
	"math"
	"sort"
	"strconv"
	"strings"
	"time"

	"github.com/prometheus/client_golang/api"
	v1 "github.com/prometheus/client_golang/api/prometheus/v1"
	"github.com/prometheus/common/model"

	"github.com/perfgate/perfgate/thresholds"
)

// Metric names exported by the service under test; the contract between service and gate.
const (
	Job            = "tasksvc"
	requests       = "tasksvc_http_requests_total"
	duration       = "tasksvc_http_request_duration_seconds_bucket"
	cpuSeconds     = "tasksvc_process_cpu_seconds_total"
	residentMemory = "tasksvc_process_resident_memory_bytes"
)

// servingRoutes leaves out the scrapes and probes, which are not user traffic.
const servingRoutes = `route!~"/metrics|/healthz|/readyz"`

// Query returns the PromQL that measures slo over a window of the given length
// ending at the evaluation time. Aggregate SLOs yield one series, per-instance
// SLOs one series per replica, labelled by instance.
func Query(slo thresholds.SLO, window time.Duration) string {
	w := Range(window)
	by := ""
	if slo.Scope == thresholds.PerInstance {
		by = " by (instance)"
	}
	sel := fmt.Sprintf(`job=%q,%s`, Job, servingRoutes)
	if slo.Route != "" {
		sel = fmt.Sprintf(`job=%q,route=%q`, Job, slo.Route)
	}
	switch slo.Metric {
	case thresholds.ErrorRate:
		all := fmt.Sprintf(`sum%s (rate(%s{%s}[%s]))`, by, requests, sel, w)
		bad := fmt.Sprintf(`sum%s (rate(%s{%s,code=~"5.."}[%s]))`, by, requests, sel, w)
		// "or ... * 0" keeps a zero where no 5xx series exists yet, so a clean run reads 0%, not "no data".
		return fmt.Sprintf(`(%s or %s * 0) / %s`, bad, all, all)
	case thresholds.Latency:
		le := "le"
		if by != "" {
			le = "le, instance"
		}
		return fmt.Sprintf(`histogram_quantile(%s, sum by (%s) (rate(%s{%s}[%s])))`,
			strconv.FormatFloat(slo.Quantile, 'g', -1, 64), le, duration, sel, w)
	case thresholds.Throughput:
		return fmt.Sprintf(`sum%s (rate(%s{%s}[%s]))`, by, requests, sel, w)
	case thresholds.CPU:
		return fmt.Sprintf(`sum%s (rate(%s{job=%q}[%s]))`, by, cpuSeconds, Job, w)
	case thresholds.Memory:
		return fmt.Sprintf(`sum%s (max_over_time(%s{job=%q}[%s]))`, by, residentMemory, Job, w)
	default:
		return strings.ReplaceAll(slo.Query, "$window", w)
	}
}

// UpQuery is the lowest `up` of each replica over the window: 1 when Prometheus
// reached it at every scrape, 0 once it missed one (a crash, a hang).
func UpQuery(window time.Duration) string {
	return fmt.Sprintf(`min by (instance) (min_over_time(up{job=%q}[%s]))`, Job, Range(window))
}

// CPUTimelineQuery is the CPU of all replicas, in cores, smoothed over a few
// scrapes: the chart of a run.
var CPUTimelineQuery = fmt.Sprintf(`sum(rate(%s{job=%q}[3s]))`, cpuSeconds, Job)

// CPUPerRequestQuery is the CPU seconds one variant spent per request it
// served over the window.
func CPUPerRequestQuery(variant string, window time.Duration) string {
	w := Range(window)
	return fmt.Sprintf(`sum(increase(%s{job=%q,variant=%q}[%s])) / sum(increase(%s{job=%q,variant=%q,%s}[%s]))`,
		cpuSeconds, Job, variant, w, requests, Job, variant, servingRoutes, w)
}

// PeakRSSQuery is the highest resident set of any replica of a variant over the window.
func PeakRSSQuery(variant string, window time.Duration) string {
	return fmt.Sprintf(`max(max_over_time(%s{job=%q,variant=%q}[%s]))`, residentMemory, Job, variant, Range(window))
}

// Range renders a window as a PromQL range in whole seconds (at least 1s).
func Range(window time.Duration) string {
	s := int64(math.Round(window.Seconds()))
	if s < 1 {
		s = 1
	}
	return strconv.FormatInt(s, 10) + "s"
}

// Sample is one series of an instant query: the instance it belongs to ("" when aggregated) and its value.
type Sample struct {
	Instance string
	Value    float64
}

// Point is one step of a range query.
type Point struct {
	T     time.Time
	Value float64
}

// Client runs PromQL through client_golang's HTTP API.
type Client struct {
	api v1.API
}

// New returns a Client for the Prometheus server at url.
func New(url string) (*Client, error) {
	c, err := api.NewClient(api.Config{Address: url})
	if err != nil {
		return nil, fmt.Errorf("prometheus client for %s: %w", url, err)
	}
	return &Client{api: v1.NewAPI(c)}, nil
}

// Instant evaluates q at t and returns one Sample per series, sorted by instance.
func (c *Client) Instant(ctx context.Context, q string, at time.Time) ([]Sample, error) {
	v, _, _, err := c.api.Query(ctx, q, at)
	if err != nil {
		return nil, fmt.Errorf("query %s: %w", q, err)
	}
	switch v := v.(type) {
	case model.Vector:
		out := make([]Sample, 0, len(v))
		for _, s := range v {
			out = append(out, Sample{Instance: string(s.Metric["instance"]), Value: float64(s.Value)})
		}
		sort.Slice(out, func(i, j int) bool { return out[i].Instance < out[j].Instance })
		return out, nil
	case *model.Scalar:
		return []Sample{{Value: float64(v.Value)}}, nil
	default:
		return nil, fmt.Errorf("query %s: got a %s, want an instant vector or scalar", q, v.Type())
	}
}

// RangeQuery evaluates q from..to every step and returns the first series (the query must aggregate to one).
func (c *Client) RangeQuery(ctx context.Context, q string, from, to time.Time, step time.Duration) ([]Point, error) {
	v, _, _, err := c.api.QueryRange(ctx, q, v1.Range{Start: from, End: to, Step: step})
	if err != nil {
		return nil, fmt.Errorf("range query %s: %w", q, err)
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

// WaitForTargets blocks until n targets of the job report up==1, so load never
// starts before Prometheus can see every replica.
func (c *Client) WaitForTargets(ctx context.Context, n int, poll time.Duration) error {
	q := fmt.Sprintf(`count(up{job=%q} == 1)`, Job)
	var last error
	for {
		s, err := c.Instant(ctx, q, time.Now())
		switch {
		case err != nil:
			last = err
		case len(s) == 1 && int(s[0].Value) == n:
			return nil
		case len(s) == 1:
			last = fmt.Errorf("%d of %d targets up", int(s[0].Value), n)
		default:
			last = fmt.Errorf("0 of %d targets up", n)
		}
		select {
		case <-ctx.Done():
			return fmt.Errorf("waiting for %d scrape targets of job %q: %w (last: %v)", n, Job, ctx.Err(), last)
		case <-time.After(poll):
		}
	}
}

// Version reports the Prometheus server's version, for the report.
func (c *Client) Version(ctx context.Context) (string, error) {
	b, err := c.api.Buildinfo(ctx)
	if err != nil {
		return "", err
	}
	if b.Version == "" {
		return "", errors.New("prometheus reported no version")
	}
	return b.Version, nil
}
