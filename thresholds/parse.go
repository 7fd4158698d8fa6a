package thresholds

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"regexp"
	"slices"
	"strconv"
	"strings"

	"gopkg.in/yaml.v3"
)

// maxFileSize bounds the input: a spec is a page of YAML, not a data file.
const maxFileSize = 1 << 20

// gone are fields earlier versions of the spec read, with what to write instead.
var gone = map[string]string{
	"load.mix": "is no longer read: write the requests as a top-level workload: list of templates instead (see thresholds/slo.yaml)",
}

// ParseFile reads and parses the spec at path.
func ParseFile(path string) (*Spec, error) {
	return ParseFileContext(context.Background(), path)
}

// ParseFileContext reads and parses the spec at path, giving up when ctx ends.
func ParseFileContext(ctx context.Context, path string) (*Spec, error) {
	data, err := ReadFile(path)
	if err != nil {
		return nil, err
	}
	return ParseContext(ctx, path, data)
}

// ReadFile reads the spec at path, or as much past maxFileSize as tells
// Parse it is too big: a spec is never read whole when it is /dev/zero.
func ReadFile(path string) ([]byte, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, fmt.Errorf("read SLO spec: %w", err)
	}
	defer f.Close()
	data, err := io.ReadAll(io.LimitReader(f, maxFileSize+1))
	if err != nil {
		return nil, fmt.Errorf("read SLO spec: %w", err)
	}
	return data, nil
}

// Parse decodes and validates a spec. filename is used in messages only.
// On failure the error is an Errors holding every problem found.
func Parse(filename string, data []byte) (*Spec, error) {
	return ParseContext(context.Background(), filename, data)
}

// ParseContext is Parse that gives up when ctx ends, with ctx's error.
func ParseContext(ctx context.Context, filename string, data []byte) (*Spec, error) {
	d := newDecoder(ctx, filename, "spec", "version, load and slos")
	s := &Spec{File: filename, src: d.src, Load: DefaultLoad}
	if root := d.document(data); root != nil {
		d.object(root, place{want: "a mapping with " + d.needs}, s)
		v := &validator{spec: s, bad: d.bad}
		v.run()
		d.errs = append(d.errs, v.errs...)
	}
	if err := ctx.Err(); err != nil {
		return nil, fmt.Errorf("%s: not parsed: %w", filename, err)
	}
	if err := d.errs.err(); err != nil {
		return nil, err
	}
	return s, nil
}

var yamlPrefix = regexp.MustCompile(`^yaml: (line \d+: )?`)

// document parses data into the root node, or records why it cannot.
func (d *decoder) document(data []byte) (root *yaml.Node) {
	if len(data) > maxFileSize {
		d.failAt(0, 0, "", "is larger than %d bytes, the most a spec may be", maxFileSize)
		return nil
	}
	// yaml.v3 is not known to panic on any input, but a spec must never take the gate down.
	defer func() {
		if r := recover(); r != nil {
			d.failAt(0, 0, "", "invalid YAML: %v", r)
			root = nil
		}
	}()
	in := &reader{ctx: d.ctx, data: data, total: &d.read}
	dec := yaml.NewDecoder(in)
	var doc yaml.Node
	if err := dec.Decode(&doc); err != nil && !errors.Is(err, io.EOF) {
		d.syntax(data, in.line(), err)
		return nil
	}
	if doc.Kind != yaml.DocumentNode || len(doc.Content) == 0 {
		d.failAt(1, 1, "", "is empty: write %s", d.needs)
		return nil
	}
	var next yaml.Node
	switch err := dec.Decode(&next); {
	case errors.Is(err, io.EOF):
	case err != nil:
		d.syntax(data, in.line(), err)
		return nil
	default:
		d.failAt(next.Line, next.Column, "", "holds a second YAML document: keep the whole %s in one", d.kind)
		return nil
	}
	return doc.Content[0]
}

// syntax records a YAML syntax error. yaml.v3 reports the line where the
// enclosing block starts, counted from 0 for some errors, which can be far
// before the fault; read is the line yaml.v3 had read up to when it stopped,
// at or a little after the fault. The fault is the first of the few lines
// before read whose prefix of the document fails alike: a handful of linear
// parses, never one per line.
func (d *decoder) syntax(data []byte, read int, err error) {
	if d.ctx.Err() != nil {
		return
	}
	problem := yamlProblem(err)
	line := read
	starts := lineStarts(data)
	for k := read - 1; k >= 1 && k >= read-maxSearchLines; k-- {
		if d.ctx.Err() != nil {
			return
		}
		if err := d.decodeAll(data[:starts[k]]); err == nil || yamlProblem(err) != problem {
			break
		}
		line = k
	}
	if line >= 1 && line <= len(starts) {
		text, _, _ := bytes.Cut(data[starts[line-1]:], []byte("\n"))
		indent := text[:len(text)-len(bytes.TrimLeft(text, " \t"))]
		if i := bytes.IndexByte(indent, '\t'); i >= 0 {
			d.failAt(line, i+1, "", "invalid YAML: a tab in the indentation: tabs are not allowed for indentation, use spaces")
			return
		}
	}
	d.failAt(line, 0, "", "invalid YAML: %s", problem)
}

// yamlProblem is yaml.v3's "yaml: line N: problem" without its prefix.
func yamlProblem(err error) string {
	return yamlPrefix.ReplaceAllString(err.Error(), "")
}

// maxSearchLines bounds how many lines before the one yaml.v3 stopped at
// syntax searches for the fault: each costs a parse of the document so far.
const maxSearchLines = 4

// lineStarts returns the offset of the start of each line, and one past the
// end: line k (from 1) is data[starts[k-1]:starts[k]].
func lineStarts(data []byte) []int {
	starts := []int{0}
	for i, c := range data {
		if c == '\n' {
			starts = append(starts, i+1)
		}
	}
	if starts[len(starts)-1] != len(data) {
		starts = append(starts, len(data))
	}
	return starts
}

// decodeAll parses every document in data, for syntax.
func (d *decoder) decodeAll(data []byte) error {
	dec := yaml.NewDecoder(&reader{ctx: d.ctx, data: data, total: &d.read})
	for {
		var n yaml.Node
		if err := dec.Decode(&n); err != nil {
			if errors.Is(err, io.EOF) {
				return nil
			}
			return err
		}
	}
}

// reader hands yaml.v3 the spec a byte at a time, so that when it stops on
// an error, what it has read says how far it got; and it ends the parse with
// ctx's error when ctx ends.
type reader struct {
	ctx   context.Context
	data  []byte
	off   int
	total *int // bytes read by every reader of one parse
}

func (r *reader) Read(p []byte) (int, error) {
	if r.off&0xfff == 0 && r.ctx.Err() != nil {
		return 0, r.ctx.Err()
	}
	if r.off >= len(r.data) {
		return 0, io.EOF
	}
	if len(p) == 0 {
		return 0, nil
	}
	p[0] = r.data[r.off]
	r.off++
	*r.total++
	return 1, nil
}

// line is the line, from 1, of the last byte read.
func (r *reader) line() int {
	return 1 + bytes.Count(r.data[:max(r.off-1, 0)], []byte("\n"))
}

// maxEcho is how much of a value a message quotes back.
const maxEcho = 64

// clip shortens the string arguments a message quotes back (its %q verbs)
// to maxEcho runes: a 900 KB name is not echoed whole. Hints, passed with
// %s, are the program's own words and stay whole.
func clip(format string, args []any) []any {
	n := 0
	for _, verb := range fmtVerb.FindAllString(format, -1) {
		if strings.HasSuffix(verb, "%") || n >= len(args) {
			continue
		}
		if s, ok := args[n].(string); ok && strings.HasSuffix(verb, "q") {
			args[n] = clipped(s, maxEcho)
		}
		n++
	}
	return args
}

// fmtVerb matches a verb of a fmt format, %% included.
var fmtVerb = regexp.MustCompile(`%[-+# 0-9.]*[^-+# 0-9.]`)

// quote is strconv.Quote of s clipped, for values a message quotes back.
func quote(s string) string { return strconv.Quote(clipped(s, maxEcho)) }

// spelling is how a limit is written and whether a plain number will do.
type spelling struct {
	want  string
	plain bool
}

// unitSpellings say how a limit is written in each unit; plain numbers are
// accepted only where they cannot be misread.
var unitSpellings = map[Unit]spelling{
	Seconds:   {"expected a duration like 250ms, or seconds as a plain number", true},
	Ratio:     {"expected a percentage like 5%, or a plain ratio like 0.05", true},
	Bytes:     {"expected a size like 96MiB, or bytes as a plain number", true},
	PerSecond: {"expected a rate like 80/s", true},
	None:      {"expected a plain number", true},
}

// metricSpellings are the metrics whose limits are written more strictly
// than their unit's.
var metricSpellings = map[Metric]spelling{
	ErrorRate: {"expected a percentage like 1%", false},
	Latency:   {"expected a duration like 250ms", false},
	CPU:       {"expected a percentage of one core like 70%", false},
	Memory:    {"expected a size like 96MiB", false},
}

func (s *SLO) decodeNode(d *decoder, n *yaml.Node, at place) {
	*s = SLO{Scope: Aggregate, Line: n.Line, Col: n.Column}
	type plain SLO
	written := d.object(n, at, (*plain)(s))
	if written == nil {
		return
	}
	if s.Metric != Custom {
		s.Unit = s.Metric.Unit() // a unit written beside another metric is refused by the validator
	}
	// Limits can be read only once the unit is known; when it is not, the metric or
	// unit field already carries the error.
	sp, known := unitSpellings[s.Unit]
	if !known {
		d.bad[at.path+".max"], d.bad[at.path+".min"] = true, true
		return
	}
	if m, ok := metricSpellings[s.Metric]; ok {
		sp = m
	}
	d.later(written, at.path, s.Unit, sp, []string{"max", "min"}, &s.Max, &s.Min)
}

// later reads the limits names, written as in written, into dsts, in unit u.
func (d *decoder) later(written map[string]*yaml.Node, path string, u Unit, sp spelling, names []string, dsts ...**float64) {
	for i, name := range names {
		if v := written[name]; v != nil {
			x := d.value(v, join(path, name), u, sp.plain, sp.want)
			*dsts[i] = &x
		}
	}
}

func (c *Compare) defaults(*yaml.Node) { *c = DefaultCompare }

func (c *Contention) defaults(*yaml.Node) { *c = DefaultContention }

// decodeNode reads the metrics mapping in file order, keyed by metric name.
func (bs *Budgets) decodeNode(d *decoder, n *yaml.Node, at place) {
	entries, ok := d.entries(n, at, "metric", false, func(k *yaml.Node) bool {
		if slices.Contains(compareMetrics, k.Value) {
			return true
		}
		d.failAt(k.Line, k.Column, at.path, "unknown metric %q: use one of %s", k.Value, list(compareMetrics))
		return false
	})
	if !ok {
		return
	}
	*bs = Budgets{} // written, so never nil: an empty mapping is refused by name
	for _, e := range entries {
		b := Budget{Metric: e.key.Value, Line: e.key.Line, Col: e.key.Column}
		u, sp := Ratio, spelling{want: "expected a percentage like 10%"}
		switch b.Metric {
		case CompareErrorRate:
			sp.want = "expected percentage points like 0.5%"
		case CompareHeapGrowth, CompareRSSGrowth:
			u, sp.want = b.Unit(), "expected bytes per 1,000 requests like 64KiB"
		case CompareGoroutineGrowth:
			u, sp.want = b.Unit(), "expected goroutines per 1,000 requests like 1"
		case CompareWaitPerRequest:
			u, sp.want = b.Unit(), "expected a wait per request like 20µs"
		}
		written := d.object(e.val, place{path: e.path, want: "a mapping like {max_increase: 10%}"}, &b)
		d.later(written, e.path, u, sp, []string{"max_increase", "max_decrease"}, &b.MaxIncrease, &b.MaxDecrease)
		*bs = append(*bs, b)
	}
}
