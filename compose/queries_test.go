package compose

import (
	"errors"
	"fmt"
	"io"
	"maps"
	"regexp"
	"slices"
	"sort"
	"strings"

	dto "github.com/prometheus/client_model/go"
	"github.com/prometheus/common/expfmt"
	"github.com/prometheus/common/model"
	"github.com/prometheus/prometheus/model/labels"
	"github.com/prometheus/prometheus/promql/parser"
)

// catalog is what can be queried from Prometheus: every series name a scrape
// of the service yields, with the labels and values seen on it, plus the
// target labels Prometheus attaches and the series it synthesises per scrape.
type catalog struct {
	series map[string]*seriesInfo
}

type seriesInfo struct {
	family  string                     // the metric family it belongs to
	counter bool                       // rate() and increase() make sense on it
	labels  map[string]map[string]bool // label name -> values seen
}

// scrapeSeries are the series Prometheus itself writes for every target.
var scrapeSeries = []string{
	"up", "scrape_duration_seconds", "scrape_samples_scraped",
	"scrape_samples_post_metric_relabeling", "scrape_series_added",
}

// newCatalog reads a text exposition and adds targetLabels (job, instance
// values per target, as Prometheus would attach them) to every series.
func newCatalog(exposition io.Reader, targetLabels map[string][]string) (catalog, error) {
	p := expfmt.NewTextParser(model.UTF8Validation)
	families, err := p.TextToMetricFamilies(exposition)
	if err != nil {
		return catalog{}, fmt.Errorf("parsing the exposition: %w", err)
	}
	c := catalog{series: map[string]*seriesInfo{}}
	for name, f := range families {
		for _, m := range f.GetMetric() {
			base := map[string]string{}
			for _, lp := range m.GetLabel() {
				base[lp.GetName()] = lp.GetValue()
			}
			switch f.GetType() {
			case dto.MetricType_HISTOGRAM, dto.MetricType_GAUGE_HISTOGRAM:
				counter := f.GetType() == dto.MetricType_HISTOGRAM
				for _, b := range m.GetHistogram().GetBucket() {
					c.add(name+"_bucket", name, counter, base, "le", model.FloatString(b.GetUpperBound()).String())
				}
				c.add(name+"_bucket", name, counter, base, "le", "+Inf")
				c.add(name+"_sum", name, counter, base)
				c.add(name+"_count", name, counter, base)
			case dto.MetricType_SUMMARY:
				for _, q := range m.GetSummary().GetQuantile() {
					c.add(name, name, false, base, "quantile", model.FloatString(q.GetQuantile()).String())
				}
				c.add(name+"_sum", name, true, base)
				c.add(name+"_count", name, true, base)
			default:
				c.add(name, name, f.GetType() == dto.MetricType_COUNTER, base)
			}
		}
	}
	if len(c.series) == 0 {
		return catalog{}, errors.New("the exposition holds no series")
	}
	for _, name := range scrapeSeries {
		c.add(name, name, false, nil)
	}
	for _, s := range c.series {
		for label, values := range targetLabels {
			s.labels[label] = map[string]bool{}
			for _, v := range values {
				s.labels[label][v] = true
			}
		}
	}
	return c, nil
}

func (c catalog) add(name, family string, counter bool, base map[string]string, extra ...string) {
	s := c.series[name]
	if s == nil {
		s = &seriesInfo{family: family, counter: counter, labels: map[string]map[string]bool{}}
		c.series[name] = s
	}
	set := func(k, v string) {
		if s.labels[k] == nil {
			s.labels[k] = map[string]bool{}
		}
		s.labels[k][v] = true
	}
	for k, v := range base {
		set(k, v)
	}
	for i := 0; i+1 < len(extra); i += 2 {
		set(extra[i], extra[i+1])
	}
}

// closest suggests the known name nearest to name, for "did you mean".
func closest(name string, known []string) string {
	best, bestD := "", len(name)/2+2
	for _, k := range known {
		if d := editDistance(name, k); d < bestD {
			best, bestD = k, d
		}
	}
	return best
}

func editDistance(a, b string) int {
	prev := make([]int, len(b)+1)
	cur := make([]int, len(b)+1)
	for j := range prev {
		prev[j] = j
	}
	for i := 1; i <= len(a); i++ {
		cur[0] = i
		for j := 1; j <= len(b); j++ {
			cost := 1
			if a[i-1] == b[j-1] {
				cost = 0
			}
			cur[j] = min(prev[j]+1, cur[j-1]+1, prev[j-1]+cost)
		}
		prev, cur = cur, prev
	}
	return prev[len(b)]
}

// query is one PromQL expression and where it was found, for messages.
type query struct {
	where string
	expr  string
}

// grafanaVar matches $name, ${name}, ${name:format} and [[name]].
var grafanaVar = regexp.MustCompile(`\$\{(\w+)(?::[^}]*)?\}|\[\[(\w+)(?::[^\]]*)?\]\]|\$(\w+)`)

// builtinVars are Grafana's own variables, replaced by a value of their kind.
var builtinVars = map[string]string{
	"__rate_interval": "1m", "__interval": "1m", "__range": "1h",
	"__interval_ms": "60000", "__range_ms": "3600000", "__range_s": "3600",
}

// allValue is what a dashboard variable expands to for the check: the regex
// Grafana sends for "All".
const allValue = ".*"

// expandVars replaces Grafana variables so the PromQL parser accepts the
// expression; dashboard variables become allValue.
func expandVars(expr string, dashboardVars map[string]bool) (string, error) {
	var unknown []string
	out := grafanaVar.ReplaceAllStringFunc(expr, func(m string) string {
		sub := grafanaVar.FindStringSubmatch(m)
		name := sub[1] + sub[2] + sub[3]
		if v, ok := builtinVars[name]; ok {
			return v
		}
		if dashboardVars[name] {
			return allValue
		}
		unknown = append(unknown, "$"+name)
		return m
	})
	if len(unknown) > 0 {
		return "", fmt.Errorf("uses %s, which the dashboard does not define", strings.Join(unknown, ", "))
	}
	return out, nil
}

// parseQuery expands Grafana variables and parses the result as PromQL.
func parseQuery(p parser.Parser, text string, dashboardVars map[string]bool) (parser.Expr, error) {
	text, err := expandVars(text, dashboardVars)
	if err != nil {
		return nil, err
	}
	expr, err := p.ParseExpr(text)
	if err != nil {
		return nil, fmt.Errorf("PromQL does not parse: %w", err)
	}
	return expr, nil
}

// rangeFuncs are the functions that only make sense over a counter.
var rangeFuncs = map[string]bool{"rate": true, "irate": true, "increase": true}

// checkQueries parses every query and reports each problem, with where it is:
// a syntax error, a metric the catalog does not have, a label it does not
// carry, a value never seen on it, rate() over a gauge, and histogram_quantile
// over an aggregation that drops "le".
func checkQueries(queries []query, dashboardVars map[string]bool, cat catalog) []error {
	known := slices.Sorted(maps.Keys(cat.series))
	p := parser.NewParser(parser.Options{})
	var errs []error
	for _, q := range queries {
		fail := func(format string, args ...any) {
			errs = append(errs, fmt.Errorf("%s: %s", q.where, fmt.Sprintf(format, args...)))
		}
		expr, err := parseQuery(p, q.expr, dashboardVars)
		if err != nil {
			fail("%v", err)
			continue
		}
		parser.Inspect(expr, func(node parser.Node, _ []parser.Node) error {
			switch n := node.(type) {
			case *parser.VectorSelector:
				checkSelector(n, cat, known, fail)
			case *parser.AggregateExpr:
				checkGrouping(n, cat, fail)
			case *parser.Call:
				checkCall(n, cat, fail)
			}
			return nil
		})
	}
	return errs
}

func checkSelector(vs *parser.VectorSelector, cat catalog, known []string, fail func(string, ...any)) {
	if vs.Name == "" {
		fail("selector %s names no metric", vs)
		return
	}
	s, ok := cat.series[vs.Name]
	if !ok {
		if hint := closest(vs.Name, known); hint != "" {
			fail("metric %q is not exported by the service (did you mean %q?)", vs.Name, hint)
		} else {
			fail("metric %q is not exported by the service", vs.Name)
		}
		return
	}
	for _, m := range vs.LabelMatchers {
		if m.Name == labels.MetricName {
			continue
		}
		values, ok := s.labels[m.Name]
		if !ok {
			fail("%s has no label %q (it has %s)", vs.Name, m.Name, strings.Join(slices.Sorted(maps.Keys(s.labels)), ", "))
			continue
		}
		if m.Type != labels.MatchEqual && m.Type != labels.MatchNotEqual {
			continue
		}
		if m.Value == allValue {
			fail("%s: a dashboard variable in %s; Grafana expands All and multiple values to a regex, so use =~ or !~", vs.Name, m)
			continue
		}
		if m.Value != "" && !values[m.Value] {
			fail("%s never has %s=%q (seen: %s)", vs.Name, m.Name, m.Value, strings.Join(slices.Sorted(maps.Keys(values)), ", "))
		}
	}
}

// checkGrouping reports "by" labels that no series under the aggregation has,
// which would silently collapse every series into one.
func checkGrouping(a *parser.AggregateExpr, cat catalog, fail func(string, ...any)) {
	if a.Without || len(a.Grouping) == 0 {
		return
	}
	have := map[string]bool{}
	parser.Inspect(a.Expr, func(node parser.Node, _ []parser.Node) error {
		if vs, ok := node.(*parser.VectorSelector); ok {
			if s, ok := cat.series[vs.Name]; ok {
				for l := range s.labels {
					have[l] = true
				}
			}
		}
		return nil
	})
	if len(have) == 0 {
		return // the selectors are reported already
	}
	for _, g := range a.Grouping {
		if !have[g] {
			fail("%s by (%s): no series under it has the label %q", a.Op, strings.Join(a.Grouping, ", "), g)
		}
	}
}

func checkCall(c *parser.Call, cat catalog, fail func(string, ...any)) {
	switch {
	case rangeFuncs[c.Func.Name]:
		parser.Inspect(c, func(node parser.Node, _ []parser.Node) error {
			if vs, ok := node.(*parser.VectorSelector); ok {
				if s, ok := cat.series[vs.Name]; ok && !s.counter {
					fail("%s() over %s, which is not a counter", c.Func.Name, vs.Name)
				}
			}
			return nil
		})
	case c.Func.Name == "histogram_quantile" && len(c.Args) == 2:
		parser.Inspect(c.Args[1], func(node parser.Node, _ []parser.Node) error {
			a, ok := node.(*parser.AggregateExpr)
			if !ok {
				return nil
			}
			keepsLe := slices.Contains(a.Grouping, "le")
			if a.Without {
				keepsLe = !keepsLe
			}
			if !keepsLe {
				fail("histogram_quantile over %s that drops the \"le\" label", a.Op)
			}
			return nil
		})
	}
}

// usedFamilies returns the metric families the queries select from; queries
// that do not parse are left to checkQueries to report.
func usedFamilies(queries []query, dashboardVars map[string]bool, cat catalog) map[string]bool {
	p := parser.NewParser(parser.Options{})
	used := map[string]bool{}
	for _, q := range queries {
		expr, err := parseQuery(p, q.expr, dashboardVars)
		if err != nil {
			continue
		}
		parser.Inspect(expr, func(node parser.Node, _ []parser.Node) error {
			if vs, ok := node.(*parser.VectorSelector); ok && cat.series[vs.Name] != nil {
				used[cat.series[vs.Name].family] = true
			}
			return nil
		})
	}
	return used
}

// sortedErrors renders errors one per line in a stable order, for messages.
func sortedErrors(errs []error) string {
	lines := make([]string, len(errs))
	for i, e := range errs {
		lines[i] = e.Error()
	}
	sort.Strings(lines)
	return strings.Join(lines, "\n")
}
