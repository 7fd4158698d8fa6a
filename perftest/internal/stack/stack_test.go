package stack

import (
	"context"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"gopkg.in/yaml.v3"
)

func TestPrometheusConfigLabelsEveryReplica(t *testing.T) {
	conf := PrometheusConfig("tasksvc", 8080, []Replica{
		{Name: "baseline-1", Variant: "baseline"},
		{Name: "candidate-1", Variant: "candidate"},
	}, time.Second)
	var c struct {
		Global        map[string]string `yaml:"global"`
		ScrapeConfigs []struct {
			JobName       string `yaml:"job_name"`
			StaticConfigs []struct {
				Targets []string          `yaml:"targets"`
				Labels  map[string]string `yaml:"labels"`
			} `yaml:"static_configs"`
		} `yaml:"scrape_configs"`
	}
	require.NoError(t, yaml.Unmarshal([]byte(conf), &c), conf)
	assert.Equal(t, "1s", c.Global["scrape_interval"])
	require.Len(t, c.ScrapeConfigs, 1)
	assert.Equal(t, "tasksvc", c.ScrapeConfigs[0].JobName)
	sc := c.ScrapeConfigs[0].StaticConfigs
	require.Len(t, sc, 2)
	assert.Equal(t, []string{"baseline-1:8080"}, sc[0].Targets)
	assert.Equal(t, map[string]string{"instance": "baseline-1", "variant": "baseline"}, sc[0].Labels)
	assert.Equal(t, map[string]string{"instance": "candidate-1", "variant": "candidate"}, sc[1].Labels)
}

func TestPrometheusConfigOfASingleVariantHasNoVariantLabel(t *testing.T) {
	conf := PrometheusConfig("tasksvc", 8080, []Replica{{Name: "replica-1"}}, time.Second)
	assert.Contains(t, conf, "labels: {instance: replica-1}\n")
	assert.NotContains(t, conf, "variant")
}

func TestNewNamesTheReplicasBeforeAnyStarts(t *testing.T) {
	s := New(Config{Replicas: 2})
	require.NotEmpty(t, s.RunID)
	var names []string
	for _, r := range s.Replicas {
		names = append(names, r.Name)
	}
	assert.Equal(t, []string{"replica-1", "replica-2"}, names)
	assert.Equal(t, time.Second, s.ScrapeInterval())
	assert.Contains(t, PrometheusConfig("tasksvc", 8080, s.Replicas, s.ScrapeInterval()), "targets: ['replica-2:8080']",
		"Prometheus can be configured, and started, before the replicas exist")

	s = New(Config{Replicas: 1, Variants: []Variant{{Name: "baseline"}, {Name: "candidate"}}})
	names = nil
	for _, r := range s.Replicas {
		names = append(names, r.Name+"/"+r.Variant)
	}
	assert.Equal(t, []string{"baseline-1/baseline", "candidate-1/candidate"}, names)
}

func TestStartReplicasWantsOneImagePerVariant(t *testing.T) {
	s := New(Config{Replicas: 1, Variants: []Variant{{Name: "baseline"}, {Name: "candidate"}}})
	err := s.StartReplicas(context.Background(), "perfgate/tasksvc:one")
	require.EqualError(t, err, "1 images for 2 variants")
	assert.Empty(t, s.containers(), "nothing was started")
}
