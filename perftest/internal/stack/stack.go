// Package stack starts the system under test with testcontainers: service
// replicas sharing one SQLite volume, and Prometheus scraping them all.
package stack

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net/netip"
	"os"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/moby/moby/api/types/container"
	"github.com/moby/moby/api/types/network"
	"github.com/moby/moby/client"
	"github.com/testcontainers/testcontainers-go"
	tcnetwork "github.com/testcontainers/testcontainers-go/network"
	"github.com/testcontainers/testcontainers-go/wait"

	"github.com/perfgate/perfgate/thresholds"
)

// Labels put on every container, network and volume a run creates, so a later
// run can find what a crashed one left behind.
const (
	LabelRun  = "dev.perfgate.run"
	LabelPID  = "dev.perfgate.pid"
	LabelHost = "dev.perfgate.host"
)

const prometheusPort = "9090/tcp"

// Config says what to start.
type Config struct {
	// Service says how to run a replica: port, readiness path, args, env,
	// shared volume, and the job Prometheus scrapes it as. Zero means
	// thresholds.DefaultService.
	Service         thresholds.Service
	ServiceImage    string
	PrometheusImage string
	Replicas        int      // per variant; default Service.Replicas
	ServiceArgs     []string // extra arguments for every replica (fault injection, tuning)
	// Variants, when set, replace ServiceImage and ServiceArgs: each variant
	// gets its own replicas on its own shared volume (a baseline and a
	// candidate, say), all scraped by the one Prometheus.
	Variants []Variant
	// Pin places replica j of every variant on the engine's CPU j (modulo
	// its CPUs), where the engine can pin: the builds of a comparison then
	// share each core alike, where the scheduler would place them
	// differently for a whole run. A Go replica on one CPU runs with
	// GOMAXPROCS=1.
	Pin            bool
	ScrapeInterval time.Duration // default 1s
	StartupTimeout time.Duration // default 60s per container
	Log            io.Writer     // container lifecycle lines; nil discards
}

// Variant is one build of the service under test with its flags.
type Variant struct {
	Name  string // "" for the single variant of an absolute run; else e.g. "baseline"
	Image string
	Args  []string
}

// Replica is one running copy of the service.
type Replica struct {
	Name    string // also its network alias and its Prometheus instance label
	Variant string // its variant's name, also a Prometheus label
	URL     string // http://127.0.0.1:port
	c       *testcontainers.DockerContainer
}

// Stack is a running system under test. Close removes everything it created.
type Stack struct {
	RunID         string
	Replicas      []Replica
	PrometheusURL string

	cfg        Config
	variants   []Variant
	cpus       int  // the engine's, when the replicas were pinned; else 0
	pinned     bool // each replica is on its one CPU now
	prometheus *testcontainers.DockerContainer
	network    *testcontainers.DockerNetwork
	netOnce    sync.Once
	netErr     error
	volOnce    sync.Once
	volErr     error
	volumes    []string
	volumeOf   map[string]string // variant → its volume
	log        io.Writer
	mu         sync.Mutex // guards removals
	removals   map[*testcontainers.DockerContainer]*removal
	closeOnce  sync.Once
	closeErr   error
}

// New plans the stack cfg describes and starts nothing: its run ID, which
// its labels carry, and its replicas' names, which Prometheus's scrape
// configuration needs before any replica exists. Images may be left out of
// cfg until StartPrometheus and StartReplicas name them.
func New(cfg Config) *Stack {
	if cfg.Service.Name == "" {
		cfg.Service = thresholds.DefaultService
	}
	if cfg.Replicas == 0 {
		cfg.Replicas = max(cfg.Service.Replicas, 1)
	}
	if cfg.ScrapeInterval == 0 {
		cfg.ScrapeInterval = time.Second
	}
	if cfg.StartupTimeout == 0 {
		cfg.StartupTimeout = 60 * time.Second
	}
	if cfg.Log == nil {
		cfg.Log = io.Discard
	}
	s := &Stack{RunID: newRunID(), cfg: cfg, log: cfg.Log}
	s.variants = cfg.Variants
	if len(s.variants) == 0 {
		s.variants = []Variant{{Image: cfg.ServiceImage, Args: cfg.ServiceArgs}}
	}
	for _, v := range s.variants {
		for i := range cfg.Replicas {
			prefix := "replica-"
			if v.Name != "" {
				prefix = v.Name + "-"
			}
			s.Replicas = append(s.Replicas, Replica{Name: prefix + strconv.Itoa(i+1), Variant: v.Name})
		}
	}
	return s
}

// Start creates a network and a volume, starts the replicas on that volume and
// Prometheus. On error the returned Stack holds what did start: Close it.
func Start(ctx context.Context, cfg Config) (*Stack, error) {
	s := New(cfg)
	if err := s.Prepare(ctx); err != nil {
		return s, err
	}
	// Prometheus starts beside the replicas: its first scrape comes some 5 s
	// after it starts (service discovery's first update), which overlaps with
	// theirs; until a replica is up, its scrapes just fail.
	var promErr error
	var wg sync.WaitGroup
	wg.Add(1)
	go func() {
		defer wg.Done()
		promErr = s.StartPrometheus(ctx, "", nil)
	}()
	err := s.StartReplicas(ctx)
	wg.Wait()
	return s, errors.Join(err, promErr)
}

// Prepare creates the network and the shared volumes, which need no image,
// so that a caller can have them made while images are still being got;
// the starts make them otherwise. Safe to call more than once.
func (s *Stack) Prepare(ctx context.Context) error {
	if err := s.createNetwork(ctx); err != nil {
		return err
	}
	return s.createVolumes(ctx)
}

// createVolumes creates each variant's shared volume once, when the service has one.
func (s *Stack) createVolumes(ctx context.Context) error {
	s.volOnce.Do(func() {
		if s.cfg.Service.Volume == "" {
			return
		}
		p, err := provider()
		if err != nil {
			s.volErr = err
			return
		}
		defer p.Close()
		s.volumeOf = map[string]string{}
		for _, v := range s.variants {
			name := "perfgate-" + s.RunID
			if v.Name != "" {
				name += "-" + v.Name
			}
			vol, err := p.Client().VolumeCreate(ctx, client.VolumeCreateOptions{Name: name, Labels: s.labels()})
			if err != nil {
				s.volErr = fmt.Errorf("creating the shared volume %s: %w", name, err)
				return
			}
			s.volumes = append(s.volumes, vol.Volume.Name)
			s.volumeOf[v.Name] = vol.Volume.Name
		}
	})
	return s.volErr
}

// createNetwork creates the stack's network once, for whichever start comes first.
func (s *Stack) createNetwork(ctx context.Context) error {
	s.netOnce.Do(func() {
		p, err := provider() // an engine that answers, or the advice when none does
		if err != nil {
			s.netErr = err
			return
		}
		p.Close()
		if s.network, err = tcnetwork.New(ctx, tcnetwork.WithLabels(s.labels())); err != nil {
			s.netErr = fmt.Errorf("creating the network: %w", err)
		}
	})
	return s.netErr
}

// StartPrometheus starts Prometheus from image ("" is the Config's) on the
// stack's network, scraping every replica by its network alias, whether the
// replicas are running yet or not: until a replica is up, its scrapes just
// fail. Prometheus 2.x hands its targets to the scrape loops only some 5 s
// after its process starts, so the sooner it starts, the sooner a run can.
// started, when not nil, is called once the process runs, before Prometheus
// is ready; StartPrometheus returns once it is ready.
func (s *Stack) StartPrometheus(ctx context.Context, image string, started func()) error {
	if image == "" {
		image = s.cfg.PrometheusImage
	}
	if err := s.createNetwork(ctx); err != nil {
		return err
	}
	return s.startPrometheus(ctx, s.cfg, image, started)
}

// StartReplicas creates the shared volumes and starts every replica. images,
// when given, are the variants' images in the Config's order (one for a
// stack of one variant); otherwise the Config names them. On error the
// replicas that did start are the stack's, for Close.
func (s *Stack) StartReplicas(ctx context.Context, images ...string) error {
	cfg := s.cfg
	if len(images) > 0 && len(images) != len(s.variants) {
		return fmt.Errorf("%d images for %d variants", len(images), len(s.variants))
	}
	for i, img := range images {
		s.variants[i].Image = img
	}
	if err := s.createVolumes(ctx); err != nil {
		return err
	}
	if err := s.createNetwork(ctx); err != nil {
		return err
	}

	// Replicas start side by side: they race to create the schema on their
	// shared database, which is what production does too.
	labels := s.labels()
	cpus := 0 // not pinned
	if cfg.Pin {
		var why string
		if cpus, why = engineCPUs(ctx); cpus == 0 {
			fmt.Fprintf(s.log, "replicas not pinned to CPUs: %s\n", why)
		}
	}
	s.cpus, s.pinned = cpus, cpus > 0
	errs := make([]error, len(s.Replicas))
	var wg sync.WaitGroup
	for i := range s.Replicas {
		v := s.variants[i/cfg.Replicas]
		wg.Add(1)
		go func() {
			defer wg.Done()
			errs[i] = s.startReplica(ctx, cfg, &s.Replicas[i], v, s.volumeOf[v.Name], labels, cpuOf(i, cfg.Replicas, cpus))
		}()
	}
	wg.Wait()
	return errors.Join(errs...)
}

// Pinned tells whether each replica runs on its one CPU now.
func (s *Stack) Pinned() bool { return s.pinned }

// SetPinned pins every replica to its CPU again (pinned) or lets each run on
// any CPU of the engine, in a stack started with Config.Pin; otherwise it
// does nothing. A lock costs nothing on one CPU: requests meet at it only
// when they run side by side. The change takes effect at once; a Go
// replica's runtime reads its CPUs again within a second.
func (s *Stack) SetPinned(ctx context.Context, pinned bool) error {
	if s.cpus == 0 || s.pinned == pinned {
		return nil
	}
	p, err := provider()
	if err != nil {
		return err
	}
	defer p.Close()
	every := fmt.Sprintf("0-%d", s.cpus-1)
	for i, r := range s.Replicas {
		if r.c == nil {
			continue
		}
		set := every
		if pinned {
			set = cpuOf(i, s.cfg.Replicas, s.cpus)
		}
		if _, err := p.Client().ContainerUpdate(ctx, r.c.GetContainerID(), client.ContainerUpdateOptions{
			Resources: &container.Resources{CpusetCpus: set}}); err != nil {
			return fmt.Errorf("setting the CPUs of %s to %s: %w", r.Name, set, err)
		}
	}
	s.pinned = pinned
	what := "on every CPU"
	if pinned {
		what = "pinned to their CPUs again"
	}
	fmt.Fprintf(s.log, "replicas %s\n", what)
	return nil
}

// cpuOf is the CPU the i-th replica (variants in order, each with replicas)
// is pinned to: replica j of every variant on CPU j, modulo cpus, so the
// builds share each core alike. "" when cpus is 0: not pinned.
func cpuOf(i, replicas, cpus int) string {
	if cpus <= 0 || replicas <= 0 {
		return ""
	}
	return strconv.Itoa(i % replicas % cpus)
}

// startReplica starts r; cpu, when not "", is the one CPU it runs on.
func (s *Stack) startReplica(ctx context.Context, cfg Config, r *Replica, v Variant, volume string, labels map[string]string, cpu string) error {
	svc := cfg.Service
	var args []string
	for _, a := range svc.Args {
		args = append(args, thresholds.Expand(a, r.Name))
	}
	args = append(args, v.Args...)
	env := map[string]string{}
	for k, val := range svc.Env {
		env[k] = thresholds.Expand(val, r.Name)
	}
	port := fmt.Sprintf("%d/tcp", svc.Port)
	opts := []testcontainers.ContainerCustomizer{
		testcontainers.WithName("perfgate-" + s.RunID + "-" + r.Name),
		testcontainers.WithLabels(labels),
		testcontainers.WithExposedPorts(port),
		testcontainers.WithHostConfigModifier(loopbackOnly(port)),

		tcnetwork.WithNetwork([]string{r.Name}, s.network),
		// Polled every 50 ms: the sooner a replica is known ready, the sooner the run starts.
		testcontainers.WithWaitStrategy(readiness{path: svc.Ready, port: svc.Port, metrics: "/metrics",
			timeout: cfg.StartupTimeout, poll: 50 * time.Millisecond, wrongFor: wrongFor}),
	}
	if len(args) > 0 {
		opts = append(opts, testcontainers.WithCmdArgs(args...))
	}
	if len(env) > 0 {
		opts = append(opts, testcontainers.WithEnv(env))
	}
	if volume != "" {
		opts = append(opts, testcontainers.WithMounts(testcontainers.VolumeMount(volume, testcontainers.ContainerMountTarget(svc.Volume))))
	}
	user := imageUser(ctx, v.Image)
	if isRoot(user) { // else the image's own user, who owns its files
		user = serviceUser
		opts = append(opts, testcontainers.WithConfigModifier(asUser(user)))
	}
	// Writable: the shared volume (owned by the image's user, whose
	// ownership a fresh volume takes) and /tmp.
	opts = append(opts, testcontainers.WithHostConfigModifier(hardened(replicaLimits, map[string]string{"/tmp": tmpfsFor(user, "64m")})))
	on := ""
	if cpu != "" {
		opts = append(opts, testcontainers.WithHostConfigModifier(func(hc *container.HostConfig) { hc.CpusetCpus = cpu }))
		on = " on CPU " + cpu
	}
	c, err := testcontainers.Run(ctx, v.Image, opts...)
	r.c = c
	if err != nil {
		return fmt.Errorf("starting %s from %s: %w%s", r.Name, v.Image, err, tail(ctx, c))
	}
	r.URL, err = loopbackURL(ctx, c, port)
	fmt.Fprintf(s.log, "%s ready at %s%s\n", r.Name, r.URL, on)
	return err
}

func (s *Stack) startPrometheus(ctx context.Context, cfg Config, image string, started func()) error {
	conf := PrometheusConfig(cfg.Service.Name, cfg.Service.Port, s.Replicas, cfg.ScrapeInterval)
	opts := []testcontainers.ContainerCustomizer{
		testcontainers.WithName("perfgate-" + s.RunID + "-prometheus"),
		testcontainers.WithCmd(
			"--config.file=/etc/prometheus/prometheus.yml",
			"--storage.tsdb.path=/prometheus",
			"--storage.tsdb.retention.time=2h",
			"--web.listen-address=:9090",
		),
		testcontainers.WithLabels(s.labels()),
		withFileIn("/etc/prometheus", "prometheus.yml", conf),
		testcontainers.WithExposedPorts(prometheusPort),
		testcontainers.WithHostConfigModifier(loopbackOnly(prometheusPort)),
		testcontainers.WithConfigModifier(asUser(storeUser)),
		testcontainers.WithHostConfigModifier(hardened(storeLimits, map[string]string{"/prometheus": tmpfsFor(storeUser, "256m")}, "/etc/prometheus")),
		tcnetwork.WithNetwork([]string{"prometheus"}, s.network),
		testcontainers.WithWaitStrategy(wait.ForHTTP("/-/ready").WithPort(prometheusPort).
			WithStartupTimeout(cfg.StartupTimeout).WithPollInterval(100 * time.Millisecond)),
	}
	if started != nil { // user post-start hooks run before the wait for readiness
		opts = append(opts, testcontainers.WithAdditionalLifecycleHooks(testcontainers.ContainerLifecycleHooks{
			PostStarts: []testcontainers.ContainerHook{func(context.Context, testcontainers.Container) error { started(); return nil }},
		}))
	}
	c, err := testcontainers.Run(ctx, image, opts...)
	s.prometheus = c
	if err != nil {
		return fmt.Errorf("starting Prometheus from %s: %w%s", image, err, tail(ctx, c))
	}
	s.PrometheusURL, err = loopbackURL(ctx, c, prometheusPort)
	fmt.Fprintf(s.log, "prometheus ready at %s\n", s.PrometheusURL)
	return err
}

// PrometheusConfig renders the scrape configuration: one job, one target per
// replica, the replica name as the instance label and its variant as a label.
func PrometheusConfig(job string, port int, replicas []Replica, interval time.Duration) string {
	var b strings.Builder
	fmt.Fprintf(&b, "global:\n  scrape_interval: %s\n  evaluation_interval: %s\nscrape_configs:\n", interval, interval)
	fmt.Fprintf(&b, "  - job_name: %s\n    scrape_timeout: %s\n    static_configs:\n", job, interval)
	for _, r := range replicas {
		fmt.Fprintf(&b, "      - targets: ['%s:%d']\n        labels: {instance: %s", r.Name, port, r.Name)
		if r.Variant != "" {
			fmt.Fprintf(&b, ", variant: %s", r.Variant)
		}
		b.WriteString("}\n")
	}
	return b.String()
}

// ScrapeInterval is how often Prometheus scrapes each replica.
func (s *Stack) ScrapeInterval() time.Duration { return s.cfg.ScrapeInterval }

// ReplicasOf returns the replicas of one variant.
func (s *Stack) ReplicasOf(variant string) []Replica {
	var out []Replica
	for _, r := range s.Replicas {
		if r.Variant == variant {
			out = append(out, r)
		}
	}
	return out
}

// StopReplica stops one replica abruptly, as a crash would.
func (s *Stack) StopReplica(ctx context.Context, name string) error {
	for _, r := range s.Replicas {
		if r.Name == name && r.c != nil {
			timeout := time.Duration(0)
			return r.c.Stop(ctx, &timeout)
		}
	}
	return fmt.Errorf("no replica named %q", name)
}

// StopPrometheus stops Prometheus, as an outage would.
func (s *Stack) StopPrometheus(ctx context.Context) error {
	if s.prometheus == nil {
		return errors.New("prometheus is not running")
	}
	timeout := time.Duration(0)
	return s.prometheus.Stop(ctx, &timeout)
}

// Logs returns the last lines each container wrote, for a failure message.
func (s *Stack) Logs(ctx context.Context, lines int) string {
	var b strings.Builder
	for _, r := range s.Replicas {
		fmt.Fprintf(&b, "--- %s\n%s", r.Name, lastLines(ctx, r.c, lines))
	}
	return b.String()
}

// Close removes the containers, each shared volume once its replicas are
// gone (named volumes outlive Terminate), then the network. It does not
// depend on Ryuk and is safe to call twice.
func (s *Stack) Close(ctx context.Context) error {
	s.closeOnce.Do(func() {
		var replicasErr, volumesErr error
		var wg sync.WaitGroup
		wg.Add(1)
		go func() { // a volume can go as soon as its replicas have, Prometheus or not
			defer wg.Done()
			replicasErr = s.RemoveReplicas(ctx)
			volumesErr = s.removeVolumes(ctx)
		}()
		// Prometheus is killed at once: what it holds has been read, and its
		// orderly shutdown only writes what is about to be removed.
		promErr := s.terminate(ctx, 0, s.prometheus)
		wg.Wait()
		errs := []error{replicasErr, promErr, volumesErr}
		if s.network != nil {
			if err := s.network.Remove(ctx); err != nil {
				errs = append(errs, fmt.Errorf("removing network %s: %w", s.network.Name, err))
			}
		}
		s.closeErr = errors.Join(errs...)
	})
	return s.closeErr
}

// RemoveReplicas removes every replica's container, leaving Prometheus and
// what it scraped. Close removes the rest, waits for a RemoveReplicas under
// way, and tries again where one failed.
func (s *Stack) RemoveReplicas(ctx context.Context) error {
	var cs []*testcontainers.DockerContainer
	for _, r := range s.Replicas {
		cs = append(cs, r.c)
	}
	return s.terminate(ctx, stopTimeout, cs...)
}

// terminate removes the containers side by side. A container whose
// removal is under way is not removed twice: the call waits for that one.
func (s *Stack) terminate(ctx context.Context, grace time.Duration, cs ...*testcontainers.DockerContainer) error {
	var rs []*removal
	for _, c := range cs {
		if c == nil {
			continue
		}
		s.mu.Lock()
		if s.removals == nil {
			s.removals = map[*testcontainers.DockerContainer]*removal{}
		}
		r := s.removals[c]
		if r == nil || r.failed() { // never tried, or tried in vain: try now
			r = &removal{done: make(chan struct{})}
			s.removals[c] = r
			go func() {
				r.err = c.Terminate(ctx, testcontainers.StopTimeout(grace))
				close(r.done)
			}()
		}
		s.mu.Unlock()
		rs = append(rs, r)
	}
	var errs []error
	for _, r := range rs {
		<-r.done
		errs = append(errs, r.err)
	}
	return errors.Join(errs...)
}

// removal is one container's removal, under way or over.
type removal struct {
	done chan struct{} // closed once err is set
	err  error
}

// failed reports whether the removal is over and did not succeed.
func (r *removal) failed() bool {
	select {
	case <-r.done:
		return r.err != nil
	default:
		return false
	}
}

// stopTimeout is how long a container gets to exit on SIGTERM before it is killed.
const stopTimeout = 2 * time.Second

func (s *Stack) removeVolumes(ctx context.Context) error {
	if len(s.volumes) == 0 {
		return nil
	}
	p, err := provider()
	if err != nil {
		return err
	}
	defer p.Close()
	var errs []error
	for _, v := range s.volumes {
		if _, err := p.Client().VolumeRemove(ctx, v, client.VolumeRemoveOptions{Force: true}); err != nil {
			errs = append(errs, fmt.Errorf("removing volume %s: %w", v, err))
		}
	}
	return errors.Join(errs...)
}

func (s *Stack) containers() []*testcontainers.DockerContainer {
	var cs []*testcontainers.DockerContainer
	for _, r := range s.Replicas {
		if r.c != nil {
			cs = append(cs, r.c)
		}
	}
	if s.prometheus != nil {
		cs = append(cs, s.prometheus)
	}
	return cs
}

func (s *Stack) labels() map[string]string {
	host, _ := os.Hostname()
	return map[string]string{LabelRun: s.RunID, LabelPID: strconv.Itoa(os.Getpid()), LabelHost: host}
}

// loopbackOnly publishes port on 127.0.0.1 alone, never on every interface.
func loopbackOnly(port string) func(*container.HostConfig) {
	return func(hc *container.HostConfig) {
		hc.PortBindings = network.PortMap{
			network.MustParsePort(port): {{HostIP: netip.MustParseAddr("127.0.0.1")}},
		}
	}
}

func loopbackURL(ctx context.Context, c *testcontainers.DockerContainer, port string) (string, error) {
	p, err := c.MappedPort(ctx, port)
	if err != nil {
		return "", fmt.Errorf("published port of %s: %w", port, err)
	}
	return "http://127.0.0.1:" + p.Port(), nil
}

func tail(ctx context.Context, c *testcontainers.DockerContainer) string {
	if c == nil {
		return ""
	}
	return "\nlast log lines:\n" + lastLines(ctx, c, 20)
}

func lastLines(ctx context.Context, c *testcontainers.DockerContainer, n int) string {
	if c == nil {
		return ""
	}
	rc, err := c.Logs(ctx)
	if err != nil {
		return "(no logs: " + err.Error() + ")\n"
	}
	defer rc.Close()
	b, _ := io.ReadAll(io.LimitReader(rc, 1<<20))
	lines := strings.Split(strings.TrimRight(string(b), "\n"), "\n")
	if len(lines) > n {
		lines = lines[len(lines)-n:]
	}
	return strings.Join(lines, "\n") + "\n"
}

func newRunID() string {
	return strconv.FormatInt(time.Now().UnixMilli(), 36) + strconv.Itoa(os.Getpid()%1000)
}

// Exposure is how a running container meets the world: the user it runs as,
// the host addresses its ports are published on, and what bounds it.
type Exposure struct {
	Name    string
	User    string
	HostIPs []string

	CapDrop     []string
	SecurityOpt []string
	ReadOnly    bool  // a read-only root filesystem
	Memory      int64 // bytes; 0 is unbounded
	PidsLimit   int64 // 0 is unbounded
}

// Exposures inspects every container of the stack, for hardening checks.
func (s *Stack) Exposures(ctx context.Context) ([]Exposure, error) {
	var out []Exposure
	for _, c := range s.containers() {
		in, err := c.Inspect(ctx)
		if err != nil {
			return nil, err
		}
		e := Exposure{Name: strings.TrimPrefix(in.Name, "/")}
		if in.Config != nil {
			e.User = in.Config.User
		}
		if hc := in.HostConfig; hc != nil {
			e.CapDrop, e.SecurityOpt, e.ReadOnly, e.Memory = hc.CapDrop, hc.SecurityOpt, hc.ReadonlyRootfs, hc.Memory
			if hc.PidsLimit != nil {
				e.PidsLimit = *hc.PidsLimit
			}
		}
		if in.NetworkSettings != nil {
			for _, bindings := range in.NetworkSettings.Ports {
				for _, b := range bindings {
					e.HostIPs = append(e.HostIPs, b.HostIP.String())
				}
			}
		}
		out = append(out, e)
	}
	return out, nil
}
