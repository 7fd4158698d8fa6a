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
	Name     string            // the Prometheus job and the image repository perfgate/<name>
	Build    Build             // how to get the image
	Port     int               // the port it listens on inside the container
	Ready    string            // readiness path: load starts only once it answers 2xx
	Args     []string          // command-line arguments; {{.Instance}} is the replica's name
	Env      map[string]string // environment; {{.Instance}} as in Args
	Replicas int               // replicas per build
	Volume   string            // a path every replica of one build mounts from one shared volume ("" none)
	Metrics  ServiceMetrics
}

// Build is how the service's image comes to be. At least one way is set;
// Dockerfile (built inside the image, needs its base images) is tried before
// Go (a static build on the host wrapped in a FROM scratch Dockerfile, for
// machines without a registry); Image is used as it is.
type Build struct {
	Dockerfile string   // a self-contained Dockerfile, relative to the spec's repository root
	Context    string   // its build context, relative to the root; default the Dockerfile's directory
	Go         *GoBuild // host build
	Image      string   // a prebuilt image reference
}

// GoBuild is a static Go build on the host: the binary, named after the
// package's last element unless Name says otherwise, is put beside
// Dockerfile in a fresh context.
type GoBuild struct {
	Package    string   // e.g. ./service/cmd/tasksvc, relative to the root
	Name       string   // the binary's file name in the context; default the package's last element
	CGO        bool     // link C code statically (needs gcc and libc6-dev)
	Tags       []string // build tags
	Dockerfile string   // FROM scratch + COPY <binary>, relative to the root
	Dirs       []string // empty directories to create in the context (owned paths such as data/)
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
	Requests     string   // counter of requests served, labelled by method, route and code
	Duration     string   // histogram of request duration in seconds (without _bucket)
	Method       string   // the label holding the HTTP method
	Route        string   // the label holding the route (a pattern, not the raw path)
	Code         string   // the label holding the status code
	IgnoreRoutes []string // routes that are not user traffic: scrapes, probes
	// Buckets are the upper bounds of the duration histogram's buckets, in
	// seconds, when the spec states them: a latency limit inside a bucket
	// can only be judged "cannot tell" when the quantile lands there, and
	// check says so. Empty: not stated.
	Buckets    []float64
	CPU        string // counter of CPU seconds of the process
	Memory     string // gauge of resident memory in bytes
	Allocs     string // counter of heap allocations
	AllocBytes string // counter of bytes allocated on the heap
	GCCycles   string // counter of completed GC cycles
}

// DefaultMetrics are the reference service's names, used for fields a spec leaves out.
var DefaultMetrics = ServiceMetrics{
	Requests:     "tasksvc_http_requests_total",
	Duration:     "tasksvc_http_request_duration_seconds",
	Method:       "method",
	Route:        "route",
	Code:         "code",
	IgnoreRoutes: []string{"/metrics", "/healthz", "/readyz"},
	Buckets:      []float64{.00025, .0005, .001, .0025, .005, .01, .025, .05, .1, .25, .5, 1, 2.5, 5, 10},
	CPU:          "tasksvc_process_cpu_seconds_total",
	Memory:       "tasksvc_process_resident_memory_bytes",
	Allocs:       "go_memstats_mallocs_total",
	AllocBytes:   "go_memstats_alloc_bytes_total",
	GCCycles:     "go_gc_duration_seconds_count",
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
	Args:     []string{"-db=/data/tasks.db", "-instance={{.Instance}}"},
	Replicas: 2,
	Volume:   "/data",
	Metrics:  DefaultMetrics,
}

// InstancePlaceholder is replaced in args and env by the replica's name.
const InstancePlaceholder = "{{.Instance}}"

// Expand replaces the instance placeholder in s.
func Expand(s, instance string) string { return strings.ReplaceAll(s, InstancePlaceholder, instance) }

func init() {
	fieldsOf["service"] = []string{"name", "build", "port", "ready", "args", "env", "replicas", "volume", "metrics"}
	fieldsOf["build"] = []string{"dockerfile", "context", "go", "image"}
	fieldsOf["go_build"] = []string{"package", "binary", "cgo", "tags", "dockerfile", "dirs"}
	fieldsOf["service_metrics"] = []string{"requests", "duration", "labels", "ignore_routes", "buckets", "cpu", "memory", "allocs", "alloc_bytes", "gc_cycles"}
	fieldsOf["labels"] = []string{"method", "route", "code"}
}

func (d *decoder) service(n *yaml.Node) *Service {
	s := DefaultService
	s.Build = Build{}
	s.Args, s.Volume = nil, "" // the reference service's own
	f := d.fields(n, "service", "service", "a mapping with name, build, port, ready, args, env, replicas, volume and metrics")
	if f == nil {
		return &s
	}
	if v := f["name"]; v != nil {
		s.Name = d.str(v, "service.name")
	}
	if v := f["build"]; v != nil {
		s.Build = d.build(v)
	}
	if v := f["port"]; v != nil {
		s.Port = d.int(v, "service.port")
	}
	if v := f["ready"]; v != nil {
		s.Ready = d.str(v, "service.ready")
	}
	if v := f["args"]; v != nil {
		s.Args = d.strings(v, "service.args")
		if v.Kind == yaml.SequenceNode {
			for i, item := range v.Content {
				d.src[fmt.Sprintf("service.args[%d]", i)] = srcPos{line: item.Line, col: item.Column, raw: item.Value, scalar: item.Kind == yaml.ScalarNode}
			}
		}
	}
	if v := f["env"]; v != nil {
		s.Env = d.stringMap(v, "service.env")
	}
	if v := f["replicas"]; v != nil {
		s.Replicas = d.int(v, "service.replicas")
	}
	if v := f["volume"]; v != nil {
		s.Volume = d.str(v, "service.volume")
	}
	if v := f["metrics"]; v != nil {
		s.Metrics = d.serviceMetrics(v)
	}
	return &s
}

func (d *decoder) build(n *yaml.Node) Build {
	var b Build
	f := d.fields(n, "service.build", "build", "a mapping with dockerfile (and context), go, or image")
	if v := f["dockerfile"]; v != nil {
		b.Dockerfile = d.str(v, "service.build.dockerfile")
	}
	if v := f["context"]; v != nil {
		b.Context = d.str(v, "service.build.context")
	}
	if v := f["image"]; v != nil {
		b.Image = d.str(v, "service.build.image")
	}
	if v := f["go"]; v != nil {
		g := GoBuild{}
		gf := d.fields(v, "service.build.go", "go_build", "a mapping with package, cgo, tags, dockerfile and dirs")
		if x := gf["package"]; x != nil {
			g.Package = d.str(x, "service.build.go.package")
		}
		if x := gf["binary"]; x != nil {
			g.Name = d.str(x, "service.build.go.binary")
		}
		if x := gf["cgo"]; x != nil {
			g.CGO = d.bool(x, "service.build.go.cgo")
		}
		if x := gf["tags"]; x != nil {
			g.Tags = d.strings(x, "service.build.go.tags")
		}
		if x := gf["dockerfile"]; x != nil {
			g.Dockerfile = d.str(x, "service.build.go.dockerfile")
		}
		if x := gf["dirs"]; x != nil {
			g.Dirs = d.strings(x, "service.build.go.dirs")
		}
		b.Go = &g
	}
	return b
}

func (d *decoder) serviceMetrics(n *yaml.Node) ServiceMetrics {
	m := DefaultMetrics
	f := d.fields(n, "service.metrics", "service_metrics", "a mapping of metric names")
	for _, x := range []struct {
		name string
		dst  *string
	}{
		{"requests", &m.Requests}, {"duration", &m.Duration}, {"cpu", &m.CPU}, {"memory", &m.Memory},
		{"allocs", &m.Allocs}, {"alloc_bytes", &m.AllocBytes}, {"gc_cycles", &m.GCCycles},
	} {
		if v := f[x.name]; v != nil {
			*x.dst = d.str(v, "service.metrics."+x.name)
		}
	}
	if v := f["ignore_routes"]; v != nil {
		m.IgnoreRoutes = d.strings(v, "service.metrics.ignore_routes")
	}
	if m.Duration != DefaultMetrics.Duration {
		m.Buckets = nil // another histogram's buckets are not known unless stated
	}
	if v := f["buckets"]; v != nil {
		m.Buckets = nil
		for i, item := range d.list(v, "service.metrics.buckets", "a list of durations like [1ms, 5ms, 25ms]") {
			m.Buckets = append(m.Buckets, d.value(item, fmt.Sprintf("service.metrics.buckets[%d]", i), Seconds, false, "must be a duration like 25ms"))
		}
	}
	if v := f["labels"]; v != nil {
		lf := d.fields(v, "service.metrics.labels", "labels", "a mapping like {method: method, route: route, code: code}")
		for _, x := range []struct {
			name string
			dst  *string
		}{{"method", &m.Method}, {"route", &m.Route}, {"code", &m.Code}} {
			if v := lf[x.name]; v != nil {
				*x.dst = d.str(v, "service.metrics.labels."+x.name)
			}
		}
	}
	return m
}

// strings reads a list of strings.
func (d *decoder) strings(n *yaml.Node, path string) []string {
	items := d.list(n, path, "a list of strings")
	out := make([]string, 0, len(items))
	for i, item := range items {
		if item == nil {
			continue
		}
		p := fmt.Sprintf("%s[%d]", path, i)
		d.src[p] = srcPos{line: item.Line, col: item.Column, raw: item.Value, scalar: item.Kind == yaml.ScalarNode}
		out = append(out, d.str(item, p))
	}
	return out
}

// stringMap reads a mapping of names to strings, such as an environment.
func (d *decoder) stringMap(n *yaml.Node, path string) map[string]string {
	if n.Kind != yaml.MappingNode {
		d.fail(n, path, "must be a mapping of names to strings, got %s", describe(n))
		return nil
	}
	d.src[path] = srcPos{line: n.Line, col: n.Column}
	out := map[string]string{}
	for i := 0; i+1 < len(n.Content); i += 2 {
		k, v := n.Content[i], n.Content[i+1]
		if k.Kind != yaml.ScalarNode {
			d.failAt(k.Line, k.Column, path, "names must be plain words, got %s", describe(k))
			continue
		}
		p := path + "." + k.Value
		if _, dup := out[k.Value]; dup {
			d.failAt(k.Line, k.Column, path, "duplicate name %q", k.Value)
			continue
		}
		d.src[p] = srcPos{line: v.Line, col: v.Column, raw: v.Value, scalar: v.Kind == yaml.ScalarNode}
		out[k.Value] = d.str(v, p)
	}
	return out
}

func (d *decoder) bool(n *yaml.Node, path string) bool {
	s, ok := d.text(n, path, "must be true or false")
	if !ok {
		return false
	}
	switch s {
	case "true":
		return true
	case "false":
		return false
	}
	d.fail(n, path, "must be true or false, got %q", s)
	return false
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
			if !v.present("service.build.go.dockerfile", g.Dockerfile != "") {
				v.missing("service.build.go", "dockerfile", "name the Dockerfile that copies the binary, like FROM scratch + COPY "+cmp.Or(g.Binary(), "<binary>"))
			} else if v.notFlag("service.build.go.dockerfile", g.Dockerfile) {
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
	if len(v.errs) == 0 {
		return nil
	}
	sortErrors(v.errs)
	return v.errs
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
		budgetNeeds := map[string]string{"cpu_per_request": m.CPU, "allocs_per_request": m.Allocs, "alloc_bytes_per_request": m.AllocBytes, "peak_rss": m.Memory}
		for _, b := range c.Metrics {
			if name, ok := budgetNeeds[b.Metric]; ok && name == "" {
				v.fail("compare.metrics."+b.Metric, "needs a counter the service does not name in service.metrics")
			}
		}
	}
}
