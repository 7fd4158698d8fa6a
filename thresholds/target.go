package thresholds

import (
	"fmt"
	"net/url"
	"regexp"
	"strings"

	"gopkg.in/yaml.v3"
)

// Target is an existing deployment the gate loads and reads instead of
// starting containers: its instances' URLs and the Prometheus-compatible
// query API (Prometheus, Thanos, Mimir, VictoriaMetrics, Cortex) that holds
// its metrics. The metric names are the service section's.
type Target struct {
	URLs      []string `yaml:"urls"`                                                               // one base URL per instance
	Instances []string `yaml:"instances"`                                                          // the instance label of each URL's series; default none (read all together)
	Allow     []string `yaml:"allow"`                                                              // hosts beyond loopback that may be loaded
	MaxRate   float64  `yaml:"max_rate" unit:"1/s" spec:"plain" want:"expected a rate like 200/s"` // requests per second no stage may exceed; required beyond loopback
	Query     QueryAPI `yaml:"query" want:"a mapping with url, headers, selector and step"`
}

// QueryAPI is how the gate reaches the deployment's metrics.
type QueryAPI struct {
	URL      string            `yaml:"url"`                                               // base URL of the Prometheus HTTP API
	Headers  map[string]string `yaml:"headers"`                                           // header name → environment variable (named HeaderEnvPrefix…) holding its value, never the value itself
	Selector []string          `yaml:"selector"`                                          // label matchers selecting this deployment's series, like env="staging"
	Step     float64           `yaml:"step" unit:"s" want:"expected a duration like 15s"` // seconds the store's samples are apart (its scrape interval); queries align to it
}

// HeaderEnvPrefix starts the name of every environment variable a query
// header may be read from: a spec from a pull request reads only what the
// workflow set aside for the gate, never the runner's other secrets.
const HeaderEnvPrefix = "PERF_QUERY_"

func (t *Target) defaults(*yaml.Node) { *t = Target{Query: QueryAPI{Step: 1}} }

var matcherRe = regexp.MustCompile(`^[a-zA-Z_][a-zA-Z0-9_]*(=|!=|=~|!~)"([^"\\]|\\.)*"$`)

// target checks the target section: every URL loopback or allowed, a rate
// cap beyond loopback that the load stays under, a query API, selectors.
func (v *validator) target() {
	t := v.spec.Target
	if t == nil {
		return
	}
	if v.spec.Compare != nil {
		v.fail("target", "a target is one deployment: leave out compare (a comparison needs a baseline and a candidate deployment)")
	}
	if v.ok("target.urls") && len(t.URLs) == 0 {
		v.missing("target", "urls", "list the base URL of each instance, like http://10.0.0.7:8080")
	}
	for i, a := range t.Allow {
		if err := checkAllow(a); err != nil {
			v.fail(fmt.Sprintf("target.allow[%d]", i), "%v", err)
		}
	}
	remote := false
	for i, raw := range t.URLs {
		p := fmt.Sprintf("target.urls[%d]", i)
		u, err := url.Parse(raw)
		switch {
		case err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Hostname() == "":
			v.fail(p, "%q is not an http(s) base URL", Redacted(raw))
		case u.User != nil || u.RawQuery != "" || u.ForceQuery || u.Fragment != "":
			v.fail(p, "%q: a base URL takes no user info, query or fragment", Redacted(raw))
		case !Allowed(u.Hostname(), t.Allow):
			v.fail(p, "host %q is not loopback and not in target.allow: name it there to load it", u.Hostname())
		case !Loopback(u.Hostname()):
			remote = true
		}
	}
	for i, slo := range v.spec.SLOs {
		if slo.Scope == PerInstance && len(t.Instances) == 0 {
			v.fail(fmt.Sprintf("slos[%d].scope", i), "per_instance needs target.instances: the instance label of each url's series")
		}
	}
	if len(t.Instances) > 0 && len(t.Instances) != len(t.URLs) {
		v.fail("target.instances", "names %d instances for %d urls: give one per url, in order", len(t.Instances), len(t.URLs))
	}
	if v.ok("target.max_rate") {
		switch {
		case remote && t.MaxRate <= 0:
			v.fail("target", "a target beyond this machine is loaded only under a rate cap: give max_rate, like 200/s")
		case t.MaxRate < 0:
			v.fail("target.max_rate", "must be > 0")
		case t.MaxRate > 0 && v.spec.Load.peak() > t.MaxRate:
			v.fail("target.max_rate", "the load peaks at %s, above the cap of %s", PerSecond.Format(v.spec.Load.peak()), PerSecond.Format(t.MaxRate))
		}
	}
	q := t.Query
	switch u, err := url.Parse(q.URL); {
	case !v.ok("target.query.url"):
	case q.URL == "" && !v.present("target.query", false):
		v.missing("target", "query", "say where the deployment's metrics are: query: {url: http://127.0.0.1:9090}")
	case q.URL == "":
		v.missing("target.query", "url", "give the base URL of the Prometheus HTTP API, like http://127.0.0.1:9090")
	case err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "":
		v.fail("target.query.url", "%q is not an http(s) URL", Redacted(q.URL))
	case u.User != nil:
		v.fail("target.query.url", "%q: credentials do not go in the URL, which every report prints: send them with target.query.headers (Authorization: %sAUTH)", Redacted(q.URL), HeaderEnvPrefix)
	case u.RawQuery != "" || u.ForceQuery:
		v.fail("target.query.url", "%q: the URL takes no query string, which every report prints: send credentials or a tenant with target.query.headers", Redacted(q.URL))
	case u.Fragment != "":
		v.fail("target.query.url", "%q: the URL takes no fragment", Redacted(q.URL))
	case len(q.Headers) > 0 && u.Scheme != "https" && !Loopback(u.Hostname()):
		v.fail("target.query.headers", "would go to %s in the clear: use an https url, or a query API on loopback", u.Host)
	}
	for name, env := range q.Headers {
		switch {
		case !envName.MatchString(env):
			v.fail("target.query.headers."+name, "%q is not an environment variable name: a header's value is read from the environment, never written here", env)
		case !strings.HasPrefix(env, HeaderEnvPrefix) || env == HeaderEnvPrefix:
			like := HeaderEnvPrefix + strings.TrimPrefix(env, "PERF_")
			if env == HeaderEnvPrefix {
				like = HeaderEnvPrefix + "TOKEN"
			}
			v.fail("target.query.headers."+name, "$%s: a header's value is read only from a variable named %s…, like %s", env, HeaderEnvPrefix, like)
		}
	}
	for i, m := range q.Selector {
		if !matcherRe.MatchString(m) {
			v.fail(fmt.Sprintf("target.query.selector[%d]", i), `%q is not a label matcher like env="staging"`, m)
		}
	}
	if v.ok("target.query.step") && q.Step <= 0 {
		v.fail("target.query.step", "must be > 0")
	}
}
