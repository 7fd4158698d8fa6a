// Package report renders a gate run for people and machines: console table, JSON, Markdown, JUnit and HTML.
package report

import (
	"bytes"
	"fmt"
	"io"
	"math"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/perfgate/perfgate/perftest/internal/compare"
	"github.com/perfgate/perfgate/perftest/internal/verdict"
	"github.com/perfgate/perfgate/thresholds/units"
)

// Run is everything the gate knows about one run, as the reports show it.
type Run struct {
	Title                string // "perfgate: tasksvc x2"
	Started, Finished    time.Time
	WindowFrom, WindowTo time.Time // the measured window the queries covered (warm-up excluded)
	Result               verdict.Result
	Prometheus           string   // which Prometheus answered, e.g. "debian prometheus 2.42.0 (local image)"
	Service              string   // image tag or revision of the service under test
	ServiceArgs          []string // extra flags given to the replicas; fault injection shows here
	Client               ClientStats
	Timeline             []Point         // one per second of load
	Replicas             []ReplicaSeries // per-replica server figures over the run, one value per second
	Phases               []Phase         // build, images, stack, wait, load, query, teardown

	// Set when the candidate was also compared with a baseline build; the decision combines both verdicts.
	Baseline   string          // what the candidate was compared with, e.g. "merge-base 1a2b3c4"
	Comparison *compare.Result // nil in absolute mode
	Profiles   []ProfileDiff   // why the worse metrics grew, from profiled pairs run after the comparison
	Noise      []compare.Noise // the runner's noise from an A/A run, when measured

	// Decision is the verdict on the whole run, made once by Decide: every
	// renderer shows it and none decides again.
	Decision verdict.Decision
}

// ClientStats is the load generator's view of the measured window.
type ClientStats struct {
	Sent, OK, Errors, Dropped int64 // Errors are 5xx answers plus transport failures
	TargetRate, AchievedRate  float64
	P50, P95, P99, Max        time.Duration // from the intended send time
	ByStatus                  map[string]int64
	ByTemplate                []TemplateStats // one per request template of the workload, in workload order
}

// TemplateStats is the generator's view of one request template in the measured window.
type TemplateStats struct {
	Name          string
	Count, Errors int64
	// Planned requests were drawn as the template; FellBack of them went as
	// its fallback instead, for the reason Why (a pool it needs was empty).
	Planned, FellBack int64
	Why               string
	NotOK             int64 // expected answers that are not 2xx
	Strays            int64 // 404s to a value of a capture that is not sticky
	P50, P95, P99     time.Duration
}

// ProfileDiff says, for a compared metric, which functions' cost per request
// grew most between the builds, from pairs of rounds run with profiling after
// the comparison (never the ones it decided on).
type ProfileDiff struct {
	Metric  string        // the compared metric, like allocs_per_request
	Worse   bool          // the comparison found the metric worse; else it was profiled because profiling always runs
	Profile string        // the profiles it reads: cpu, allocs (the heap), goroutine or block
	Funcs   []ProfileFunc // above noise: the changed function that grew most with its callees, then the 3 that grew most on their own
	Why     string        // when Funcs is empty: why no function is named
	Command string        // the go tool pprof command that digs further, run in the report directory
	Pairs   int           // the profiled pairs it reads
}

// ProfileFunc is one function whose cost per request grew above noise.
type ProfileFunc struct {
	Name    string // as pprof's graphs label it: store.(*Store).Get
	Where   string // file:line, the repository's path when the pull request changed the file
	Changed bool   // the pull request changed its file
	Callees bool   // the cost counts everything it calls (cumulative), not only itself (flat)
	Copies  int    // differently named copies counted as this one (an inlined closure's); 0 for one
	// Baseline and Candidate are the cost per request in each build, in
	// Unit; Noun names what a plain number counts (allocs).
	Baseline, Candidate float64
	Unit                units.Unit
	Noun                string
	Text                string // the whole finding on one line, for text reports
}

// Cost formats a value per request in the function's unit: "+3 allocs".
func (f ProfileFunc) Cost(v float64, signed bool) string {
	s := f.Unit.Format(v)
	if signed && v > 0 {
		s = "+" + s
	}
	if f.Noun != "" {
		s += " " + f.Noun
	}
	return s
}

// per is what the diff's figures are per: a request, or 1,000 requests for
// what a build keeps (live heap, goroutines), as their growth metrics are.
func (d ProfileDiff) per() string {
	if d.kept() {
		return "per 1,000 requests"
	}
	return "per request"
}

func (d ProfileDiff) kept() bool { return len(d.Funcs) > 0 && d.Funcs[0].Unit.Growth() }

// keptIn says whether any diff is of what a build keeps.
func keptIn(ds []ProfileDiff) bool { return slices.ContainsFunc(ds, ProfileDiff.kept) }

// notWorse marks a diff of a metric that did not read worse, profiled
// because profiling always runs.
func (d ProfileDiff) notWorse() string {
	if d.Worse {
		return ""
	}
	return " (not worse; profiled always)"
}

// Text is the diff on one line per function, or why there is none.
func (d ProfileDiff) Text() []string {
	if len(d.Funcs) == 0 {
		return []string{d.Why}
	}
	out := make([]string, len(d.Funcs))
	for i, f := range d.Funcs {
		out[i] = f.Text
	}
	return out
}

// Notes are what a reader must know about how the template ran: that
// requests drawn as it went as its fallback, and why; that its answers were
// mostly misses.
func (t TemplateStats) Notes() []string {
	var out []string
	if t.FellBack > 0 {
		out = append(out, fmt.Sprintf("%d of the %d requests drawn as it went as its fallback: %s", t.FellBack, t.Planned, t.Why))
	}
	if note := t.MostlyNotOK(); note != "" {
		out = append(out, "warning: "+note)
	}
	if t.Strays >= 10 && 20*t.Strays >= t.Count {
		out = append(out, fmt.Sprintf("warning: %d of its %d answers were 404 Not Found to a captured value; "+
			"with replicas that do not share state, mark the capture sticky: true to send its values back to the replica that made them",
			t.Strays, t.Count))
	}
	return out
}

// MostlyNotOK says when most of a template's answers, though expected, are
// not 2xx (a 404 it allows): the run then measured mostly misses. "" when not.
func (t TemplateStats) MostlyNotOK() string {
	if t.Count < 20 || 2*t.NotOK <= t.Count {
		return ""
	}
	return fmt.Sprintf("%d of its %d answers were expected but not 2xx: the run measured mostly misses; "+
		"with replicas that do not share state, a captured value may go to one that never made it", t.NotOK, t.Count)
}

// ReplicaSeries is one replica's CPU (cores) and resident memory (bytes) per
// second of the run, at the seconds of Timeline; NaN where Prometheus had no sample.
type ReplicaSeries struct {
	Name     string
	CPU, RSS []float64
}

// Point is one second of the run.
type Point struct {
	T          float64 // seconds since load started
	TargetRate float64 // req/s the generator aimed at
	Rate       float64 // req/s it sent
	P50, P99   float64 // client-side p50 and p99 latency in ms; 0 when unknown
	P95        float64 // client-side p95 latency in ms
	Dropped    int64   // due in that second but never sent: max_in_flight was reached
	CPU        float64 // server CPU in cores over all replicas; NaN when unknown
	Errors     int64   // errors in that second
}

// Phase is one step of the gate and how long it took.
type Phase struct {
	Name     string
	Duration time.Duration
}

// Reporter writes one rendering of a run.
type Reporter func(io.Writer) error

// Files are the names WriteDir writes, in order; report.html, the one to open, comes last.
var Files = []string{"report.json", "report.md", "junit.xml", "report.html"}

// WriteDir writes report.json, report.md, junit.xml and report.html into dir,
// creating it when missing, and returns the paths written.
func WriteDir(dir string, r Run) ([]string, error) {
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return nil, fmt.Errorf("report: create %s: %w", dir, err)
	}
	reporters := []Reporter{JSON(r), Markdown(r), JUnit(r), HTML(r)}
	var paths []string
	for i, name := range Files {
		var buf bytes.Buffer
		if err := reporters[i](&buf); err != nil {
			return paths, fmt.Errorf("report: render %s: %w", name, err)
		}
		path := filepath.Join(dir, name)
		if err := os.WriteFile(path, buf.Bytes(), 0o644); err != nil {
			return paths, fmt.Errorf("report: %w", err)
		}
		paths = append(paths, path)
	}
	return paths, nil
}

// tally counts SLOs by their worst check: a breach outranks missing data,
// which outranks a wiring error.
type tally struct {
	slos, breached, noData, errored int
	checks, failed                  int
}

func count(cs []verdict.Check) tally {
	var t tally
	worst := map[string]int{}
	var order []string
	for _, c := range cs {
		t.checks++
		if !c.OK() {
			t.failed++
		}
		if _, ok := worst[c.Name]; !ok {
			order = append(order, c.Name)
			worst[c.Name] = rank(verdict.StatusPass)
		}
		worst[c.Name] = min(worst[c.Name], rank(c.Status))
	}
	t.slos = len(order)
	for _, name := range order {
		switch worst[name] {
		case rank(verdict.StatusFail):
			t.breached++
		case rank(verdict.StatusNoData):
			t.noData++
		case rank(verdict.StatusError):
			t.errored++
		}
	}
	return t
}

// rank orders statuses worst first.
func rank(s verdict.Status) int {
	switch s {
	case verdict.StatusFail:
		return 0
	case verdict.StatusNoData:
		return 1
	case verdict.StatusError:
		return 2
	case verdict.StatusPass:
		return 3
	}
	return 2
}

// headline is the verdict in a few words: "FAIL: 2 of 7 SLOs breached, 1 without data".
func headline(res verdict.Result) string {
	return joinHeadline(word(res.Verdict), sloDetail(res))
}

func word(v verdict.Verdict) string {
	if v == "" {
		return "NO VERDICT"
	}
	return strings.ToUpper(string(v))
}

func joinHeadline(word string, details ...string) string {
	var parts []string
	for _, d := range details {
		if d != "" {
			parts = append(parts, d)
		}
	}
	if len(parts) == 0 {
		return word
	}
	return word + ": " + strings.Join(parts, "; ")
}

// sloDetail says how the SLO checks went: "2 of 7 SLOs breached, 1 without data".
func sloDetail(res verdict.Result) string {
	t := count(res.Checks)
	switch res.Verdict {
	case verdict.Pass:
		return fmt.Sprintf("all %s met", plural(t.slos, "SLO"))
	case verdict.Inconclusive:
		d := "the load applied was not the load planned"
		if b := breaches(t); b != "" {
			d += "; " + b
		}
		return d
	}
	if t.slos == 0 {
		return "nothing was checked"
	}
	return breaches(t)
}

// breaches counts the SLOs that did not pass: "2 of 7 SLOs breached, 1 without data".
func breaches(t tally) string {
	var parts []string
	lead := func(n int, what string) {
		if len(parts) == 0 {
			parts = append(parts, fmt.Sprintf("%d of %s %s", n, plural(t.slos, "SLO"), what))
		} else {
			parts = append(parts, fmt.Sprintf("%d %s", n, what))
		}
	}
	if t.breached > 0 {
		lead(t.breached, "breached")
	}
	if t.noData > 0 {
		lead(t.noData, "without data")
	}
	if t.errored > 0 {
		lead(t.errored, "in error")
	}
	return strings.Join(parts, ", ")
}

func plural(n int, noun string) string {
	if n == 1 {
		return "1 " + noun
	}
	return fmt.Sprintf("%d %ss", n, noun)
}

// breachedFirst returns the checks with failures first, keeping their order otherwise.
func breachedFirst(cs []verdict.Check) []verdict.Check {
	out := slices.Clone(cs)
	slices.SortStableFunc(out, func(a, b verdict.Check) int { return rank(a.Status) - rank(b.Status) })
	return out
}

func statusWord(s verdict.Status) string {
	if s == verdict.StatusNoData {
		return "NO DATA"
	}
	return strings.ToUpper(string(s))
}

func instance(c verdict.Check) string {
	if c.Instance == "" {
		return "all"
	}
	return c.Instance
}

func observed(c verdict.Check) string {
	if !c.HasObserved {
		return "no data"
	}
	return c.Unit.Format(c.Observed)
}

func limit(c verdict.Check, le, ge string) string {
	switch c.Op {
	case "<=":
		return le + " " + c.Unit.Format(c.Limit)
	case ">=":
		return ge + " " + c.Unit.Format(c.Limit)
	}
	return ""
}

// caseNames names each check for JUnit and the like: "name", "name/instance",
// with " (max)" or " (min)" where an SLO has both bounds.
func caseNames(cs []verdict.Check) []string {
	base := make([]string, len(cs))
	seen := map[string]int{}
	for i, c := range cs {
		base[i] = c.Name
		if c.Instance != "" {
			base[i] += "/" + c.Instance
		}
		seen[base[i]]++
	}
	for i, c := range cs {
		if seen[base[i]] > 1 {
			switch c.Op {
			case "<=":
				base[i] += " (max)"
			case ">=":
				base[i] += " (min)"
			}
		}
	}
	return base
}

func dur(d time.Duration) string { return units.Seconds.Format(d.Seconds()) }

func rate(v float64) string { return units.PerSecond.Format(v) }

func share(part, whole int64) string {
	if whole <= 0 {
		return "n/a"
	}
	return units.Ratio.Format(float64(part) / float64(whole))
}

func totalPhases(ps []Phase) time.Duration {
	var total time.Duration
	for _, p := range ps {
		total += p.Duration
	}
	return total
}

// statuses lists the client's status counts in code order: "200 ×2,800".
func statuses(by map[string]int64, sep string) string {
	codes := make([]string, 0, len(by))
	for code := range by {
		codes = append(codes, code)
	}
	slices.Sort(codes)
	parts := make([]string, len(codes))
	for i, code := range codes {
		parts[i] = code + sep + strconv.FormatInt(by[code], 10)
	}
	return strings.Join(parts, ", ")
}

// window describes the measured window: "10:00:05–10:00:35 UTC (30s)".
func window(r Run) string {
	if r.WindowFrom.IsZero() || r.WindowTo.IsZero() {
		return "unknown"
	}
	from, to := r.WindowFrom.UTC(), r.WindowTo.UTC()
	layout := "15:04:05"
	if from.YearDay() != to.YearDay() || from.Year() != to.Year() {
		layout = "2006-01-02 15:04:05"
	}
	return fmt.Sprintf("%s %s–%s UTC (%s)", from.Format("2006-01-02"), from.Format("15:04:05"),
		to.Format(layout), dur(to.Sub(from)))
}

// percentile names a quantile the way charts label it: 0.95 → "p95", 0.999 → "p99.9".
func percentile(q float64) string {
	return "p" + strconv.FormatFloat(math.Round(q*1e6)/1e4, 'f', -1, 64)
}
