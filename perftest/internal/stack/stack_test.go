package stack

import (
	"context"
	"testing"
	"time"

	"github.com/moby/moby/api/types/container"
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

func TestPinnedReplicasShareEachCPUAcrossBuilds(t *testing.T) {
	// Two builds of two replicas on two CPUs: baseline-1 and candidate-1 on
	// CPU 0, baseline-2 and candidate-2 on CPU 1.
	var got []string
	for i := range 4 {
		got = append(got, cpuOf(i, 2, 2))
	}
	assert.Equal(t, []string{"0", "1", "0", "1"}, got)
	// Three replicas a build on two CPUs wrap around, the same for each build.
	got = nil
	for i := range 6 {
		got = append(got, cpuOf(i, 3, 2))
	}
	assert.Equal(t, []string{"0", "1", "0", "0", "1", "0"}, got)
	assert.Equal(t, "1", cpuOf(3, 2, 8), "more CPUs than replicas: the rest stay free for the generator")
	assert.Empty(t, cpuOf(1, 2, 0), "an engine that cannot pin: not pinned")
}

func TestStartReplicasWantsOneImagePerVariant(t *testing.T) {
	s := New(Config{Replicas: 1, Variants: []Variant{{Name: "baseline"}, {Name: "candidate"}}})
	err := s.StartReplicas(context.Background(), "perfgate/tasksvc:one")
	require.EqualError(t, err, "1 images for 2 variants")
	assert.Empty(t, s.containers(), "nothing was started")
}

func TestHardenedDropsEverythingAndBoundsTheContainer(t *testing.T) {
	hc := &container.HostConfig{CapAdd: []string{"NET_ADMIN"}, Privileged: true}
	loopbackOnly(prometheusPort)(hc)
	hardened(storeLimits, map[string]string{"/prometheus": "size=256m"}, "/etc/prometheus")(hc)
	assert.Equal(t, []string{"ALL"}, hc.CapDrop)
	assert.Empty(t, hc.CapAdd)
	assert.False(t, hc.Privileged)
	assert.Equal(t, []string{"no-new-privileges:true"}, hc.SecurityOpt)
	assert.True(t, hc.ReadonlyRootfs)
	assert.Equal(t, map[string]string{"/prometheus": "size=256m"}, hc.Tmpfs)
	require.Len(t, hc.Mounts, 1)
	assert.Equal(t, "/etc/prometheus", hc.Mounts[0].Target)
	assert.Empty(t, hc.Mounts[0].Source, "an anonymous volume, removed with the container")
	assert.Equal(t, storeLimits.memory, hc.Memory)
	assert.Equal(t, hc.Memory, hc.MemorySwap, "no swap beyond the limit")
	require.NotNil(t, hc.PidsLimit)
	assert.Equal(t, storeLimits.pids, *hc.PidsLimit)
	assert.Len(t, hc.PortBindings, 1, "the loopback binding stays")

	assert.Equal(t, "rw,noexec,nosuid,nodev,mode=1777,size=64m,uid=65532,gid=65532", tmpfsFor("65532:65532", "64m"))
	assert.Equal(t, "rw,noexec,nosuid,nodev,mode=1777,size=64m,uid=1000", tmpfsFor("1000", "64m"))
	assert.Equal(t, "rw,noexec,nosuid,nodev,mode=1777,size=64m", tmpfsFor("app", "64m"))
	for user, root := range map[string]bool{"": true, "0": true, "root": true, "0:0": true, "root:root": true, "65532:65532": false, "app": false} {
		assert.Equal(t, root, isRoot(user), user)
	}
}
