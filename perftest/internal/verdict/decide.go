package verdict

import (
	"fmt"
	"slices"
	"strings"
)

// Part is one part of a run as its own judge decided it: the SLO checks, or
// the comparison with a baseline.
type Part struct {
	Name     string // "SLOs", "baseline"
	Verdict  Verdict
	Reason   string
	Failures []string // one sentence per item that did not pass
}

// Decision is the verdict on a whole run: every renderer and every door shows
// this one, and none decides again.
type Decision struct {
	Verdict  Verdict
	Reason   string   // the parts' reasons, the part that did not pass first
	Failures []string // every part's failures, each led by its part's name
}

// Decide combines the parts: any failing part fails the run; otherwise any
// inconclusive part makes it inconclusive; it passes only when every part
// passed. No parts, or a part without a known verdict, is never a pass.
func Decide(parts ...Part) Decision {
	if len(parts) == 0 {
		return Decision{Verdict: Fail, Reason: "nothing was decided: a run with nothing to judge cannot pass"}
	}
	d := Decision{Verdict: Pass}
	rank := map[Verdict]int{Fail: 0, Inconclusive: 1, Pass: 2}
	norm := make([]Part, 0, len(parts))
	for _, p := range parts {
		if _, known := rank[p.Verdict]; !known {
			why := fmt.Sprintf("verdict %q is not pass, fail or inconclusive", p.Verdict)
			p.Verdict, p.Reason, p.Failures = Fail, why, append(p.Failures, why)
		}
		norm = append(norm, p)
	}
	slices.SortStableFunc(norm, func(a, b Part) int { return rank[a.Verdict] - rank[b.Verdict] })
	var reasons []string
	for _, p := range norm {
		if rank[p.Verdict] < rank[d.Verdict] {
			d.Verdict = p.Verdict
		}
		reasons = append(reasons, p.Name+": "+p.Reason)
		for _, f := range p.Failures {
			d.Failures = append(d.Failures, p.Name+": "+f)
		}
	}
	d.Reason = strings.Join(reasons, "; ")
	return d
}

// Part is the SLO checks' share of the decision: a failure per check that did
// not pass, and the generator's shortfall when it made the run inconclusive.
func (r Result) Part() Part {
	p := Part{Name: "SLOs", Verdict: r.Verdict, Reason: r.Reason}
	for _, c := range r.Checks {
		if !c.OK() {
			p.Failures = append(p.Failures, subjectOf(c))
		}
	}
	if lag := Shortfall(r.Load); lag != "" && r.Verdict == Inconclusive {
		p.Failures = append(p.Failures, "inconclusive: "+lag)
	}
	if r.Verdict != Pass && len(p.Failures) == 0 {
		p.Failures = append(p.Failures, r.Reason)
	}
	return p
}
