package promq

import (
	"cmp"
	"context"
	"fmt"
	"maps"
	"slices"
	"strings"
	"time"

	"github.com/perfgate/perfgate/thresholds"
)

// Need is a series the gate reads from the service: the spec's field that
// names it, its name, and the labels it must carry (label → their field).
type Need struct {
	Field  string
	Name   string
	Labels map[string]string
}

// Needs are the series the given metrics (an SLO's metric or a compared
// one) read from the service, each once. A custom query and the figures the
// generator measures need none; a metric whose series the spec leaves empty
// (a service that exports no allocation counter) needs nothing either: it
// has no data, and the report says so.
func (n Series) Needs(metrics ...string) []Need {
	requests := Need{Field: "service.metrics.requests", Name: n.Requests,
		Labels: map[string]string{n.Code: "service.metrics.labels.code", n.Route: "service.metrics.labels.route"}}
	cost := map[string]Need{
		string(thresholds.CPUPerRequest):    {Field: "service.metrics.cpu", Name: n.CPU},
		string(thresholds.AllocsPerRequest): {Field: "service.metrics.allocs", Name: n.Allocs},
		string(thresholds.BytesPerRequest):  {Field: "service.metrics.alloc_bytes", Name: n.AllocBytes},
		thresholds.CompareGCPerRequest:      {Field: "service.metrics.gc_cycles", Name: n.GCCycles},
		thresholds.CompareQueries:           {Field: "service.metrics.queries", Name: n.Queries},
		thresholds.CompareHeapGrowth:        {Field: "service.metrics.heap_live", Name: n.HeapLive},
		thresholds.CompareGoroutineGrowth:   {Field: "service.metrics.goroutines", Name: n.Goroutines},
	}
	var out []Need
	add := func(ns ...Need) {
		for _, x := range ns {
			if x.Name != "" && !slices.ContainsFunc(out, func(y Need) bool { return y.Name == x.Name }) {
				out = append(out, x)
			}
		}
	}
	for _, m := range metrics {
		switch m {
		case string(thresholds.ErrorRate), string(thresholds.Throughput):
			add(requests)
		case string(thresholds.Latency):
			add(Need{Field: "service.metrics.duration", Name: n.Duration + "_bucket"})
		case string(thresholds.CPU):
			add(Need{Field: "service.metrics.cpu", Name: n.CPU})
		case string(thresholds.Memory), thresholds.ComparePeakRSS, thresholds.CompareRSSGrowth:
			add(Need{Field: "service.metrics.memory", Name: n.Memory})
		case thresholds.CompareWaitPerRequest:
			for i, w := range n.Waits {
				add(Need{Field: fmt.Sprintf("service.metrics.waits[%d]", i), Name: w}, requests)
			}
		default:
			if c, ok := cost[m]; ok && c.Name != "" {
				add(c, requests)
			}
		}
	}
	return out
}

// Missing checks the needs against what the store holds of the service's
// job since from, and says, for each one it lacks, which field to fix and
// the names the service does export that come closest. Empty when every
// need is met. Read it once the service has served a few requests: a
// labelled counter exists only from its first count.
func (c *Client) Missing(ctx context.Context, n Series, needs []Need, from, to time.Time) ([]string, error) {
	names, _, _, err := c.api.LabelValues(ctx, "__name__", []string{"{" + n.job() + "}"}, from, to)
	if err != nil {
		return nil, fmt.Errorf("metric names of {%s}: %w", n.job(), c.scrub(err))
	}
	have := make([]string, len(names))
	for i, v := range names {
		have[i] = string(v)
	}
	var missing []string
	for _, need := range needs {
		if !slices.Contains(have, need.Name) {
			missing = append(missing, fmt.Sprintf("%s: the service exports no %s%s", need.Field, need.Name, closest(need.Name, have)))
			continue
		}
		labels, _, _, err := c.api.LabelNames(ctx, []string{fmt.Sprintf("%s{%s}", need.Name, n.job())}, from, to)
		if err != nil {
			return nil, fmt.Errorf("labels of %s: %w", need.Name, c.scrub(err))
		}
		var got []string
		for _, l := range labels {
			got = append(got, string(l))
		}
		for _, l := range slices.Sorted(maps.Keys(need.Labels)) {
			if l != "" && !slices.Contains(got, l) {
				missing = append(missing, fmt.Sprintf("%s: %s has no label %q; its labels: %s", need.Labels[l], need.Name, l, strings.Join(got, ", ")))
			}
		}
	}
	return missing, nil
}

// closest are the exported names that share the most words with want
// (split at '_'), best first: the names a mistyped or renamed metric most
// likely has.
func closest(want string, have []string) string {
	words := strings.Split(want, "_")
	type scored struct {
		name   string
		shared int
	}
	var cands []scored
	for _, h := range have {
		shared := 0
		for _, w := range strings.Split(h, "_") {
			if slices.Contains(words, w) {
				shared++
			}
		}
		if shared > 0 {
			cands = append(cands, scored{h, shared})
		}
	}
	slices.SortStableFunc(cands, func(a, b scored) int {
		return cmp.Or(b.shared-a.shared, len(a.name)-len(b.name), strings.Compare(a.name, b.name))
	})
	if len(cands) == 0 {
		return fmt.Sprintf(" (it exports %d names, none alike)", len(have))
	}
	var top []string
	for _, s := range cands[:min(3, len(cands))] {
		top = append(top, s.name)
	}
	return "; closest it exports: " + strings.Join(top, ", ")
}
