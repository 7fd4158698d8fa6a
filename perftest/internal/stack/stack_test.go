package stack

import (
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
