package stack

import (
	"context"
	"io"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/perfgate/perfgate/perftest/internal/door"
	"github.com/perfgate/perfgate/thresholds"
)

// TestMain is this package's door: testcontainers is configured for the
// machine once, as the gate's doors do.
func TestMain(m *testing.M) {
	door.Testcontainers(os.Getenv)
	os.Exit(m.Run())
}

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
	img, err := PrometheusImage(ctx, PrometheusSource{Image: os.Getenv("PERF_PROMETHEUS_IMAGE"), Bin: os.Getenv("PERF_PROMETHEUS_BIN")}, testWriter{t})
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

func TestBaseImagesLeaveOutScratchAndStages(t *testing.T) {
	f := filepath.Join(t.TempDir(), "Dockerfile")
	require.NoError(t, os.WriteFile(f, []byte(`# syntax=docker/dockerfile:1
FROM --platform=$BUILDPLATFORM golang:1.26-bookworm AS build
RUN go build ./...
FROM build AS test
from debian:bookworm-slim as tools
FROM scratch
COPY --from=build /out /app
`), 0o644))
	got, err := baseImages(f)
	require.NoError(t, err)
	assert.Equal(t, []string{"golang:1.26-bookworm", "debian:bookworm-slim"}, got)
}

// The tag of a host build is the hash of its inputs: editing one Go file of
// the package changes it, a file the build does not read does not.
func TestGoInputsHashFollowsWhatTheBuildReads(t *testing.T) {
	dir := t.TempDir()
	write := func(name, body string) {
		require.NoError(t, os.MkdirAll(filepath.Dir(filepath.Join(dir, name)), 0o755))
		require.NoError(t, os.WriteFile(filepath.Join(dir, name), []byte(body), 0o644))
	}
	write("go.mod", "module example.com/m\n\ngo 1.22\n")
	write("cmd/app/main.go", "package main\n\nimport \"example.com/m/lib\"\n\nfunc main() { lib.F() }\n")
	write("lib/lib.go", "package lib\n\nfunc F() {}\n")
	write("other/other.go", "package other\n")
	hash := func() string {
		h, err := goInputsHash(context.Background(), dir, "./cmd/app", os.Environ(), nil)
		require.NoError(t, err)
		return h
	}
	h0 := hash()
	write("other/other.go", "package other // edited\n")
	assert.Equal(t, h0, hash(), "a package the build does not import")
	write("lib/lib.go", "package lib\n\nfunc F() { println() }\n")
	assert.NotEqual(t, h0, hash(), "a dependency inside the module")
}

func TestAHostGoBuildRefusesAFlagForAPackage(t *testing.T) {
	marker := filepath.Join(t.TempDir(), "ran")
	for _, g := range []thresholds.GoBuild{
		{Package: "-toolexec=touch " + marker, Name: "app", Dockerfile: "Dockerfile"},
		{Package: "./cmd/app", Tags: []string{"-toolexec=x"}, Dockerfile: "Dockerfile"},
		{Package: "./cmd/app", Name: "-o", Dockerfile: "Dockerfile"},
	} {
		_, err := hostGoBuild(context.Background(), t.TempDir(), "perfgate/app", g, io.Discard)
		require.Error(t, err)
		assert.Contains(t, err.Error(), `starts with "-", which go would read as a flag`)
	}
	assert.NoFileExists(t, marker)
}
