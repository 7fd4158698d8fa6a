package stack

import (
	"context"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

var victoriaReplicas = []Replica{{Name: "replica-1"}, {Name: "replica-2", Variant: "candidate"}}

// The scrape configuration is Prometheus's, less the one field that
// VictoriaMetrics rejects when it parses strictly.
func TestVictoriaScrapeConfigIsPrometheusLessEvaluationInterval(t *testing.T) {
	prom := PrometheusConfig("tasksvc", 8080, victoriaReplicas, time.Second)
	vm := VictoriaScrapeConfig("tasksvc", 8080, victoriaReplicas, time.Second)
	assert.Contains(t, prom, "  evaluation_interval: 1s\n")
	assert.NotContains(t, vm, "evaluation_interval")
	assert.Equal(t, strings.Replace(prom, "  evaluation_interval: 1s\n", "", 1), vm)
	assert.Contains(t, vm, "- targets: ['replica-2:8080']\n        labels: {instance: replica-2, variant: candidate}\n")
}

func TestVictoriaArgsShowRecentSamplesAndParseStrictly(t *testing.T) {
	args := VictoriaArgs()
	for _, want := range []string{
		"-search.latencyOffset=0s",
		"-promscrape.config.strictParse=true",
		"-promscrape.config=" + victoriaScrapeFile,
		"-httpListenAddr=:8428",
		"-retentionPeriod=1d",
	} {
		assert.Contains(t, args, want)
	}
}

func TestVictoriaInstallIsPinnedStaticAndLocal(t *testing.T) {
	args, env := victoriaInstall("v1.151.0", "/cache/bin")
	assert.Equal(t, "install", args[0])
	assert.Equal(t, VictoriaMetricsPackage+"@v1.151.0", args[len(args)-1])
	assert.Contains(t, strings.Join(args, " "), "buildinfo.Version=victoria-metrics-v1.151.0")
	assert.Contains(t, env, "GOBIN=/cache/bin")
	assert.Contains(t, env, "CGO_ENABLED=0")
	assert.Contains(t, env, "GOTOOLCHAIN=local")
}

// cachedVictoria is the VictoriaMetrics binary when it has been built. These
// tests do not build it: a compile of minutes on every core would disturb
// the other packages' tests running beside them; the target-mode tests in
// ./perftest, which run alone, build it and fail when it cannot be built.
func cachedVictoria(t *testing.T) string {
	t.Helper()
	if testing.Short() {
		t.Skip("runs VictoriaMetrics: skipped with -short")
	}
	bin, ok := VictoriaMetricsCached(VictoriaMetricsVersion)
	if !ok {
		t.Skipf("VictoriaMetrics %s is not built yet (%s): go test -run Victoria ./perftest builds it", VictoriaMetricsVersion, bin)
	}
	return bin
}

// The binary itself checks the rendered configuration (-dryRun): the
// scrape config is accepted under strict parsing, Prometheus's own is not.
func TestVictoriaMetricsAcceptsItsScrapeConfig(t *testing.T) {
	bin := cachedVictoria(t)
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	dir := t.TempDir()
	check := func(conf string) (string, error) {
		f := filepath.Join(dir, "scrape.yml")
		require.NoError(t, os.WriteFile(f, []byte(conf), 0o644))
		out, err := exec.CommandContext(ctx, bin, "-dryRun", "-promscrape.config="+f, "-promscrape.config.strictParse=true").CombinedOutput()
		return string(out), err
	}
	out, err := check(VictoriaScrapeConfig("tasksvc", 8080, victoriaReplicas, time.Second))
	require.NoError(t, err, out)
	out, err = check(PrometheusConfig("tasksvc", 8080, victoriaReplicas, time.Second))
	require.Error(t, err, "VictoriaMetrics accepted a field it does not know")
	assert.Contains(t, out, "evaluation_interval")

	version, err := exec.CommandContext(ctx, bin, "-version").Output()
	require.NoError(t, err)
	assert.Equal(t, "victoria-metrics-"+VictoriaMetricsVersion, strings.TrimSpace(string(version)))
}

func TestVictoriaMetricsImageIsBuilt(t *testing.T) {
	bin := cachedVictoria(t)
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Minute)
	defer cancel()
	if err := Ping(ctx); err != nil {
		if os.Getenv("PERF_REQUIRE_DOCKER") != "" {
			t.Fatal(err)
		}
		t.Skip(err)
	}
	img, err := VictoriaMetricsImage(ctx, bin, testWriter{t})
	require.NoError(t, err)
	assert.True(t, strings.HasPrefix(img.Tag, "perfgate/victoria-metrics:"), img.Tag)
	assert.Contains(t, img.Source, "victoria-metrics-"+VictoriaMetricsVersion)
	t.Logf("victoria-metrics image: %s (%s)", img.Tag, img.Source)
}

func TestStartVictoriaMetricsWantsAStartedStack(t *testing.T) {
	_, err := (&Stack{}).StartVictoriaMetrics(context.Background(), VictoriaConfig{Image: "unused"})
	require.ErrorContains(t, err, "start it first")
}
