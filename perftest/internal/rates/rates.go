// Package rates records how each comparison of the regression corpus came out and counts detection and false-alarm rates over every batch.
package rates

import (
	"bufio"
	"bytes"
	"encoding/json"
	"fmt"
	"math"
	"os"
	"path/filepath"
	"slices"
	"sort"
	"strings"
	"text/tabwriter"

	"github.com/perfgate/perfgate/perftest/internal/compare"
	"github.com/perfgate/perfgate/perftest/internal/corpus"
	"github.com/perfgate/perfgate/perftest/internal/report"
	"github.com/perfgate/perfgate/thresholds"
)

// AA is the entry name of the A/A runs: the base against itself.
const AA = "aa"

// Record is one comparison of one entry, as a line of results.jsonl.
type Record struct {
	Batch    string `json:"batch"` // when the batch started, RFC 3339
	Entry    string `json:"entry"`
	Expect   string `json:"expect"` // "fail" or "pass"
	Base     string `json:"base"`   // the commit compared against
	Settings string `json:"settings"`
	Seed     uint64 `json:"seed"`
	Verdict  string `json:"verdict"` // pass, fail, inconclusive, or error when the run could not happen
	Error    string `json:"error,omitempty"`
	Rows     []Row  `json:"rows,omitempty"`
	// Noise names the neighbour that ran beside the comparison (see
	// Neighbours); "" is a quiet machine.
	Noise string `json:"noise,omitempty"`
	// Rounds ran, of which Unsound the generator could not vouch for, and
	// Reruns pairs that ran again for them.
	Rounds  int `json:"rounds,omitempty"`
	Unsound int `json:"unsound,omitempty"`
	Reruns  int `json:"reruns,omitempty"`
	// Why is what the profiled pairs named per metric, when they ran.
	Why []Why `json:"why,omitempty"`
}

// Why is one metric's profile diff: the functions that grew above noise,
// in the order the reports show them.
type Why struct {
	Metric string    `json:"metric"`
	Worse  bool      `json:"worse"`
	Funcs  []WhyFunc `json:"funcs"`
	Error  string    `json:"error,omitempty"` // why the diff could not be made
}

// WhyFunc is a function a diff named.
type WhyFunc struct {
	Name    string `json:"name"`
	Callees bool   `json:"callees,omitempty"` // named with everything it calls: the changed function that grew most
	Changed bool   `json:"changed,omitempty"`
}

// WhyOf is what a comparison's profile diffs named, for its record.
func WhyOf(diffs []report.ProfileDiff) []Why {
	var out []Why
	for _, d := range diffs {
		w := Why{Metric: d.Metric, Worse: d.Worse, Funcs: []WhyFunc{}}
		for _, f := range d.Funcs {
			w.Funcs = append(w.Funcs, WhyFunc{Name: f.Name, Callees: f.Callees, Changed: f.Changed})
		}
		if len(d.Funcs) == 0 && !strings.HasPrefix(d.Why, "no function grew above the noise") {
			w.Error = d.Why
		}
		out = append(out, w)
	}
	return out
}

// Row is one metric of a comparison; nil numbers were not finite.
type Row struct {
	Metric string   `json:"metric"`
	Status string   `json:"status"`
	Delta  *float64 `json:"delta"`
	Lo     *float64 `json:"lo"`
	Hi     *float64 `json:"hi"`
	P      *float64 `json:"p"`
}

// Settings names how a record was measured: records count together only when
// this matches. Budgets are not part of it: a record keeps every metric's
// change and p-value, so Tally judges it again under the budgets in force.
func Settings(c *thresholds.Compare) string {
	if c == nil {
		return "none"
	}
	// " duet": both rounds of a pair run at once. Records made before (one
	// round after the other) have no such word and count apart; likewise
	// " pinned": each replica on one CPU, shared alike by the two builds.
	// The contention pairs are not part of it: they add wait_per_request
	// and change nothing the evenly paced pairs read.
	return fmt.Sprintf("alpha=%g pairs=%d round=%s+%s@%g/s duet pinned", c.Alpha, c.Rounds, c.Round.WarmUp, c.Round.Duration, c.Round.Rate)
}

// GoRuntime are the compared metrics only a Go service's runtime feeds. The
// waits are counted here too: another language can export a pool's wait, but
// the reference service's counters are Go's (mutex wait, database/sql).
// queries_per_request is not: the reference service counts its own
// queries, as a service in any language can.
var GoRuntime = []string{thresholds.CompareAllocs, thresholds.CompareAllocBytes, thresholds.CompareGCPerRequest,
	thresholds.CompareHeapGrowth, thresholds.CompareGoroutineGrowth, thresholds.CompareWaitPerRequest}

// WithoutGoRuntime is c without its budgets on GoRuntime metrics: how a
// service that exports no Go runtime counters is judged. A record keeps every
// metric's change and p-value, so its other rows read the same.
func WithoutGoRuntime(c *thresholds.Compare) *thresholds.Compare {
	out := *c
	out.Metrics = slices.DeleteFunc(slices.Clone(c.Metrics), func(b thresholds.Budget) bool {
		return slices.Contains(GoRuntime, b.Metric)
	})
	return &out
}

// Judge is a record's verdict under c's budgets, from its rows alone, with
// compare's rule (compare.Budget.Worse); an inconclusive metric makes it
// inconclusive. A budgeted metric the record has no row of was not measured
// when the record was made (compare writes a row for every budget, even one
// without data): it is judged on the metrics it has, and Unjudged names the
// rest. It returns the verdict and the metrics that read worse.
func Judge(r Record, c *thresholds.Compare) (string, []string) {
	if r.Verdict == "error" {
		return "error", nil
	}
	rows := map[string]Row{}
	for _, row := range r.Rows {
		rows[row.Metric] = row
	}
	var worse []string
	unsure := false
	for _, b := range compare.Budgets(c) {
		row, ok := rows[b.Metric]
		if !ok {
			continue // measured before the metric existed: see Unjudged
		}
		if row.Status == string(compare.Inconclusive) || row.Delta == nil || row.P == nil {
			unsure = true
			continue
		}
		if b.Worse(*row.Delta, *row.P, c.Alpha) {
			worse = append(worse, b.Metric)
		}
	}
	switch {
	case len(worse) > 0:
		return "fail", worse
	case unsure:
		return "inconclusive", nil
	}
	return "pass", nil
}

// Unjudged are the metrics c budgets that r has no row of: it was made
// before they were measured.
func Unjudged(r Record, c *thresholds.Compare) []string {
	var out []string
	for _, b := range c.Metrics {
		if !slices.ContainsFunc(r.Rows, func(row Row) bool { return row.Metric == b.Metric }) {
			out = append(out, b.Metric)
		}
	}
	return out
}

// New makes the record of one comparison; err is why it could not run.
func New(batch, entry, expect, base string, c *thresholds.Compare, seed uint64, res compare.Result, err error) Record {
	r := Record{Batch: batch, Entry: entry, Expect: expect, Base: base, Settings: Settings(c), Seed: seed, Verdict: string(res.Verdict)}
	if err != nil {
		r.Verdict, r.Error = "error", err.Error()
		return r
	}
	for _, row := range res.Rows {
		r.Rows = append(r.Rows, Row{Metric: row.Metric, Status: string(row.Status),
			Delta: finite(row.Delta), Lo: finite(row.DeltaLo), Hi: finite(row.DeltaHi), P: finite(row.P)})
	}
	return r
}

func finite(v float64) *float64 {
	if math.IsNaN(v) || math.IsInf(v, 0) {
		return nil
	}
	return &v
}

// Outcome lists the metrics that did not read the same: "allocs_per_request worse +37%".
func (r Record) Outcome() string {
	if r.Error != "" {
		return r.Error
	}
	var parts []string
	for _, row := range r.Rows {
		if row.Status == string(compare.Same) {
			continue
		}
		d := ""
		if row.Delta != nil {
			d = " " + thresholds.Budget{Metric: row.Metric}.Unit().FormatDelta(*row.Delta)
		}
		parts = append(parts, row.Metric+" "+row.Status+d)
	}
	if len(parts) == 0 {
		return "no metric worse or better" // a change within its budget reads same, significant or not
	}
	return strings.Join(parts, ", ")
}

// Append adds r as one line to the file at path, creating it and its directory.
func Append(path string, r Record) error {
	line, err := json.Marshal(r)
	if err != nil {
		return err
	}
	if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
		return err
	}
	f, err := os.OpenFile(path, os.O_APPEND|os.O_CREATE|os.O_WRONLY, 0o644)
	if err != nil {
		return err
	}
	if _, err := f.Write(append(line, '\n')); err != nil {
		f.Close()
		return err
	}
	return f.Close()
}

// Read returns every record of the file at path; a missing file has none.
// A line that is not a record is an error naming its line.
func Read(path string) ([]Record, error) {
	data, err := os.ReadFile(path)
	if os.IsNotExist(err) {
		return nil, nil
	}
	if err != nil {
		return nil, err
	}
	var out []Record
	sc := bufio.NewScanner(bytes.NewReader(data))
	sc.Buffer(make([]byte, 1<<20), 1<<24)
	for n := 1; sc.Scan(); n++ {
		if len(bytes.TrimSpace(sc.Bytes())) == 0 {
			continue
		}
		var r Record
		dec := json.NewDecoder(bytes.NewReader(sc.Bytes()))
		dec.DisallowUnknownFields()
		if err := dec.Decode(&r); err != nil {
			return nil, fmt.Errorf("%s:%d: %w", path, n, err)
		}
		out = append(out, r)
	}
	return out, sc.Err()
}

// Tallied is one entry's count over the records made with one setting.
type Tallied struct {
	Name, Expect                   string
	Runs, Fail, Pass, Unsure, Errs int
	// Wrong are the runs that said the wrong thing outright: a pass (or an
	// inconclusive) for a regression, a fail for a change that must pass.
	Wrong  int
	Failed map[string]int // metric → runs in which it read worse
	// Rounds the comparisons ran, and Unsound of them the generator could
	// not vouch for (counted since records carry them).
	Rounds, Unsound int
}

// Tally counts the records made with c's settings beside the neighbour
// noise ("" for quiet) per entry, A/A first.
func Tally(recs []Record, c *thresholds.Compare, noise string) []Tallied {
	want := Settings(c)
	by := map[string]*Tallied{}
	for _, r := range recs {
		if r.Settings != want || r.Noise != noise {
			continue
		}
		t := by[r.Entry]
		if t == nil {
			t = &Tallied{Name: r.Entry, Expect: r.Expect, Failed: map[string]int{}}
			by[r.Entry] = t
		}
		t.Runs++
		t.Rounds += r.Rounds
		t.Unsound += r.Unsound
		v, worse := Judge(r, c)
		switch v {
		case "fail":
			t.Fail++
		case "pass":
			t.Pass++
		case "inconclusive":
			t.Unsure++
		default:
			t.Errs++
		}
		for _, m := range worse {
			t.Failed[m]++
		}
	}
	out := make([]Tallied, 0, len(by))
	for _, t := range by {
		if t.Expect == string(corpus.ExpectFail) {
			t.Wrong = t.Runs - t.Fail - t.Errs
		} else {
			t.Wrong = t.Fail
		}
		out = append(out, *t)
	}
	sort.Slice(out, func(i, j int) bool {
		if (out[i].Name == AA) != (out[j].Name == AA) {
			return out[i].Name == AA
		}
		return out[i].Name < out[j].Name
	})
	return out
}

// Table renders the tally as Markdown tables, one per neighbour the
// records were made beside, quiet first: per entry its true effect (from
// the corpus), how often it was caught (regressions) or failed (A/A and
// changes that must pass), which metrics failed, and the rounds the
// generator could not vouch for.
func Table(recs []Record, c *thresholds.Compare, entries []corpus.Entry) string {
	effects := map[string]*corpus.Effect{}
	for _, e := range entries {
		effects[e.Name] = e.Effect
	}
	noises := []string{""}
	for _, r := range recs {
		if r.Settings == Settings(c) && !slices.Contains(noises, r.Noise) {
			noises = append(noises, r.Noise)
		}
	}
	var b strings.Builder
	fmt.Fprintf(&b, "Measured with %s; judged with the budgets of the spec in force.\n", Settings(c))
	for _, noise := range noises {
		tally := Tally(recs, c, noise)
		if len(tally) == 0 {
			continue
		}
		where := "quiet machine"
		if noise != "" {
			where = "beside the neighbour " + noise
			if cmd, ok := Neighbours[noise]; ok {
				where += " (" + strings.Join(cmd, " ") + ")"
			}
		}
		fmt.Fprintf(&b, "\n%s:\n\n", where)
		tw := tabwriter.NewWriter(&b, 0, 0, 1, ' ', tabwriter.Debug)
		fmt.Fprintln(tw, "| entry\t expect\t true effect: allocs, bytes, CPU, p50 (per request)\t result\t inconclusive\t failed on\t unsound rounds\t")
		fmt.Fprintln(tw, "|---\t---\t---\t---\t---\t---\t---\t")
		for _, t := range tally {
			result := fmt.Sprintf("caught %d/%d", t.Fail, t.Runs-t.Errs)
			if t.Expect != string(corpus.ExpectFail) {
				what := "false alarms"
				if t.Name != AA {
					what = "failed"
				}
				result = fmt.Sprintf("%s %d/%d", what, t.Fail, t.Runs-t.Errs)
			}
			if t.Errs > 0 {
				result += fmt.Sprintf(" (+%d could not run)", t.Errs)
			}
			unsound := "—"
			if t.Rounds > 0 {
				unsound = fmt.Sprintf("%d of %d", t.Unsound, t.Rounds)
			}
			fmt.Fprintf(tw, "| %s\t %s\t %s\t %s\t %d\t %s\t %s\t\n", t.Name, t.Expect, effect(effects[t.Name], t.Name), result, t.Unsure, failedOn(t.Failed), unsound)
		}
		tw.Flush()
		if older := unjudged(recs, c, noise); older != "" {
			fmt.Fprintf(&b, "\n%s\n", older)
		}
		if why := WhyTable(recs, c, noise, entries); why != "" {
			fmt.Fprintf(&b, "\nWhat the profile diffs named, %s (a culprit counts in a diff of a metric that read worse):\n\n%s", where, why)
		}
	}
	return b.String()
}

// unjudged says how many of the records counted beside noise were made
// before some budgeted metrics were measured, and which: "" when none.
func unjudged(recs []Record, c *thresholds.Compare, noise string) string {
	n, total, metrics := 0, 0, []string{}
	for _, r := range recs {
		if r.Settings != Settings(c) || r.Noise != noise || r.Verdict == "error" {
			continue
		}
		total++
		if u := Unjudged(r, c); len(u) > 0 {
			n++
			for _, m := range u {
				if !slices.Contains(metrics, m) {
					metrics = append(metrics, m)
				}
			}
		}
	}
	if n == 0 {
		return ""
	}
	return fmt.Sprintf("%d of %d runs were recorded before %s were compared: they are judged on the metrics they measured.", n, total, strings.Join(metrics, ", "))
}

// Neighbours are the standard noisy neighbours `make perf-rates NOISE=name`
// starts beside every comparison: the command, run until the batch ends.
var Neighbours = map[string][]string{
	// What stalled the generator on these machines (package installs, race
	// builds and a large parse at once), made reproducible: two
	// memory-hungry processes, one per core, with 40% of memory each, two
	// fork-exec loops and a disk writer.
	"memhog": {"stress-ng", "--vm", "2", "--vm-bytes", "40%", "--vm-keep", "--exec", "2", "--hdd", "1"},
}

func effect(e *corpus.Effect, name string) string {
	if name == AA {
		return "none (the same commit)"
	}
	if e == nil {
		return "not measured"
	}
	var parts []string
	for _, m := range []string{"allocs_per_request", "alloc_bytes_per_request", "cpu_per_request", "p50_latency"} {
		if c := e.Metrics.Get(m); c != nil {
			parts = append(parts, fmt.Sprintf("%+.0f%%", float64(c.Change)*100))
		} else {
			parts = append(parts, "?")
		}
	}
	out := strings.Join(parts, ", ")
	if kept := e.Kept(); kept != "n/a" {
		out += "; kept per 1k requests: " + kept
	}
	return out
}

func failedOn(m map[string]int) string {
	if len(m) == 0 {
		return "—"
	}
	names := make([]string, 0, len(m))
	for k := range m {
		names = append(names, k)
	}
	slices.SortFunc(names, func(a, b string) int {
		if m[a] != m[b] {
			return m[b] - m[a]
		}
		return strings.Compare(a, b)
	})
	var parts []string
	for _, k := range names {
		parts = append(parts, fmt.Sprintf("%s ×%d", k, m[k]))
	}
	return strings.Join(parts, ", ")
}

// WhyTallied is one entry's count of its profile diffs, over the records made
// with one setting that ran profiled pairs.
type WhyTallied struct {
	Name, Expect string
	Profiled     int // runs whose profiled pairs ran and were diffed
	// For a regression: runs whose diff of a worse metric named a culprit
	// as the changed function that grew most with its callees (AsChanged),
	// among the 3 that grew most on their own (Top3), or either (Shown).
	AsChanged, Top3, Shown int
	// Spoke counts runs whose diffs named any function above noise; for A/A
	// and changes that must pass, each is a diff that said something.
	Spoke  int
	Errors int            // runs whose diff could not be made
	Named  map[string]int // function → runs in which a diff of a worse metric named it
}

// TallyWhy counts, per entry, what the profile diffs of the records made
// with c's settings beside noise named, against each entry's culprits.
func TallyWhy(recs []Record, c *thresholds.Compare, noise string, entries []corpus.Entry) []WhyTallied {
	culprits := map[string][]string{}
	for _, e := range entries {
		culprits[e.Name] = e.Culprits
	}
	want := Settings(c)
	by := map[string]*WhyTallied{}
	var order []string
	for _, r := range recs {
		if r.Settings != want || r.Noise != noise || len(r.Why) == 0 {
			continue
		}
		t := by[r.Entry]
		if t == nil {
			t = &WhyTallied{Name: r.Entry, Expect: r.Expect, Named: map[string]int{}}
			by[r.Entry] = t
			order = append(order, r.Entry)
		}
		t.Profiled++
		var asChanged, top3, spoke, failed bool
		named := map[string]bool{}
		for _, w := range r.Why {
			failed = failed || w.Error != ""
			spoke = spoke || len(w.Funcs) > 0
			if !w.Worse {
				continue
			}
			flat := 0
			for _, f := range w.Funcs {
				named[f.Name] = true
				hit := slices.Contains(culprits[r.Entry], f.Name)
				if f.Callees {
					asChanged = asChanged || hit
				} else {
					flat++
					top3 = top3 || (hit && flat <= 3)
				}
			}
		}
		for name := range named {
			t.Named[name]++
		}
		t.AsChanged += b2i(asChanged)
		t.Top3 += b2i(top3)
		t.Shown += b2i(asChanged || top3)
		t.Spoke += b2i(spoke)
		t.Errors += b2i(failed)
	}
	slices.SortFunc(order, func(a, b string) int {
		if (a == AA) != (b == AA) {
			if a == AA {
				return -1
			}
			return 1
		}
		return strings.Compare(a, b)
	})
	out := make([]WhyTallied, 0, len(order))
	for _, name := range order {
		out = append(out, *by[name])
	}
	return out
}

func b2i(b bool) int {
	if b {
		return 1
	}
	return 0
}

// WhyTable renders TallyWhy as Markdown: for each regression how often a
// diff of its worse metric named a culprit, for A/A and changes that must
// pass how often a diff named anything above noise; "" when no record ran
// profiled pairs.
func WhyTable(recs []Record, c *thresholds.Compare, noise string, entries []corpus.Entry) string {
	tally := TallyWhy(recs, c, noise, entries)
	if len(tally) == 0 {
		return ""
	}
	culprits := map[string][]string{}
	for _, e := range entries {
		culprits[e.Name] = e.Culprits
	}
	var b strings.Builder
	tw := tabwriter.NewWriter(&b, 0, 0, 1, ' ', tabwriter.Debug)
	fmt.Fprintln(tw, "| entry\t expect\t culprits\t profiled runs\t culprit named: as the changed function\t in the top 3 on their own\t either\t said something above noise\t most named\t")
	fmt.Fprintln(tw, "|---\t---\t---\t---\t---\t---\t---\t---\t---\t")
	for _, t := range tally {
		asChanged, top3, shown := "—", "—", "—"
		if t.Expect == string(corpus.ExpectFail) {
			asChanged, top3, shown = fmt.Sprintf("%d/%d", t.AsChanged, t.Profiled), fmt.Sprintf("%d/%d", t.Top3, t.Profiled), fmt.Sprintf("%d/%d", t.Shown, t.Profiled)
		}
		cs := "—"
		if len(culprits[t.Name]) > 0 {
			cs = "`" + strings.Join(culprits[t.Name], "`, `") + "`"
		}
		spoke := fmt.Sprintf("%d/%d", t.Spoke, t.Profiled)
		if t.Errors > 0 {
			spoke += fmt.Sprintf(" (%d could not diff)", t.Errors)
		}
		fmt.Fprintf(tw, "| %s\t %s\t %s\t %d\t %s\t %s\t %s\t %s\t %s\t\n", t.Name, t.Expect, cs, t.Profiled, asChanged, top3, shown, spoke, mostNamed(t.Named))
	}
	tw.Flush()
	return b.String()
}

// mostNamed lists the three functions named in the most runs.
func mostNamed(m map[string]int) string {
	if len(m) == 0 {
		return "—"
	}
	s := failedOn(m)
	if parts := strings.Split(s, ", "); len(parts) > 3 {
		s = strings.Join(parts[:3], ", ")
	}
	return s
}
