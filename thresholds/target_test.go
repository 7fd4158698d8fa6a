package thresholds

import (
	"strconv"
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

func TestTargetSectionDecodes(t *testing.T) {
	s, err := Parse("slo.yaml", []byte(knownGoodTarget))
	require.NoError(t, err)
	require.NotNil(t, s.Target)
	assert.Equal(t, Target{
		URLs:      []string{"http://127.0.0.1:8081", "http://staging.example.com:8080"},
		Instances: []string{"replica-1", "replica-2"},
		Allow:     []string{"staging.example.com"},
		MaxRate:   200,
		Query: QueryAPI{URL: "http://127.0.0.1:9090", Headers: map[string]string{"X-Scope-OrgID": "PERF_QUERY_MIMIR_TENANT"},
			Selector: []string{`env="staging"`}, Step: 15},
	}, *s.Target)
}

func TestTargetSectionErrors(t *testing.T) {
	i := strings.Index(knownGoodTarget, "target:\n")
	base := strings.ReplaceAll(knownGoodTarget[:i], "    scope: per_instance\n", "") // no instances below
	line := strings.Count(base, "\n") + 1
	q := "  query: {url: http://127.0.0.1:9090}\n"
	tests := []struct{ name, target, want string }{
		{"a host that is not allowed", "target:\n  urls: [http://10.0.0.7:8080]\n  max_rate: 200/s\n" + q,
			`slo.yaml:L+1:10: target.urls[0]: host "10.0.0.7" is not loopback and not in target.allow: name it there to load it`},
		{"an allowed host without a cap", "target:\n  urls: [http://10.0.0.7:8080]\n  allow: [10.0.0.7]\n" + q,
			"slo.yaml:L+1:3: target: a target beyond this machine is loaded only under a rate cap: give max_rate, like 200/s"},
		{"a load above the cap", "target:\n  urls: [http://10.0.0.7:8080]\n  allow: [10.0.0.7]\n  max_rate: 50/s\n" + q,
			"slo.yaml:L+3:13: target.max_rate: the load peaks at 120/s, above the cap of 50/s"},
		{"no query API", "target:\n  urls: [http://127.0.0.1:8080]\n",
			`slo.yaml:L+1:3: target: missing field "query": say where the deployment's metrics are: query: {url: http://127.0.0.1:9090}`},
		{"a header value written out", "target:\n  urls: [http://127.0.0.1:8080]\n  query: {url: http://127.0.0.1:9090, headers: {Authorization: Bearer abc}}\n",
			`slo.yaml:L+2:64: target.query.headers.Authorization: "Bearer abc" is not an environment variable name: a header's value is read from the environment, never written here`},
		{"a bad selector", "target:\n  urls: [http://127.0.0.1:8080]\n  query: {url: http://127.0.0.1:9090, selector: [env=staging]}\n",
			`slo.yaml:L+2:50: target.query.selector[0]: "env=staging" is not a label matcher like env="staging"`},
		{"instances that do not match the urls", "target:\n  urls: [http://127.0.0.1:8080]\n  instances: [a, b]\n" + q,
			"slo.yaml:L+2:14: target.instances: names 2 instances for 1 urls: give one per url, in order"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := Parse("slo.yaml", []byte(base+tt.target))
			require.Error(t, err)
			r := strings.NewReplacer("L+1", strconv.Itoa(line+1), "L+2", strconv.Itoa(line+2), "L+3", strconv.Itoa(line+3))
			assert.Equal(t, r.Replace(tt.want), err.Error())
		})
	}

	_, err := Parse("slo.yaml", []byte(knownGoodTarget[:i]+"target:\n  urls: [http://127.0.0.1:8080]\n"+q))
	require.Error(t, err)
	assert.Contains(t, err.Error(), "slos[2].scope: per_instance needs target.instances: the instance label of each url's series")

	_, err = Parse("slo.yaml", []byte(knownGood+"target:\n  urls: [http://127.0.0.1:8080]\n"+q))
	require.Error(t, err)
	assert.Contains(t, err.Error(), "target: a target is one deployment: leave out compare")
}
