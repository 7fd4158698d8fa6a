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

func TestA404ToACapturedValueSaysToMakeTheCaptureSticky(t *testing.T) {
	var b bytes.Buffer
	templatesTable(&b, []TemplateStats{
		{Name: "get", Count: 783, Errors: 160, Strays: 160},
		{Name: "read", Count: 783, Errors: 30, Strays: 30},
	})
	out := b.String()
	assert.Contains(t, out, "- `get`: warning: 160 of its 783 answers were 404 Not Found to a captured value; "+
		"with replicas that do not share state, mark the capture sticky: true")
	assert.NotContains(t, out, "- `read`", "30 of 783 is under 5%: a value taken meanwhile, not a replica")
}
