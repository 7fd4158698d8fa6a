package thresholds

import (
	"strconv"
	"strings"
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
	q = strings.ReplaceAll(q[1:len(q)-1], `\"`, `"`)
	if r := []rune(q); len(r) > maxField {
		q = string(r[:maxField]) + "…"
	}
	return q
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

// Unwrap lets errors.As reach each Error.
func (es Errors) Unwrap() []error {
	errs := make([]error, len(es))
	for i, e := range es {
		errs[i] = e
	}
	return errs
}
