package thresholds

import (
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

func TestServiceSectionDecodes(t *testing.T) {
	s, err := Parse("slo.yaml", []byte(knownGood))
	require.NoError(t, err)
	require.NotNil(t, s.Service)
	svc := s.ServiceOrDefault()
	assert.Equal(t, "kvsvc", svc.Name)
	assert.Equal(t, Build{Dockerfile: "kv/Dockerfile.multistage", Context: ".", Go: &GoBuild{
		Package: "./kv/cmd/kvsvc", Tags: []string{"netgo"}, Dockerfile: "kv/Dockerfile", Dirs: []string{"data"},
	}}, svc.Build)
	assert.Equal(t, "kvsvc", svc.Build.Go.Binary())
	assert.Equal(t, 8081, svc.Port)
	assert.Equal(t, "/healthz", svc.Ready)
	assert.Equal(t, []string{"-name=replica-2"}, []string{Expand(svc.Args[0], "replica-2")})
	assert.Equal(t, map[string]string{"KV_MODE": "fast"}, svc.Env)
	assert.Equal(t, 3, svc.Replicas)
	assert.Equal(t, ServiceMetrics{
		Requests: "kv_requests_total", Duration: "kv_request_duration_seconds",
		Labels: Labels{Method: "verb", Route: "path", Code: "status"}, IgnoreRoutes: []string{"/metrics", "/healthz"},
		CPU: "process_cpu_seconds_total", Memory: "process_resident_memory_bytes",
		Allocs: "go_memstats_mallocs_total", AllocBytes: "go_memstats_alloc_bytes_total", GCCycles: "go_gc_duration_seconds_count",
		HeapLive: "go_gc_heap_live_bytes", Goroutines: "go_goroutines", Waits: DefaultMetrics.Waits, Queries: DefaultMetrics.Queries, // left out: the defaults
	}, svc.Metrics)
}

func TestNoServiceSectionIsTheReferenceService(t *testing.T) {
	i := strings.Index(knownGood, "service:\n")
	s, err := Parse("slo.yaml", []byte(knownGood[:i]))
	require.NoError(t, err)
	assert.Nil(t, s.Service)
	assert.Equal(t, DefaultService, s.ServiceOrDefault())
}

func TestAServiceSectionTakesTheReferenceNamesAsDefaults(t *testing.T) {
	i := strings.Index(knownGood, "service:\n")
	s, err := Parse("slo.yaml", []byte(knownGood[:i]+"service:\n  build: {image: example/app:1}\n"))
	require.NoError(t, err)
	svc := s.ServiceOrDefault()
	assert.Equal(t, Build{Image: "example/app:1"}, svc.Build)
	assert.Equal(t, DefaultMetrics, svc.Metrics)
	assert.Equal(t, 8080, svc.Port)
	assert.Equal(t, 2, svc.Replicas)
	assert.Empty(t, svc.Args, "the reference service's flags belong to it")
	assert.Empty(t, svc.Volume, "a volume is shared only when asked for")
}

func TestServiceSectionErrors(t *testing.T) {
	i := strings.Index(knownGood, "service:\n")
	base := knownGood[:i]
	line := strings.Count(base, "\n") + 1 // the line of "service:"
	tests := []struct {
		name, service, want string
	}{
		{"no way to build", "service:\n  build: {}\n",
			"slo.yaml:L+1:10: service.build: says neither how to build nor which image to run: give dockerfile, go or image"},
		{"an image and a build", "service:\n  build: {image: a/b, dockerfile: Dockerfile}\n",
			"slo.yaml:L+1:18: service.build.image: a prebuilt image is used as it is: leave out dockerfile and go"},
		{"a context without a dockerfile", "service:\n  build: {image: a/b, context: .}\n",
			"slo.yaml:L+1:32: service.build.context: is the build context of dockerfile, which is not set"},
		{"a path leaving the repository", "service:\n  build: {dockerfile: ../x/Dockerfile}\n",
			`slo.yaml:L+1:23: service.build.dockerfile: "../x/Dockerfile" must be relative to the repository root and stay inside it`},
		{"a go build without its package", "service:\n  build: {go: {dockerfile: Dockerfile}}\n",
			`slo.yaml:L+1:15: service.build.go: missing field "package": name the main package, like ./cmd/server`},
		{"a go build without its dockerfile", "service:\n  build: {go: {package: ./cmd/app}}\n",
			`slo.yaml:L+1:15: service.build.go: missing field "dockerfile": name the Dockerfile that copies the binary, like FROM scratch + COPY app`},
		{"a root package without a binary name", "service:\n  build: {go: {package: ., dockerfile: D}}\n",
			`slo.yaml:L+1:25: service.build.go.package: "." has no name of its own for the binary: give binary, the file name the Dockerfile copies`},
		{"a binary name with a slash", "service:\n  build: {go: {package: ., binary: a/b, dockerfile: D}}\n",
			`slo.yaml:L+1:36: service.build.go.binary: "a/b" must be a plain file name`},
		{"cgo is a boolean", "service:\n  build: {go: {package: ./a, dockerfile: D, cgo: yes}}\n",
			`slo.yaml:L+1:50: service.build.go.cgo: must be true or false, got "yes"`},
		{"a port out of range", "service:\n  build: {image: a}\n  port: 70000\n",
			"slo.yaml:L+2:9: service.port: 70000 is not a port: use 1..65535"},
		{"a ready path without a slash", "service:\n  build: {image: a}\n  ready: healthz\n",
			`slo.yaml:L+2:10: service.ready: "healthz" must be a path starting with /`},
		{"too many replicas", "service:\n  build: {image: a}\n  replicas: 9\n",
			"slo.yaml:L+2:13: service.replicas: 9 replicas: use 1..8 (they share this machine with the load and Prometheus)"},
		{"a relative volume", "service:\n  build: {image: a}\n  volume: data\n",
			`slo.yaml:L+2:11: service.volume: "data" must be an absolute path inside the container, not /`},
		{"a bad env name", "service:\n  build: {image: a}\n  env: {1X: a}\n",
			`slo.yaml:L+2:13: service.env.1X: "1X" is not an environment variable name`},
		{"a bad metric name", "service:\n  build: {image: a}\n  metrics: {requests: a-b}\n",
			`slo.yaml:L+2:23: service.metrics.requests: "a-b" is not a Prometheus metric name`},
		{"a histogram named by its buckets", "service:\n  build: {image: a}\n  metrics: {duration: d_bucket}\n",
			`slo.yaml:L+2:23: service.metrics.duration: "d_bucket": name the histogram without its _bucket suffix`},
		{"no request counter", "service:\n  build: {image: a}\n  metrics: {requests: \"\"}\n",
			"slo.yaml:L+2:23: service.metrics.requests: must name a metric: the gate counts requests and their duration from it"},
		{"a bad label name", "service:\n  build: {image: a}\n  metrics: {labels: {code: status-code}}\n",
			`slo.yaml:L+2:28: service.metrics.labels.code: "status-code" is not a Prometheus label name`},
		{"a cost SLO without its counter", "service:\n  build: {image: a}\n  metrics: {cpu: \"\"}\n",
			"slo.yaml:20:13: slos[2].metric: cpu needs service.metrics.cpu, which is empty"},
		{"an unknown field", "service:\n  build: {image: a}\n  replica: 2\n",
			`slo.yaml:L+2:3: service: unknown field "replica"`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := Parse("slo.yaml", []byte(base+tt.service))
			require.Error(t, err)
			want := strings.NewReplacer("L+1", strconv.Itoa(line+1), "L+2", strconv.Itoa(line+2)).Replace(tt.want)
			assert.Equal(t, want, err.Error())
		})
	}
}

func TestCommittedSpecWritesOutTheDefaultService(t *testing.T) {
	s, err := ParseFile(DefaultFile)
	require.NoError(t, err)
	require.NotNil(t, s.Service, "slo.yaml shows a new user the whole service section")
	assert.Equal(t, DefaultService, *s.Service)
}

func TestCheckFilesFindsWhatTheBuildNeeds(t *testing.T) {
	root := t.TempDir()
	require.NoError(t, os.MkdirAll(filepath.Join(root, "svc"), 0o755))
	require.NoError(t, os.WriteFile(filepath.Join(root, "svc", "Dockerfile"), []byte("FROM scratch\n"), 0o644))
	const head = "version: 1\nload:\n  stages: [{duration: 10s, target: 50/s}]\nworkload: [{name: home, path: /}]\n" +
		"slos: [{name: errors, metric: error_rate, max: 1%}]\nservice:\n  name: kv\n  build: "
	spec := func(build string) *Spec {
		s, err := Parse("spec.yaml", []byte(head+build+"\n"))
		require.NoError(t, err)
		return s
	}
	assert.NoError(t, spec("{dockerfile: svc/Dockerfile}").CheckFiles(root))
	assert.NoError(t, spec("{dockerfile: svc/Dockerfile, context: svc}").CheckFiles(root))
	assert.NoError(t, spec("{image: kv:1}").CheckFiles(root))
	err := spec("{dockerfile: svc/Dockerfile.nope, context: nowhere}").CheckFiles(root)
	require.Error(t, err)
	assert.Equal(t, fmt.Sprintf("spec.yaml:8:23: service.build.dockerfile: \"svc/Dockerfile.nope\": no such file in the repository at %s\n"+
		"spec.yaml:8:53: service.build.context: \"nowhere\": no such file in the repository at %s", root, root), err.Error())
	err = spec("{dockerfile: svc}").CheckFiles(root)
	assert.ErrorContains(t, err, `service.build.dockerfile: "svc": a directory, not a file`)
	assert.NoError(t, (&Spec{}).CheckFiles(root), "no service section: the reference service, which is checked in")
}
