package shard

import (
	"fmt"
	"maps"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/HdrHistogram/hdrhistogram-go"
)

// DefaultTolerance is how much later than the agreed start a shard may
// begin before Merge flags it Late.
var DefaultTolerance = 100 * time.Millisecond

// Merged is the result of a whole run put together from its shards' results,
// to be evaluated once.
type Merged struct {
	// Count is the number of shards the run was planned for; Shards are the
	// indices whose results were merged, ascending.
	Count  int
	Shards []int
	// StartAt is the agreed start; Started is the earliest shard's actual
	// start, End the latest shard's end, MeasuredFrom the latest shard's.
	StartAt, Started, End, MeasuredFrom time.Time
	// Spec is the SHA-256 of the spec every merged shard ran.
	Spec string
	// Totals add up the merged shards; the histograms are nil when no shard
	// has a result.
	Totals
	// Incomplete says that a shard has no result, or more than one, so the
	// totals are not the whole run: a caller must take the run as
	// inconclusive, never as a pass. Reason names the shards, Missing and
	// Duplicate hold their indices.
	Incomplete         bool
	Reason             string
	Missing, Duplicate []int
	// Late are the shards that started more than the tolerance after
	// StartAt, by index: their part of the schedule due before they began
	// was dropped, so what was measured is not the plan. Started is by each
	// shard's own clock, so a node whose clock is off goes unseen: keep the
	// nodes' clocks in sync.
	Late []Late
}

// Late is a shard that started after the agreed start.
type Late struct {
	Shard Plan
	Delay time.Duration
}

func (l Late) String() string {
	return fmt.Sprintf("shard %s started %s after the agreed start", l.Shard, l.Delay)
}

// Merge puts the results of a run planned for count shards together. A shard
// with no result, or with several, makes the Merged Incomplete (only the
// first of several is merged); one that started more than tolerance after
// StartAt is listed in Late. Results that cannot belong to one run are an
// error: an invalid result, one planned for another count, another agreed
// start, or histograms recorded at another range or precision.
func Merge(results []Result, count int, tolerance time.Duration) (Merged, error) {
	if err := (Plan{Count: count}).Validate(); err != nil {
		return Merged{}, fmt.Errorf("merge: %w", err)
	}
	if tolerance < 0 {
		return Merged{}, fmt.Errorf("merge: tolerance %s: must not be negative", tolerance)
	}
	seen := make([]int, count)
	var use []Result
	for _, r := range results {
		if err := r.Validate(); err != nil {
			return Merged{}, fmt.Errorf("merge: %w", err)
		}
		if r.Shard.Count != count {
			return Merged{}, fmt.Errorf("merge: shard %s was planned for %d shards, the run for %d", r.Shard, r.Shard.Count, count)
		}
		if seen[r.Shard.Index]++; seen[r.Shard.Index] > 1 {
			continue
		}
		if len(use) > 0 && !r.StartAt.Equal(use[0].StartAt) {
			return Merged{}, fmt.Errorf("merge: shard %s was told to start at %s, shard %s at %s: they are not of one run",
				r.Shard, r.StartAt.Format(time.RFC3339Nano), use[0].Shard, use[0].StartAt.Format(time.RFC3339Nano))
		}
		if len(use) > 0 && r.Spec != use[0].Spec {
			return Merged{}, fmt.Errorf("merge: shard %s ran the spec with SHA-256 %.12s…, shard %s the one with %.12s…: they are not of one run",
				r.Shard, r.Spec, use[0].Shard, use[0].Spec)
		}
		use = append(use, r)
	}
	slices.SortFunc(use, func(a, b Result) int { return a.Shard.Index - b.Shard.Index })

	m := Merged{Count: count}
	for i, n := range seen {
		switch {
		case n == 0:
			m.Missing = append(m.Missing, i)
		case n > 1:
			m.Duplicate = append(m.Duplicate, i)
		}
	}
	m.Reason = reason(count, m.Missing, m.Duplicate)
	m.Incomplete = m.Reason != ""
	if len(use) == 0 {
		return m, nil
	}

	first := use[0]
	m.StartAt, m.Started, m.End, m.MeasuredFrom, m.Spec = first.StartAt, first.Started, first.End, first.MeasuredFrom, first.Spec
	m.Latency = Histogram{Histogram: first.Latency.Clone()}
	m.SendLag = Histogram{Histogram: first.SendLag.Clone()}
	m.ByStatus = map[string]int64{}
	m.ByTemplate = map[string]TemplateStats{}
	seconds := map[int]*Second{}
	partial := map[string]bool{} // templates some shard sent but has no latency for
	for _, r := range use {
		m.Shards = append(m.Shards, r.Shard.Index)
		if d := r.Started.Sub(r.StartAt); d > tolerance {
			m.Late = append(m.Late, Late{Shard: r.Shard, Delay: d})
		}
		if r.Started.Before(m.Started) {
			m.Started = r.Started
		}
		if r.End.After(m.End) {
			m.End = r.End
		}
		if r.MeasuredFrom.After(m.MeasuredFrom) {
			m.MeasuredFrom = r.MeasuredFrom
		}
		m.Sent += r.Sent
		m.Completed += r.Completed
		m.OK += r.OK
		m.Errors += r.Errors
		m.Dropped += r.Dropped
		m.TargetRate += r.TargetRate
		m.AchievedRate += r.AchievedRate
		for k, n := range r.ByStatus {
			m.ByStatus[k] += n
		}
		if r.Shard == first.Shard {
			continue // its histograms are the clones above
		}
		if err := mergeHist(m.Latency, r.Latency, "latency", r.Shard, first.Shard); err != nil {
			return Merged{}, err
		}
		if err := mergeHist(m.SendLag, r.SendLag, "send_lag", r.Shard, first.Shard); err != nil {
			return Merged{}, err
		}
	}
	for _, r := range use {
		for _, name := range r.Templates {
			if !slices.Contains(m.Templates, name) {
				m.Templates = append(m.Templates, name)
			}
		}
		for name, st := range r.ByTemplate {
			acc := m.ByTemplate[name]
			acc.Count += st.Count
			acc.Errors += st.Errors
			acc.Planned += st.Planned
			acc.FellBack += st.FellBack
			acc.NotOK += st.NotOK
			acc.Strays += st.Strays
			if acc.Why == "" {
				acc.Why = st.Why
			}
			switch {
			case partial[name]:
			case st.Latency.Histogram == nil:
				if st.Count > 0 {
					partial[name], acc.Latency = true, Histogram{}
				}
			case acc.Latency.Histogram == nil:
				acc.Latency = Histogram{Histogram: st.Latency.Clone()}
			default:
				if err := mergeHist(acc.Latency, st.Latency, fmt.Sprintf("by_template[%q].latency", name), r.Shard, first.Shard); err != nil {
					return Merged{}, err
				}
			}
			m.ByTemplate[name] = acc
		}
		for _, s := range r.Timeline {
			acc := seconds[s.T]
			if acc == nil {
				acc = &Second{T: s.T}
				seconds[s.T] = acc
			}
			acc.TargetRate += s.TargetRate
			acc.Rate += s.Rate
			acc.Errors += s.Errors
			acc.Dropped += s.Dropped
			switch {
			case s.Latency.Histogram == nil:
			case acc.Latency.Histogram == nil:
				acc.Latency = Histogram{Histogram: s.Latency.Clone()}
			default:
				if err := mergeHist(acc.Latency, s.Latency, fmt.Sprintf("timeline t=%d latency", s.T), r.Shard, first.Shard); err != nil {
					return Merged{}, err
				}
			}
		}
	}
	for _, t := range slices.Sorted(maps.Keys(seconds)) {
		m.Timeline = append(m.Timeline, *seconds[t])
	}
	return m, nil
}

// mergeHist adds from into into; both must have one geometry, so that the
// merge is exact.
func mergeHist(into, from Histogram, name string, shard, first Plan) error {
	if !sameGeometry(into.Histogram, from.Histogram) {
		return fmt.Errorf("merge: shard %s: %s histogram %s, shard %s's %s: every shard must record alike",
			shard, name, geometry(from.Histogram), first, geometry(into.Histogram))
	}
	if dropped := into.Merge(from.Histogram); dropped > 0 {
		return fmt.Errorf("merge: shard %s: %s histogram: %d values would overflow the total", shard, name, dropped)
	}
	return nil
}

func sameGeometry(a, b *hdrhistogram.Histogram) bool {
	return a.LowestTrackableValue() == b.LowestTrackableValue() &&
		a.HighestTrackableValue() == b.HighestTrackableValue() &&
		a.SignificantFigures() == b.SignificantFigures()
}

func geometry(h *hdrhistogram.Histogram) string {
	return fmt.Sprintf("covers %d to %d at %d significant figures", h.LowestTrackableValue(), h.HighestTrackableValue(), h.SignificantFigures())
}

// reason names the shards that make a run incomplete, or returns "".
func reason(count int, missing, duplicate []int) string {
	var parts []string
	if len(missing) == count {
		return "no shard has a result"
	}
	if len(missing) > 0 {
		parts = append(parts, "no result from "+shards(missing, count))
	}
	if len(duplicate) > 0 {
		parts = append(parts, "more than one result from "+shards(duplicate, count)+" (the first was merged)")
	}
	return strings.Join(parts, "; ")
}

// shards names shards: "shard 1/3", "shards 0/3, 2/3"; past ten, the first
// ten and how many in all.
func shards(idx []int, count int) string {
	const most = 10
	names := make([]string, 0, min(len(idx), most))
	for _, x := range idx[:min(len(idx), most)] {
		names = append(names, strconv.Itoa(x)+"/"+strconv.Itoa(count))
	}
	switch {
	case len(idx) == 1:
		return "shard " + names[0]
	case len(idx) > most:
		return "shards " + strings.Join(names, ", ") + fmt.Sprintf(", … (%d in all)", len(idx))
	}
	return "shards " + strings.Join(names, ", ")
}
