package thresholds

import (
	"encoding/json"
	"fmt"
	"os"
	"reflect"
	"regexp"
	"slices"
	"sort"
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"gopkg.in/yaml.v3"

	"github.com/perfgate/perfgate/thresholds/units"
)

type object = map[string]any

func loadSchema(t *testing.T) object {
	t.Helper()
	data, err := os.ReadFile("schema.json")
	require.NoError(t, err)
	var s object
	require.NoError(t, json.Unmarshal(data, &s), "schema.json must be valid JSON")
	return s
}

// at follows keys (and "$ref"s into $defs) from the schema root.
func at(t *testing.T, root object, keys ...string) object {
	t.Helper()
	cur := root
	for _, k := range keys {
		next, ok := cur[k].(object)
		require.True(t, ok, "schema has no object at %s", strings.Join(keys, "."))
		cur = next
		if ref, ok := cur["$ref"].(string); ok {
			name, found := strings.CutPrefix(ref, "#/$defs/")
			require.True(t, found, "unexpected $ref %q", ref)
			cur = root["$defs"].(object)[name].(object)
		}
	}
	return cur
}

func keys(o object) []string {
	var ks []string
	for k := range o {
		ks = append(ks, k)
	}
	sort.Strings(ks)
	return ks
}

func strs(v any) []string {
	var out []string
	for _, x := range v.([]any) {
		out = append(out, x.(string))
	}
	sort.Strings(out)
	return out
}

func sorted[T ~string](xs []T) []string {
	out := make([]string, len(xs))
	for i, x := range xs {
		out[i] = string(x)
	}
	sort.Strings(out)
	return out
}

// names lists the spec names of t's fields.
func names(t reflect.Type) []string {
	var out []string
	for _, f := range fieldsOf(t) {
		out = append(out, f.name)
	}
	return out
}

// levels are the types the spec decodes into, by the schema's names for them.
var levels = map[string][]string{
	"spec": names(reflect.TypeFor[Spec]()), "load": names(reflect.TypeFor[Load]()), "stage": names(reflect.TypeFor[Stage]()),
	"slo": names(reflect.TypeFor[SLO]()), "compare": names(reflect.TypeFor[Compare]()), "round": names(reflect.TypeFor[Round]()),
	"metrics": compareMetrics, "budget": names(reflect.TypeFor[Budget]()),
	"template": names(reflect.TypeFor[Template]()), "param": names(reflect.TypeFor[Param]()), "source": names(reflect.TypeFor[Capture]()),
	"service": names(reflect.TypeFor[Service]()), "build": names(reflect.TypeFor[Build]()), "go_build": names(reflect.TypeFor[GoBuild]()),
	"service_metrics": names(reflect.TypeFor[ServiceMetrics]()), "labels": names(reflect.TypeFor[Labels]()),
	"target": names(reflect.TypeFor[Target]()), "query_api": names(reflect.TypeFor[QueryAPI]()),
}

// schemaLevels maps the loader's levels to where the schema describes them.
var schemaLevels = map[string][]string{
	"spec":    {},
	"load":    {"properties", "load"},
	"stage":   {"properties", "load", "properties", "stages", "items"},
	"slo":     {"properties", "slos", "items"},
	"compare": {"properties", "compare"},
	"round":   {"properties", "compare", "properties", "round"},
	"metrics": {"properties", "compare", "properties", "metrics"},
	"budget":  {"$defs", "budget"}, // which field a metric requires is said per metric

	"template": {"properties", "workload", "items"},
	"param":    {"$defs", "param"},
	"source":   {"$defs", "source"},

	"service":         {"properties", "service"},
	"build":           {"properties", "service", "properties", "build"},
	"go_build":        {"properties", "service", "properties", "build", "properties", "go"},
	"service_metrics": {"properties", "service", "properties", "metrics"},
	"labels":          {"properties", "service", "properties", "metrics", "properties", "labels"},
	"target":          {"properties", "target"},
	"query_api":       {"properties", "target", "properties", "query"},
}

func TestSchemaIsDraft202012(t *testing.T) {
	s := loadSchema(t)
	assert.Equal(t, "https://json-schema.org/draft/2020-12/schema", s["$schema"])
	committed, err := os.ReadFile(DefaultFile)
	require.NoError(t, err)
	assert.True(t, strings.HasPrefix(string(committed), "# yaml-language-server: $schema=./schema.json\n"),
		"slo.yaml must point editors at the schema on its first line")
}

func TestSchemaNamesExactlyTheFieldsTheLoaderAccepts(t *testing.T) {
	s := loadSchema(t)
	require.Len(t, schemaLevels, len(levels))
	for level, path := range schemaLevels {
		t.Run(level, func(t *testing.T) {
			o := at(t, s, path...)
			assert.Equal(t, "object", o["type"])
			assert.Equal(t, false, o["additionalProperties"], "the loader rejects unknown fields, so the schema must too")
			want := slices.Clone(levels[level])
			sort.Strings(want)
			assert.Equal(t, want, keys(o["properties"].(object)))
		})
	}
}

func TestSchemaEnumsMatchTheLoader(t *testing.T) {
	s := loadSchema(t)
	slo := at(t, s, "properties", "slos", "items")
	props := slo["properties"].(object)
	assert.Equal(t, sorted(metrics), strs(props["metric"].(object)["enum"]))
	assert.Equal(t, sorted([]Scope{Aggregate, PerInstance}), strs(props["scope"].(object)["enum"]))
	assert.Equal(t, sorted(units.All), strs(props["unit"].(object)["enum"]))

	// One if/then branch per metric gives editors the right limit format.
	var branches []string
	for _, b := range slo["allOf"].([]any) {
		c := b.(object)["if"].(object)["properties"].(object)["metric"].(object)["const"].(string)
		branches = append(branches, c)
	}
	sort.Strings(branches)
	assert.Equal(t, sorted(metrics), branches)
}

// withoutField parses knownGood, drops field from the mapping that find picks, and renders it again.
func withoutField(t *testing.T, find func(root *yaml.Node) *yaml.Node, field string) []byte {
	t.Helper()
	return withoutFieldOf(t, knownGood, find, field)
}

// knownGoodTarget is knownGood in target mode: a deployment, no comparison.
var knownGoodTarget = knownGood[:strings.Index(knownGood, "compare:\n")] + knownGood[strings.Index(knownGood, "workload:\n"):] + `target:
  urls: [http://127.0.0.1:8081, http://staging.example.com:8080]
  instances: [replica-1, replica-2]
  allow: [staging.example.com]
  max_rate: 200/s
  query:
    url: http://127.0.0.1:9090
    headers: {X-Scope-OrgID: PERF_QUERY_MIMIR_TENANT}
    selector: ['env="staging"']
    step: 15s
`

func withoutFieldOf(t *testing.T, good string, find func(root *yaml.Node) *yaml.Node, field string) []byte {
	t.Helper()
	var doc yaml.Node
	require.NoError(t, yaml.Unmarshal([]byte(good), &doc))
	m := find(doc.Content[0])
	for i := 0; i+1 < len(m.Content); i += 2 {
		if m.Content[i].Value == field {
			m.Content = slices.Delete(m.Content, i, i+2)
			break
		}
	}
	out, err := yaml.Marshal(&doc)
	require.NoError(t, err)
	return out
}

func get(m *yaml.Node, key string) *yaml.Node {
	for i := 0; i+1 < len(m.Content); i += 2 {
		if m.Content[i].Value == key {
			return m.Content[i+1]
		}
	}
	return nil
}

// Dropping a field the schema requires must make the loader say it is missing, and
// dropping any other field must not.
func TestSchemaRequiresExactlyWhatTheLoaderRequires(t *testing.T) {
	s := loadSchema(t)
	finders := map[string]func(*yaml.Node) *yaml.Node{
		"spec":    func(r *yaml.Node) *yaml.Node { return r },
		"load":    func(r *yaml.Node) *yaml.Node { return get(r, "load") },
		"stage":   func(r *yaml.Node) *yaml.Node { return get(get(r, "load"), "stages").Content[0] },
		"slo":     func(r *yaml.Node) *yaml.Node { return get(r, "slos").Content[0] }, // error_rate: no conditional fields
		"compare": func(r *yaml.Node) *yaml.Node { return get(r, "compare") },
		"round":   func(r *yaml.Node) *yaml.Node { return get(get(r, "compare"), "round") },
		"metrics": func(r *yaml.Node) *yaml.Node { return get(get(r, "compare"), "metrics") },

		"template": func(r *yaml.Node) *yaml.Node { return get(r, "workload").Content[2] }, // create: no pool to fall back from
		"param":    func(r *yaml.Node) *yaml.Node { return get(get(get(r, "workload").Content[0], "query"), "after") },
		"source":   func(r *yaml.Node) *yaml.Node { return get(get(get(r, "workload").Content[2], "capture"), "task") },

		"service":         func(r *yaml.Node) *yaml.Node { return get(r, "service") },
		"build":           func(r *yaml.Node) *yaml.Node { return get(get(r, "service"), "build") },
		"go_build":        func(r *yaml.Node) *yaml.Node { return get(get(get(r, "service"), "build"), "go") },
		"service_metrics": func(r *yaml.Node) *yaml.Node { return get(get(r, "service"), "metrics") },
		"labels":          func(r *yaml.Node) *yaml.Node { return get(get(get(r, "service"), "metrics"), "labels") },
		"target":          func(r *yaml.Node) *yaml.Node { return get(r, "target") },
		"query_api":       func(r *yaml.Node) *yaml.Node { return get(get(r, "target"), "query") },
	}

	for level, path := range schemaLevels {
		if level == "budget" {
			continue // below, per metric
		}
		o := at(t, s, path...)
		var required []string
		if r, ok := o["required"]; ok {
			required = strs(r)
		}
		for _, field := range levels[level] {
			t.Run(level+"."+field, func(t *testing.T) {
				good := knownGood
				if level == "target" || level == "query_api" {
					good = knownGoodTarget
				}
				_, err := Parse("slo.yaml", withoutFieldOf(t, good, finders[level], field))
				missing := `missing field "` + field + `"`
				if slices.Contains(required, field) {
					require.Error(t, err)
					assert.Contains(t, err.Error(), missing)
				} else if err != nil {
					assert.NotContains(t, err.Error(), missing)
				}
			})
		}
	}

	// Fields required for one metric only live in the if/then branches.
	slo := at(t, s, "properties", "slos", "items")
	sloIndex := map[string]int{"latency": 1, "custom": 5}
	for _, b := range slo["allOf"].([]any) {
		metric := b.(object)["if"].(object)["properties"].(object)["metric"].(object)["const"].(string)
		r, ok := b.(object)["then"].(object)["required"]
		if !ok {
			continue
		}
		for _, field := range strs(r) {
			t.Run(metric+"."+field, func(t *testing.T) {
				i, ok := sloIndex[metric]
				require.True(t, ok, "knownGood needs an SLO of metric %s", metric)
				find := func(r *yaml.Node) *yaml.Node { return get(r, "slos").Content[i] }
				_, err := Parse("slo.yaml", withoutField(t, find, field))
				require.Error(t, err)
				assert.Contains(t, err.Error(), `missing field "`+field+`"`)
			})
		}
	}

	// Each compared metric requires its one budget field: the one that points the bad way.
	metrics := at(t, s, "properties", "compare", "properties", "metrics")["properties"].(object)
	for _, metric := range []string{CompareP95, CompareThroughput, CompareErrorRate} { // those knownGood budgets
		required := strs(metrics[metric].(object)["required"])
		require.Len(t, required, 1, metric)
		for _, field := range levels["budget"] {
			t.Run("compare.metrics."+metric+"."+field, func(t *testing.T) {
				find := func(r *yaml.Node) *yaml.Node { return get(get(get(r, "compare"), "metrics"), metric) }
				_, err := Parse("slo.yaml", withoutField(t, find, field))
				if field == required[0] {
					require.Error(t, err)
					assert.Contains(t, err.Error(), `missing field "`+field+`"`)
				} else {
					assert.NoError(t, err)
				}
			})
		}
	}
}

// Every budget refuses the field of the other direction, in the schema as in the loader.
func TestSchemaBudgetsPointTheBadWay(t *testing.T) {
	s := loadSchema(t)
	metrics := at(t, s, "properties", "compare", "properties", "metrics")["properties"].(object)
	assert.Equal(t, sorted(compareMetrics), keys(metrics))
	for _, metric := range compareMetrics {
		m := metrics[metric].(object)
		want, other := "max_increase", "max_decrease"
		if metric == CompareThroughput {
			want, other = other, want
		}
		value := "10%"
		if u := budgetUnits[metric]; u.Difference() { // absolute, in its own unit: only a rise is a leak or a wait
			growth := at(t, s, "$defs", "difference_budget")
			assert.Equal(t, "#/$defs/difference_budget", m["$ref"], metric)
			assert.Equal(t, []string{want}, strs(growth["required"]), metric)
			assert.Equal(t, []string{want}, keys(growth["properties"].(object)), metric)
			value = u.Format(1024)
		} else {
			assert.Equal(t, "#/$defs/budget", m["$ref"], metric)
			assert.Equal(t, []string{want}, strs(m["required"]), metric)
			assert.Equal(t, object{other: false}, m["properties"], metric)
		}

		doc := fmt.Sprintf("compare:\n  round: {rate: 100/s}\n  metrics:\n    %s: {%s: %s, %s: %s}\n", metric, want, value, other, value)
		_, err := Parse("slo.yaml", []byte(strings.Replace(knownGood, knownGood[strings.Index(knownGood, "compare:"):], doc, 1)))
		require.Error(t, err, metric)
		assert.Contains(t, err.Error(), "compare.metrics."+metric+"."+other+": ", metric)
	}
}

// The schema's value patterns must agree with the loader on what is a valid value.
func TestSchemaPatternsAgreeWithTheLoader(t *testing.T) {
	s := loadSchema(t)
	defs := s["$defs"].(object)
	pattern := func(o object) *regexp.Regexp {
		if p, ok := o["pattern"].(string); ok {
			return regexp.MustCompile(p)
		}
		for _, alt := range o["oneOf"].([]any) { // rate: a number or a string
			if p, ok := alt.(object)["pattern"].(string); ok {
				return regexp.MustCompile(p)
			}
		}
		t.Fatalf("no pattern in %v", o)
		return nil
	}
	tests := []struct {
		def   string
		unit  Unit
		plain bool
		ins   []string
	}{
		{"duration", Seconds, false, []string{"50ms", "250us", "250µs", "1m30s", "0", "1.5h", "-5ms", "5", "5 s", "ms", "5sec"}},
		{"percentage", Ratio, false, []string{"1%", "0.5%", "150%", "-1%", "1", "1 %", "%", "1e2%"}},
		{"size", Bytes, false, []string{"96MiB", "1.5GiB", "100MB", "2kB", "512B", "96", "96mib", "96 MiB", "MiB"}},
		{"rate", PerSecond, false, []string{"120/s", "0.5/s", "120/m", "120 /s", "/s"}},
	}
	for _, tt := range tests {
		re := pattern(defs[tt.def].(object))
		for _, in := range tt.ins {
			_, err := parseIn(tt.unit, in, tt.plain)
			assert.Equal(t, err == nil, re.MatchString(in), "%s %q: loader error %v", tt.def, in, err)
		}
	}

	props := at(t, s, "properties", "slos", "items")["properties"].(object)
	name := regexp.MustCompile(props["name"].(object)["pattern"].(string))
	assert.Equal(t, nameRe.String(), name.String())
	route := regexp.MustCompile(props["route"].(object)["pattern"].(string))
	assert.Equal(t, routeRe.String(), route.String())
}
