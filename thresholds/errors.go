package thresholds

import (
	"cmp"
	"slices"
	"strconv"
	"strings"
	"unicode/utf8"
)

// Error is one problem in a spec, located by file, line, column and field path.
type Error struct {
	File      string
	Line, Col int
	Field     string // e.g. slos[1].max; empty for the document as a whole
	Msg       string
}

// Error renders "file:line:col: field.path: msg", leaving out the parts that are unknown.
func (e Error) Error() string {
	var b strings.Builder
	b.WriteString(e.File)
	if e.Line > 0 {
		b.WriteString(":" + strconv.Itoa(e.Line))
		if e.Col > 0 {
			b.WriteString(":" + strconv.Itoa(e.Col))
		}
	}
	if b.Len() > 0 {
		b.WriteString(": ")
	}
	if e.Field != "" {
		b.WriteString(printable(e.Field) + ": ")
	}
	b.WriteString(e.Msg)
	return b.String()
}

// maxField is how much of a field path a message shows.
const maxField = 128

// printable shows a field path on one line: its names come from the file,
// so control characters are escaped as Go does and a long one is clipped.
func printable(field string) string {
	q := strconv.Quote(field)
	return clipped(strings.ReplaceAll(q[1:len(q)-1], `\"`, `"`), maxField)
}

// clipped is s cut to n runes, with … when cut.
func clipped(s string, n int) string {
	if len(s) > n && utf8.RuneCountInString(s) > n {
		return string([]rune(s)[:n]) + "…"
	}
	return s
}

// Errors is every problem found in a spec, in file order.
type Errors []Error

// Error joins the errors, one per line.
func (es Errors) Error() string {
	lines := make([]string, len(es))
	for i, e := range es {
		lines[i] = e.Error()
	}
	return strings.Join(lines, "\n")
}

// err is es in file order, or nil when there are none.
func (es Errors) err() error {
	if len(es) == 0 {
		return nil
	}
	slices.SortStableFunc(es, func(a, b Error) int { return cmp.Or(cmp.Compare(a.Line, b.Line), cmp.Compare(a.Col, b.Col)) })
	return es
}

// Unwrap lets errors.As reach each Error.
func (es Errors) Unwrap() []error {
	errs := make([]error, len(es))
	for i, e := range es {
		errs[i] = e
	}
	return errs
}
