package gate

import (
	"context"
	"fmt"
	"io"
	"strings"
	"time"

	"github.com/perfgate/perfgate/perftest/internal/load"
	"github.com/perfgate/perfgate/perftest/internal/promq"
	"github.com/perfgate/perfgate/perftest/internal/report"
	"github.com/perfgate/perfgate/perftest/internal/stack"
	"github.com/perfgate/perfgate/thresholds"
)

// runTarget is Run against an existing deployment: nothing is built or
// started; the spec's target URLs get the load and its query API answers the
// queries, with the service section's metric names and the target's selector.
func runTarget(ctx context.Context, o Options, run report.Run, series promq.Series, phase func(string, time.Time), logw io.Writer) (report.Run, error) {
	tg := o.Spec.Target
	series.Selector = tg.Query.Selector
	// The store's samples are a step apart: read a window once a step has passed after it.
	series.Settle = max(promq.Settle, time.Duration(tg.Query.Step*float64(time.Second))+500*time.Millisecond)

	capNote := "no rate cap (loopback)"
	if tg.MaxRate > 0 {
		capNote = "rate cap " + thresholds.PerSecond.Format(tg.MaxRate)
	}
	// Every URL printed goes through Redacted: check refuses credentials in
	// them, and a spec built in code is not checked.
	urls := make([]string, len(tg.URLs))
	for i, u := range tg.URLs {
		urls[i] = thresholds.Redacted(u)
	}
	queryURL := thresholds.Redacted(tg.Query.URL)
	run.Title = "perfgate: target " + strings.Join(urls, ", ")
	run.Service = fmt.Sprintf("existing deployment at %s, %s", strings.Join(urls, ", "), capNote)
	run.Prometheus = fmt.Sprintf("%s, series {%s}", queryURL, strings.Join(queryMatchers(series), ","))

	t := time.Now()
	pc, err := promq.NewWithHeaders(tg.Query.URL, o.QueryHeaders)
	if err != nil {
		return run, err
	}
	pc.Warn = func(q, w string) { fmt.Fprintf(logw, "warning from %s: %s (query %s)\n", queryURL, w, q) }
	// One query before any load: an unreachable API, or one that refuses the
	// credentials, is an error now, not no data at the end.
	if _, err := pc.Instant(ctx, "vector(1)", time.Now()); err != nil {
		return run, fmt.Errorf("the query API at %s cannot be used: %w (check target.query.url and target.query.headers)", queryURL, err)
	}
	phase("wait", t)

	var res *load.Result
	if m := o.Merged; m != nil {
		res = load.FromMerged(*m)
		run.Title += fmt.Sprintf(", load from %d shards", m.Count)
		run.Service += fmt.Sprintf("; load from the merged results of %d of %d shards", len(m.Shards), m.Count)
	} else {
		t = time.Now()
		if res, err = applyLoad(ctx, o, &stack.Stack{Replicas: targetReplicas(tg)}); err != nil {
			return run, err
		}
		phase("load", t)
	}
	return measure(ctx, o, run, window{Prom: pc, Series: series, Load: res, Names: tg.Instances, Phase: phase, Log: logw})
}

// targetReplicas names the target's URLs as the load's replicas: by their
// instances when the spec gives them.
func targetReplicas(tg *thresholds.Target) []stack.Replica {
	replicas := make([]stack.Replica, len(tg.URLs))
	for i, u := range tg.URLs {
		replicas[i] = stack.Replica{Name: fmt.Sprintf("target-%d", i+1), URL: u}
		if len(tg.Instances) == len(tg.URLs) {
			replicas[i].Name = tg.Instances[i]
		}
	}
	return replicas
}

// queryMatchers are the matchers that select the deployment's series.
func queryMatchers(s promq.Series) []string {
	if len(s.Selector) > 0 {
		return s.Selector
	}
	return []string{fmt.Sprintf("job=%q", s.Job)}
}
