package load

import (
	"fmt"

	"github.com/HdrHistogram/hdrhistogram-go"
	"github.com/perfgate/perfgate/perftest/internal/shard"
)

// ShardResult is r as shard p of a run writes it, for the merge; spec is
// the SHA-256 of the spec file the run came from (shard.SpecHash).
func (r *Result) ShardResult(p shard.Plan, spec string) shard.Result {
	out := shard.Result{
		Shard:   p,
		Spec:    spec,
		StartAt: r.Start, Started: r.Began, End: r.End, MeasuredFrom: r.MeasuredFrom,
		Totals: shard.Totals{
			Sent: r.Sent, Completed: r.Completed, Errors: r.Errors, Dropped: r.Dropped,
			ByStatus:   r.ByStatus,
			ByTemplate: make(map[string]shard.TemplateStats, len(r.ByTemplate)),
			Templates:  r.Templates,
			Latency:    shard.Histogram{Histogram: orEmpty(r.Latency, histDigits)},
			SendLag:    shard.Histogram{Histogram: orEmpty(r.SendLag, histDigits)},
			TargetRate: r.TargetRate, AchievedRate: r.AchievedRate,
		},
	}
	// Errors among responses: the transport errors and timeouts are errors
	// that are not Completed.
	out.OK = r.Completed - (r.Errors - r.ByStatus["error"] - r.ByStatus["timeout"])
	for name, st := range r.ByTemplate {
		out.ByTemplate[name] = shard.TemplateStats{Count: st.Count, Errors: st.Errors, Planned: st.Planned, FellBack: st.FellBack, Why: st.Why,
			NotOK: st.NotOK, Strays: st.Strays, Latency: shard.Histogram{Histogram: st.Latency}}
	}
	for _, s := range r.Timeline {
		out.Timeline = append(out.Timeline, shard.Second{
			T: s.T, TargetRate: s.TargetRate, Rate: s.Rate, Errors: s.Errors, Dropped: s.Dropped,
			Latency: shard.Histogram{Histogram: s.Latency},
		})
	}
	return out
}

// FromMerged is the Result of the whole run that the merged shards make up,
// to be judged once like any run. A merge that is incomplete or has a late
// shard says so in Unsound. Start is the agreed start, Began the earliest
// shard's.
func FromMerged(m shard.Merged) *Result {
	r := &Result{
		Start: m.StartAt, Began: m.Started, End: m.End, MeasuredFrom: m.MeasuredFrom,
		Sent: m.Sent, Completed: m.Completed, Errors: m.Errors, Dropped: m.Dropped,
		ByStatus: m.ByStatus, Templates: m.Templates,
		ByTemplate: make(map[string]*TemplateStats, len(m.ByTemplate)),
		Latency:    m.Latency.Histogram, SendLag: m.SendLag.Histogram,
		TargetRate: m.TargetRate, AchievedRate: m.AchievedRate,
	}
	for name, st := range m.ByTemplate {
		r.ByTemplate[name] = &TemplateStats{Count: st.Count, Errors: st.Errors, Planned: st.Planned, FellBack: st.FellBack, Why: st.Why,
			NotOK: st.NotOK, Strays: st.Strays, Latency: st.Latency.Histogram}
	}
	for _, s := range m.Timeline {
		sec := Second{T: s.T, TargetRate: s.TargetRate, Rate: s.Rate, Errors: s.Errors, Dropped: s.Dropped, Latency: s.Latency.Histogram}
		if h := s.Latency.Histogram; h != nil {
			sec.P50 = usToDuration(h.ValueAtQuantile(50))
			sec.P95 = usToDuration(h.ValueAtQuantile(95))
			sec.P99 = usToDuration(h.ValueAtQuantile(99))
		}
		r.Timeline = append(r.Timeline, sec)
	}
	if m.Incomplete {
		r.Unsound = append(r.Unsound, fmt.Sprintf("the load is not the whole plan: %s", m.Reason))
	}
	if got := m.Count - len(m.Missing); len(m.Missing) > 0 && got > 0 {
		// Each shard owns every Count-th request: the plan's rate is the
		// shards' at hand scaled up, so what was achieved reads against it.
		r.TargetRate = m.TargetRate * float64(m.Count) / float64(got)
	}
	r.Unsound = append(r.Unsound, r.NotAsWritten()...)
	for _, l := range m.Late {
		r.Unsound = append(r.Unsound, fmt.Sprintf("%s: its part of the schedule due before then was dropped", l))
	}
	return r
}

// orEmpty returns h, or an empty histogram of the run's geometry when a run
// that ended early has none.
func orEmpty(h *hdrhistogram.Histogram, digits int) *hdrhistogram.Histogram {
	if h != nil {
		return h
	}
	return newHist(digits)
}
