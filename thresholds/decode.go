package thresholds

import (
	"cmp"
	"context"
	"errors"
	"fmt"
	"reflect"
	"slices"
	"strconv"
	"strings"
	"time"

	"gopkg.in/yaml.v3"

	"github.com/perfgate/perfgate/thresholds/units"
)

// decoder walks the YAML tree into the spec's types strictly. A field is
// known by its yaml tag; its value is checked against its Go type and, for a
// number, against the unit its tag names; every problem is recorded with its
// line, column and field path, so one pass reports them all. yaml.v3's own
// struct decoding cannot do this: it names neither the column nor the path of
// an unknown field, and Node.Decode ignores KnownFields. Range checks and
// fields that depend on each other are the validator's.
//
// Tags a field may carry:
//
//	yaml:"name"     the field's name in the spec; "-" or none: not in the spec
//	want:"…"        what a valid value looks like, for "must be …, got …"
//	item:"…"        for a list: what a valid item looks like
//	unit:"ratio"    for a number: the unit it is written in (a Unit)
//	spec:"plain"    for a number: a bare number in the base unit is fine too
//	spec:"one"      for a list: a single value stands for a list of one
//	spec:"later"    read by the type's decodeNode once the other fields are known
type decoder struct {
	ctx   context.Context
	file  string
	kind  string // what the file holds, for messages: spec
	needs string // the fields an empty file should have, for messages
	errs  Errors
	src   map[string]srcPos
	bad   map[string]bool // fields that failed to decode: the validator stays silent on them
	read  int             // bytes handed to the YAML parser, every pass together
}

func newDecoder(ctx context.Context, file, kind, needs string) *decoder {
	return &decoder{ctx: ctx, file: file, kind: kind, needs: needs, src: map[string]srcPos{}, bad: map[string]bool{}}
}

// Decode reads data, one YAML document, into the struct v points to as
// strictly as Parse reads a spec, reporting every problem at once as Errors:
// for the project's other YAML files. kind names what the file holds and
// needs the fields an empty one should have, for messages. A type of
// another package reads itself with UnmarshalYAML(*yaml.Node); its error is
// reported at the node.
func Decode(filename string, data []byte, v any, kind, needs string) error {
	d := newDecoder(context.Background(), filename, kind, needs)
	if root := d.document(data); root != nil {
		d.object(root, place{want: "a mapping with " + needs}, v)
	}
	return d.errs.err()
}

// nodeDecoder is a type that reads itself, for what tags cannot say: a
// unit that depends on another field, a mapping whose keys the author
// names. It hands the rest to d.object on a plain twin of itself.
type nodeDecoder interface {
	decodeNode(d *decoder, n *yaml.Node, at place)
}

// defaulter is a struct with values for the fields a file leaves out:
// defaults sets them before the mapping n is decoded over them.
type defaulter interface {
	defaults(n *yaml.Node)
}

// place is where a value goes: its field path and how its field describes it.
type place struct {
	path  string
	want  string
	item  string
	unit  Unit
	plain bool
	one   bool
	later bool
}

// srcPos is where a field's value was written.
type srcPos struct {
	line, col int
	raw       string // the scalar as written, quoted back in messages
	scalar    bool
}

// field is one tagged field of a struct the spec decodes into.
type field struct {
	name  string
	index []int
	place // path empty: filled in per use
}

// fieldsOf lists the spec fields of struct type t in declaration order.
func fieldsOf(t reflect.Type) []field {
	var fs []field
	for i := range t.NumField() {
		sf := t.Field(i)
		name, _, _ := strings.Cut(sf.Tag.Get("yaml"), ",")
		if name == "" || name == "-" {
			continue
		}
		flags := strings.Split(sf.Tag.Get("spec"), ",")
		has := func(f string) bool { return slices.Contains(flags, f) }
		fs = append(fs, field{name: name, index: sf.Index, place: place{
			want: sf.Tag.Get("want"), item: sf.Tag.Get("item"), unit: Unit(sf.Tag.Get("unit")),
			plain: has("plain"), one: has("one"), later: has("later"),
		}})
	}
	return fs
}

var durationType = reflect.TypeFor[time.Duration]()

// into decodes n into v, which must be addressable.
func (d *decoder) into(n *yaml.Node, at place, v reflect.Value) {
	if nd, ok := v.Addr().Interface().(nodeDecoder); ok {
		nd.decodeNode(d, n, at)
		return
	}
	if u, ok := v.Addr().Interface().(yaml.Unmarshaler); ok {
		if err := u.UnmarshalYAML(n); err != nil {
			d.fail(n, at.path, "%s", err)
		}
		return
	}
	if v.Type() == durationType {
		v.SetInt(int64(scalar(d, n, at.path, "expected a duration like 5s", time.ParseDuration, "invalid duration %q: use a unit like 500ms, 5s or 1m")))
		return
	}
	switch v.Kind() {
	case reflect.Pointer:
		if v.IsNil() {
			v.Set(reflect.New(v.Type().Elem()))
		}
		d.into(n, at, v.Elem())
	case reflect.Struct:
		if df, ok := v.Addr().Interface().(defaulter); ok {
			df.defaults(n)
		}
		d.object(n, at, v.Addr().Interface())
	case reflect.Slice, reflect.Array:
		d.list(n, at, v)
	case reflect.Map:
		d.stringMap(n, at, v)
	case reflect.String:
		v.SetString(d.str(n, at.path))
	case reflect.Int:
		v.SetInt(int64(scalar(d, n, at.path, "must be a whole number", strconv.Atoi, "must be a whole number, got %q")))
	case reflect.Bool:
		v.SetBool(scalar(d, n, at.path, "must be true or false", parseBool, "must be true or false, got %q"))
	case reflect.Float64:
		if at.unit == "" {
			at.unit, at.want = None, cmp.Or(at.want, "must be a number")
		}
		v.SetFloat(d.value(n, at.path, at.unit, at.plain, at.want))
	default:
		panic(fmt.Sprintf("thresholds: no decoding for %s at %s", v.Type(), at.path))
	}
}

// object decodes the mapping n into the struct ptr points to, by its fields'
// tags, and returns the nodes written by field name, those of "later" fields
// included. It returns nil, having said why, when n is not a mapping.
func (d *decoder) object(n *yaml.Node, at place, ptr any) map[string]*yaml.Node {
	v := reflect.ValueOf(ptr).Elem()
	fs := fieldsOf(v.Type())
	byName := make(map[string]field, len(fs))
	for _, f := range fs {
		byName[f.name] = f
	}
	entries, ok := d.entries(n, at, "field", false, func(k *yaml.Node) bool {
		p := join(at.path, k.Value)
		if _, known := byName[k.Value]; known {
			return true
		}
		if hint := gone[p]; hint != "" {
			d.failAt(k.Line, k.Column, p, "%s", hint)
		} else {
			d.failAt(k.Line, k.Column, at.path, "unknown field %q", k.Value)
		}
		return false
	})
	if !ok {
		return nil
	}
	written := make(map[string]*yaml.Node, len(entries))
	for _, e := range entries {
		f := byName[e.key.Value]
		written[f.name] = e.val
		if f.later {
			continue
		}
		fp := f.place
		fp.path = e.path
		d.into(e.val, fp, v.FieldByIndex(f.index))
	}
	return written
}

// entry is one key and value of a mapping, with the value's field path.
type entry struct {
	key, val *yaml.Node
	path     string
}

// entries checks that n is a mapping of plain names, each written once
// (ignoring case when fold is set), and returns its entries in file order,
// leaving out the keys known refuses (having said why) and aliased values.
// noun names a key in messages: field, metric, header, pool. ok is false,
// and the mapping has been reported, when n is not a mapping.
func (d *decoder) entries(n *yaml.Node, at place, noun string, fold bool, known func(k *yaml.Node) bool) (out []entry, ok bool) {
	if n.Kind != yaml.MappingNode {
		d.fail(n, at.path, "must be %s, got %s", at.want, describe(n))
		return nil, false
	}
	d.src[at.path] = srcPos{line: n.Line, col: n.Column}
	first := map[string]int{}
	for i := 0; i+1 < len(n.Content); i += 2 {
		k, v := n.Content[i], n.Content[i+1]
		switch {
		case k.Kind != yaml.ScalarNode:
			d.failAt(k.Line, k.Column, at.path, "%s names must be plain words, got %s", noun, describe(k))
			continue
		case k.Tag == "!!merge":
			// The merged keys are unknown, so say nothing else about this mapping.
			d.fail(k, at.path, "merge keys (<<) are not supported: write the %ss out", noun)
			continue
		case known != nil && !known(k):
			continue
		}
		key := k.Value
		if fold {
			key = strings.ToLower(key)
		}
		if line, dup := first[key]; dup {
			d.failAt(k.Line, k.Column, at.path, "duplicate %s %q (first at line %d)", noun, k.Value, line)
			continue
		}
		first[key] = k.Line
		if p := join(at.path, k.Value); d.written(v, p) {
			out = append(out, entry{key: k, val: v, path: p})
		}
	}
	return out, true
}

// written records where the value n at path was written, or refuses it as
// an alias.
func (d *decoder) written(n *yaml.Node, path string) bool {
	if n.Kind == yaml.AliasNode {
		d.fail(n, path, "aliases (*%s) are not supported: write the value out", n.Value)
		return false
	}
	d.src[path] = srcPos{line: n.Line, col: n.Column, raw: n.Value, scalar: n.Kind == yaml.ScalarNode}
	return true
}

// list decodes a sequence, or with at.one a single scalar, into the slice
// or array v.
// A list that is written is never nil, so an empty one can be refused by name.
func (d *decoder) list(n *yaml.Node, at place, v reflect.Value) {
	items := n.Content
	switch {
	case at.one && n.Kind == yaml.ScalarNode && n.Tag != "!!null":
		items = []*yaml.Node{n}
	case n.Kind != yaml.SequenceNode:
		d.fail(n, at.path, "must be %s, got %s", cmp.Or(at.want, "a list of strings"), describe(n))
		return
	}
	s := v
	if v.Kind() == reflect.Slice {
		s = reflect.MakeSlice(v.Type(), len(items), len(items))
	} else if len(items) != v.Len() {
		d.fail(n, at.path, "must be a list of %d, got %d", v.Len(), len(items))
		return
	}
	for i, item := range items {
		if p := fmt.Sprintf("%s[%d]", at.path, i); d.written(item, p) {
			d.into(item, place{path: p, want: at.item, unit: at.unit, plain: at.plain}, s.Index(i))
		}
	}
	if v.Kind() == reflect.Slice {
		v.Set(s)
	}
}

// stringMap decodes a mapping of names to strings, such as an environment.
func (d *decoder) stringMap(n *yaml.Node, at place, v reflect.Value) {
	at.want = cmp.Or(at.want, "a mapping of names to strings")
	entries, ok := d.entries(n, at, "name", false, nil)
	if !ok {
		return
	}
	m := reflect.MakeMapWithSize(v.Type(), len(entries))
	for _, e := range entries {
		m.SetMapIndex(reflect.ValueOf(e.key.Value), reflect.ValueOf(d.str(e.val, e.path)))
	}
	v.Set(m)
}

func (d *decoder) failAt(line, col int, path, format string, args ...any) {
	d.errs = append(d.errs, Error{File: d.file, Line: line, Col: col, Field: path, Msg: fmt.Sprintf(format, clip(format, args)...)})
}

func (d *decoder) fail(n *yaml.Node, path, format string, args ...any) {
	d.bad[path] = true
	d.failAt(n.Line, n.Column, path, format, args...)
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

// scalar reads a scalar with parse; want says what a valid one looks like
// and bad, with what was written, why it is not.
func scalar[T any](d *decoder, n *yaml.Node, path, want string, parse func(string) (T, error), bad string) T {
	s, ok := d.text(n, path, want)
	if !ok {
		return *new(T)
	}
	x, err := parse(s)
	if err != nil {
		d.fail(n, path, bad, s)
	}
	return x
}

// parseBool reads YAML's true and false, and nothing else.
func parseBool(s string) (bool, error) {
	if s != "true" && s != "false" {
		return false, strconv.ErrSyntax
	}
	return s == "true", nil
}

// parseIn reads s in unit u; bare also takes a bare number in the base unit.
func parseIn(u Unit, s string, bare bool) (float64, error) {
	if bare {
		return u.ParseBare(s)
	}
	return u.Parse(s)
}

// value reads a scalar in unit u; want says what a valid one looks like.
func (d *decoder) value(n *yaml.Node, path string, u Unit, plain bool, want string) float64 {
	s, ok := d.text(n, path, want)
	if !ok {
		return 0
	}
	x, err := parseIn(u, s, plain)
	switch {
	case errors.Is(err, units.ErrNotFinite):
		d.fail(n, path, "must be a finite number, got %q", s)
	case err != nil:
		d.fail(n, path, "%s, got %q", want, s)
	}
	return x
}
