package compose

import (
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/prometheus/prometheus/promql/parser"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// fixtureTargets are the labels Prometheus attaches in the stack.
var fixtureTargets = map[string][]string{"job": {"tasksvc"}, "instance": {"replica-1", "replica-2"}}

func fixtureCatalog(t *testing.T) catalog {
	t.Helper()
	f, err := os.Open(filepath.Join("testdata", "metrics.txt"))
	require.NoError(t, err)
	defer f.Close()
	cat, err := newCatalog(f, fixtureTargets)
	require.NoError(t, err)
	return cat
}

// Syntax and variables are checked without the service, so -short still
// catches a dashboard that does not parse.
func TestDashboardQueriesParse(t *testing.T) {
	s, err := loadStack(".")
	require.NoError(t, err)
	p := parser.NewParser(parser.Options{})
	for file, d := range s.dashboards {
		qs, err := d.queries()
		require.NoError(t, err, file)
		require.NotEmpty(t, qs, "%s has no queries", file)
		for _, q := range qs {
			_, err := parseQuery(p, q.expr, d.variables())
			assert.NoError(t, err, "%s: %s", file, q.where)
		}
	}
}

func TestCheckerAcceptsGoodDashboard(t *testing.T) {
	var d dashboard
	require.NoError(t, decodeJSON(filepath.Join("testdata", "good.dashboard.json"), &d))
	qs, err := d.queries()
	require.NoError(t, err)
	require.Len(t, qs, 3, "two panel targets inside a collapsed row and one variable")
	assert.Empty(t, sortedErrors(checkQueries(qs, d.variables(), fixtureCatalog(t))))
}

func TestCheckerReportsMisspelledMetricInDashboard(t *testing.T) {
	var d dashboard
	require.NoError(t, decodeJSON(filepath.Join("testdata", "misspelled.dashboard.json"), &d))
	qs, err := d.queries()
	require.NoError(t, err)
	assert.Equal(t,
		`panel "p95 latency" (id 3) target A: metric "tasksvc_http_request_duration_second_bucket" is not exported by the service (did you mean "tasksvc_http_request_duration_seconds_bucket"?)`,
		sortedErrors(checkQueries(qs, d.variables(), fixtureCatalog(t))))
}

func TestCheckerReportsEachMistake(t *testing.T) {
	cases := []struct {
		name string
		expr string
		want string
	}{
		{
			name: "a correct query passes",
			expr: `sum by (route) (rate(tasksvc_http_requests_total{job="tasksvc", route!="/metrics", code=~"5.."}[$__rate_interval]))`,
		},
		{
			name: "series Prometheus writes per target are known",
			expr: `sum(up{job="tasksvc", instance=~"$instance"})`,
		},
		{
			name: "a summary's count is a counter",
			expr: `rate(go_gc_duration_seconds_count[$__rate_interval])`,
		},
		{
			name: "an unknown metric with no near name gets no suggestion",
			expr: `node_load1`,
			want: `q: metric "node_load1" is not exported by the service`,
		},
		{
			name: "a label the metric does not carry is reported",
			expr: `tasksvc_http_requests_total{rout!="/metrics"}`,
			want: `q: tasksvc_http_requests_total has no label "rout" (it has code, instance, job, method, route)`,
		},
		{
			name: "a label value never seen is reported",
			expr: `tasksvc_http_requests_total{route!="/metric"}`,
			want: `q: tasksvc_http_requests_total never has route="/metric" (seen: /metrics, /tasks)`,
		},
		{
			name: "a job other than the scrape job is reported",
			expr: `up{job="tasks"}`,
			want: `q: up never has job="tasks" (seen: tasksvc)`,
		},
		{
			name: "a dashboard variable behind = is reported",
			expr: `tasksvc_http_requests_in_flight{instance="$instance"}`,
			want: `q: tasksvc_http_requests_in_flight: a dashboard variable in instance=".*"; Grafana expands All and multiple values to a regex, so use =~ or !~`,
		},
		{
			name: "an undefined variable is reported",
			expr: `tasksvc_http_requests_in_flight{instance=~"$replica"}`,
			want: `q: uses $replica, which the dashboard does not define`,
		},
		{
			name: "a syntax error is reported",
			expr: `sum(rate(tasksvc_http_requests_total[1m])`,
			want: `q: PromQL does not parse: 1:42: parse error: unclosed left parenthesis`,
		},
		{
			name: "rate over a gauge is reported",
			expr: `rate(tasksvc_http_requests_in_flight[1m])`,
			want: `q: rate() over tasksvc_http_requests_in_flight, which is not a counter`,
		},
		{
			name: "grouping by a label no series has is reported",
			expr: `sum by (path) (rate(tasksvc_http_requests_total[1m]))`,
			want: `q: sum by (path): no series under it has the label "path"`,
		},
		{
			name: "histogram_quantile over buckets summed without le is reported",
			expr: `histogram_quantile(0.99, sum by (route) (rate(tasksvc_http_request_duration_seconds_bucket[1m])))`,
			want: `q: histogram_quantile over sum that drops the "le" label`,
		},
		{
			name: "a selector without a metric name is reported",
			expr: `{job="tasksvc"}`,
			want: `q: selector {job="tasksvc"} names no metric`,
		},
	}
	cat := fixtureCatalog(t)
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			errs := checkQueries([]query{{where: "q", expr: tc.expr}}, map[string]bool{"instance": true}, cat)
			assert.Equal(t, tc.want, sortedErrors(errs))
		})
	}
}

func TestExpandVars(t *testing.T) {
	got, err := expandVars(`rate(x{a=~"${instance:regex}", b=~"[[route]]"}[$__rate_interval]) * $__range_s`, map[string]bool{"instance": true, "route": true})
	require.NoError(t, err)
	assert.Equal(t, `rate(x{a=~".*", b=~".*"}[1m]) * 3600`, got)
}

func TestNewCatalogRejectsEmptyExposition(t *testing.T) {
	_, err := newCatalog(strings.NewReader("# nothing here\n"), fixtureTargets)
	assert.EqualError(t, err, "the exposition holds no series")
}
