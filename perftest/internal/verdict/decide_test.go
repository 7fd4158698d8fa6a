package verdict

import (
	"testing"

	"github.com/stretchr/testify/assert"
)

func TestDecide(t *testing.T) {
	pass := Part{Name: "SLOs", Verdict: Pass, Reason: "all 9 checks passed"}
	fail := Part{Name: "baseline", Verdict: Fail, Reason: "1 of 9 metrics worse", Failures: []string{"allocs_per_request +85%"}}
	unsure := Part{Name: "baseline", Verdict: Inconclusive, Reason: "round 3 has no value", Failures: []string{"cpu_per_request: no data in round 3"}}
	for _, tt := range []struct {
		name     string
		parts    []Part
		verdict  Verdict
		reason   string
		failures []string
	}{
		{"every part passing passes", []Part{pass, {Name: "baseline", Verdict: Pass, Reason: "~"}}, Pass,
			"SLOs: all 9 checks passed; baseline: ~", nil},
		{"a failing part fails and leads the reason", []Part{pass, fail}, Fail,
			"baseline: 1 of 9 metrics worse; SLOs: all 9 checks passed", []string{"baseline: allocs_per_request +85%"}},
		{"an inconclusive part is not a pass", []Part{pass, unsure}, Inconclusive,
			"baseline: round 3 has no value; SLOs: all 9 checks passed", []string{"baseline: cpu_per_request: no data in round 3"}},
		{"fail outranks inconclusive", []Part{unsure, {Name: "SLOs", Verdict: Fail, Reason: "1 of 9 checks failed", Failures: []string{"p95 > 50ms"}}}, Fail,
			"SLOs: 1 of 9 checks failed; baseline: round 3 has no value", []string{"SLOs: p95 > 50ms", "baseline: cpu_per_request: no data in round 3"}},
		{"nothing decided cannot pass", nil, Fail, "nothing was decided: a run with nothing to judge cannot pass", nil},
		{"a part without a verdict fails", []Part{pass, {Name: "baseline"}}, Fail,
			`baseline: verdict "" is not pass, fail or inconclusive; SLOs: all 9 checks passed`, []string{`baseline: verdict "" is not pass, fail or inconclusive`}},
	} {
		t.Run(tt.name, func(t *testing.T) {
			d := Decide(tt.parts...)
			assert.Equal(t, tt.verdict, d.Verdict)
			assert.Equal(t, tt.reason, d.Reason)
			assert.Equal(t, tt.failures, d.Failures)
		})
	}
}

func TestResultPartNamesEveryCheckThatDidNotPass(t *testing.T) {
	r := Evaluate(paired([]Objective{p95, rss}, []Observation{agg("p95_latency", 0.080), each("memory_rss", "replica-1", 1e6)}),
		Load{TargetRate: 100, AchievedRate: 80, MaxLag: 0.05, Sent: 2400})
	p := r.Part()
	assert.Equal(t, Inconclusive, p.Verdict)
	assert.Equal(t, []string{
		"p95_latency 80ms > 50ms (+60%)",
		"inconclusive: generator fell 20.0% behind its target rate (80/s of 100/s, 5% allowed): the run cannot vouch for the service",
	}, p.Failures)
}
