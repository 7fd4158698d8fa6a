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
	"sort"
	"strconv"
	"strings"
	"time"

	"gopkg.in/yaml.v3"
)

// maxFileSize bounds the input: a spec is a page of YAML, not a data file.
const maxFileSize = 1 << 20

// fieldsOf lists the fields the loader accepts at each level; schema.json must name the same.
var fieldsOf = map[string][]string{
	"spec":     {"version", "service", "load", "workload", "slos", "compare"},
	"load":     {"warmup", "stages", "max_in_flight", "timeout", "max_lag"},
	"stage":    {"duration", "target"},
	"template": {"name", "weight", "method", "path", "query", "headers", "body", "expect", "capture", "take", "fallback"},
	"param":    {"value", "chance"},
	"source":   {"json", "header"},
	"slo":      {"name", "description", "metric", "quantile", "route", "scope", "query", "unit", "max", "min"},
	"compare":  {"alpha", "rounds", "round", "metrics"},
	"round":    {"warmup", "duration", "rate"},
	"metrics":  compareMetrics, // keyed by metric name
	"budget":   {"max_increase", "max_decrease"},
}

// gone are fields earlier versions of the spec read, with what to write instead.
var gone = map[string]string{
	"load.mix": "is no longer read: write the requests as a top-level workload: list of templates instead (see thresholds/slo.yaml)",
}

// srcPos is where a field's value was written.
type srcPos struct {
	line, col int
	raw       string // the scalar as written, quoted back in messages
	scalar    bool
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
	d := &decoder{ctx: ctx, file: filename, src: map[string]srcPos{}, bad: map[string]bool{}}
	root := d.document(data)
	if err := ctx.Err(); err != nil {
		return nil, fmt.Errorf("%s: not parsed: %w", filename, err)
	}
	if root == nil {
		return nil, d.errs
	}
	s := &Spec{File: filename, src: d.src}
	d.spec(root, s)
	v := &validator{spec: s, bad: d.bad}
	v.run()
	if err := ctx.Err(); err != nil {
		return nil, fmt.Errorf("%s: not parsed: %w", filename, err)
	}
	if errs := append(d.errs, v.errs...); len(errs) > 0 {
		sortErrors(errs)
		return nil, errs
	}
	return s, nil
}

func sortErrors(errs Errors) {
	sort.SliceStable(errs, func(i, j int) bool {
		if errs[i].Line != errs[j].Line {
			return errs[i].Line < errs[j].Line
		}
		return errs[i].Col < errs[j].Col
	})
}

// decoder walks the YAML tree strictly, turning human units into base units and
// recording where each field was written. Range checks are left to the validator.
type decoder struct {
	ctx  context.Context
	file string
	errs Errors
	src  map[string]srcPos
	bad  map[string]bool // fields that failed to decode: the validator stays silent on them
}

func (d *decoder) failAt(line, col int, path, format string, args ...any) {
	d.errs = append(d.errs, Error{File: d.file, Line: line, Col: col, Field: path, Msg: fmt.Sprintf(format, clip(format, args)...)})
}

func (d *decoder) fail(n *yaml.Node, path, format string, args ...any) {
	d.bad[path] = true
	d.failAt(n.Line, n.Column, path, format, args...)
}

var yamlLine = regexp.MustCompile(`^yaml: line (\d+): (.*)$`)

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
	in := &reader{ctx: d.ctx, data: data}
	dec := yaml.NewDecoder(in)
	var doc yaml.Node
	if err := dec.Decode(&doc); err != nil {
		if errors.Is(err, io.EOF) {
			d.failAt(1, 1, "", "is empty: write version, load and slos")
		} else {
			d.syntax(data, in.line(), err)
		}
		return nil
	}
	if doc.Kind != yaml.DocumentNode || len(doc.Content) == 0 {
		d.failAt(1, 1, "", "is empty: write version, load and slos")
		return nil
	}
	var next yaml.Node
	switch err := dec.Decode(&next); {
	case errors.Is(err, io.EOF):
	case err != nil:
		d.syntax(data, in.line(), err)
		return nil
	default:
		d.failAt(next.Line, next.Column, "", "holds a second YAML document: keep the whole spec in one")
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
	_, problem := splitYAMLError(err)
	line := read
	starts := lineStarts(data)
	for k := read - 1; k >= 1 && k >= read-maxSearchLines; k-- {
		if d.ctx.Err() != nil {
			return
		}
		err := decodeAll(d.ctx, data[:starts[k]])
		if err == nil {
			break
		}
		if _, p := splitYAMLError(err); p != problem {
			break
		}
		line = k
	}
	if line >= 1 && line <= len(starts)-1 || line == len(starts) {
		text := data[starts[line-1]:]
		if i := bytes.IndexByte(text, '\n'); i >= 0 {
			text = text[:i]
		}
		indent := text[:len(text)-len(bytes.TrimLeft(text, " \t"))]
		if i := bytes.IndexByte(indent, '\t'); i >= 0 {
			d.failAt(line, i+1, "", "invalid YAML: a tab in the indentation: tabs are not allowed for indentation, use spaces")
			return
		}
	}
	d.failAt(line, 0, "", "invalid YAML: %s", problem)
}

// splitYAMLError parses yaml.v3's "yaml: line N: problem".
func splitYAMLError(err error) (line int, problem string) {
	msg := err.Error()
	if m := yamlLine.FindStringSubmatch(msg); m != nil {
		line, _ = strconv.Atoi(m[1])
		return line, m[2]
	}
	return 0, strings.TrimPrefix(msg, "yaml: ")
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
func decodeAll(ctx context.Context, data []byte) error {
	dec := yaml.NewDecoder(&reader{ctx: ctx, data: data})
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
	ctx  context.Context
	data []byte
	off  int
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
	for i := 0; i < len(format); i++ {
		if format[i] != '%' {
			continue
		}
		i++
		for i < len(format) && strings.IndexByte("+-# 0123456789.", format[i]) >= 0 {
			i++
		}
		if i >= len(format) || format[i] == '%' {
			continue
		}
		if s, ok := argAt(args, n).(string); ok && format[i] == 'q' {
			args[n] = clipped(s)
		}
		n++
	}
	return args
}

// clipped is s cut to maxEcho runes, with … when cut.
func clipped(s string) string {
	if len(s) <= maxEcho {
		return s
	}
	if r := []rune(s); len(r) > maxEcho {
		return string(r[:maxEcho]) + "…"
	}
	return s
}

// quote is strconv.Quote of s clipped, for values a message quotes back.
func quote(s string) string { return strconv.Quote(clipped(s)) }

func argAt(args []any, n int) any {
	if n < len(args) {
		return args[n]
	}
	return nil
}

// describe names a node's kind for "got ..." messages.
func describe(n *yaml.Node) string {
	switch {
	case n.Kind == yaml.MappingNode:
		return "a mapping"
	case n.Kind == yaml.SequenceNode:
		return "a list"
	case n.Kind == yaml.AliasNode:
		return "an alias"
	case n.Tag == "!!null":
		return "an empty value"
	}
	return quote(n.Value)
}

func join(path, field string) string {
	if path == "" {
		return field
	}
	return path + "." + field
}

// fields checks that n is a mapping of known fields, each written once, and returns
// the values by name. It returns nil, having said why, when n is not a mapping.
func (d *decoder) fields(n *yaml.Node, path, level, want string) map[string]*yaml.Node {
	if n.Kind != yaml.MappingNode {
		d.fail(n, path, "must be %s, got %s", want, describe(n))
		return nil
	}
	d.src[path] = srcPos{line: n.Line, col: n.Column}
	known := fieldsOf[level]
	out := make(map[string]*yaml.Node, len(n.Content)/2)
	for i := 0; i+1 < len(n.Content); i += 2 {
		k, v := n.Content[i], n.Content[i+1]
		switch {
		case k.Kind != yaml.ScalarNode:
			d.failAt(k.Line, k.Column, path, "field names must be plain words, got %s", describe(k))
			continue
		case k.Tag == "!!merge":
			// The merged fields are unknown, so say nothing else about this mapping.
			d.fail(k, path, "merge keys (<<) are not supported: write the fields out")
			continue
		case !slices.Contains(known, k.Value) && gone[join(path, k.Value)] != "":
			d.failAt(k.Line, k.Column, join(path, k.Value), "%s", gone[join(path, k.Value)])
			continue
		case !slices.Contains(known, k.Value) && level == "metrics":
			d.failAt(k.Line, k.Column, path, "unknown metric %q: use one of %s", k.Value, list(known))
			continue
		case !slices.Contains(known, k.Value):
			d.failAt(k.Line, k.Column, path, "unknown field %q", k.Value)
			continue
		}
		if first, dup := out[k.Value]; dup {
			noun := "field"
			if level == "metrics" {
				noun = "metric"
			}
			d.failAt(k.Line, k.Column, path, "duplicate %s %q (first at line %d)", noun, k.Value, first.Line)
			continue
		}
		p := join(path, k.Value)
		if v.Kind == yaml.AliasNode {
			d.fail(v, p, "aliases (*%s) are not supported: write the value out", v.Value)
			continue
		}
		out[k.Value] = v
		d.src[p] = srcPos{line: v.Line, col: v.Column, raw: v.Value, scalar: v.Kind == yaml.ScalarNode}
	}
	return out
}

// list checks that n is a sequence and returns its items, refusing aliases.
func (d *decoder) list(n *yaml.Node, path, want string) []*yaml.Node {
	if n.Kind != yaml.SequenceNode {
		d.fail(n, path, "must be %s, got %s", want, describe(n))
		return nil
	}
	items := make([]*yaml.Node, len(n.Content))
	for i, item := range n.Content {
		if item.Kind == yaml.AliasNode {
			d.fail(item, fmt.Sprintf("%s[%d]", path, i), "aliases (*%s) are not supported: write the value out", item.Value)
			continue
		}
		items[i] = item
	}
	return items
}

// text returns a scalar's value, "" for an empty one, reporting anything else.
func (d *decoder) text(n *yaml.Node, path, want string) (string, bool) {
	if n.Kind != yaml.ScalarNode {
		d.fail(n, path, "%s, got %s", want, describe(n))
		return "", false
	}
	if n.Tag == "!!null" {
		return "", true
	}
	return n.Value, true
}

func (d *decoder) str(n *yaml.Node, path string) string {
	s, _ := d.text(n, path, "must be a string")
	return s
}

func (d *decoder) int(n *yaml.Node, path string) int {
	s, ok := d.text(n, path, "must be a whole number")
	if !ok {
		return 0
	}
	i, err := strconv.Atoi(s)
	if err != nil {
		d.fail(n, path, "must be a whole number, got %q", s)
	}
	return i
}

func (d *decoder) duration(n *yaml.Node, path string) time.Duration {
	s, ok := d.text(n, path, "expected a duration like 5s")
	if !ok {
		return 0
	}
	v, err := time.ParseDuration(s)
	if err != nil {
		d.fail(n, path, "invalid duration %q: use a unit like 500ms, 5s or 1m", s)
	}
	return v
}

// value reads a scalar in unit u; want says what a valid one looks like.
func (d *decoder) value(n *yaml.Node, path string, u Unit, plain bool, want string) float64 {
	s, ok := d.text(n, path, want)
	if !ok {
		return 0
	}
	x, err := parseValue(u, s, plain)
	switch {
	case errors.Is(err, errNotFinite):
		d.fail(n, path, "must be a finite number, got %q", s)
	case err != nil:
		d.fail(n, path, "%s, got %q", want, s)
	}
	return x
}

func (d *decoder) spec(n *yaml.Node, s *Spec) {
	f := d.fields(n, "", "spec", "a mapping with version, load and slos")
	if f == nil {
		return
	}
	if v := f["version"]; v != nil {
		s.Version = d.int(v, "version")
	}
	s.Load = DefaultLoad
	if v := f["load"]; v != nil {
		d.load(v, &s.Load)
	}
	if v := f["workload"]; v != nil {
		s.Workload = d.workload(v)
	}
	if v := f["slos"]; v != nil {
		for i, item := range d.list(v, "slos", "a list of SLOs") {
			s.SLOs = append(s.SLOs, d.slo(item, fmt.Sprintf("slos[%d]", i)))
		}
	}
	if v := f["compare"]; v != nil {
		s.Compare = d.compare(v)
	}
	if v := f["service"]; v != nil {
		s.Service = d.service(v)
	}
	if v := f["target"]; v != nil {
		s.Target = d.target(v)
	}
}

func (d *decoder) load(n *yaml.Node, l *Load) {
	f := d.fields(n, "load", "load", "a mapping of warmup, stages, max_in_flight, timeout and max_lag")
	if v := f["warmup"]; v != nil {
		l.WarmUp = d.duration(v, "load.warmup")
	}
	if v := f["stages"]; v != nil {
		for i, item := range d.list(v, "load.stages", "a list of stages like {duration: 10s, target: 50/s}") {
			l.Stages = append(l.Stages, d.stage(item, fmt.Sprintf("load.stages[%d]", i)))
		}
	}
	if v := f["max_in_flight"]; v != nil {
		l.MaxInFlight = d.int(v, "load.max_in_flight")
	}
	if v := f["timeout"]; v != nil {
		l.Timeout = d.duration(v, "load.timeout")
	}
	if v := f["max_lag"]; v != nil {
		l.MaxLag = d.value(v, "load.max_lag", Ratio, false, "expected a percentage like 5%")
	}
}

func (d *decoder) stage(n *yaml.Node, path string) Stage {
	var s Stage
	if n == nil { // an alias, already reported
		return s
	}
	f := d.fields(n, path, "stage", "a mapping like {duration: 10s, target: 50/s}")
	if v := f["duration"]; v != nil {
		s.Duration = d.duration(v, path+".duration")
	}
	if v := f["target"]; v != nil {
		s.Target = d.value(v, path+".target", PerSecond, false, "expected a rate like 50/s")
	}
	return s
}

// limitFormat says how a limit is written for each metric; plain numbers are
// accepted only where they cannot be misread.
func limitFormat(m Metric, u Unit) (want string, plain bool) {
	switch m {
	case ErrorRate:
		return "expected a percentage like 1%", false
	case Latency:
		return "expected a duration like 250ms", false
	case Throughput:
		return "expected a rate like 80/s", true
	case CPU:
		return "expected a percentage of one core like 70%", false
	case Memory:
		return "expected a size like 96MiB", false
	}
	switch u {
	case Seconds:
		return "expected a duration like 250ms, or seconds as a plain number", true
	case Ratio:
		return "expected a percentage like 5%, or a plain ratio like 0.05", true
	case Bytes:
		return "expected a size like 96MiB, or bytes as a plain number", true
	case PerSecond:
		return "expected a rate like 80/s", true
	}
	return "expected a plain number", true
}

func (d *decoder) slo(n *yaml.Node, path string) SLO {
	var s SLO
	if n == nil { // an alias, already reported
		return s
	}
	s.Line, s.Col = n.Line, n.Column
	f := d.fields(n, path, "slo", "a mapping with name, metric and max or min")
	if f == nil {
		return s
	}
	for _, t := range []struct {
		name string
		dst  *string
	}{{"name", &s.Name}, {"description", &s.Description}, {"route", &s.Route}, {"query", &s.Query}} {
		if v := f[t.name]; v != nil {
			*t.dst = d.str(v, path+"."+t.name)
		}
	}
	s.Scope = Aggregate
	if v := f["scope"]; v != nil {
		s.Scope = Scope(d.str(v, path+".scope"))
	}
	if v := f["metric"]; v != nil {
		s.Metric = Metric(d.str(v, path+".metric"))
	}
	s.Unit = s.Metric.Unit()
	if v := f["unit"]; v != nil {
		u := Unit(d.str(v, path+".unit"))
		if s.Metric == Custom {
			s.Unit = u
		}
	}
	if v := f["quantile"]; v != nil {
		s.Quantile = d.value(v, path+".quantile", None, true, "expected a number like 0.95")
	}
	// Limits can be read only once the unit is known; when it is not, the metric or
	// unit field already carries the error.
	if s.Unit == "" || !slices.Contains(units, s.Unit) {
		d.bad[path+".max"], d.bad[path+".min"] = true, true
		return s
	}
	want, plain := limitFormat(s.Metric, s.Unit)
	if v := f["max"]; v != nil {
		x := d.value(v, path+".max", s.Unit, plain, want)
		s.Max = &x
	}
	if v := f["min"]; v != nil {
		x := d.value(v, path+".min", s.Unit, plain, want)
		s.Min = &x
	}
	return s
}

func (d *decoder) compare(n *yaml.Node) *Compare {
	c := DefaultCompare
	f := d.fields(n, "compare", "compare", "a mapping of alpha, rounds, round and metrics")
	if v := f["alpha"]; v != nil {
		c.Alpha = d.value(v, "compare.alpha", None, true, "expected a number like 0.05")
	}
	if v := f["rounds"]; v != nil {
		c.Rounds = d.int(v, "compare.rounds")
	}
	if v := f["round"]; v != nil {
		rf := d.fields(v, "compare.round", "round", "a mapping like {warmup: 2s, duration: 8s, rate: 100/s}")
		if v := rf["warmup"]; v != nil {
			c.Round.WarmUp = d.duration(v, "compare.round.warmup")
		}
		if v := rf["duration"]; v != nil {
			c.Round.Duration = d.duration(v, "compare.round.duration")
		}
		if v := rf["rate"]; v != nil {
			c.Round.Rate = d.value(v, "compare.round.rate", PerSecond, true, "expected a rate like 100/s")
		}
	}
	if v := f["metrics"]; v != nil {
		c.Metrics = d.budgets(v)
	}
	return &c
}

// budgets reads the metrics mapping in file order; fields has refused unknown and repeated names.
func (d *decoder) budgets(n *yaml.Node) []Budget {
	byName := d.fields(n, "compare.metrics", "metrics", "a mapping of metric names to budgets like p95_latency: {max_increase: 10%}")
	out := []Budget{} // written, so never nil: an empty mapping is refused by name
	for i := 0; i+1 < len(n.Content); i += 2 {
		k, v := n.Content[i], n.Content[i+1]
		if byName[k.Value] != v {
			continue
		}
		b := Budget{Metric: k.Value, Line: k.Line, Col: k.Column}
		path := "compare.metrics." + k.Value
		want := "expected a percentage like 10%"
		if b.Metric == CompareErrorRate {
			want = "expected percentage points like 0.5%"
		}
		f := d.fields(v, path, "budget", "a mapping like {max_increase: 10%}")
		if v := f["max_increase"]; v != nil {
			x := d.value(v, path+".max_increase", Ratio, false, want)
			b.MaxIncrease = &x
		}
		if v := f["max_decrease"]; v != nil {
			x := d.value(v, path+".max_decrease", Ratio, false, want)
			b.MaxDecrease = &x
		}
		out = append(out, b)
	}
	return out
}
