package stack

import (
	"context"
	"os"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
)

func TestPrometheusImageRunsPrometheus(t *testing.T) {
	if testing.Short() {
		t.Skip("builds a container image: skipped with -short")
	}
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Minute)
	defer cancel()
	if err := Ping(ctx); err != nil {
		if os.Getenv("PERF_REQUIRE_DOCKER") != "" {
			t.Fatal(err)
		}
		t.Skip(err)
	}
	img, err := PrometheusImage(ctx, testWriter{t})
	require.NoError(t, err)
	require.NotEmpty(t, img.Tag)
	t.Logf("prometheus image: %s (%s)", img.Tag, img.Source)
	require.True(t, strings.Contains(img.Source, "local image around") || strings.Contains(img.Source, "upstream") || strings.Contains(img.Source, "PERF_PROMETHEUS_IMAGE"), img.Source)
}

type testWriter struct{ t *testing.T }

func (w testWriter) Write(p []byte) (int, error) {
	w.t.Log(strings.TrimRight(string(p), "\n"))
	return len(p), nil
}
