// Package profdiff tells, per request served, which functions' CPU time or
// allocations grew from a baseline build's pprof profiles to a candidate's,
// and whether each growth is clear of the rounds' noise. For what a build
// keeps (live heap, goroutines) it tells, per 1,000 requests served, where
// what the round left behind was allocated or is waiting.
//
// Each build brings profiles of paired rounds (round i of the baseline ran
// beside round i of the candidate) and the requests it served in each. A
// function's value per request in a build is its value summed over the
// build's rounds divided by the requests summed over them, as `go tool pprof`
// would show the merged profile; its growth is the candidate's minus the
// baseline's. Flat values count the samples whose innermost frame is the
// function; cumulative ones count every sample with the function anywhere on
// its stack, once. Inlined frames are functions of their own. Copies of one
// closure are one function: where the compiler inlines a function that
// returns a closure, it compiles a copy of the closure at each call site,
// each with a name of its own (api.(*API).Register.(*API).serial.func6,
// .func7, …), and a cost spread over the copies of a handler wrapper is one
// cost, of one piece of source. Copies are told by their file and first line
// within a build; across the builds functions are matched by name, since a
// pull request that adds a line above a function moves its first line.
//
// The noise rule: a growth is above noise when all of these hold.
//
//   - There are at least Options.MinPairs pairs of rounds.
//   - In every pair, the candidate round's value per request differs from the
//     baseline round's in the direction of the growth, by more than the
//     spread (largest minus smallest per-request value over the rounds) of
//     either build, whichever is larger.
//   - The growth is at least Options.MinShare of the larger build's total per
//     request.
//   - Where the profiles say what a sample stands for (their period), the
//     function's samples grew by more than Options.SamplesZ standard
//     deviations of a Poisson count: candidate − baseline samples over the
//     rounds > z·√(candidate + baseline). A sample of an allocation profile
//     is about one period of bytes allocated, so a 32-byte object's sample
//     counts as 512 allocations at a 16 KiB period.
//
// So a growth must show in every pair, beyond what repeating a build does.
// Between identical builds with normally distributed round values it fires for
// a function and direction 0.7% of the time with 3 pairs and 0.07% with 4; with
// 3 pairs it finds a shift of four standard deviations two times in three
// (simulated). benchmath's Wilcoxon test cannot reach p < 0.05 with fewer than
// 6 pairs, more than profiled rounds should cost. The share and the count
// keep sampling's grain from passing for a signal: a function in no baseline
// sample and in one sample of every candidate round is steady, yet says
// nothing. Before the count, A/A comparisons named such functions: +5µs a
// request in one CPU sample of 10ms a round, +1.9 allocations a request in
// a few more samples of small objects.
package profdiff

import (
	"cmp"
	"errors"
	"fmt"
	"math"
	"path"
	"slices"
	"strconv"
	"strings"

	"github.com/google/pprof/profile"

	"github.com/perfgate/perfgate/thresholds/units"
)

// Round is one profiled round of a build.
type Round struct {
	// Profile is a CPU profile taken over the round, or an allocation profile
	// reduced to what the round allocated (its end minus its start).
	Profile *profile.Profile
	// Requests is how many requests the build served during the round.
	Requests int64
}

// Input is what Diff compares.
type Input struct {
	// Baseline and Candidate hold the builds' rounds in the order they ran;
	// round i of each ran beside the other's.
	Baseline, Candidate []Round
	// Changed lists the repository-relative paths of the files the pull
	// request changed, such as service/internal/store/store.go.
	Changed []string
}

// Measure names a profile's sample type and how reports show its values.
type Measure struct {
	SampleType string     // as the profile names it: cpu, alloc_objects, alloc_space
	Unit       units.Unit // the unit values per request are kept and shown in
	Noun       string     // what a plain number counts, such as allocs
}

// The measures of Go's CPU, allocation, goroutine and block profiles. InuseSpace and
// Goroutines are kept, not spent: a round's profile of them is its end minus
// its start, negative where something was freed or ended, and their unit is
// per 1,000 requests, as the growth metrics they explain.
var (
	CPU          = Measure{SampleType: "cpu", Unit: units.Seconds}
	AllocObjects = Measure{SampleType: "alloc_objects", Unit: units.None, Noun: "allocs"}
	AllocSpace   = Measure{SampleType: "alloc_space", Unit: units.Bytes}
	InuseSpace   = Measure{SampleType: "inuse_space", Unit: units.BytesPer1k}
	Goroutines   = Measure{SampleType: "goroutine", Unit: units.Per1k, Noun: "goroutines"}
	// Delay is the time blocked on locks, channels and pooled connections,
	// from a block profile's change over the round, per request.
	Delay = Measure{SampleType: "delay", Unit: units.Waited, Noun: "waited"}
)

// kept says m counts what a build keeps, so a round's value may be negative.
func (m Measure) kept() bool { return m.Unit.Growth() }

// factor is what one unit of a profile's sample values is in m.Unit.
func (m Measure) factor(sampleUnit string) (float64, bool) {
	switch {
	case (m.Unit == units.Seconds || m.Unit == units.Waited) && sampleUnit == "nanoseconds":
		return 1e-9, true
	case m.Unit == units.Bytes && sampleUnit == "bytes", m.Unit == units.None && sampleUnit == "count":
		return 1, true
	case m.Unit == units.BytesPer1k && sampleUnit == "bytes", m.Unit == units.Per1k && sampleUnit == "count":
		return 1000, true // per request is per 1,000 requests / 1,000
	}
	return 0, false
}

// Options tune the noise rule of the package doc.
type Options struct {
	MinPairs int     // the fewest pairs of rounds that can show a growth above noise
	MinShare float64 // the smallest growth above noise, as a share of a build's total
	// SamplesZ is how many standard deviations of a Poisson count the growth
	// in samples must clear, where a profile gives its period (10ms of CPU,
	// 512KiB allocated); 0 asks nothing of the count.
	SamplesZ float64
}

// DefaultOptions asks for 3 pairs, a growth of at least 1% of the total and
// a count of samples 3 standard deviations clear of sampling's own noise.
var DefaultOptions = Options{MinPairs: 3, MinShare: 0.01, SamplesZ: 3}

// Kind chooses between flat and cumulative values.
type Kind int

// The kinds of value a function has.
const (
	Flat Kind = iota // in the function itself
	Cum              // in the function and everything it calls
)

// Change is how one value per request moved from the baseline to the candidate.
type Change struct {
	Baseline, Candidate float64 // per request, over all of the build's rounds
	Growth              float64 // Candidate − Baseline
	AboveNoise          bool    // by the rule in the package doc
}

// Func is one function's values in both builds.
type Func struct {
	Name    string // as go tool pprof prints it, type arguments shown as [...]; of copies, the shortest
	Copies  int    // the differently named copies counted as this one, an inlined closure's; 0 for one name
	File    string // as the profile names it
	Line    int64  // the line whose cumulative value grew most, else the function's first
	Changed string // the changed path File ends with, or "" when the PR did not touch it
	Flat    Change
	Cum     Change
}

// Value is f's change of the given kind.
func (f Func) Value(k Kind) Change {
	if k == Cum {
		return f.Cum
	}
	return f.Flat
}

// Result is the diff of one measure.
type Result struct {
	Measure             Measure
	Pairs               int     // pairs of rounds compared
	Baseline, Candidate float64 // each build's total per request
	Funcs               []Func  // every function seen, by name
}

// Diff compares the builds' functions by measure m, per request.
func Diff(in Input, m Measure, o Options) (Result, error) {
	n := len(in.Baseline)
	switch {
	case n == 0:
		return Result{}, errors.New("no profiled rounds: profile at least one pair")
	case len(in.Candidate) != n:
		return Result{}, fmt.Errorf("%d baseline rounds but %d candidate rounds: rounds are compared in pairs", n, len(in.Candidate))
	}
	t := &tally{funcs: map[key]*fn{}, alias: copiesOf(in)}
	for b, rounds := range [2][]Round{in.Baseline, in.Candidate} {
		t.requests[b] = make([]float64, n)
		t.total[b] = make([]float64, n)
		for i, r := range rounds {
			if err := t.add(b, i, r, m); err != nil {
				return Result{}, fmt.Errorf("%s round %d: %w", side(b), i+1, err)
			}
		}
		if sum(t.total[b]) == 0 && !m.kept() { // keeping nothing is an answer
			return Result{}, fmt.Errorf("%s: no %s samples in any of %d rounds: was the profiler on while requests were served?", side(b), m.SampleType, n)
		}
	}
	res := Result{Measure: m, Pairs: n, Baseline: t.perRequest(0, t.total[0]), Candidate: t.perRequest(1, t.total[1])}
	floor := o.MinShare * max(math.Abs(res.Baseline), math.Abs(res.Candidate))
	for k, f := range t.funcs {
		out := Func{Name: k.name, File: k.file, Changed: changedPath(k.file, in.Changed)}
		out.Flat = t.change(f.flat, floor, o.MinPairs)
		out.Cum = t.change(f.cum, floor, o.MinPairs)
		if t.counted {
			out.Flat.AboveNoise = out.Flat.AboveNoise && countsGrew(f.flatN, f.flatV, out.Flat.Growth, o.SamplesZ)
			out.Cum.AboveNoise = out.Cum.AboveNoise && countsGrew(f.cumN, f.cumV, out.Cum.Growth, o.SamplesZ)
		}
		out.Line = t.line(f, out.Cum.Growth)
		if len(f.names) > 1 {
			out.Copies = len(f.names)
		}
		res.Funcs = append(res.Funcs, out)
	}
	slices.SortFunc(res.Funcs, func(a, b Func) int {
		return cmp.Or(cmp.Compare(a.Name, b.Name), cmp.Compare(a.File, b.File))
	})
	return res, nil
}

// Top is the n functions whose value of kind k grew most, largest growth
// first; functions that did not grow are left out.
func (r Result) Top(k Kind, n int) []Func {
	var grew []Func
	for _, f := range r.Funcs {
		if f.Value(k).Growth > 0 {
			grew = append(grew, f)
		}
	}
	slices.SortStableFunc(grew, func(a, b Func) int { return cmp.Compare(b.Value(k).Growth, a.Value(k).Growth) })
	return grew[:max(0, min(n, len(grew)))]
}

// Line renders f's growth of kind k for a report: "+3 allocs/request in
// store.(*Store).Get (service/internal/store/store.go:142, changed in this PR)".
func (r Result) Line(f Func, k Kind) string {
	c := f.Value(k)
	v := r.Measure.Unit.Format(c.Growth)
	if c.Growth > 0 {
		v = "+" + v
	}
	if r.Measure.Noun != "" {
		v += " " + r.Measure.Noun
	}
	s := v + "/request in " + ShortName(f.Name)
	if r.Measure.kept() {
		s = v + " kept in " + ShortName(f.Name) // the unit says per 1,000 requests
	}
	if k == Cum {
		s += " and its callees"
	}
	var notes []string
	if file := cmp.Or(f.Changed, f.File); file != "" {
		if f.Line > 0 {
			file += ":" + strconv.FormatInt(f.Line, 10)
		}
		notes = append(notes, file)
	}
	if f.Changed != "" {
		notes = append(notes, "changed in this PR")
	}
	if f.Copies > 1 {
		notes = append(notes, strconv.Itoa(f.Copies)+" inlined copies")
	}
	if !c.AboveNoise {
		notes = append(notes, "not above noise")
	}
	if len(notes) > 0 {
		s += " (" + strings.Join(notes, ", ") + ")"
	}
	return s
}

// ShortName drops the directories of a function's package path, as go tool
// pprof's graphs label it: github.com/x/y/store.(*Store).Get reads
// store.(*Store).Get.
func ShortName(name string) string {
	if i := strings.LastIndex(name, "/"); i >= 0 {
		return name[i+1:]
	}
	return name
}

// readable shows a generic instantiation's type arguments as [...], the way
// Go's runtime names it in profiles: pkg.Map[go.shape.int,go.shape.string]
// reads pkg.Map[...].
func readable(name string) string {
	var b strings.Builder
	depth := 0
	for _, r := range name {
		switch {
		case r == '[':
			if depth == 0 {
				b.WriteString("[...]")
			}
			depth++
		case r == ']' && depth > 0:
			depth--
		case depth == 0:
			b.WriteRune(r)
		}
	}
	return b.String()
}

type key struct{ name, file string }

// copiesOf maps the name of each copy of an inlined closure to the copy
// with the shortest name (the first in sort order of those): within one
// build, functions of one file that start on one line under different names
// are copies of one closure.
func copiesOf(in Input) map[key]key {
	parent := map[key]key{}
	var root func(key) key
	root = func(k key) key {
		p, ok := parent[k]
		if !ok || p == k {
			return k
		}
		r := root(p)
		parent[k] = r
		return r
	}
	shorter := func(a, b key) bool { return len(a.name) < len(b.name) || len(a.name) == len(b.name) && a.name < b.name }
	type place struct {
		file  string
		start int64
	}
	for _, rounds := range [2][]Round{in.Baseline, in.Candidate} {
		first := map[place]key{}
		for _, r := range rounds {
			if r.Profile == nil {
				continue
			}
			for _, f := range r.Profile.Function {
				k := key{readable(cmp.Or(f.Name, f.SystemName)), f.Filename}
				if k.name == "" || f.Filename == "" || f.StartLine <= 0 {
					continue
				}
				at := place{f.Filename, f.StartLine}
				o, ok := first[at]
				if !ok {
					first[at] = k
					continue
				}
				a, b := root(o), root(k)
				if a == b {
					continue
				}
				if shorter(b, a) {
					a, b = b, a
				}
				parent[a], parent[b] = a, a
			}
		}
	}
	alias := map[key]key{}
	for k := range parent {
		if r := root(k); r != k {
			alias[k] = r
		}
	}
	return alias
}

// fn is one function's raw values: per build, per round; lines per build.
type fn struct {
	names       map[string]bool // the names its copies go by
	flat, cum   [2][]float64
	flatN, cumN [2]float64           // samples over all rounds, where the profiles give their period
	flatV, cumV [2]float64           // the same samples counted unsigned: their Poisson variance
	lines       [2]map[int64]float64 // cumulative value by line, over all rounds
	start       int64
}

type tally struct {
	funcs           map[key]*fn
	alias           map[key]key // a closure's copies to the one they count as
	requests, total [2][]float64
	// counted says every profile gave its period, so each function's
	// samples are known (flatN, cumN).
	counted bool
}

func (t *tally) fn(k key, n int) *fn {
	f := t.funcs[k]
	if f == nil {
		f = &fn{names: map[string]bool{}}
		for b := range f.flat {
			f.flat[b], f.cum[b] = make([]float64, n), make([]float64, n)
			f.lines[b] = map[int64]float64{}
		}
		t.funcs[k] = f
	}
	return f
}

// add counts round i of build b.
func (t *tally) add(b, i int, r Round, m Measure) error {
	p := r.Profile
	switch {
	case p == nil:
		return errors.New("no profile")
	case r.Requests <= 0:
		return fmt.Errorf("%d requests served: values per request need at least one", r.Requests)
	}
	if err := p.CheckValid(); err != nil {
		return fmt.Errorf("malformed profile: %w", err)
	}
	idx := slices.IndexFunc(p.SampleType, func(v *profile.ValueType) bool { return v.Type == m.SampleType })
	if idx < 0 {
		var have []string
		for _, v := range p.SampleType {
			have = append(have, v.Type)
		}
		return fmt.Errorf("no %s samples: the profile has [%s]; is it the right kind of profile?", m.SampleType, strings.Join(have, " "))
	}
	factor, ok := m.factor(p.SampleType[idx].Unit)
	if !ok {
		return fmt.Errorf("%s samples are in %s, which is not %s", m.SampleType, p.SampleType[idx].Unit, m.Unit)
	}
	n := len(t.total[b])
	t.requests[b][i] = float64(r.Requests)
	// A sample is one period of the type the profile samples by. The
	// measure's own values count its samples where they are in the period's
	// unit (cpu, alloc_space, inuse_space, goroutine); allocations counted in
	// objects are sampled by the bytes allocated (alloc_space).
	counts := -1
	if pt := p.PeriodType; pt != nil && p.Period > 0 {
		of := func(typ string) int {
			return slices.IndexFunc(p.SampleType, func(v *profile.ValueType) bool { return v.Unit == pt.Unit && v.Type == typ })
		}
		if counts = of(m.SampleType); counts < 0 {
			counts = of("alloc_space")
		}
	}
	if b == 0 && i == 0 {
		t.counted = counts >= 0
	}
	t.counted = t.counted && counts >= 0
	type at struct {
		f    *fn
		line int64 // -1 for the function as a whole
	}
	seen := map[at]bool{}
	for _, s := range p.Sample {
		v := float64(s.Value[idx]) * factor
		if v < 0 && !m.kept() {
			return fmt.Errorf("a negative %s value, %d: a delta taken from snapshots out of order, or across a restart?", m.SampleType, s.Value[idx])
		}
		if v == 0 {
			continue
		}
		t.total[b][i] += v
		samples := 0.0
		if counts >= 0 {
			samples = float64(s.Value[counts]) / float64(p.Period)
		}
		clear(seen)
		for depth, fr := range frames(s.Location) {
			f := t.fn(cmp.Or(t.alias[fr.key], fr.key), n)
			f.names[fr.key.name] = true
			f.start = cmp.Or(f.start, fr.start)
			if depth == 0 {
				f.flat[b][i] += v
				f.flatN[b] += samples
				f.flatV[b] += math.Abs(samples)
			}
			if !seen[at{f, -1}] {
				f.cum[b][i] += v
				f.cumN[b] += samples
				f.cumV[b] += math.Abs(samples)
			}
			if !seen[at{f, fr.line}] {
				f.lines[b][fr.line] += v
			}
			seen[at{f, -1}], seen[at{f, fr.line}] = true, true
		}
	}
	return nil
}

type frame struct {
	key         key
	line, start int64
}

// frames lists a stack's frames innermost first, inlined ones included.
func frames(locs []*profile.Location) []frame {
	var out []frame
	for _, loc := range locs {
		addr := key{name: fmt.Sprintf("%#x", loc.Address)}
		if len(loc.Line) == 0 {
			out = append(out, frame{key: addr})
		}
		for _, ln := range loc.Line {
			fr := frame{key: addr}
			if f := ln.Function; f != nil {
				fr = frame{key{readable(cmp.Or(f.Name, f.SystemName, addr.name)), f.Filename}, ln.Line, f.StartLine}
			}
			out = append(out, fr)
		}
	}
	return out
}

// perRequest is build b's raw values summed, per request served.
func (t *tally) perRequest(b int, raw []float64) float64 { return sum(raw) / sum(t.requests[b]) }

// change compares a function's raw round values in both builds.
func (t *tally) change(raw [2][]float64, floor float64, minPairs int) Change {
	c := Change{Baseline: t.perRequest(0, raw[0]), Candidate: t.perRequest(1, raw[1])}
	c.Growth = c.Candidate - c.Baseline
	var rounds [2][]float64
	for b := range raw {
		for i, v := range raw[b] {
			rounds[b] = append(rounds[b], v/t.requests[b][i])
		}
	}
	c.AboveNoise = aboveNoise(rounds[0], rounds[1], c.Growth, floor, minPairs)
	return c
}

// aboveNoise is the rule of the package doc over paired per-request values.
func aboveNoise(base, cand []float64, growth, floor float64, minPairs int) bool {
	if len(base) < max(minPairs, 1) || growth == 0 || math.Abs(growth) < floor {
		return false
	}
	spread := max(slices.Max(base)-slices.Min(base), slices.Max(cand)-slices.Min(cand))
	sign := math.Copysign(1, growth)
	for i := range base {
		if (cand[i]-base[i])*sign <= spread {
			return false
		}
	}
	return true
}

// countsGrew says whether a function's samples, summed over each build's
// rounds, moved in the direction of growth by more than z standard
// deviations of a Poisson count. n sums the samples signed, as a kept
// measure's frees count against its allocations; v sums them unsigned,
// each one a draw of the sampling whatever its sign.
func countsGrew(n, v [2]float64, growth, z float64) bool {
	moved := (n[1] - n[0]) * math.Copysign(1, growth)
	return moved > z*math.Sqrt(v[0]+v[1])
}

// line is the line of f whose cumulative value per request moved most in the
// direction of growth; the function's first line when no line is known.
func (t *tally) line(f *fn, growth float64) int64 {
	reqs := [2]float64{sum(t.requests[0]), sum(t.requests[1])}
	best, bestMove := int64(0), math.Inf(-1)
	for b := range f.lines {
		for l := range f.lines[b] {
			move := (f.lines[1][l]/reqs[1] - f.lines[0][l]/reqs[0]) * math.Copysign(1, growth)
			if l > 0 && (move > bestMove || move == bestMove && l < best) {
				best, bestMove = l, move
			}
		}
	}
	return cmp.Or(best, f.start)
}

// changedPath is the longest of the changed paths, cleaned, that file (an
// absolute build path or a module path) ends with; "" when there is none.
func changedPath(file string, changed []string) string {
	file, best := strings.ReplaceAll(file, `\`, "/"), ""
	for _, c := range changed {
		c = strings.TrimPrefix(path.Clean("/"+strings.ReplaceAll(c, `\`, "/")), "/")
		if c != "" && (file == c || strings.HasSuffix(file, "/"+c)) && len(c) > len(best) {
			best = c
		}
	}
	return best
}

func side(b int) string { return [...]string{"baseline", "candidate"}[b] }

func sum(vs []float64) float64 {
	var s float64
	for _, v := range vs {
		s += v
	}
	return s
}
