package thresholds

import (
	"cmp"
	"fmt"
	"maps"
	"os"
	"path"
	"path/filepath"
	"regexp"
	"slices"
	"strings"

	"gopkg.in/yaml.v3"
)

// Service says how to build and run the service under test and which
// metrics it exports. A spec without a service section gates the reference
// task API (DefaultService).
type Service struct {
	Name     string            `yaml:"name"`                                                               // the Prometheus job and the image repository perfgate/<name>
	Build    Build             `yaml:"build" want:"a mapping with dockerfile (and context), go, or image"` // how to get the image
	Port     int               `yaml:"port"`                                                               // the port it listens on inside the container
	Ready    string            `yaml:"ready"`                                                              // readiness path: load starts only once it answers 2xx
	Args     []string          `yaml:"args"`                                                               // command-line arguments; {{.Instance}} is the replica's name
	Env      map[string]string `yaml:"env"`                                                                // environment; {{.Instance}} as in Args
	Replicas int               `yaml:"replicas"`                                                           // replicas per build
	Volume   string            `yaml:"volume"`                                                             // a path every replica of one build mounts from one shared volume ("" none)
	Profile  string            `yaml:"profile"`                                                            // where it serves Go\'s pprof endpoints, like /debug/pprof ("" none): a worse comparison then says which functions grew
	Metrics  ServiceMetrics    `yaml:"metrics" want:"a mapping of metric names"`
}

// Build is how the service's image comes to be. At least one way is set;
// Dockerfile (built inside the image, needs its base images) is tried before
// Go (a static build on the host wrapped in a FROM scratch Dockerfile, for
// machines without a registry); Image is used as it is.
type Build struct {
	Dockerfile string   `yaml:"dockerfile"`                                                       // a self-contained Dockerfile, relative to the spec's repository root
	Context    string   `yaml:"context"`                                                          // its build context, relative to the root; default the Dockerfile's directory
	Go         *GoBuild `yaml:"go" want:"a mapping with package, cgo, tags, dockerfile and dirs"` // host build
	Image      string   `yaml:"image"`                                                            // a prebuilt image reference
}

// GoBuild is a static Go build on the host: the binary, named after the
// package's last element unless Name says otherwise, is put beside
// Dockerfile in a fresh context.
type GoBuild struct {
	Package    string   `yaml:"package"`    // e.g. ./service/cmd/tasksvc, relative to the root
	Name       string   `yaml:"binary"`     // the binary's file name in the context; default the package's last element
	CGO        bool     `yaml:"cgo"`        // link C code statically (needs gcc and libc6-dev)
	Tags       []string `yaml:"tags"`       // build tags
	Dockerfile string   `yaml:"dockerfile"` // FROM scratch + COPY <binary>, relative to the root
	Dirs       []string `yaml:"dirs"`       // empty directories to create in the context (owned paths such as data/)
}

// Binary is the name the binary has in the build context; "" when the
// package path has no last element of its own (".") and Name is not set.
func (g GoBuild) Binary() string {
	if g.Name != "" {
		return g.Name
	}
	if b := path.Base(path.Clean(g.Package)); b != "." && b != ".." && b != "/" {
		return b
	}
	return ""
}

// ServiceMetrics names the series the gate reads. Allocation and GC counters
// exist for Go services only; leave them empty for others, and the cost
// metrics that need them read no data.
type ServiceMetrics struct {
	Requests     string `yaml:"requests"` // counter of requests served, labelled by method, route and code
	Duration     string `yaml:"duration"` // histogram of request duration in seconds (without _bucket)
	Labels       `yaml:"labels" want:"a mapping like {method: method, route: route, code: code}"`
	IgnoreRoutes []string `yaml:"ignore_routes"` // routes that are not user traffic: scrapes, probes
	// Buckets are the upper bounds of the duration histogram's buckets, in
	// seconds, when the spec states them: a latency limit inside a bucket
	// can only be judged "cannot tell" when the quantile lands there, and
	// check says so. Empty: not stated.
	Buckets    []float64 `yaml:"buckets" unit:"s" want:"a list of durations like [1ms, 5ms, 25ms]" item:"must be a duration like 25ms"`
	CPU        string    `yaml:"cpu"`         // counter of CPU seconds of the process
	Memory     string    `yaml:"memory"`      // gauge of resident memory in bytes
	Allocs     string    `yaml:"allocs"`      // counter of heap allocations
	AllocBytes string    `yaml:"alloc_bytes"` // counter of bytes allocated on the heap
	GCCycles   string    `yaml:"gc_cycles"`   // counter of completed GC cycles
	HeapLive   string    `yaml:"heap_live"`   // gauge of the heap live after the last GC, in bytes (or any gauge of retained memory)
	Goroutines string    `yaml:"goroutines"`  // gauge of goroutines
	// Waits are counters of seconds spent waiting for a lock or a pooled
	// connection (Go's mutex wait, database/sql's pool wait, HikariCP's
	// acquire time); wait_per_request is their sum per request served.
	Waits []string `yaml:"waits"`
	// Queries is a counter of statements run on the service's database,
	// queries_per_request's: an N+1 shows in it, whatever a query costs.
	Queries string `yaml:"queries"`
}

// Labels name the labels of the requests counter and duration histogram.
type Labels struct {
	Method string `yaml:"method"` // the label holding the HTTP method
	Route  string `yaml:"route"`  // the label holding the route (a pattern, not the raw path)
	Code   string `yaml:"code"`   // the label holding the status code
}

// DefaultMetrics are the reference service's names, used for fields a spec leaves out.
var DefaultMetrics = ServiceMetrics{
	Requests:     "tasksvc_http_requests_total",
	Duration:     "tasksvc_http_request_duration_seconds",
	Labels:       Labels{Method: "method", Route: "route", Code: "code"},
	IgnoreRoutes: []string{"/metrics", "/healthz", "/readyz"},
	Buckets:      []float64{.00025, .0005, .001, .0025, .005, .01, .025, .05, .1, .25, .5, 1, 2.5, 5, 10},
	CPU:          "tasksvc_process_cpu_seconds_total",
	Memory:       "tasksvc_process_resident_memory_bytes",
	Allocs:       "go_memstats_mallocs_total",
	AllocBytes:   "go_memstats_alloc_bytes_total",
	GCCycles:     "go_gc_duration_seconds_count",
	HeapLive:     "go_gc_heap_live_bytes",
	Goroutines:   "go_goroutines",
	Waits:        []string{"go_sync_mutex_wait_total_seconds_total", "go_sql_wait_duration_seconds_total"},
	Queries:      "tasksvc_db_queries_total",
}

// DefaultService is the reference task API under service/: what a spec
// without a service section gates, and the defaults of one that has it.
var DefaultService = Service{
	Name: "tasksvc",
	Build: Build{Dockerfile: "service/Dockerfile.build", Context: ".", Go: &GoBuild{
		Package:    "./service/cmd/tasksvc",
		CGO:        true,
		Tags:       []string{"netgo", "osusergo", "sqlite_omit_load_extension"},
		Dockerfile: "service/Dockerfile",
		Dirs:       []string{"data"},
	}},
	Port:     8080,
	Ready:    "/readyz",
	Args:     []string{"-db=/data/tasks.db", "-instance={{.Instance}}", "-pprof"},
	Replicas: 2,
	Volume:   "/data",
	Profile:  "/debug/pprof",
	Metrics:  DefaultMetrics,
}

// InstancePlaceholder is replaced in args and env by the replica's name.
const InstancePlaceholder = "{{.Instance}}"

// Expand replaces the instance placeholder in s.
func Expand(s, instance string) string { return strings.ReplaceAll(s, InstancePlaceholder, instance) }

func (s *Service) defaults(*yaml.Node) {
	*s = DefaultService
	s.Build = Build{}
	s.Args, s.Volume, s.Profile = nil, "", "" // the reference service's own
}

func (m *ServiceMetrics) decodeNode(d *decoder, n *yaml.Node, at place) {
	*m = DefaultMetrics
	type plain ServiceMetrics
	written := d.object(n, at, (*plain)(m))
	if m.Duration != DefaultMetrics.Duration && written["buckets"] == nil {
		m.Buckets = nil // another histogram's buckets are not known unless stated
	}
}

var (
	metricName = regexp.MustCompile(`^[a-zA-Z_:][a-zA-Z0-9_:]*$`)
	labelName  = regexp.MustCompile(`^[a-zA-Z_][a-zA-Z0-9_]*$`)
	// serviceName is a Prometheus job name and a Docker repository name.
	serviceName = regexp.MustCompile(`^[a-z0-9]+(_[a-z0-9]+)*$`)
	envName     = regexp.MustCompile(`^[A-Za-z_][A-Za-z0-9_]*$`)
	buildTag    = regexp.MustCompile(`^[A-Za-z0-9_.]+$`)
)

// service checks the service section; paths are relative to the repository root.
func (v *validator) service() {
	s := v.spec.Service
	if s == nil {
		return
	}
	if v.ok("service.name") && !serviceName.MatchString(s.Name) {
		v.fail("service.name", "%q is not a valid name: lower-case letters and digits, words joined by single _ like tasks_api (it becomes the Prometheus job and the image perfgate/<name>, which Docker wants in lower case)", s.Name)
	}
	for i, a := range s.Args {
		v.instanceOnly(fmt.Sprintf("service.args[%d]", i), a)
	}
	for _, name := range slices.Sorted(maps.Keys(s.Env)) {
		v.instanceOnly("service.env."+name, s.Env[name])
	}
	b := s.Build
	if v.ok("service.build") {
		switch {
		case b.Image == "" && b.Dockerfile == "" && b.Go == nil:
			v.fail("service.build", "says neither how to build nor which image to run: give dockerfile, go or image")
		case b.Image != "" && (b.Dockerfile != "" || b.Go != nil):
			v.fail("service.build.image", "a prebuilt image is used as it is: leave out dockerfile and go")
		}
		if b.Context != "" && b.Dockerfile == "" {
			v.fail("service.build.context", "is the build context of dockerfile, which is not set")
		}
		if v.notFlag("service.build.image", b.Image) {
			for _, p := range []struct{ field, val string }{{"service.build.dockerfile", b.Dockerfile}, {"service.build.context", b.Context}} {
				if v.notFlag(p.field, p.val) {
					v.relPath(p.field, p.val)
				}
			}
		}
		if g := b.Go; g != nil && v.ok("service.build.go") {
			if !v.present("service.build.go.package", g.Package != "") {
				v.missing("service.build.go", "package", "name the main package, like ./cmd/server")
			} else if v.notFlag("service.build.go.package", g.Package) && v.notFlag("service.build.go.binary", g.Name) {
				v.relPath("service.build.go.package", g.Package)
				if g.Binary() == "" && v.ok("service.build.go.binary") {
					v.fail("service.build.go.package", "%q has no name of its own for the binary: give binary, the file name the Dockerfile copies", g.Package)
				}
			}
			if g.Name != "" && (strings.ContainsAny(g.Name, `/\`) || g.Name == "." || g.Name == "..") {
				v.fail("service.build.go.binary", "%q must be a plain file name", g.Name)
			}
			if v.given("service.build.go", "dockerfile", g.Dockerfile != "", "name the Dockerfile that copies the binary, like FROM scratch + COPY "+cmp.Or(g.Binary(), "<binary>")) &&
				v.notFlag("service.build.go.dockerfile", g.Dockerfile) {
				v.relPath("service.build.go.dockerfile", g.Dockerfile)
			}
			for i, tag := range g.Tags {
				if f := fmt.Sprintf("service.build.go.tags[%d]", i); v.notFlag(f, tag) && !buildTag.MatchString(tag) {
					v.fail(f, "%q is not a build tag: letters, digits, _ and .", tag)
				}
			}
			for i, dir := range g.Dirs {
				f := fmt.Sprintf("service.build.go.dirs[%d]", i)
				if v.notFlag(f, dir) && (dir == "" || strings.Contains(dir, "..") || path.IsAbs(dir)) {
					v.fail(f, "%q must be a plain relative directory name", dir)
				}
			}
		}
	}
	if v.ok("service.port") && (s.Port < 1 || s.Port > 65535) {
		v.fail("service.port", "%d is not a port: use 1..65535", s.Port)
	}
	if v.ok("service.ready") && !strings.HasPrefix(s.Ready, "/") {
		v.fail("service.ready", "%q must be a path starting with /", s.Ready)
	}
	if v.ok("service.replicas") && (s.Replicas < 1 || s.Replicas > 8) {
		v.fail("service.replicas", "%d replicas: use 1..8 (they share this machine with the load and Prometheus)", s.Replicas)
	}
	if v.ok("service.profile") && s.Profile != "" && (!strings.HasPrefix(s.Profile, "/") || strings.ContainsAny(s.Profile, "?#") || path.Clean(s.Profile) != s.Profile || s.Profile == "/") {
		v.fail("service.profile", "%q must be a clean path starting with /, like /debug/pprof", s.Profile)
	}
	if v.ok("service.volume") && s.Volume != "" && (!path.IsAbs(s.Volume) || s.Volume == "/") {
		v.fail("service.volume", "%q must be an absolute path inside the container, not /", s.Volume)
	}
	for name := range s.Env {
		if !envName.MatchString(name) {
			v.fail("service.env."+name, "%q is not an environment variable name", name)
		}
	}
	m := s.Metrics
	for _, x := range []struct {
		field, val string
		required   bool
	}{
		{"requests", m.Requests, true}, {"duration", m.Duration, true}, {"cpu", m.CPU, false}, {"memory", m.Memory, false},
		{"allocs", m.Allocs, false}, {"alloc_bytes", m.AllocBytes, false}, {"gc_cycles", m.GCCycles, false},
		{"queries", m.Queries, false},
	} {
		p := "service.metrics." + x.field
		switch {
		case !v.ok(p):
		case x.val == "" && x.required:
			v.fail(p, "must name a metric: the gate counts requests and their duration from it")
		case x.val != "" && !metricName.MatchString(x.val):
			v.fail(p, "%q is not a Prometheus metric name", x.val)
		}
	}
	for i, w := range m.Waits {
		switch p, j := fmt.Sprintf("service.metrics.waits[%d]", i), slices.Index(m.Waits, w); {
		case !v.ok(p):
		case !metricName.MatchString(w):
			v.fail(p, "%q is not a Prometheus metric name", w)
		case j < i:
			v.fail(p, "%q is named twice (first at service.metrics.waits[%d]): its waits would count twice", w, j)
		}
	}
	if strings.HasSuffix(m.Duration, "_bucket") && v.ok("service.metrics.duration") {
		v.fail("service.metrics.duration", "%q: name the histogram without its _bucket suffix", m.Duration)
	}
	for _, x := range []struct{ field, val string }{{"method", m.Method}, {"route", m.Route}, {"code", m.Code}} {
		p := "service.metrics.labels." + x.field
		if v.ok(p) && !labelName.MatchString(x.val) {
			v.fail(p, "%q is not a Prometheus label name", x.val)
		}
	}
	v.costMetricsNeed(m)
}

// instanceOnly refuses Go-template text in an argument or environment value
// other than InstancePlaceholder, the one that is replaced: the service
// would get anything else as written.
func (v *validator) instanceOnly(field, s string) {
	rest := strings.ReplaceAll(s, InstancePlaceholder, "")
	if !v.ok(field) || !strings.Contains(rest, "{{") && !strings.Contains(rest, "}}") {
		return
	}
	if strings.Contains(strings.ReplaceAll(rest, " ", ""), InstancePlaceholder) {
		v.fail(field, "%q: write %s without spaces: it is the one placeholder, replaced by the replica's name", s, InstancePlaceholder)
		return
	}
	v.fail(field, "%q: only %s is replaced (by the replica's name); the service would get any other {{…}} as written", s, InstancePlaceholder)
}

// CheckFiles says which of the files the spec's service section names are
// missing from the repository at root, with the place they are named at.
func (s *Spec) CheckFiles(root string) error {
	svc := s.Service
	if svc == nil {
		return nil
	}
	v := &validator{spec: s, bad: map[string]bool{}}
	exists := func(field, p string, dir bool) {
		if p == "" {
			return
		}
		fi, err := os.Stat(filepath.Join(root, filepath.FromSlash(p)))
		switch {
		case err != nil:
			v.fail(field, "%q: no such file in the repository at %s", p, root)
		case dir && !fi.IsDir():
			v.fail(field, "%q: not a directory", p)
		case !dir && fi.IsDir():
			v.fail(field, "%q: a directory, not a file", p)
		}
	}
	exists("service.build.dockerfile", svc.Build.Dockerfile, false)
	exists("service.build.context", svc.Build.Context, true)
	if g := svc.Build.Go; g != nil {
		exists("service.build.go.dockerfile", g.Dockerfile, false)
	}
	return v.errs.err()
}

// notFlag refuses a build field that starts with "-": it becomes an
// argument of go or docker, which would read it as a flag. It reports
// whether val is fine.
func (v *validator) notFlag(field, val string) bool {
	if !strings.HasPrefix(val, "-") {
		return true
	}
	v.fail(field, "%q starts with \"-\", which the build would read as a flag: name a path or a name", val)
	return false
}

// relPath checks that a path stays inside the repository.
func (v *validator) relPath(field, p string) {
	if p == "" || !v.ok(field) {
		return
	}
	clean := path.Clean(strings.TrimPrefix(p, "./"))
	if path.IsAbs(p) || clean == ".." || strings.HasPrefix(clean, "../") {
		v.fail(field, "%q must be relative to the repository root and stay inside it", p)
	}
}

// costMetricsNeed refuses an SLO or budget on a cost metric whose counter the service does not export.
func (v *validator) costMetricsNeed(m ServiceMetrics) {
	need := map[Metric]string{CPUPerRequest: m.CPU, CPU: m.CPU, Memory: m.Memory, AllocsPerRequest: m.Allocs, BytesPerRequest: m.AllocBytes}
	field := map[Metric]string{CPUPerRequest: "cpu", CPU: "cpu", Memory: "memory", AllocsPerRequest: "allocs", BytesPerRequest: "alloc_bytes"}
	for i, slo := range v.spec.SLOs {
		if name, ok := need[slo.Metric]; ok && name == "" {
			v.fail(fmt.Sprintf("slos[%d].metric", i), "%s needs service.metrics.%s, which is empty", slo.Metric, field[slo.Metric])
		}
	}
	if c := v.spec.Compare; c != nil {
		type series struct{ field, name string }
		budgetNeeds := map[string]series{CompareCPUPerRequest: {"cpu", m.CPU}, CompareAllocs: {"allocs", m.Allocs},
			CompareAllocBytes: {"alloc_bytes", m.AllocBytes}, ComparePeakRSS: {"memory", m.Memory}, CompareRSSGrowth: {"memory", m.Memory},
			CompareWaitPerRequest: {"waits", strings.Join(m.Waits, ",")}, CompareQueries: {"queries", m.Queries}}
		for _, b := range c.Metrics {
			if s, ok := budgetNeeds[b.Metric]; ok && s.name == "" {
				v.fail("compare.metrics."+b.Metric, "needs service.metrics.%s, which is empty: name the service's series, or leave the budget out", s.field)
			}
		}
	}
}
