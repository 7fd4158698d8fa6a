package report

import (
	"bytes"
	"testing"

	"github.com/stretchr/testify/assert"
)

func TestTemplatesTableSaysWhatDidNotRunAsWritten(t *testing.T) {
	var b bytes.Buffer
	templatesTable(&b, []TemplateStats{
		{Name: "get", Count: 0, Planned: 871, FellBack: 871, Why: "pool task is empty"},
		{Name: "create", Count: 1284},
		{Name: "read", Count: 2201, NotOK: 1013},
		{Name: "redirect", Count: 100, NotOK: 61},
	})
	out := b.String()
	assert.Contains(t, out, "| `get` | 0 | 0 (n/a) |", "a template that never ran is in the table")
	assert.Contains(t, out, "- `get`: 871 of the 871 requests drawn as it went as its fallback: pool task is empty\n")
	assert.NotContains(t, out, "- `read`", "1013 of 2201 is not most")
	assert.Contains(t, out, "- `redirect`: warning: 61 of its 100 answers were expected but not 2xx")
}
