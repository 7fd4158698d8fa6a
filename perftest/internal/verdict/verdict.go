// Package verdict decides pass, fail or inconclusive from objectives and measurements; it does no I/O.
package verdict

import (
	"fmt"
	"math"
	"slices"
	"strings"

	"github.com/perfgate/perfgate/thresholds"
	"github.com/perfgate/perfgate/thresholds/units"
)

// Objective is one SLO as the verdict sees it. Max and Min are in base units
// (seconds, ratio, bytes, 1/s); at least one must be set. Metric, Quantile,
// Route and Unit are the spec's facts, carried unchanged to every check.
type Objective struct {
	Name        string
	Description string
	Metric      thresholds.Metric
	Quantile    float64 // latency only, in (0, 1); 0 otherwise
	Route       string  // the route pattern the SLO reads, "" for every route
	PerInstance bool
	Max, Min    *float64
	Unit        units.Unit
	// Instances, when set, lists the instances a per-instance objective must
	// hear from; each one missing becomes a no_data check. When empty, any
	// one instance or more will do.
	Instances []string
}

// Sample is one value of an observation. Instance is "" for an aggregate.
//
// A quantile read from histogram buckets is Bounded: the true value lies in
// (Lo, Hi], the bucket the quantile's rank falls in, and Value is only the
// interpolated estimate shown to people. Such a sample passes or fails only
// when the whole bucket is on one side of the limit; Hi is +Inf when the rank
// falls beyond the largest finite bucket.
type Sample struct {
	Instance string
	Value    float64
	Bounded  bool
	Lo, Hi   float64
	// Unanswered is how many requests the client gave up on after its
	// timeout a Bounded quantile counts in: the server never recorded them.
	Unanswered int64
}

// Observation is what a query returned for one objective.
type Observation struct {
	Query   string // the PromQL that produced it
	Samples []Sample
	Err     string // the query failed: its checks become no_data with this reason
}

// Measured is an objective with what was observed for it: the two travel
// together from the gate, never to be matched up by name.
type Measured struct {
	Objective
	Observation Observation
}

// made reports whether anything was observed at all: a query, or its error.
func (o Observation) made() bool { return o.Query != "" || o.Err != "" || len(o.Samples) > 0 }

// Load is the generator's own account of the run.
type Load struct {
	TargetRate float64 // mean intended req/s over the measured window
	// AchievedRate is the mean req/s the generator issued over the measured
	// window: sent, plus dropped at max_in_flight, since a drop is the service
	// holding every slot (counted as its error), not the generator lagging.
	AchievedRate float64
	MaxLag       float64 // allowed shortfall of AchievedRate below TargetRate, as a ratio (0.05)
	Sent         int64
	Dropped      int64
	// SendLagP99 is how late the 99th percentile request left after its
	// intended send time, in seconds; beyond MaxSendLag the generator stalled
	// and the latencies it measured are its own. MaxSendLag 0 skips the check.
	SendLagP99, MaxSendLag float64
	// Unsound says why the load was not the plan, beyond the figures above:
	// a shard of the run that has no result, or started late.
	Unsound []string
}

// Status is the outcome of one check.
type Status string

const (
	StatusPass   Status = "pass"
	StatusFail   Status = "fail"    // the observation breaches the limit
	StatusNoData Status = "no_data" // nothing usable was observed: never a pass
	StatusError  Status = "error"   // objectives and observations do not fit together
)

// Check is one bound of one objective for one instance (or the aggregate).
// It carries its objective's facts, so a renderer never recovers one.
type Check struct {
	Name        string
	Description string // the objective's, for reports
	Instance    string // "" for the aggregate
	Metric      thresholds.Metric
	Quantile    float64 // latency only, in (0, 1); 0 otherwise
	Route       string  // "" for every route
	Unit        units.Unit
	Status      Status
	Observed    float64
	HasObserved bool // false when no data
	Limit       float64
	Op          string // "<=" for a max, ">=" for a min
	Query       string
	Why         string // one sentence a person can act on
}

// OK reports whether the check passed; anything else fails the run.
func (c Check) OK() bool { return c.Status == StatusPass }

// Verdict is the outcome of a whole run.
type Verdict string

const (
	Pass Verdict = "pass"
	Fail Verdict = "fail"
	// Inconclusive means the generator did not apply the load it promised, so
	// the checks cannot vouch for the service. It is not a pass.
	Inconclusive Verdict = "inconclusive"
)

// Result is the verdict on a run with the checks behind it.
type Result struct {
	Verdict Verdict
	Reason  string
	Checks  []Check
	Load    Load
}

// Evaluate checks every objective against its observation and the generator's
// load against its target. Checks come in objective order, then instance name,
// max before min.
func Evaluate(ms []Measured, load Load) Result {
	var checks []Check
	seen := map[string]bool{}
	for i, m := range ms {
		if msg := invalid(m.Objective, i, seen); msg != "" {
			c := m.check()
			c.Status, c.Why = StatusError, msg
			checks = append(checks, c)
			seen[m.Name] = true
			continue
		}
		seen[m.Name] = true
		checks = append(checks, evaluate(m)...)
	}

	r := Result{Checks: checks, Load: load}
	v, reason := judge(checks)
	if lag := Shortfall(load); lag != "" {
		// The checks still show, but a pass cannot stand for the service, nor
		// can a breach the shortfall may have caused. A breach that less or
		// later load cannot explain stands (see standingBreach): a
		// CPU-hungry candidate can be what slowed the generator.
		if v == Fail && standingBreach(checks, load) {
			r.Verdict, r.Reason = Fail, reason+"; and "+lag
			return r
		}
		r.Verdict, r.Reason = Inconclusive, lag
		if v == Fail {
			r.Reason += "; " + reason
		}
		return r
	}
	r.Verdict, r.Reason = v, reason
	return r
}

// costPerRequest are the metrics that divide a cost by the requests
// served. Part of a service's cost is fixed (GC, scrapes, timers), so
// serving fewer requests than planned raises each one's share of it.
var costPerRequest = map[thresholds.Metric]bool{
	thresholds.CPUPerRequest: true, thresholds.AllocsPerRequest: true, thresholds.BytesPerRequest: true,
}

// standingBreach reports whether a check failed its max in a way a load
// short of the plan cannot explain. An error rate is a share of the
// requests sent, whatever their number. A cost per request stands only if
// it breaches even when all of it is taken as fixed and spread over the
// planned requests: observed × achieved/target. Without both rates the
// shortfall is unknown, so no cost breach stands on it.
func standingBreach(checks []Check, l Load) bool {
	served := 0.0
	if l.TargetRate > 0 && !math.IsInf(l.TargetRate, 1) && l.AchievedRate >= 0 && !math.IsInf(l.AchievedRate, 1) {
		served = min(1, l.AchievedRate/l.TargetRate)
	}
	for _, c := range checks {
		if c.Status != StatusFail || c.Op != "<=" {
			continue
		}
		if c.Metric == thresholds.ErrorRate || costPerRequest[c.Metric] && c.Observed*served > c.Limit {
			return true
		}
	}
	return false
}

// invalid says what is wrong with objective i, or "" when it can be checked.
func invalid(obj Objective, i int, seen map[string]bool) string {
	bad := func(v *float64) bool { return v != nil && (math.IsNaN(*v) || math.IsInf(*v, 0)) }
	switch {
	case obj.Name == "":
		return fmt.Sprintf("objective #%d has no name", i+1)
	case seen[obj.Name]:
		return fmt.Sprintf("objective %q is defined twice", obj.Name)
	case obj.Max == nil && obj.Min == nil:
		return fmt.Sprintf("objective %q has neither max nor min: nothing to check", obj.Name)
	case bad(obj.Max) || bad(obj.Min):
		return fmt.Sprintf("objective %q has a limit that is not a finite number", obj.Name)
	case obj.Max != nil && obj.Min != nil && *obj.Min > *obj.Max:
		return fmt.Sprintf("objective %q has min %s above max %s: it can never pass",
			obj.Name, obj.Unit.Format(*obj.Min), obj.Unit.Format(*obj.Max))
	}
	return ""
}

type bound struct {
	op    string
	limit float64
}

func bounds(obj Objective) []bound {
	var bs []bound
	if obj.Max != nil {
		bs = append(bs, bound{"<=", *obj.Max})
	}
	if obj.Min != nil {
		bs = append(bs, bound{">=", *obj.Min})
	}
	return bs
}

// check is a check of the objective with its facts and query, before any bound is judged.
func (m Measured) check() Check {
	return Check{Name: m.Name, Description: m.Description, Metric: m.Metric, Quantile: m.Quantile,
		Route: m.Route, Unit: m.Unit, Query: m.Observation.Query}
}

// evaluate turns one objective and the observation made for it into checks.
func evaluate(m Measured) []Check {
	obj, obs := m.Objective, m.Observation
	base := m.check()
	// One check per bound for every (instance, outcome) so reports count alike.
	each := func(instance string, status Status, why func(b bound) string) []Check {
		var out []Check
		for _, b := range bounds(obj) {
			c := base
			c.Instance, c.Status, c.Limit, c.Op, c.Why = instance, status, b.limit, b.op, why(b)
			out = append(out, c)
		}
		return out
	}
	fixed := func(s string) func(bound) string { return func(bound) string { return s } }

	switch {
	case !obs.made():
		return each("", StatusNoData, fixed("no data: no observation was made"))
	case obs.Err != "":
		return each("", StatusNoData, fixed(fmt.Sprintf("no data: %s", obs.Err)))
	case len(obs.Samples) == 0:
		return each("", StatusNoData, fixed("no data: query returned no series"))
	}
	samples := obs.Samples

	if !obj.PerInstance {
		if len(samples) > 1 {
			return each("", StatusError, fixed(fmt.Sprintf(
				"query returned %d series where one aggregate was expected: it must sum or average over instances", len(samples))))
		}
		return measure(obj, base, "", samples[0])
	}

	byInstance := map[string]Sample{}
	for _, s := range samples {
		if s.Instance == "" {
			return each("", StatusError, fixed("per-instance query returned a series without an instance label: group it by instance"))
		}
		if _, dup := byInstance[s.Instance]; dup {
			return each("", StatusError, fixed(fmt.Sprintf("query returned instance %q twice", s.Instance)))
		}
		byInstance[s.Instance] = s
	}
	instances := make([]string, 0, len(byInstance))
	for name := range byInstance {
		instances = append(instances, name)
	}
	for _, name := range obj.Instances {
		if _, ok := byInstance[name]; !ok {
			instances = append(instances, name)
		}
	}
	slices.Sort(instances)

	var out []Check
	for _, name := range instances {
		v, ok := byInstance[name]
		if !ok {
			out = append(out, each(name, StatusNoData, fixed("no data: query returned no series for this instance"))...)
			continue
		}
		out = append(out, measure(obj, base, name, v)...)
	}
	return out
}

// measure compares one sample with every bound of obj.
func measure(obj Objective, base Check, instance string, smp Sample) []Check {
	v := smp.Value
	subject := obj.Name
	if instance != "" {
		subject += " on " + instance
	}
	var out []Check
	for _, b := range bounds(obj) {
		c := base
		c.Instance, c.Limit, c.Op = instance, b.limit, b.op
		if smp.Bounded {
			out = append(out, bucketed(c, subject, smp, b, obj.Unit))
			continue
		}
		if math.IsNaN(v) || math.IsInf(v, 0) {
			c.Status = StatusNoData
			hint := "no requests in the window?"
			if math.IsInf(v, 0) {
				hint = "not a finite measurement"
			}
			c.Why = fmt.Sprintf("no data: value is %s (%s)", obj.Unit.Format(v), hint)
			out = append(out, c)
			continue
		}
		if v < 0 && obj.Metric != thresholds.Custom { // shares, rates, costs and sizes cannot be negative
			c.Status = StatusNoData
			c.Why = fmt.Sprintf("no data: value is %s, which no measurement of %s can be (a counter went backwards?)", obj.Unit.Format(v), obj.Metric)
			out = append(out, c)
			continue
		}
		c.Observed, c.HasObserved = v, true
		ok := v <= b.limit
		if b.op == ">=" {
			ok = v >= b.limit
		}
		o, l := obj.Unit.FormatPair(v, b.limit)
		switch {
		case ok:
			c.Status = StatusPass
			c.Why = fmt.Sprintf("%s %s %s %s", subject, o, b.op, l)
		default:
			c.Status = StatusFail
			neg := map[string]string{"<=": ">", ">=": "<"}[b.op]
			c.Why = fmt.Sprintf("%s %s %s %s%s", subject, o, neg, l, overshoot(v, b.limit))
		}
		out = append(out, c)
	}
	return out
}

// bucketed judges a quantile known only to lie in the bucket (Lo, Hi]: it
// passes or fails when the whole bucket is on one side of the limit, and
// otherwise cannot tell, which is not a pass.
func bucketed(c Check, subject string, s Sample, b bound, u units.Unit) Check {
	if math.IsNaN(s.Lo) || math.IsNaN(s.Hi) || s.Lo > s.Hi {
		c.Status, c.Why = StatusNoData, fmt.Sprintf("no data: no requests in the window, so no quantile (bucket %v–%v)", s.Lo, s.Hi)
		return c
	}
	if !math.IsInf(s.Hi, 1) && !math.IsNaN(s.Value) {
		c.Observed, c.HasObserved = s.Value, true
	} else {
		c.Observed, c.HasObserved = s.Lo, true // beyond the largest bucket: all that is known
	}
	span := fmt.Sprintf("between %s and %s", u.Format(s.Lo), u.Format(s.Hi))
	switch {
	case math.IsInf(s.Hi, 1) && s.Unanswered > 0:
		span = fmt.Sprintf("above %s", u.Format(s.Lo))
	case math.IsInf(s.Hi, 1):
		span = fmt.Sprintf("beyond the histogram's largest bucket, %s", u.Format(s.Lo))
	}
	if s.Unanswered > 0 {
		span += fmt.Sprintf(", counting %d requests the client gave up on, which the server never recorded", s.Unanswered)
	}
	l := u.Format(b.limit)
	above, below := s.Lo >= b.limit, s.Hi <= b.limit // the whole bucket on one side
	pass, fail := below, above
	if b.op == ">=" {
		pass, fail = above, below
	}
	switch {
	case pass:
		c.Status = StatusPass
		c.Why = fmt.Sprintf("%s %s %s %s (%s)", subject, u.Format(c.Observed), b.op, l, span)
	case fail:
		c.Status = StatusFail
		neg := map[string]string{"<=": ">", ">=": "<"}[b.op]
		c.Why = fmt.Sprintf("%s %s %s %s: %s", subject, u.Format(c.Observed), neg, l, span)
	default:
		c.Status = StatusNoData
		c.Why = fmt.Sprintf("cannot tell: %s is %s, a histogram bucket that holds the %s limit; "+
			"give the histogram a bucket boundary at %s or put the limit on a boundary", subject, span, l, l)
	}
	return c
}

// overshoot says how far past its limit a value is, when that is meaningful.
func overshoot(v, limit float64) string {
	if limit == 0 {
		return ""
	}
	d := (v - limit) / math.Abs(limit) * 100
	if math.Abs(d) < 1 {
		return fmt.Sprintf(" (%+.1f%%)", d)
	}
	return fmt.Sprintf(" (%+.0f%%)", d)
}

// Shortfall explains why the generator's load cannot vouch for the service
// (no rate, fell behind, stalled), or returns "" when it can.
func Shortfall(l Load) string {
	const tail = ": the run cannot vouch for the service"
	finite := func(x float64) bool { return !math.IsNaN(x) && !math.IsInf(x, 0) }
	if len(l.Unsound) > 0 {
		return strings.Join(l.Unsound, "; ") + tail
	}
	switch {
	case !finite(l.TargetRate) || l.TargetRate <= 0:
		return "generator reported no target rate" + tail
	case !finite(l.MaxLag) || l.MaxLag < 0 || l.MaxLag >= 1:
		return fmt.Sprintf("allowed generator lag %v is not a ratio in [0, 1)%s", l.MaxLag, tail)
	case !finite(l.AchievedRate):
		return "generator reported no achieved rate" + tail
	case l.Sent <= 0:
		return "generator sent no requests" + tail
	}
	if l.MaxSendLag > 0 && !(l.SendLagP99 <= l.MaxSendLag) {
		return fmt.Sprintf("generator stalled: 1%% of requests left more than %s after their intended time (%s allowed)%s",
			units.Seconds.Format(l.SendLagP99), units.Seconds.Format(l.MaxSendLag), tail)
	}
	if l.AchievedRate < l.TargetRate*(1-l.MaxLag) {
		behind := (1 - l.AchievedRate/l.TargetRate) * 100
		return fmt.Sprintf("generator fell %.1f%% behind its target rate (%s of %s, %s allowed)%s",
			behind, units.PerSecond.Format(l.AchievedRate), units.PerSecond.Format(l.TargetRate),
			units.Ratio.Format(l.MaxLag), tail)
	}
	return ""
}

// judge sums up the checks: a breach fails the run, and so does an error
// (objectives and observations that do not fit: the gate cannot be trusted);
// otherwise a check that could not tell (no data, a limit inside the
// quantile's bucket) makes it inconclusive, which is never a pass and never
// a breach either. A run with nothing to check fails.
func judge(checks []Check) (Verdict, string) {
	if len(checks) == 0 {
		return Fail, "no objectives to check: a gate with nothing to check cannot pass"
	}
	var failed, unsure []string
	for _, c := range checks {
		switch {
		case c.Status == StatusNoData:
			unsure = append(unsure, subjectOf(c))
		case !c.OK():
			failed = append(failed, subjectOf(c))
		}
	}
	switch {
	case len(failed) > 0:
		reason := fmt.Sprintf("%d of %s failed: %s", len(failed), plural(len(checks), "check"), listed(failed))
		if len(unsure) > 0 {
			reason += fmt.Sprintf("; %d could not tell", len(unsure))
		}
		return Fail, reason
	case len(unsure) > 0:
		return Inconclusive, fmt.Sprintf("%d of %s could not tell, which is not a pass: %s", len(unsure), plural(len(checks), "check"), listed(unsure))
	case len(checks) == 1:
		return Pass, "the only check passed"
	}
	return Pass, fmt.Sprintf("all %d checks passed", len(checks))
}

// listed joins the first few sentences and counts the rest.
func listed(whys []string) string {
	const shown = 3
	if len(whys) <= shown {
		return strings.Join(whys, "; ")
	}
	return strings.Join(whys[:shown], "; ") + fmt.Sprintf("; and %d more", len(whys)-shown)
}

// subjectOf is c.Why, led by the check's name where the sentence lacks it.
func subjectOf(c Check) string {
	if c.Name == "" || strings.Contains(c.Why, c.Name) {
		return c.Why
	}
	label := c.Name
	if c.Instance != "" {
		label += " on " + c.Instance
	}
	return label + ": " + c.Why
}

func plural(n int, noun string) string {
	if n == 1 {
		return "1 " + noun
	}
	return fmt.Sprintf("%d %ss", n, noun)
}
