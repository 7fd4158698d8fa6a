package thresholds

import (
	"fmt"
	"math"
	"regexp"
	"slices"
	"strings"
	"time"

	"github.com/prometheus/prometheus/promql/parser"

	"github.com/perfgate/perfgate/thresholds/units"
)

// Bounds that keep a spec sane on a shared CI machine.
const (
	maxDuration    = time.Hour       // of all stages together
	maxTarget      = 100000.0        // req/s, far above what one generator core offers
	minWindow      = 5 * time.Second // Prometheus scrapes every 1 s; rate() needs several samples
	maxTimeout     = time.Minute     // per request
	maxInFlight    = 100000          // concurrent requests
	maxLag         = 0.5             // beyond half the intended rate the run measures nothing useful
	maxNameLen     = 64              // names become JUnit test names and report keys
	maxRouteLen    = 256             // routes go into PromQL label matchers
	windowForCheck = "60000ms"       // stands in for $window while parsing; same length keeps columns
)

var (
	nameRe        = regexp.MustCompile(`^[a-z][a-z0-9_]*$`)
	routeRe       = regexp.MustCompile(`^/[A-Za-z0-9._~/{}:-]*$`)
	placeholderRe = regexp.MustCompile(`\$[A-Za-z_][A-Za-z0-9_]*`)
	promql        = parser.NewParser(parser.Options{})
)

// Validate checks a spec built in code, or a parsed one changed since, the way Parse
// checks a file, returning Errors on failure. A spec returned by Parse always passes.
func (s *Spec) Validate() error {
	if s == nil {
		return Errors{{Msg: "no SLO spec"}}
	}
	v := &validator{spec: s}
	v.run()
	return v.errs.err()
}

// validator checks ranges and fields that depend on each other. On a parsed spec it
// points at the source and stays silent on fields the decoder already refused.
type validator struct {
	spec *Spec
	bad  map[string]bool
	errs Errors
}

// parent drops the last step of a field path: slos[1].max → slos[1] → slos → "".
func parent(path string) string {
	if strings.HasSuffix(path, "]") {
		return path[:strings.LastIndex(path, "[")]
	}
	if i := strings.LastIndex(path, "."); i >= 0 {
		return path[:i]
	}
	return ""
}

// ok reports whether path and all its parents decoded cleanly.
func (v *validator) ok(path string) bool {
	for ; path != ""; path = parent(path) {
		if v.bad[path] {
			return false
		}
	}
	return !v.bad[""]
}

// present reports whether a field is set or, in a parsed spec, was written (perhaps as 0).
func (v *validator) present(path string, set bool) bool {
	_, written := v.spec.src[path]
	return set || written
}

// pos finds where path, or its nearest written parent, is in the file.
func (v *validator) pos(path string) (line, col int) {
	for p := path; ; p = parent(p) {
		if at, ok := v.spec.src[p]; ok {
			return at.line, at.col
		}
		if p == "" {
			break
		}
	}
	var i int
	if _, err := fmt.Sscanf(path, "slos[%d]", &i); err == nil && i >= 0 && i < len(v.spec.SLOs) {
		return v.spec.SLOs[i].Line, v.spec.SLOs[i].Col
	}
	if _, err := fmt.Sscanf(path, "workload[%d]", &i); err == nil && i >= 0 && i < len(v.spec.Workload) {
		return v.spec.Workload[i].Line, v.spec.Workload[i].Col
	}
	if _, err := fmt.Sscanf(path, "compare.metrics[%d]", &i); err == nil && v.spec.Compare != nil && i >= 0 && i < len(v.spec.Compare.Metrics) {
		return v.spec.Compare.Metrics[i].Line, v.spec.Compare.Metrics[i].Col
	}
	if name, ok := strings.CutPrefix(path, "compare.metrics."); ok && v.spec.Compare != nil {
		name, _, _ = strings.Cut(name, ".")
		for _, b := range v.spec.Compare.Metrics {
			if b.Metric == name {
				return b.Line, b.Col
			}
		}
	}
	return 0, 0
}

func (v *validator) fail(path, format string, args ...any) {
	if !v.ok(path) {
		return
	}
	line, col := v.pos(path)
	v.errs = append(v.errs, Error{File: v.spec.File, Line: line, Col: col, Field: path, Msg: fmt.Sprintf(format, clip(format, args)...)})
}

// missing reports that field is absent from the mapping at path.
func (v *validator) missing(path, field, hint string) {
	if !v.ok(join(path, field)) {
		return
	}
	v.fail(path, "missing field %q: %s", field, hint)
}

// got quotes a value as it was written, or as Format writes it when it was built in
// code or changed since it was parsed.
func (v *validator) got(path string, x float64, u Unit) string {
	return quote(v.written(path, x, u))
}

func (v *validator) written(path string, x float64, u Unit) string {
	if at, ok := v.spec.src[path]; ok && at.scalar {
		if y, err := parseIn(u, at.raw, true); err == nil && y == x {
			return at.raw
		}
	}
	return u.Format(x)
}

func (v *validator) run() {
	s := v.spec
	if v.given("", "version", s.Version != 0, `add "version: 1" at the top`) && s.Version != Version {
		v.fail("version", "unsupported version %d: this perfgate reads version %d", s.Version, Version)
	}
	loadOK := v.given("", "load", len(s.Load.Stages) > 0, "describe the load with warmup and stages") && v.load()
	v.workload()
	if v.given("", "slos", len(s.SLOs) > 0, "list the SLOs the gate enforces") && len(s.SLOs) == 0 {
		v.fail("slos", "is empty: list at least one SLO, or the gate can never fail")
	}
	first := map[string]int{}
	for i := range s.SLOs {
		v.slo(i, first, loadOK)
	}
	if s.Compare != nil {
		v.compare()
	}
	v.service()
	v.target()
}

// load checks the load profile and reports whether its stages are sound enough
// for SLOs to be checked against them.
func (v *validator) load() bool {
	l := v.spec.Load
	stagesOK := v.given("load", "stages", len(l.Stages) > 0, "add at least one stage like {duration: 10s, target: 50/s}")
	if stagesOK && len(l.Stages) == 0 {
		v.fail("load.stages", "is empty: add at least one stage like {duration: 10s, target: 50/s}")
		stagesOK = false
	}
	var total float64 // seconds; summed as floats so huge stages cannot overflow
	for i, st := range l.Stages {
		p := fmt.Sprintf("load.stages[%d]", i)
		if !v.given(p, "duration", st.Duration != 0, "how long to ramp, like 10s") ||
			!v.within(p+".duration", st.Duration.Seconds(), Seconds, false, math.Inf(1)) {
			stagesOK = false
		}
		total += st.Duration.Seconds()
		if !v.given(p, "target", st.Target != 0, "the arrival rate to ramp to, like 50/s") ||
			!v.within(p+".target", st.Target, PerSecond, true, maxTarget) || !v.ok(p) {
			stagesOK = false
		}
	}
	if stagesOK {
		switch {
		case total > maxDuration.Seconds():
			v.fail("load.stages", "last %s in total, over the %s limit: shorten them",
				Seconds.Format(total), dur(maxDuration))
			stagesOK = false
		case l.peak() == 0:
			v.fail("load.stages", "every target is 0/s, so the run would send no requests: raise a target")
			stagesOK = false
		}
	}

	if v.within("load.warmup", l.WarmUp.Seconds(), Seconds, true, math.Inf(1)) && stagesOK {
		switch {
		case l.Window() < minWindow:
			v.fail("load.warmup", "%s leaves a %s measured window of the %s of stages: keep at least %s after the warm-up",
				dur(l.WarmUp), dur(l.Window()), dur(l.Duration()), dur(minWindow))
		case l.Requests(l.WarmUp, l.Duration()) < 1:
			v.fail("load.warmup", "no requests would arrive after the %s warm-up: raise the later targets", dur(l.WarmUp))
		}
	}

	if v.ok("load.max_in_flight") && (l.MaxInFlight < 1 || l.MaxInFlight > maxInFlight) {
		v.fail("load.max_in_flight", "must be between 1 and %d, got %d", maxInFlight, l.MaxInFlight)
	}
	v.within("load.timeout", l.Timeout.Seconds(), Seconds, false, maxTimeout.Seconds())
	if v.ok("load.max_lag") && !(l.MaxLag > 0 && l.MaxLag <= maxLag) {
		v.fail("load.max_lag", "must be above 0%% and at most %s, got %s", Ratio.Format(maxLag), v.got("load.max_lag", l.MaxLag, Ratio))
	}
	return stagesOK
}

// given reports whether parent.field is set or was written, saying it is
// missing otherwise; false, silently, when it failed to decode.
func (v *validator) given(parent, field string, set bool, hint string) bool {
	p := join(parent, field)
	if v.ok(p) && !v.present(p, set) {
		v.missing(parent, field, hint)
		return false
	}
	return v.ok(p)
}

// within reports whether x, in unit u, is above 0 (or at it, with orZero)
// and at most hi, saying otherwise; false, silently, when path failed to decode.
func (v *validator) within(path string, x float64, u Unit, orZero bool, hi float64) bool {
	switch {
	case !v.ok(path):
		return false
	case orZero && !(x >= 0):
		v.fail(path, "must be >= 0, got %s", v.got(path, x, u))
	case !orZero && !(x > 0):
		v.fail(path, "must be > 0, got %s", v.got(path, x, u))
	case x > hi:
		v.fail(path, "must be at most %s, got %s", u.Format(hi), v.got(path, x, u))
	default:
		return true
	}
	return false
}

func dur(d time.Duration) string { return Seconds.Format(d.Seconds()) }

// oneOf reports whether x is one of xs, saying otherwise; noun names an x.
func oneOf[T ~string](v *validator, path, noun string, x T, xs []T) bool {
	if slices.Contains(xs, x) {
		return true
	}
	v.fail(path, "unknown %s %q: use one of %s", noun, x, list(xs))
	return false
}

func list[T ~string](xs []T) string {
	s := make([]string, len(xs))
	for i, x := range xs {
		s[i] = string(x)
	}
	return strings.Join(s, ", ")
}

// slo checks slos[i]; first maps names to the index that used them first.
func (v *validator) slo(i int, first map[string]int, loadOK bool) {
	s := v.spec.SLOs[i]
	p := fmt.Sprintf("slos[%d]", i)
	if !v.ok(p) {
		return
	}

	v.uniqueName(p, s.Name, "p95_latency", "a short id like p95_latency", "slos", i, first,
		func(j int) int { return v.spec.SLOs[j].Line })

	if v.ok(p+".scope") && s.Scope != Aggregate && s.Scope != PerInstance {
		v.fail(p+".scope", "unknown scope %q: use aggregate or per_instance", s.Scope)
	}

	if !v.given(p, "metric", s.Metric != "", "one of "+list(metrics)) || !oneOf(v, p+".metric", "metric", s.Metric, metrics) {
		return
	}

	qp := p + ".quantile"
	switch {
	case s.Metric != Latency:
		if v.present(qp, s.Quantile != 0) {
			v.fail(qp, "only applies to metric latency")
		}
	case !v.given(p, "quantile", s.Quantile != 0, "latency needs one, like quantile: 0.95"):
	case !(s.Quantile > 0 && s.Quantile < 1):
		v.fail(qp, "must be between 0 and 1 (exclusive), like 0.95, got %s", v.got(qp, s.Quantile, None))
	}

	rp := p + ".route"
	if v.ok(rp) && v.present(rp, s.Route != "") {
		switch {
		case s.Metric != ErrorRate && s.Metric != Latency && s.Metric != Throughput:
			v.fail(rp, "only applies to metrics error_rate, latency and throughput")
		case !routeRe.MatchString(s.Route) || len(s.Route) > maxRouteLen:
			v.fail(rp, "invalid route %q: use a route pattern like /tasks or /tasks/{id}", s.Route)
		case !v.routeUsed(s.Route):
			v.fail(rp, "no request of the workload goes to route %q, so the SLO would judge no requests: name the route of a template's path", s.Route)
		}
	}

	up, unitOK := p+".unit", true
	if s.Metric == Custom {
		if v.given(p, "query", s.Query != "", "a PromQL expression over [$window]") {
			v.query(p+".query", s.Query)
		}
		unitOK = v.given(p, "unit", s.Unit != "", "one of "+list(units.All)) && oneOf(v, up, "unit", s.Unit, units.All)
	} else {
		if v.present(p+".query", s.Query != "") {
			v.fail(p+".query", "only applies to metric custom")
		}
		_, written := v.spec.src[up]
		switch {
		case written:
			v.fail(up, "only applies to metric custom")
		case s.Unit != s.Metric.Unit():
			v.fail(up, "must be %q for metric %s, got %q", s.Metric.Unit(), s.Metric, s.Unit)
			unitOK = false
		}
	}
	if !unitOK {
		return
	}
	v.limits(p, s, loadOK)
}

// limits checks max and min against the metric's range and each other.
func (v *validator) limits(p string, s SLO, loadOK bool) {
	mp, np := p+".max", p+".min"
	if !v.ok(mp) || !v.ok(np) {
		return
	}
	if s.Max == nil && s.Min == nil {
		v.fail(p, "needs max, min or both")
		return
	}
	sound := true
	for _, l := range []struct {
		path  string
		x     *float64
		isMin bool
	}{{mp, s.Max, false}, {np, s.Min, true}} {
		if l.x == nil {
			continue
		}
		x, got := *l.x, v.got(l.path, *l.x, s.Unit)
		bad := ""
		switch {
		case math.IsNaN(x) || math.IsInf(x, 0):
			bad = "must be a finite number"
		case s.Metric == Custom:
			// Custom queries may measure anything, signed values included.
		case s.Metric == ErrorRate && !l.isMin && x < 0:
			bad = "must be >= 0" // max: 0% is a fair demand: no 5xx at all
		case (s.Metric != ErrorRate || l.isMin) && x <= 0:
			bad = "must be > 0"
		case s.Metric == ErrorRate && x > 1:
			bad = "must be at most 100%"
		}
		if bad != "" {
			v.fail(l.path, "%s, got %s", bad, got)
			sound = false
		}
	}
	if !sound {
		return
	}
	if s.Max != nil && s.Min != nil && *s.Min >= *s.Max {
		v.fail(np, "must be below max (%s), got %s", v.written(mp, *s.Max, s.Unit), v.got(np, *s.Min, s.Unit))
		return
	}
	// A throughput floor above every target can never be met: arrivals follow the stages.
	if s.Metric == Throughput && s.Min != nil && loadOK && *s.Min > v.spec.Load.peak() {
		v.fail(np, "must be at most the load's peak of %s, got %s", PerSecond.Format(v.spec.Load.peak()), v.got(np, *s.Min, s.Unit))
	}
}

// query checks a custom PromQL expression with $window standing in for the range.
func (v *validator) query(path, q string) {
	if !v.ok(path) {
		return
	}
	if strings.TrimSpace(q) == "" {
		v.fail(path, "must not be empty: write a PromQL expression over [$window]")
		return
	}
	for _, ph := range placeholderRe.FindAllString(q, -1) {
		if ph != WindowPlaceholder {
			v.fail(path, "unknown placeholder %q: only %s is replaced", ph, WindowPlaceholder)
			return
		}
	}
	if quotedWindow(q) {
		v.fail(path, "%s inside a quoted string: it is replaced as a range only, like rate(x[%s])", WindowPlaceholder, WindowPlaceholder)
		return
	}
	if !strings.Contains(q, WindowPlaceholder) {
		v.fail(path, "must use %s as the range, like rate(x[%s]), so it covers only the measured window", WindowPlaceholder, WindowPlaceholder)
	}
	expr, err := parseQuery(strings.ReplaceAll(q, WindowPlaceholder, windowForCheck))
	if err != nil {
		v.fail(path, "invalid PromQL: %v", err)
		return
	}
	switch t := expr.Type(); t {
	case parser.ValueTypeVector, parser.ValueTypeScalar:
	case parser.ValueTypeMatrix:
		v.fail(path, "must return an instant vector or a scalar, got a range vector: wrap it in a function like rate()")
	default:
		v.fail(path, "must return an instant vector or a scalar, got a %s", t)
	}
}

// quotedWindow reports whether $window is written inside a PromQL string.
func quotedWindow(q string) bool {
	var quote byte
	for i := 0; i < len(q); i++ {
		c := q[i]
		switch {
		case quote == 0 && (c == '"' || c == '\'' || c == '`'):
			quote = c
		case quote != 0 && c == '\\' && quote != '`':
			i++
		case quote != 0 && c == quote:
			quote = 0
		case quote != 0 && strings.HasPrefix(q[i:], WindowPlaceholder):
			return true
		}
	}
	return false
}

// routeUsed reports whether a template's path can be on route, a pattern
// like /tasks/{id}; true when the workload is not known yet, or a path
// begins with a placeholder and so could be anywhere.
func (v *validator) routeUsed(route string) bool {
	if !v.ok("workload") || len(v.spec.Workload) == 0 {
		return true
	}
	segs := strings.Split(route, "/")
	for i, seg := range segs {
		switch {
		case strings.HasPrefix(seg, "{") && strings.HasSuffix(seg, "...}"):
			segs[i] = ".*"
		case strings.HasPrefix(seg, "{") && strings.HasSuffix(seg, "}"), strings.HasPrefix(seg, ":"):
			segs[i] = "[^/]+"
		default:
			segs[i] = regexp.QuoteMeta(seg)
		}
	}
	onRoute := regexp.MustCompile("^" + strings.Join(segs, "/") + "/?$")
	for i, t := range v.spec.Workload {
		p, _, _ := strings.Cut(t.Path, "?")
		if !v.ok(fmt.Sprintf("workload[%d].path", i)) || p == "" || strings.HasPrefix(p, "${") {
			return true
		}
		parts, err := Placeholders(p)
		if err != nil {
			return true
		}
		var b strings.Builder
		for _, part := range parts {
			if part.Kind == Literal {
				b.WriteString(part.Lit)
			} else {
				b.WriteString("x")
			}
		}
		if onRoute.MatchString(b.String()) {
			return true
		}
	}
	return false
}

func parseQuery(q string) (expr parser.Expr, err error) {
	defer func() {
		if r := recover(); r != nil {
			expr, err = nil, fmt.Errorf("parser failed: %v", r)
		}
	}()
	return promql.ParseExpr(q)
}

// compare checks the compare section: a test that can reach its significance
// level, rounds that fit a CI job, and one budget in the bad direction per metric.
func (v *validator) compare() {
	c := v.spec.Compare
	if !v.ok("compare") {
		return
	}
	alphaOK := v.ok("compare.alpha")
	if alphaOK && !(c.Alpha > 0 && c.Alpha <= maxAlpha) {
		v.fail("compare.alpha", "must be above 0 and at most %s, like 0.05, got %s", None.Format(maxAlpha), v.got("compare.alpha", c.Alpha, None))
		alphaOK = false
	}
	v.pairs("compare.rounds", c.Rounds, alphaOK)
	if k := c.Contention; k != nil {
		if v.ok("compare.contention") && !slices.ContainsFunc(c.Metrics, func(b Budget) bool { return c.Contended(b.Metric) }) {
			v.fail("compare.contention", "no budgeted metric is read from the contention pairs, which would run for nothing: budget %s, or leave contention out", CompareWaitPerRequest)
		}
		v.pairs("compare.contention.rounds", k.Rounds, alphaOK)
		switch p, inFlight := "compare.contention.burst", v.spec.Load.MaxInFlight; {
		case !v.ok(p):
		case k.Burst < minBurst || k.Burst > maxBurst:
			v.fail(p, "must be between %d and %d arrivals at once, got %d", minBurst, maxBurst, k.Burst)
		case inFlight >= 1 && k.Burst > inFlight:
			v.fail(p, "%d arrivals at once exceed load.max_in_flight (%d): the rest of each burst would be dropped", k.Burst, inFlight)
		}
	}
	v.round()
	v.budgets()
}

// pairs checks a number of pairs of rounds: within bounds, and enough for
// the signed-rank test to ever reach alpha.
func (v *validator) pairs(p string, n int, alphaOK bool) {
	a := v.spec.Compare.Alpha
	switch {
	case !v.ok(p):
	case n < minRounds || n > MaxRounds:
		v.fail(p, "must be between %d and %d, got %d", minRounds, MaxRounds, n)
	case alphaOK && MinP(n) >= a:
		v.fail(p, "%d rounds can never reach p < %s: the smallest p of the signed-rank test over %d pairs is %.3g; use at least %d",
			n, None.Format(a), n, MinP(n), PairsNeeded(a))
	}
}

func (v *validator) round() {
	r, rounds := v.spec.Compare.Round, v.spec.Compare.Rounds
	const p = "compare.round"
	if !v.given("compare", "round", r.Rate != 0, "the load of one round, like {warmup: 2s, duration: 8s, rate: 100/s}") {
		return
	}
	sound := v.within(p+".warmup", r.WarmUp.Seconds(), Seconds, true, maxRoundWarmUp.Seconds())
	switch dp := p + ".duration"; {
	case v.ok(dp) && r.Duration < minRoundDuration:
		v.fail(dp, "must be at least %s, the measured part of a round after its warm-up, got %s",
			dur(minRoundDuration), v.got(dp, r.Duration.Seconds(), Seconds))
		sound = false
	case !v.within(dp, r.Duration.Seconds(), Seconds, false, maxRoundDuration.Seconds()):
		sound = false
	}
	if !v.given(p, "rate", r.Rate != 0, "the constant arrival rate of a round, like 100/s") ||
		!v.within(p+".rate", r.Rate, PerSecond, false, maxTarget) {
		sound = false
	}
	if !sound {
		return
	}
	if n := r.Requests(); n < minRoundRequests {
		v.fail(p, "plans %s requests per round (rate × duration): a p99 needs at least %d, so raise the rate or the duration",
			None.Format(math.Floor(n)), minRoundRequests)
	}
	if c := *v.spec.Compare; v.ok("compare.rounds") && rounds >= minRounds && rounds <= MaxRounds && c.Duration() > maxDuration {
		v.fail(p, "%d rounds of both builds at %s each last %s, over the %s limit: shorten the rounds or use fewer",
			c.Pairs(), dur(r.WarmUp+r.Duration), dur(c.Duration()), dur(maxDuration))
	}
}

func (v *validator) budgets() {
	c := v.spec.Compare
	const p = "compare.metrics"
	if !v.given("compare", "metrics", c.Metrics != nil, "budget at least one metric, like p95_latency: {max_increase: 10%}") {
		return
	}
	if len(c.Metrics) == 0 {
		v.fail(p, "is empty: budget at least one metric, or the comparison can never fail")
		return
	}
	first := map[string]int{}
	for i, b := range c.Metrics {
		bp := p + "." + b.Metric
		if !oneOf(v, fmt.Sprintf("%s[%d]", p, i), "metric", b.Metric, compareMetrics) {
			continue
		}
		if j, dup := first[b.Metric]; dup {
			if line := c.Metrics[j].Line; line > 0 {
				v.fail(fmt.Sprintf("%s[%d]", p, i), "duplicate metric %q (first at line %d)", b.Metric, line)
			} else {
				v.fail(fmt.Sprintf("%s[%d]", p, i), "duplicate metric %q (first at %s[%d])", b.Metric, p, j)
			}
			continue
		}
		first[b.Metric] = i
		if !v.ok(bp) {
			continue
		}
		want, wantX, otherX := "max_increase", b.MaxIncrease, b.MaxDecrease
		if b.Metric == CompareThroughput {
			want, wantX, otherX = "max_decrease", otherX, wantX
		}
		switch {
		case otherX != nil && b.Metric == CompareThroughput:
			v.fail(bp+".max_increase", "does not apply to throughput, where a drop is the regression: use max_decrease")
		case otherX != nil:
			v.fail(bp+".max_decrease", "only applies to throughput: a rise in %s is the regression, so use max_increase", b.Metric)
		}
		if wantX == nil {
			v.missing(bp, want, "how far it may get worse before a significant change fails, like 10%")
			continue
		}
		v.budget(bp+"."+want, b.Metric, *wantX)
	}
}

// budget checks one budget value: a ratio of the baseline, points for
// error_rate, or a growth or a wait in its own unit.
func (v *validator) budget(path, metric string, x float64) {
	if !v.ok(path) {
		return
	}
	u := budgetUnits[metric]
	if !u.Difference() {
		u = Ratio
	}
	got := v.got(path, x, u)
	switch {
	case math.IsNaN(x) || math.IsInf(x, 0):
		v.fail(path, "must be a finite number, got %s", got)
	case x == 0:
		v.fail(path, "must be > 0, got %s: a budget of nothing fails on noise alone", got)
	case x < 0:
		v.fail(path, "must be > 0, got %s", got)
	case metric == CompareErrorRate && x > 1:
		v.fail(path, "must be at most 100%% (percentage points of the error rate), got %s", got)
	case metric == CompareThroughput && x >= 1:
		v.fail(path, "must be below 100%%: throughput cannot fall by all of itself, got %s", got)
	case u.Difference():
		// no ceiling: the budget is absolute, and any finite one can fail
	case x >= maxBudget:
		v.fail(path, "must be below %s, got %s", Ratio.Format(maxBudget), got)
	}
}

// uniqueName checks the name of item i of list (an SLO, a template): given,
// lower_snake_case, and not taken by an earlier item; first maps the names
// seen so far to their items, and line gives an item's line (0 if unknown).
func (v *validator) uniqueName(p, name, example, hint, list string, i int, first map[string]int, line func(int) int) {
	switch {
	case !v.given(p, "name", name != "", hint):
	case !nameRe.MatchString(name) || len(name) > maxNameLen:
		v.fail(p+".name", "invalid name %q: use lower_snake_case like %s, at most %d characters", name, example, maxNameLen)
	default:
		j, dup := first[name]
		switch {
		case !dup:
			first[name] = i
		case line(j) > 0:
			v.fail(p+".name", "duplicate name %q (first at line %d)", name, line(j))
		default:
			v.fail(p+".name", "duplicate name %q (first at %s[%d])", name, list, j)
		}
	}
}
