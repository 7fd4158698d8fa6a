package thresholds

import (
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// Every committed latency limit is a bucket bound of the service's
// histogram, so no committed SLO can only read "cannot tell".
func TestCommittedLatencyLimitsAreBucketBounds(t *testing.T) {
	files, err := filepath.Glob("testdata/*.good.yaml")
	require.NoError(t, err)
	for _, f := range append(files, DefaultFile, "../perftest/fixtures/kvsvc/perf.yaml") {
		if filepath.Base(f) == "units.good.yaml" {
			continue // a test of unit syntax, never run
		}
		spec, err := ParseFile(f)
		require.NoError(t, err, f)
		assert.Empty(t, spec.Notes(), f)
	}
}

func TestCheckSaysWhenALatencyLimitFallsInsideABucket(t *testing.T) {
	src := strings.Replace(mustRead(t, DefaultFile), "max: 100ms              # a bucket bound", "max: 150ms              # inside", 1)
	spec, err := Parse("slo.yaml", []byte(src))
	require.NoError(t, err)
	assert.Equal(t, []string{`slo.yaml:133:5: slo "p99_latency_per_replica": max 150ms falls inside the latency histogram's bucket (100ms, 250ms] (service.metrics.buckets): ` +
		`a p99 in that bucket can only read "cannot tell", which is inconclusive; put the limit on 100ms or 250ms`}, spec.Notes())

	beyond := strings.Replace(src, "max: 150ms", "max: 20s", 1)
	spec, err = Parse("slo.yaml", []byte(beyond))
	require.NoError(t, err)
	require.Len(t, spec.Notes(), 1)
	assert.Contains(t, spec.Notes()[0], "bucket beyond 10s")
}

func mustRead(t *testing.T, f string) string {
	t.Helper()
	b, err := os.ReadFile(f)
	require.NoError(t, err)
	return string(b)
}
