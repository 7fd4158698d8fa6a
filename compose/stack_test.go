package compose

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"maps"
	"net"
	"os"
	"path"
	"path/filepath"
	"regexp"
	"slices"
	"strconv"
	"strings"

	"github.com/prometheus/common/model"
	"github.com/prometheus/prometheus/model/labels"
	"github.com/prometheus/prometheus/model/relabel"
	"gopkg.in/yaml.v3"
)

// The files of the stack, relative to this directory.
const (
	composePath    = "docker-compose.yml"
	prometheusPath = "prometheus.yml"
	datasourcesDir = "grafana/provisioning/datasources"
	providersDir   = "grafana/provisioning/dashboards"
	dashboardsDir  = "grafana/dashboards"
)

// replicaNames are the compose services the gate and Prometheus know the
// replicas by.
var replicaNames = []string{"replica-1", "replica-2"}

type composeFile struct {
	Services map[string]*composeService `yaml:"services"`
	Volumes  map[string]any             `yaml:"volumes"`
}

type composeService struct {
	Image       string            `yaml:"image"`
	Command     []string          `yaml:"command"`
	Ports       []string          `yaml:"ports"`
	Volumes     []string          `yaml:"volumes"`
	DependsOn   []string          `yaml:"depends_on"`
	Environment map[string]string `yaml:"environment"`
}

// flag returns the value of -name=value or --name=value in the command.
func (s *composeService) flag(name string) (string, bool) {
	for _, arg := range s.Command {
		arg = strings.TrimLeft(arg, "-")
		if v, ok := strings.CutPrefix(arg, name+"="); ok {
			return v, true
		}
	}
	return "", false
}

// mount is one short-syntax volume entry: source:target[:mode].
type mount struct {
	source, target string
	named          bool // a named volume, not a path on the host
}

func parseMount(spec string) (mount, error) {
	parts := strings.Split(spec, ":")
	if len(parts) < 2 || len(parts) > 3 || parts[0] == "" || !strings.HasPrefix(parts[1], "/") {
		return mount{}, fmt.Errorf("%q is not SOURCE:/TARGET[:MODE]", spec)
	}
	src := parts[0]
	named := !strings.HasPrefix(src, ".") && !strings.HasPrefix(src, "/") && !strings.HasPrefix(src, "~")
	return mount{source: src, target: parts[1], named: named}, nil
}

type promConfig struct {
	Global struct {
		ScrapeInterval model.Duration `yaml:"scrape_interval"`
	} `yaml:"global"`
	ScrapeConfigs []struct {
		JobName        string            `yaml:"job_name"`
		ScrapeInterval model.Duration    `yaml:"scrape_interval"`
		MetricsPath    string            `yaml:"metrics_path"`
		RelabelConfigs []*relabel.Config `yaml:"relabel_configs"`
		StaticConfigs  []struct {
			Targets []string          `yaml:"targets"`
			Labels  map[string]string `yaml:"labels"`
		} `yaml:"static_configs"`
	} `yaml:"scrape_configs"`
}

// target is one scrape target after relabelling, as Prometheus stores it.
type target struct {
	job, instance, address string
}

// targets applies each job's relabelling to its static targets and, like
// Prometheus, sets instance to the address when relabelling left none.
func (c promConfig) targets() ([]target, error) {
	var out []target
	for _, sc := range c.ScrapeConfigs {
		for _, rc := range sc.RelabelConfigs {
			if err := rc.Validate(model.UTF8Validation); err != nil {
				return nil, fmt.Errorf("job %q: relabel_configs: %w", sc.JobName, err)
			}
		}
		for _, st := range sc.StaticConfigs {
			for _, addr := range st.Targets {
				b := labels.NewBuilder(labels.FromMap(st.Labels))
				b.Set(model.AddressLabel, addr)
				b.Set(model.JobLabel, sc.JobName)
				if !relabel.ProcessBuilder(b, sc.RelabelConfigs...) {
					continue
				}
				lset := b.Labels()
				inst := lset.Get(model.InstanceLabel)
				if inst == "" {
					inst = lset.Get(model.AddressLabel)
				}
				out = append(out, target{job: lset.Get(model.JobLabel), instance: inst, address: lset.Get(model.AddressLabel)})
			}
		}
	}
	return out, nil
}

type datasourceFile struct {
	Datasources []struct {
		UID      string `yaml:"uid"`
		Type     string `yaml:"type"`
		URL      string `yaml:"url"`
		JSONData struct {
			TimeInterval string `yaml:"timeInterval"`
		} `yaml:"jsonData"`
	} `yaml:"datasources"`
}

type providerFile struct {
	Providers []struct {
		Type    string `yaml:"type"`
		Options struct {
			Path string `yaml:"path"`
		} `yaml:"options"`
	} `yaml:"providers"`
}

type dashboard struct {
	UID        string  `json:"uid"`
	Title      string  `json:"title"`
	Panels     []panel `json:"panels"`
	Templating struct {
		List []variable `json:"list"`
	} `json:"templating"`
}

type datasourceRef struct {
	Type string `json:"type"`
	UID  string `json:"uid"`
}

type panel struct {
	ID         int            `json:"id"`
	Type       string         `json:"type"`
	Title      string         `json:"title"`
	Datasource *datasourceRef `json:"datasource"`
	GridPos    *struct {
		H, W, X, Y int
	} `json:"gridPos"`
	Targets []struct {
		RefID      string         `json:"refId"`
		Expr       string         `json:"expr"`
		Datasource *datasourceRef `json:"datasource"`
	} `json:"targets"`
	Panels []panel `json:"panels"` // inside a collapsed row
}

type variable struct {
	Name       string          `json:"name"`
	Type       string          `json:"type"`
	Datasource *datasourceRef  `json:"datasource"`
	Query      json.RawMessage `json:"query"`
}

// allPanels flattens rows, so panels of a collapsed row are seen too.
func (d dashboard) allPanels() []panel {
	var out []panel
	var walk func([]panel)
	walk = func(ps []panel) {
		for _, p := range ps {
			out = append(out, p)
			walk(p.Panels)
		}
	}
	walk(d.Panels)
	return out
}

// variables returns the names of the dashboard's template variables.
func (d dashboard) variables() map[string]bool {
	vars := map[string]bool{}
	for _, v := range d.Templating.List {
		vars[v.Name] = true
	}
	return vars
}

// labelValuesCall matches Grafana's label_values(selector, label).
var labelValuesCall = regexp.MustCompile(`^\s*label_values\((.*),\s*(\w+)\s*\)\s*$`)

// queries returns every PromQL expression of the dashboard: panel targets and
// the selectors of query variables.
func (d dashboard) queries() ([]query, error) {
	var out []query
	for _, p := range d.allPanels() {
		for _, t := range p.Targets {
			out = append(out, query{where: fmt.Sprintf("panel %q (id %d) target %s", p.Title, p.ID, t.RefID), expr: t.Expr})
		}
	}
	for _, v := range d.Templating.List {
		if v.Type != "query" {
			continue
		}
		text, err := variableQuery(v.Query)
		if err != nil {
			return nil, fmt.Errorf("variable %q: %w", v.Name, err)
		}
		if m := labelValuesCall.FindStringSubmatch(text); m != nil {
			out = append(out, query{where: fmt.Sprintf("variable %q", v.Name), expr: m[1]})
		} else if e, ok := strings.CutPrefix(strings.TrimSpace(text), "query_result("); ok {
			out = append(out, query{where: fmt.Sprintf("variable %q", v.Name), expr: strings.TrimSuffix(e, ")")})
		}
	}
	return out, nil
}

// variableQuery reads a variable's query, which Grafana stores either as a
// string or as an object holding the string.
func variableQuery(raw json.RawMessage) (string, error) {
	var s string
	if err := json.Unmarshal(raw, &s); err == nil {
		return s, nil
	}
	var obj struct {
		Query string `json:"query"`
	}
	if err := json.Unmarshal(raw, &obj); err != nil {
		return "", fmt.Errorf("query is neither a string nor an object with one: %w", err)
	}
	return obj.Query, nil
}

// stack is every file of the compose stack, decoded.
type stack struct {
	dir         string
	compose     composeFile
	prometheus  promConfig
	datasources map[string]datasourceFile // by file name
	providers   map[string]providerFile
	dashboards  map[string]dashboard
}

func decodeYAML(file string, v any) error {
	b, err := os.ReadFile(file)
	if err != nil {
		return err
	}
	if err := yaml.Unmarshal(b, v); err != nil {
		return fmt.Errorf("%s: %w", file, err)
	}
	return nil
}

func decodeJSON(file string, v any) error {
	b, err := os.ReadFile(file)
	if err != nil {
		return err
	}
	if err := json.NewDecoder(bytes.NewReader(b)).Decode(v); err != nil {
		return fmt.Errorf("%s: %w", file, err)
	}
	return nil
}

// loadStack decodes the stack in dir; every directory must hold at least one
// file, since an empty one provisions nothing.
func loadStack(dir string) (stack, error) {
	s := stack{dir: dir, datasources: map[string]datasourceFile{}, providers: map[string]providerFile{}, dashboards: map[string]dashboard{}}
	errs := []error{
		decodeYAML(filepath.Join(dir, composePath), &s.compose),
		decodeYAML(filepath.Join(dir, prometheusPath), &s.prometheus),
	}
	each := func(sub, pattern string, decode func(file, name string) error) {
		files, _ := filepath.Glob(filepath.Join(dir, sub, pattern))
		if len(files) == 0 {
			errs = append(errs, fmt.Errorf("%s: no %s file", filepath.Join(dir, sub), pattern))
		}
		for _, f := range files {
			errs = append(errs, decode(f, filepath.Base(f)))
		}
	}
	each(datasourcesDir, "*.yml", func(f, name string) error {
		var v datasourceFile
		err := decodeYAML(f, &v)
		s.datasources[name] = v
		return err
	})
	each(providersDir, "*.yml", func(f, name string) error {
		var v providerFile
		err := decodeYAML(f, &v)
		s.providers[name] = v
		return err
	})
	each(dashboardsDir, "*.json", func(f, name string) error {
		var v dashboard
		err := decodeJSON(f, &v)
		s.dashboards[name] = v
		return err
	})
	return s, errors.Join(errs...)
}

// imageDefault resolves ${VAR:-default} to its default; other references are
// returned as they are.
var imageVar = regexp.MustCompile(`^\$\{(\w+):-([^}]+)\}$`)

func imageDefault(ref string) string {
	if m := imageVar.FindStringSubmatch(ref); m != nil {
		return m[2]
	}
	return ref
}

// pinned tells whether an image reference names a digest or a tag other than
// latest; a registry port (host:5000/name) is not a tag.
func pinned(ref string) bool {
	if strings.Contains(ref, "@sha256:") {
		return true
	}
	name := ref[strings.LastIndex(ref, "/")+1:]
	i := strings.LastIndex(name, ":")
	return i >= 0 && i < len(name)-1 && name[i+1:] != "latest"
}

// check runs every consistency check and returns all problems found.
func (s stack) check() []error {
	var errs []error
	fail := func(file, format string, args ...any) {
		errs = append(errs, fmt.Errorf("%s: %s", file, fmt.Sprintf(format, args...)))
	}
	svc := s.compose.Services
	for _, name := range append(slices.Clone(replicaNames), "prometheus", "grafana") {
		if svc[name] == nil {
			fail(composePath, "services.%s is missing", name)
		}
	}
	if len(errs) > 0 {
		return errs
	}

	for _, name := range slices.Sorted(maps.Keys(svc)) {
		srv := svc[name]
		if img := imageDefault(srv.Image); !pinned(img) {
			fail(composePath, "services.%s.image: %q is not pinned to a tag other than latest", name, img)
		}
		for i, p := range srv.Ports {
			if !strings.HasPrefix(p, "127.0.0.1:") || strings.Count(p, ":") != 2 {
				fail(composePath, "services.%s.ports[%d]: %q is not bound to 127.0.0.1 (write 127.0.0.1:HOST:CONTAINER)", name, i, p)
			}
		}
		for i, v := range srv.Volumes {
			m, err := parseMount(v)
			if err != nil {
				fail(composePath, "services.%s.volumes[%d]: %v", name, i, err)
				continue
			}
			if m.named {
				if _, ok := s.compose.Volumes[m.source]; !ok {
					fail(composePath, "services.%s.volumes[%d]: volume %q is not declared under volumes", name, i, m.source)
				}
			} else if _, err := os.Stat(filepath.Join(s.dir, m.source)); err != nil {
				fail(composePath, "services.%s.volumes[%d]: %s does not exist next to the compose file", name, i, m.source)
			}
		}
	}

	errs = append(errs, s.checkReplicas()...)
	errs = append(errs, s.checkPrometheus()...)
	errs = append(errs, s.checkGrafana()...)
	return errs
}

// mountAt returns the source mounted at target in a service, if any.
func mountAt(srv *composeService, target string) (mount, bool) {
	for _, v := range srv.Volumes {
		if m, err := parseMount(v); err == nil && m.target == target {
			return m, true
		}
	}
	return mount{}, false
}

// listenPort is the port a replica listens on, from its -addr flag.
func listenPort(srv *composeService) string {
	addr, ok := srv.flag("addr")
	if !ok {
		addr = ":8080" // the service's default
	}
	_, port, err := net.SplitHostPort(addr)
	if err != nil {
		return ""
	}
	return port
}

func (s stack) checkReplicas() []error {
	var errs []error
	fail := func(format string, args ...any) {
		errs = append(errs, fmt.Errorf("%s: %s", composePath, fmt.Sprintf(format, args...)))
	}
	var volumes []string
	for _, name := range replicaNames {
		srv := s.compose.Services[name]
		db, ok := srv.flag("db")
		if !ok {
			fail("services.%s.command: no -db flag; the default tasks.db would not be on the shared volume", name)
			continue
		}
		m, ok := mountAt(srv, path.Dir(db))
		switch {
		case !ok:
			fail("services.%s: -db=%s is not on a mounted volume", name, db)
		case !m.named:
			fail("services.%s: -db=%s is on the bind mount %s; share a named volume, so the WAL files are shared too", name, db, m.source)
		default:
			volumes = append(volumes, m.source+":"+db)
		}
		if inst, _ := srv.flag("instance"); inst != name {
			fail("services.%s.command: -instance=%q, want %q, the label Prometheus gives it", name, inst, name)
		}
	}
	if len(volumes) == len(replicaNames) && len(slices.Compact(slices.Sorted(slices.Values(volumes)))) != 1 {
		fail("the replicas do not share one database: %s", strings.Join(volumes, ", "))
	}
	return errs
}

func (s stack) checkPrometheus() []error {
	var errs []error
	fail := func(file, format string, args ...any) {
		errs = append(errs, fmt.Errorf("%s: %s", file, fmt.Sprintf(format, args...)))
	}
	prom := s.compose.Services["prometheus"]
	conf := map[string]string{}
	for _, arg := range prom.Command {
		k, v, _ := strings.Cut(strings.TrimLeft(arg, "-"), "=")
		conf[k] = v
	}
	if m, ok := mountAt(prom, conf["config.file"]); !ok || path.Clean(m.source) != prometheusPath {
		fail(composePath, "services.prometheus: --config.file=%q is not where ./%s is mounted", conf["config.file"], prometheusPath)
	}
	for _, dep := range replicaNames {
		if !slices.Contains(prom.DependsOn, dep) {
			fail(composePath, "services.prometheus.depends_on: %s is missing", dep)
		}
	}

	if len(s.prometheus.ScrapeConfigs) != 1 || s.prometheus.ScrapeConfigs[0].JobName != "tasksvc" {
		fail(prometheusPath, "want exactly one scrape job, named tasksvc")
		return errs
	}
	job := s.prometheus.ScrapeConfigs[0]
	interval := job.ScrapeInterval
	if interval == 0 {
		interval = s.prometheus.Global.ScrapeInterval
	}
	if interval != model.Duration(1e9) {
		fail(prometheusPath, "job tasksvc scrapes every %s, want 1s like the gate", interval)
	}
	if job.MetricsPath != "" && job.MetricsPath != "/metrics" {
		fail(prometheusPath, "job tasksvc: metrics_path %q, the service serves /metrics", job.MetricsPath)
	}
	targets, err := s.prometheus.targets()
	if err != nil {
		fail(prometheusPath, "%v", err)
		return errs
	}
	var instances []string
	before := len(errs)
	for _, t := range targets {
		instances = append(instances, t.instance)
		host, port, err := net.SplitHostPort(t.address)
		if err != nil {
			fail(prometheusPath, "target %q: %v", t.address, err)
			continue
		}
		srv := s.compose.Services[host]
		switch {
		case srv == nil:
			fail(prometheusPath, "target %q: no compose service %q", t.address, host)
		case port != listenPort(srv):
			fail(prometheusPath, "target %q: %s listens on port %q", t.address, host, listenPort(srv))
		case t.instance != host:
			fail(prometheusPath, "target %q gets instance=%q, want %q", t.address, t.instance, host)
		}
	}
	// A missing or extra target that is itself well formed shows only here.
	if slices.Sort(instances); len(errs) == before && !slices.Equal(instances, replicaNames) {
		fail(prometheusPath, "instances %v, want exactly the replicas %v", instances, replicaNames)
	}
	return errs
}

func (s stack) checkGrafana() []error {
	var errs []error
	fail := func(file, format string, args ...any) {
		errs = append(errs, fmt.Errorf("%s: %s", file, fmt.Sprintf(format, args...)))
	}
	graf := s.compose.Services["grafana"]
	if !slices.Contains(graf.DependsOn, "prometheus") {
		fail(composePath, "services.grafana.depends_on: prometheus is missing")
	}
	if m, ok := mountAt(graf, "/etc/grafana/provisioning"); !ok || path.Clean(m.source) != "grafana/provisioning" {
		fail(composePath, "services.grafana: ./grafana/provisioning is not mounted at /etc/grafana/provisioning")
	}
	if graf.Environment["GF_AUTH_ANONYMOUS_ENABLED"] != "true" || graf.Environment["GF_AUTH_ANONYMOUS_ORG_ROLE"] != "Viewer" {
		fail(composePath, "services.grafana.environment: anonymous access must be on with the Viewer role")
	}

	// The provider's path must be where compose mounts the dashboards.
	for file, pf := range s.providers {
		where := filepath.Join(providersDir, file)
		if len(pf.Providers) == 0 {
			fail(where, "no providers")
		}
		for i, p := range pf.Providers {
			m, ok := mountAt(graf, p.Options.Path)
			if p.Type != "file" || !ok || path.Clean(m.source) != dashboardsDir {
				fail(where, "providers[%d]: options.path %q is not where compose mounts ./%s", i, p.Options.Path, dashboardsDir)
			}
		}
	}

	// The datasource must reach the Prometheus service on its listen port.
	promPort := ""
	for _, arg := range s.compose.Services["prometheus"].Command {
		if v, ok := strings.CutPrefix(strings.TrimLeft(arg, "-"), "web.listen-address="); ok {
			_, promPort, _ = net.SplitHostPort(v)
		}
	}
	if promPort == "" {
		promPort = "9090"
	}
	uids := map[string]bool{}
	for file, df := range s.datasources {
		where := filepath.Join(datasourcesDir, file)
		for i, d := range df.Datasources {
			uids[d.UID] = true
			if want := "http://prometheus:" + promPort; d.Type != "prometheus" || d.URL != want {
				fail(where, "datasources[%d]: type %q url %q, want type prometheus url %s", i, d.Type, d.URL, want)
			}
			if d.UID == "" {
				fail(where, "datasources[%d]: no uid; dashboards refer to it by uid", i)
			}
			// Grafana's $__rate_interval spans four of these: it must be the
			// scrape interval for rates to cover enough samples.
			if d.JSONData.TimeInterval != s.prometheus.Global.ScrapeInterval.String() {
				fail(where, "datasources[%d]: jsonData.timeInterval %q, want the scrape interval %q", i, d.JSONData.TimeInterval, s.prometheus.Global.ScrapeInterval)
			}
		}
	}

	for file, d := range s.dashboards {
		where := filepath.Join(dashboardsDir, file)
		if d.UID == "" || d.Title == "" {
			fail(where, "uid and title are required")
		}
		ids := map[int]bool{}
		for _, p := range d.allPanels() {
			if ids[p.ID] {
				fail(where, "panel id %d is used twice", p.ID)
			}
			ids[p.ID] = true
			if p.GridPos == nil || p.GridPos.W == 0 || p.GridPos.H == 0 {
				fail(where, "panel %q has no size (gridPos)", p.Title)
			}
			if p.Type == "row" {
				continue
			}
			if len(p.Targets) == 0 {
				fail(where, "panel %q has no queries", p.Title)
			}
			refs := []*datasourceRef{p.Datasource}
			for _, t := range p.Targets {
				if t.Expr == "" {
					fail(where, "panel %q target %s has no expr", p.Title, t.RefID)
				}
				if t.Datasource != nil {
					refs = append(refs, t.Datasource)
				}
			}
			for _, r := range refs {
				if r == nil || !uids[r.UID] {
					fail(where, "panel %q: datasource %s is not a provisioned one", p.Title, describeRef(r))
				}
			}
		}
		for _, v := range d.Templating.List {
			if v.Type == "query" && (v.Datasource == nil || !uids[v.Datasource.UID]) {
				fail(where, "variable %q: datasource %s is not a provisioned one", v.Name, describeRef(v.Datasource))
			}
		}
	}
	return errs
}

func describeRef(r *datasourceRef) string {
	if r == nil {
		return "(none)"
	}
	return strconv.Quote(r.UID)
}
