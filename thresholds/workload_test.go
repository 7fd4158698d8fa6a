package thresholds

import (
	"regexp"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

func TestPlaceholders(t *testing.T) {
	tests := []struct {
		in   string
		want []Part
		err  string
	}{
		{"/tasks", []Part{{Kind: Literal, Lit: "/tasks"}}, ""},
		{"", nil, ""},
		{`{"task":"perf ${seq}"}`, []Part{{Kind: Literal, Lit: `{"task":"perf `}, {Kind: Sequence}, {Kind: Literal, Lit: `"}`}}, ""},
		{"/t/${task}/${rand:8}", []Part{{Kind: Literal, Lit: "/t/"}, {Kind: PoolRef, Pool: "task"}, {Kind: Literal, Lit: "/"}, {Kind: Random, N: 8}}, ""},
		{"costs $$5 and $x", []Part{{Kind: Literal, Lit: "costs $5 and $x"}}, ""},
		{"$${seq}", []Part{{Kind: Literal, Lit: "${seq}"}}, ""},
		{"${}", nil, "empty placeholder ${}: name a pool, or use ${seq} or ${rand:8}"},
		{"${Task}", nil, "invalid placeholder ${Task}: a pool's name is lower_snake_case like task; the others are ${seq} and ${rand:8}"},
		{"${task", nil, `unclosed placeholder "${task": close it with }`},
		{"${rand:x}", nil, "placeholder ${rand:x}: the length must be a whole number from 1 to 256"},
		{"${pool:1}", nil, "invalid placeholder ${pool:1}: a pool's name is lower_snake_case like task; the others are ${seq} and ${rand:8}"},
	}
	for _, tt := range tests {
		t.Run(tt.in, func(t *testing.T) {
			got, err := Placeholders(tt.in)
			if tt.err != "" {
				require.EqualError(t, err, tt.err)
				return
			}
			require.NoError(t, err)
			assert.Equal(t, tt.want, got)
		})
	}
}

func TestTemplateExpects(t *testing.T) {
	any2xx := Template{}
	assert.True(t, any2xx.Expects(200))
	assert.True(t, any2xx.Expects(204))
	assert.False(t, any2xx.Expects(404))
	listed := Template{Expect: []int{200, 404}}
	assert.True(t, listed.Expects(404))
	assert.False(t, listed.Expects(201))
	assert.False(t, Template{Expect: []int{503}}.Expects(503), "a 5xx is never a success")
}

func TestValidateWorkloadChecksTemplatesBuiltInCode(t *testing.T) {
	require.NoError(t, ValidateWorkload([]Template{{Name: "home", Weight: 1, Method: "GET", Path: "/"}}))
	err := ValidateWorkload([]Template{
		{Name: "get", Weight: 1, Method: "GET", Path: "/t/${t}", Fallback: "put"},
		{Name: "put", Weight: 1, Method: "PUT", Path: "/t/${t}", Fallback: "get", Capture: []Capture{{Pool: "t", JSON: "id"}}},
	})
	require.Error(t, err)
	assert.Equal(t, "workload[0].fallback: fallbacks go round in a cycle (get → put → get): end the chain at a template that needs no pool", err.Error())
	assert.EqualError(t, ValidateWorkload(nil), `missing field "workload": list the requests to send, like - {name: home, method: GET, path: /}`)
}

// The schema's patterns for names, JSON fields and header names are the loader's.
func TestSchemaWorkloadPatternsAreTheLoaders(t *testing.T) {
	s := loadSchema(t)
	defs := s["$defs"].(object)
	assert.Equal(t, nameRe.String(), defs["name"].(object)["pattern"])
	src := defs["source"].(object)["properties"].(object)
	assert.Equal(t, jsonFieldRe.String(), src["json"].(object)["pattern"])
	assert.Equal(t, headerNameRe.String(), src["header"].(object)["pattern"])
	path := regexp.MustCompile(at(t, s, "properties", "workload", "items")["properties"].(object)["path"].(object)["pattern"].(string))
	for _, p := range []string{"/tasks", "${loc}", "/"} {
		assert.True(t, path.MatchString(p), p)
	}
	assert.False(t, path.MatchString("tasks"))
	methods := at(t, s, "properties", "workload", "items")["properties"].(object)["method"].(object)["enum"]
	assert.Equal(t, Methods, func() []string {
		var out []string
		for _, m := range methods.([]any) {
			out = append(out, m.(string))
		}
		return out
	}())
}
