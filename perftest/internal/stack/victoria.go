package stack

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path"
	"path/filepath"
	"strings"
	"time"

	"github.com/testcontainers/testcontainers-go"
	tcnetwork "github.com/testcontainers/testcontainers-go/network"
	"github.com/testcontainers/testcontainers-go/wait"

	"github.com/perfgate/perfgate/thresholds"
)

// VictoriaMetricsVersion is the VictoriaMetrics single-node release built
// when no binary is given: the newest whose go.mod asks for a Go that Go 1.26
// meets (v1.151.0 asks for 1.26.6; v1.152.0 and later for 1.27).
const VictoriaMetricsVersion = "v1.151.0"

// VictoriaMetricsPackage is the single-node binary's Go package.
const VictoriaMetricsPackage = "github.com/VictoriaMetrics/VictoriaMetrics/app/victoria-metrics"

const victoriaPort = "8428/tcp"

// VictoriaMetricsBinary returns a static victoria-metrics binary of the given
// version (VictoriaMetricsVersion when ""). The first call compiles it from
// the Go module proxy with go install, which takes minutes of every core;
// the binary is kept in the user cache dir under its version, so later calls
// only find it.
func VictoriaMetricsBinary(ctx context.Context, version string, log io.Writer) (string, error) {
	if version == "" {
		version = VictoriaMetricsVersion
	}
	if log == nil {
		log = io.Discard
	}
	bin, found := VictoriaMetricsCached(version)
	if found {
		return bin, nil
	}
	dir := filepath.Dir(bin)
	goBin, err := exec.LookPath("go")
	if err != nil {
		return "", fmt.Errorf("no victoria-metrics binary at %s and no go command to build one: install Go or set PERF_VICTORIA_BIN", bin)
	}
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return "", err
	}
	// Installed into a directory of its own, then renamed into place: a
	// build that stops halfway leaves no binary to be found next time.
	tmp, err := os.MkdirTemp(dir, "build-")
	if err != nil {
		return "", err
	}
	defer os.RemoveAll(tmp)
	args, env := victoriaInstall(version, tmp)
	cmd := exec.CommandContext(ctx, goBin, args...)
	cmd.Dir = tmp // outside any module: go install pkg@version uses the release's own go.mod
	cmd.Env = append(os.Environ(), env...)
	fmt.Fprintf(log, "building VictoriaMetrics %s into %s (once; minutes on 2 cores): %s go %s\n", version, dir, strings.Join(env, " "), strings.Join(args, " "))
	start := time.Now()
	if out, err := cmd.CombinedOutput(); err != nil {
		return "", fmt.Errorf("building VictoriaMetrics %s: %s go %s: %w\n%s", version, strings.Join(env, " "), strings.Join(args, " "), err, lastBytes(out, 4000))
	}
	if err := os.Rename(filepath.Join(tmp, "victoria-metrics"), bin); err != nil {
		return "", err
	}
	fmt.Fprintf(log, "built VictoriaMetrics %s in %s\n", version, time.Since(start).Round(time.Second))
	return bin, nil
}

// VictoriaMetricsCached is where VictoriaMetricsBinary keeps the binary of
// version, and whether it is there.
func VictoriaMetricsCached(version string) (string, bool) {
	cache, err := os.UserCacheDir()
	if err != nil {
		cache = os.TempDir()
	}
	bin := filepath.Join(cache, "perfgate", "victoria-metrics-"+version, "victoria-metrics")
	_, err = os.Stat(bin)
	return bin, err == nil
}

// victoriaInstall is the go install that builds version into gobin: static
// (no cgo), stripped, its version stamped as the release's own build does,
// with the Go on this machine (GOTOOLCHAIN=local: no toolchain download).
func victoriaInstall(version, gobin string) (args, env []string) {
	ldflags := "-s -w -X github.com/VictoriaMetrics/VictoriaMetrics/lib/buildinfo.Version=victoria-metrics-" + version
	return []string{"install", "-trimpath", "-ldflags", ldflags, VictoriaMetricsPackage + "@" + version},
		[]string{"GOBIN=" + gobin, "CGO_ENABLED=0", "GOTOOLCHAIN=local", "GOFLAGS=-mod=mod", "GOWORK=off"}
}

func lastBytes(b []byte, n int) string {
	if len(b) > n {
		b = b[len(b)-n:]
	}
	return string(b)
}

// VictoriaMetricsImage returns a FROM scratch image around a static
// victoria-metrics binary, laid out like the upstream image
// (/victoria-metrics-prod, data in /victoria-metrics-data, port 8428). With
// bin "" the binary is VictoriaMetricsBinary's for VictoriaMetricsVersion.
func VictoriaMetricsImage(ctx context.Context, bin string, log io.Writer) (Image, error) {
	if bin == "" {
		b, err := VictoriaMetricsBinary(ctx, "", log)
		if err != nil {
			return Image{}, err
		}
		bin = b
	}
	version, err := exec.CommandContext(ctx, bin, "-version").CombinedOutput()
	if err != nil {
		return Image{}, fmt.Errorf("%s -version: %w\n%s", bin, err, version)
	}
	if out, err := exec.CommandContext(ctx, "ldd", bin).CombinedOutput(); err == nil && !strings.Contains(string(out), "not a dynamic") {
		return Image{}, fmt.Errorf("%s is dynamically linked, and the image is FROM scratch: build it with CGO_ENABLED=0\n%s", bin, out)
	}
	dir, err := os.MkdirTemp("", "perfgate-victoria-")
	if err != nil {
		return Image{}, err
	}
	defer os.RemoveAll(dir)
	root := filepath.Join(dir, "rootfs")
	if err := os.MkdirAll(filepath.Join(root, "victoria-metrics-data"), 0o777); err != nil {
		return Image{}, err
	}
	if err := os.MkdirAll(filepath.Join(root, "tmp"), 0o777); err != nil {
		return Image{}, err
	}
	if err := copyFile(bin, filepath.Join(root, "victoria-metrics-prod"), 0o755); err != nil {
		return Image{}, err
	}
	if err := os.WriteFile(filepath.Join(dir, "Dockerfile"), []byte(victoriaDockerfile), 0o644); err != nil {
		return Image{}, err
	}
	sum, err := hashFiles(filepath.Join(dir, "Dockerfile"), bin)
	if err != nil {
		return Image{}, err
	}
	v := strings.TrimSpace(string(version))
	return buildImage(ctx, dir, "perfgate/victoria-metrics", sum, fmt.Sprintf("local image around %s (%s, no registry)", bin, v), log)
}

const victoriaDockerfile = "FROM scratch\nCOPY rootfs/ /\nWORKDIR /victoria-metrics-data\nUSER 65534:65534\nEXPOSE 8428\nENTRYPOINT [\"/victoria-metrics-prod\"]\n"

// VictoriaConfig says how to start VictoriaMetrics beside a stack.
type VictoriaConfig struct {
	Image string
	// Name is its container name's suffix and network alias; default
	// "victoria-metrics". Two beside one stack need two names.
	Name           string
	Service        thresholds.Service // the job and port it scrapes; zero means thresholds.DefaultService
	ScrapeInterval time.Duration      // default 1s, as the stack's Prometheus
	StartupTimeout time.Duration      // default 60s
	// Args are extra command-line flags, after the defaults of VictoriaArgs:
	// a flag given twice takes its last value, so these override them.
	Args []string
}

// VictoriaMetrics is a VictoriaMetrics single-node container that scrapes a
// stack's replicas and serves the Prometheus query API at URL.
type VictoriaMetrics struct {
	URL string
	c   *testcontainers.DockerContainer
}

// victoriaScrapeFile is where the scrape configuration is copied in.
const victoriaScrapeFile = "/etc/victoria-metrics/scrape.yml"

// VictoriaArgs are the flags VictoriaMetrics runs with beside a stack:
//   - -search.latencyOffset=0s: by default a query evaluated less than 30 s
//     before now is evaluated 30 s before now instead, and its answer's
//     timestamps shifted back to the time asked for, so a window read right
//     after the load would silently lose its end. The gate itself waits until
//     a scrape after the window is visible (min(timestamp(up))), which is what
//     the offset guards against.
//   - -promscrape.config.strictParse=true (the default, written out): a field
//     VictoriaMetrics does not know is an error at start, never silently dropped.
//   - -retentionPeriod=1d: the shortest allowed; a test keeps minutes.
//   - -dedup.minScrapeInterval left at 0: one scraper, nothing to deduplicate.
//   - the response cache left on: it keeps only answers older than
//     -search.cacheTimestampOffset (5 m), and a gate reads the last minute.
func VictoriaArgs() []string {
	return []string{
		"-httpListenAddr=:8428",
		"-storageDataPath=/victoria-metrics-data",
		"-retentionPeriod=1d",
		"-promscrape.config=" + victoriaScrapeFile,
		"-promscrape.config.strictParse=true",
		"-search.latencyOffset=0s",
		"-loggerLevel=WARN",
	}
}

// VictoriaScrapeConfig is the stack's Prometheus scrape configuration in the
// form VictoriaMetrics parses strictly: the same job, targets and labels,
// without evaluation_interval (no rules are evaluated; VictoriaMetrics
// rejects the field).
func VictoriaScrapeConfig(job string, port int, replicas []Replica, interval time.Duration) string {
	return strings.Replace(PrometheusConfig(job, port, replicas, interval), fmt.Sprintf("  evaluation_interval: %s\n", interval), "", 1)
}

// StartVictoriaMetrics starts VictoriaMetrics on the stack's network,
// scraping every replica as the stack's Prometheus does. It carries the
// stack's labels, so Sweep and Leftovers see it, but Close does not remove
// it: close it before the stack, whose network it is on. On error the
// returned value holds what did start.
func (s *Stack) StartVictoriaMetrics(ctx context.Context, cfg VictoriaConfig) (*VictoriaMetrics, error) {
	if cfg.Service.Name == "" {
		cfg.Service = thresholds.DefaultService
	}
	if cfg.ScrapeInterval == 0 {
		cfg.ScrapeInterval = time.Second
	}
	if cfg.StartupTimeout == 0 {
		cfg.StartupTimeout = 60 * time.Second
	}
	if cfg.Name == "" {
		cfg.Name = "victoria-metrics"
	}
	vm := &VictoriaMetrics{}
	if s.network == nil {
		return vm, errors.New("the stack has no network: start it first")
	}
	conf := VictoriaScrapeConfig(cfg.Service.Name, cfg.Service.Port, s.Replicas, cfg.ScrapeInterval)
	c, err := testcontainers.Run(ctx, cfg.Image,
		testcontainers.WithName("perfgate-"+s.RunID+"-"+cfg.Name),
		testcontainers.WithCmd(append(VictoriaArgs(), cfg.Args...)...),
		testcontainers.WithLabels(s.labels()),
		withFileIn(path.Dir(victoriaScrapeFile), path.Base(victoriaScrapeFile), conf),
		testcontainers.WithExposedPorts(victoriaPort),
		testcontainers.WithHostConfigModifier(loopbackOnly(victoriaPort)),
		testcontainers.WithConfigModifier(asUser(storeUser)),
		testcontainers.WithHostConfigModifier(hardened(storeLimits, map[string]string{
			"/victoria-metrics-data": tmpfsFor(storeUser, "256m"),
			"/tmp":                   tmpfsFor(storeUser, "64m"),
		}, path.Dir(victoriaScrapeFile))),
		tcnetwork.WithNetwork([]string{cfg.Name}, s.network),
		testcontainers.WithWaitStrategy(wait.ForHTTP("/health").WithPort(victoriaPort).
			WithStartupTimeout(cfg.StartupTimeout).WithPollInterval(100*time.Millisecond)),
	)
	vm.c = c
	if err != nil {
		return vm, fmt.Errorf("starting VictoriaMetrics from %s: %w%s", cfg.Image, err, tail(ctx, c))
	}
	vm.URL, err = loopbackURL(ctx, c, victoriaPort)
	fmt.Fprintf(s.log, "%s ready at %s\n", cfg.Name, vm.URL)
	return vm, err
}

// Logs returns the last lines VictoriaMetrics wrote, for a failure message.
func (v *VictoriaMetrics) Logs(ctx context.Context, lines int) string {
	return lastLines(ctx, v.c, lines)
}

// Close removes the container; safe on a value whose start failed.
func (v *VictoriaMetrics) Close(ctx context.Context) error {
	if v == nil || v.c == nil {
		return nil
	}
	err := v.c.Terminate(ctx, testcontainers.StopTimeout(2*time.Second))
	v.c = nil
	return err
}
