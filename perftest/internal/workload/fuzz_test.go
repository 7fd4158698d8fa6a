package workload

import (
	"bytes"
	"strings"
	"testing"

	"github.com/perfgate/perfgate/thresholds"
)

// FuzzCompile holds the template compiler to its contract on any templates
// the spec's validation lets through: Compile never panics, and a program it
// returns builds every request with a path that begins with /, whatever the
// responses it captured from held, with no line breaks in a header.
func FuzzCompile(f *testing.F) {
	f.Add("/items", `{"x": 1}`, "id", "", "/items/${item}", "X-Trace", "${seq}-${rand:4}", "${item}", int64(3), `{"id": 7}`, "/items/7")
	f.Add("/items", "", "", "Location", "${item}", "Accept", "application/json", "2", int64(1), `{}`, "/items/7?x=1")
	f.Add("/a?b=c", "${seq}", "data.0.id", "", "/b/${item}?q=${item}", "X-A", "$$", "${rand:256}", int64(1_000_000), `{"data":[{"id":"a/b c"}]}`, "")
	f.Add("/", "", "id", "", "${item}", "X", "v", "", int64(1), `{"id":"x"}`, "not/a/path")
	f.Add("/", "", "", "Location", "${item}", "X", "v", "", int64(1), `{}`, "not/a/path")
	f.Fuzz(func(t *testing.T, createPath, createBody, captureJSON, captureHeader, getPath, headerName, headerValue, queryValue string,
		weight int64, response, location string) {
		ws := []thresholds.Template{
			{Name: "create", Weight: 1, Method: "POST", Path: createPath, Body: createBody,
				Capture: []thresholds.Capture{{Pool: "item", JSON: captureJSON, Header: captureHeader}}},
			{Name: "get", Weight: int(weight), Method: "GET", Path: getPath, Fallback: "create",
				Headers: []thresholds.Header{{Name: headerName, Value: headerValue}},
				Query:   []thresholds.Param{{Name: "q", Value: queryValue}}},
		}
		p, err := Compile(ws)
		if err != nil {
			return
		}
		s := p.Start()
		var rq Request
		for seq := range uint64(8) {
			for ti := range p.Names() {
				s.Build(&rq, ti, seq, seq*0x9e3779b97f4a7c15)
				if !bytes.HasPrefix(rq.Path, []byte("/")) {
					t.Fatalf("template %d built path %q: a request target must begin with /", ti, rq.Path)
				}
				for _, h := range rq.Headers {
					if strings.ContainsAny(h.Name, "\r\n") || bytes.ContainsAny(h.Value, "\r\n") {
						t.Fatalf("a header with a line break: %q: %q", h.Name, h.Value)
					}
				}
				s.Done(&rq, 201, []byte(response), headers{"Location": location, "Content-Location": location})
			}
		}
	})
}
