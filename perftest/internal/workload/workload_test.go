package workload

import (
	"encoding/json"
	"math/rand/v2"
	"net/url"
	"strconv"
	"strings"
	"testing"

	"github.com/perfgate/perfgate/thresholds"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

func committed(t testing.TB) []thresholds.Template {
	t.Helper()
	s, err := thresholds.ParseFile("../../../thresholds/" + thresholds.DefaultFile)
	require.NoError(t, err)
	return s.Workload
}

func compile(t testing.TB, ws []thresholds.Template) *Program {
	t.Helper()
	p, err := Compile(ws)
	require.NoError(t, err)
	return p
}

// headers maps a fake response's header names to values.
type headers map[string]string

func (h headers) Peek(name string) []byte {
	if v, ok := h[name]; ok {
		return []byte(v)
	}
	return nil
}

func (rq *Request) line() string {
	s := rq.Method + " " + string(rq.Path)
	if len(rq.Query) > 0 {
		s += "?" + string(rq.Query)
	}
	if rq.Body != nil {
		s += " " + string(rq.Body)
	}
	return s
}

func index(p *Program, name string) int {
	for i, n := range p.Names() {
		if n == name {
			return i
		}
	}
	return -1
}

func TestTheCommittedWorkloadBuildsTheTaskAPIsRequests(t *testing.T) {
	p := compile(t, committed(t))
	assert.Equal(t, []string{"list", "get", "create", "update", "delete"}, p.Names())
	s := p.Start()
	var rq Request

	// No task is known: get falls back to create, list sends no cursor.
	s.Build(&rq, index(p, "get"), 7, 1)
	assert.Equal(t, "create", p.Names()[rq.Template])
	assert.Equal(t, `POST /tasks {"task":"perf 7"}`, rq.line())
	assert.Equal(t, []Header{{Name: "Content-Type", Value: []byte("application/json")}}, rq.Headers)
	assert.True(t, s.Done(&rq, 201, []byte(`{"id":42,"task":"perf 7"}`), nil))
	assert.Equal(t, 1, s.Len("task"))

	s.Build(&rq, index(p, "list"), 8, 1) // the lowest bit set: half the time
	assert.Equal(t, "GET /tasks?limit=20&after=42", rq.line())
	assert.Empty(t, rq.Headers)
	s.Build(&rq, index(p, "list"), 9, 2)
	assert.Equal(t, "GET /tasks?limit=20", rq.line())

	s.Build(&rq, index(p, "update"), 10, 5)
	assert.Equal(t, `PUT /tasks/42 {"task":"perf 10 updated"}`, rq.line())
	assert.True(t, s.Done(&rq, 404, nil, nil), "another request deleted it meanwhile")
	assert.False(t, s.Done(&rq, 500, nil, nil), "a 5xx is never expected")
	assert.False(t, s.Done(&rq, 400, nil, nil))

	s.Build(&rq, index(p, "delete"), 11, 3)
	assert.Equal(t, "DELETE /tasks/42", rq.line())
	assert.Nil(t, rq.Body)
	assert.Zero(t, s.Len("task"), "delete takes its task")
	s.Build(&rq, index(p, "delete"), 12, 3)
	assert.Equal(t, "create", p.Names()[rq.Template], "nothing left to delete")
	assert.False(t, s.Done(&rq, 200, []byte(`{"id":43}`), nil), "create expects 201 only")
	assert.Zero(t, s.Len("task"), "nothing is captured from an unexpected status")
}

func TestValuesAreEscapedWhereTheyGo(t *testing.T) {
	p := compile(t, []thresholds.Template{
		{Name: "create", Weight: 1, Method: "POST", Path: "/items", Body: "x",
			Capture: []thresholds.Capture{{Pool: "id", JSON: "data.id"}, {Pool: "loc", Header: "Location"}, {Pool: "tag", Header: "ETag"}}},
		{Name: "use", Weight: 1, Method: "PUT", Path: "/items/${id}/${tag}?v=${id}",
			Query:   []thresholds.Param{{Name: "q", Value: "${id}"}, {Name: "at", Value: "${loc}", Chance: 1}},
			Headers: []thresholds.Header{{Name: "X-Id", Value: "<${id}>"}, {Name: "X-Fixed", Value: "a$$b"}},
			Body:    `{"id": "${id}", "price": "$$5"}`, Fallback: "create"},
		{Name: "follow", Weight: 1, Method: "GET", Path: "${loc}?page=2", Fallback: "create"},
	})
	s := p.Start()
	var rq Request
	s.Build(&rq, 0, 0, 0)
	require.True(t, s.Done(&rq, 201, []byte(`{"data": {"name": "n", "id": "a b/c"}}`), headers{"Location": "http://127.0.0.1:8080/items/7?x=1", "ETag": `"v1"`}))

	s.Build(&rq, 1, 0, 0)
	assert.Equal(t, `PUT /items/a%20b%2Fc/%22v1%22?v=a+b%2Fc&q=a+b%2Fc&at=%2Fitems%2F7%3Fx%3D1 {"id": "a b/c", "price": "$5"}`, rq.line())
	assert.Equal(t, []Header{{Name: "X-Id", Value: []byte("<a b/c>")}, {Name: "X-Fixed", Value: []byte("a$b")}}, rq.Headers)
	assert.Equal(t, url.PathEscape("a b/c"), "a%20b%2Fc", "as url.PathEscape")

	s.Build(&rq, 2, 0, 0)
	assert.Equal(t, "GET /items/7?x=1&page=2", rq.line(), "a Location's path and query go in as they are")
}

func TestSequenceAndRandomStrings(t *testing.T) {
	p := compile(t, []thresholds.Template{{Name: "a", Weight: 1, Method: "POST", Path: "/n/${seq}", Body: "${rand:12}-${rand:3}",
		Headers: []thresholds.Header{{Name: "X-R", Value: "${rand:5}"}}}})
	s := p.Start()
	var rq Request
	s.Build(&rq, 0, 123456789, 42)
	assert.Equal(t, "/n/123456789", string(rq.Path))
	body := string(rq.Body)
	require.Len(t, body, 16)
	assert.Regexp(t, `^[a-z0-9]{12}-[a-z0-9]{3}$`, body)
	assert.Regexp(t, `^[a-z0-9]{5}$`, string(rq.Headers[0].Value))

	again := p.Start()
	var rq2 Request
	again.Build(&rq2, 0, 123456789, 42)
	assert.Equal(t, body, string(rq2.Body), "the same randomness gives the same strings")
	again.Build(&rq2, 0, 123456789, 43)
	assert.NotEqual(t, body, string(rq2.Body))
}

func TestAChanceSendsThatShare(t *testing.T) {
	p := compile(t, []thresholds.Template{{Name: "a", Weight: 1, Method: "GET", Path: "/", Query: []thresholds.Param{
		{Name: "half", Value: "1", Chance: 0.5}, {Name: "tenth", Value: "1", Chance: 0.1}, {Name: "all", Value: "1", Chance: 1},
	}}})
	s := p.Start()
	var rq Request
	counts := map[string]int{}
	rng := rand.New(rand.NewPCG(1, 2))
	const n = 20000
	for range n {
		rnd := rng.Uint64()
		s.Build(&rq, 0, 0, rnd)
		q, err := url.ParseQuery(string(rq.Query))
		require.NoError(t, err)
		for k := range q {
			counts[k]++
		}
		if rnd&1 == 1 {
			// The first parameter with a chance reads the draw's lowest bit,
			// as the generator did when the list's cursor was Go.
			assert.Contains(t, q, "half")
		} else {
			assert.NotContains(t, q, "half")
		}
	}
	assert.InDelta(t, 0.5, float64(counts["half"])/n, 0.02)
	assert.InDelta(t, 0.1, float64(counts["tenth"])/n, 0.02)
	assert.Equal(t, n, counts["all"])
}

func TestPoolsAreBounded(t *testing.T) {
	p := compile(t, committed(t))
	s := p.Start()
	var rq Request
	create := index(p, "create")
	for i := range thresholds.PoolSize + 100 {
		s.Build(&rq, create, uint64(i), uint64(i)<<8)
		require.True(t, s.Done(&rq, 201, []byte(`{"id":`+strconv.Itoa(i)+`}`), nil))
	}
	assert.Equal(t, thresholds.PoolSize, s.Len("task"))
}

func TestFallbacksChain(t *testing.T) {
	p := compile(t, []thresholds.Template{
		{Name: "a", Weight: 1, Method: "GET", Path: "/a/${x}", Fallback: "b"},
		{Name: "b", Weight: 0, Method: "GET", Path: "/b/${y}", Fallback: "c", Capture: []thresholds.Capture{{Pool: "x", JSON: "x"}}},
		{Name: "c", Weight: 0, Method: "GET", Path: "/c", Capture: []thresholds.Capture{{Pool: "y", JSON: "y"}}},
	})
	s := p.Start()
	var rq Request
	s.Build(&rq, 0, 0, 0)
	assert.Equal(t, "GET /c", rq.line())
	s.Done(&rq, 200, []byte(`{"y": 5}`), nil)
	s.Build(&rq, 0, 0, 0)
	assert.Equal(t, "GET /b/5", rq.line())
	s.Done(&rq, 200, []byte(`{"x": "q"}`), nil)
	s.Build(&rq, 0, 0, 0)
	assert.Equal(t, "GET /a/q", rq.line())
}

func TestCompileRefusesWhatTheSpecRefuses(t *testing.T) {
	_, err := Compile([]thresholds.Template{{Name: "a", Weight: 1, Method: "GET", Path: "/a/${x}"}})
	require.Error(t, err)
	assert.Equal(t, `workload[0].path: unknown placeholder ${x}: no template captures into pool "x" (no template captures into any pool; the others are ${seq} and ${rand:8})`, err.Error())
	_, err = Compile(nil)
	assert.Error(t, err)
}

func TestPickFollowsTheWeights(t *testing.T) {
	p := compile(t, committed(t))
	rng := rand.New(rand.NewPCG(3, 4))
	counts := make([]int, len(p.Names()))
	const n = 100000
	for range n {
		counts[p.Pick(rng)]++
	}
	for i, w := range []float64{0.2, 0.4, 0.2, 0.1, 0.1} {
		assert.InDelta(t, w, float64(counts[i])/n, 0.01, p.Names()[i])
	}
}

// Building and answering a request costs no allocation beyond the one
// string a captured value needs.
func TestBuildingAndAnsweringDoesNotAllocate(t *testing.T) {
	p := compile(t, committed(t))
	s := p.Start()
	var rq Request
	create, get, list, update := index(p, "create"), index(p, "get"), index(p, "list"), index(p, "update")
	s.Build(&rq, create, 0, 0)
	s.Done(&rq, 201, []byte(`{"id":1}`), nil)
	body := []byte(`{"id":1,"task":"perf 1"}`)
	rnd := uint64(0)
	allocs := testing.AllocsPerRun(1000, func() {
		rnd++
		for _, ti := range []int{get, list, update} {
			s.Build(&rq, ti, rnd, rnd)
			s.Done(&rq, 200, body, nil)
		}
	})
	assert.Zero(t, allocs)
	created := []byte(`{"id":17}`)
	allocs = testing.AllocsPerRun(1000, func() {
		rnd++
		s.Build(&rq, create, rnd, rnd)
		s.Done(&rq, 201, created, nil)
	})
	assert.LessOrEqual(t, allocs, 1.0, "the captured id's string")
}

func TestJSONValue(t *testing.T) {
	tests := []struct {
		name, doc, path, want string
		ok                    bool
	}{
		{"a number", `{"id":42,"task":"perf 1"}`, "id", "42", true},
		{"a string", `{"task":"x","id":"a b/c"}`, "id", "a b/c", true},
		{"an escaped string", `{"id":"a\"b\u00e9"}`, "id", `a"bé`, true},
		{"an escaped key", `{"i\u0064":7}`, "id", "7", true},
		{"nested", ` { "data" : { "other": [1, {"id": 9}], "id" : -1.5e3 } } `, "data.id", "-1.5e3", true},
		{"an array index", `{"items":[{"id":1},{"id":2}]}`, "items.1.id", "2", true},
		{"past the end of an array", `{"items":[{"id":1}]}`, "items.1.id", "", false},
		{"a string holding braces", `{"note":"}{][\"","id":3}`, "id", "3", true},
		{"no such field", `{"task":"x"}`, "id", "", false},
		{"null", `{"id":null}`, "id", "", false},
		{"true", `{"id":true}`, "id", "", false},
		{"an object", `{"id":{}}`, "id", "", false},
		{"an empty string", `{"id":""}`, "id", "", false},
		{"not JSON", `oops`, "id", "", false},
		{"cut short", `{"id":`, "id", "", false},
		{"a bad number", `{"id":01}`, "id", "", false},
		{"a top-level array", `[{"id":1}]`, "0.id", "1", true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, ok := jsonValue([]byte(tt.doc), strings.Split(tt.path, "."))
			assert.Equal(t, tt.ok, ok)
			assert.Equal(t, tt.want, got)
		})
	}
}

// On valid documents the scanner agrees with encoding/json about a top-level field.
func FuzzJSONValue(f *testing.F) {
	for _, s := range []string{`{"id":42}`, `{"a":[1,{"id":2}],"id":"x\"y"}`, `{"id":1.5e-3,"b":null}`, `{"id":{"id":1}}`, `{"b":"}","id":-0}`} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, doc string) {
		var m map[string]json.RawMessage
		if json.Unmarshal([]byte(doc), &m) != nil {
			_, _ = jsonValue([]byte(doc), []string{"id"}) // must not panic
			return
		}
		got, ok := jsonValue([]byte(doc), []string{"id"})
		raw, has := m["id"]
		want, wantOK := "", false
		if has {
			var s string
			var n json.Number
			switch {
			case json.Unmarshal(raw, &s) == nil:
				want, wantOK = s, s != ""
			case len(raw) > 0 && raw[0] != '{' && raw[0] != '[' && json.Unmarshal(raw, &n) == nil:
				want, wantOK = n.String(), true
			}
		}
		// encoding/json keeps the last of repeated keys, the scanner the first.
		if strings.Count(doc, `"id"`) > 1 || strings.Contains(doc, `\u`) {
			return
		}
		if ok != wantOK || got != want {
			t.Fatalf("%s: got %q %v, want %q %v", doc, got, ok, want, wantOK)
		}
	})
}

// A Location that is no absolute path would make a request target without
// its leading /: it is not kept. One naming a host keeps only its path.
func TestOnlyAnAbsolutePathIsCapturedFromALocation(t *testing.T) {
	p := compile(t, []thresholds.Template{
		{Name: "create", Weight: 1, Method: "POST", Path: "/items", Capture: []thresholds.Capture{{Pool: "item", Header: "Location"}}},
		{Name: "get", Weight: 1, Method: "GET", Path: "${item}", Fallback: "create"},
	})
	for loc, want := range map[string]string{
		"not/a/path":          "",
		"../up":               "",
		"/a b":                "",
		"/a#frag":             "",
		"//other.example/x/1": "GET /x/1",
		"http://h:1/y?z=1":    "GET /y?z=1",
		"/items/7":            "GET /items/7",
	} {
		s := p.Start()
		var rq Request
		s.Build(&rq, 0, 0, 0)
		s.Done(&rq, 201, nil, headers{"Location": loc})
		if want == "" {
			assert.Zero(t, s.Len("item"), loc)
			continue
		}
		s.Build(&rq, 1, 1, 1)
		assert.Equal(t, want, rq.line(), loc)
	}
}

func TestWhySaysWhichPoolStayedEmptyAndWhatItsCaptureGot(t *testing.T) {
	p := compile(t, []thresholds.Template{
		{Name: "get", Weight: 1, Method: "GET", Path: "/tasks/${task}", Fallback: "create"},
		{Name: "create", Weight: 1, Method: "POST", Path: "/tasks", Expect: []int{201}, Capture: []thresholds.Capture{{Pool: "task", JSON: "id"}}},
	})
	s := p.Start()
	var rq Request
	for range 3 {
		s.Build(&rq, 0, 0, 0)
		assert.Equal(t, 1, rq.Template, "get goes as create while the pool is empty")
		assert.Equal(t, 0, rq.Planned, "but it was drawn as get")
		s.Done(&rq, 201, []byte(`{"code": "x1"}`), nil) // the service names the field code, not id
	}
	s.Done(&rq, 500, nil, nil) // an unexpected status is not tried
	assert.Equal(t, `pool task is empty (create's capture task: {json: id} got a value from 0 of 3 expected responses, whose JSON has fields "code")`, s.Why(0))
	assert.Empty(t, s.Why(1), "create needs no pool")

	s.Done(&rq, 201, []byte(`{"id": "7"}`), nil)
	assert.Empty(t, s.Why(0), "the pool has a value now")
}

func TestJSONShapeSaysWhatABodyHeld(t *testing.T) {
	for body, want := range map[string]string{
		`{"code": 1, "text": "a", "Id": 2}`: `whose JSON has fields "Id", "code", "text"`,
		`[1, 2]`:                            "whose body is not a JSON object",
		`not json`:                          "whose body is not a JSON object",
		`{}`:                                "whose JSON object is empty",
		`{"a":1,"b":1,"c":1,"d":1,"e":1,"f":1,"g":1,"h":1,"i":1}`: `whose JSON has fields "a", "b", "c", "d", "e", "f", "g", "h", …`,
	} {
		assert.Equal(t, want, jsonShape([]byte(body)), body)
	}
}
