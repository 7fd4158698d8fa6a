package stack

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"sync"
	"time"

	"github.com/moby/moby/client"
	"github.com/testcontainers/testcontainers-go"

	"github.com/perfgate/perfgate/thresholds"
)

// UpstreamPrometheus is the pinned image used wherever a registry answers.
const UpstreamPrometheus = "prom/prometheus:v3.5.0"

// Image is a container image ready to run, and how it came to be.
type Image struct {
	Tag    string
	Source string // one line for the report, e.g. "built from service/ (cached)"
}

// BuildServiceImage builds the reference task API in moduleRoot (see BuildService).
func BuildServiceImage(ctx context.Context, moduleRoot string, log io.Writer) (Image, error) {
	return BuildService(ctx, moduleRoot, thresholds.DefaultService, log)
}

// PrometheusSource is where the door says Prometheus comes from
// (PERF_PROMETHEUS_IMAGE and PERF_PROMETHEUS_BIN); the zero value looks for one.
type PrometheusSource struct {
	Image string // an image to run as it is
	Bin   string // a local binary to build an image around
}

// PrometheusImage returns an image to run Prometheus from. In order:
// src.Image as given; the pinned upstream image when present or pullable;
// else an image built around a local binary (src.Bin, then prometheus on
// PATH, then Debian's package fetched with apt-get download).
func PrometheusImage(ctx context.Context, src PrometheusSource, log io.Writer) (Image, error) {
	if src.Image != "" {
		return Image{Tag: src.Image, Source: "set by PERF_PROMETHEUS_IMAGE"}, nil
	}
	p, err := provider()
	if err != nil {
		return Image{}, err
	}
	defer p.Close()
	if _, err := p.Client().ImageInspect(ctx, UpstreamPrometheus); err == nil {
		return Image{Tag: UpstreamPrometheus, Source: "upstream image"}, nil
	}
	first, pullErr := pullRemembered(ctx, p.Client(), UpstreamPrometheus)
	if pullErr == nil {
		return Image{Tag: UpstreamPrometheus, Source: "upstream image, pulled"}, nil
	}
	if first {
		fmt.Fprintf(log, "no registry for %s (%v); building Prometheus from a local binary\n", UpstreamPrometheus, firstLine(pullErr))
	}

	bin, err := localPrometheus(ctx, src.Bin, log)
	if err != nil {
		return Image{}, fmt.Errorf("no Prometheus image: pulling %s failed (%v) and %w", UpstreamPrometheus, firstLine(pullErr), err)
	}
	return buildLocalPrometheus(ctx, bin, log)
}

// localPrometheus finds a Prometheus binary on this machine, bin when set,
// fetching Debian's package into the user cache when there is none.
func localPrometheus(ctx context.Context, bin string, log io.Writer) (string, error) {
	if bin != "" {
		if _, err := os.Stat(bin); err != nil {
			return "", fmt.Errorf("PERF_PROMETHEUS_BIN: %w", err)
		}
		return bin, nil
	}
	if bin, err := exec.LookPath("prometheus"); err == nil {
		return bin, nil
	}
	cache, err := os.UserCacheDir()
	if err != nil {
		cache = os.TempDir()
	}
	dir := filepath.Join(cache, "perfgate", "prometheus-deb")
	bin = filepath.Join(dir, "root", "usr", "bin", "prometheus")
	if _, err := os.Stat(bin); err == nil {
		return bin, nil
	}
	if _, err := exec.LookPath("apt-get"); err != nil {
		return "", errors.New("no Prometheus binary: set PERF_PROMETHEUS_BIN or PERF_PROMETHEUS_IMAGE, or put prometheus on PATH")
	}
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return "", err
	}
	fmt.Fprintf(log, "fetching Debian's prometheus package into %s\n", dir)
	dl := exec.CommandContext(ctx, "apt-get", "download", "prometheus")
	dl.Dir = dir
	if out, err := dl.CombinedOutput(); err != nil {
		return "", fmt.Errorf("apt-get download prometheus: %w\n%s\n(run apt-get update first, or set PERF_PROMETHEUS_BIN)", err, out)
	}
	debs, _ := filepath.Glob(filepath.Join(dir, "prometheus_*.deb"))
	if len(debs) == 0 {
		return "", fmt.Errorf("apt-get download prometheus left no .deb in %s", dir)
	}
	if out, err := exec.CommandContext(ctx, "dpkg-deb", "-x", debs[len(debs)-1], filepath.Join(dir, "root")).CombinedOutput(); err != nil {
		return "", fmt.Errorf("dpkg-deb -x %s: %w\n%s", debs[len(debs)-1], err, out)
	}
	return bin, nil
}

var versionWord = regexp.MustCompile(`version (\S+)`)

var lddPath = regexp.MustCompile(`(?m)(/\S+) \(0x`)

// buildLocalPrometheus lays the binary and the shared objects ldd lists out
// like the upstream image (/bin/prometheus) in a FROM scratch image. The tag
// is the hash of the Dockerfile and those files, so when that image exists
// nothing is copied: the run waits on this before Prometheus can start.
func buildLocalPrometheus(ctx context.Context, bin string, log io.Writer) (Image, error) {
	var version []byte
	versionErr := make(chan error, 1)
	go func() { // beside the hashing: both read the binary
		var err error
		version, err = exec.CommandContext(ctx, bin, "--version").CombinedOutput()
		versionErr <- err
	}()
	files := []string{bin}
	if out, err := exec.CommandContext(ctx, "ldd", bin).CombinedOutput(); err == nil {
		for _, m := range lddPath.FindAllStringSubmatch(string(out), -1) {
			files = append(files, m[1])
		}
	} // a static binary makes ldd fail: nothing else to copy
	const dockerfile = "FROM scratch\nCOPY rootfs/ /\nWORKDIR /prometheus\nUSER 65534:65534\nEXPOSE 9090\nENTRYPOINT [\"/bin/prometheus\"]\n"
	h := sha256.New()
	io.WriteString(h, dockerfile)
	for _, f := range files {
		if err := hashInto(h, f); err != nil {
			<-versionErr
			return Image{}, err
		}
	}
	sum := hex.EncodeToString(h.Sum(nil))[:12]
	if err := <-versionErr; err != nil {
		return Image{}, fmt.Errorf("%s --version: %w\n%s", bin, err, version)
	}
	v := "unknown version"
	if m := versionWord.FindSubmatch(version); m != nil {
		v = string(m[1])
	}
	source := fmt.Sprintf("local image around %s %s (no registry)", bin, v)
	if img, ok := cachedImage(ctx, "perfgate/prometheus", sum, source); ok {
		return img, nil
	}

	dir, err := os.MkdirTemp("", "perfgate-prometheus-")
	if err != nil {
		return Image{}, err
	}
	defer os.RemoveAll(dir)
	root := filepath.Join(dir, "rootfs")
	for i, f := range files {
		dst := filepath.Join(root, f)
		if i == 0 {
			dst = filepath.Join(root, "bin", "prometheus")
		}
		if err := os.MkdirAll(filepath.Dir(dst), 0o755); err != nil {
			return Image{}, err
		}
		if err := copyFile(f, dst, 0o755); err != nil {
			return Image{}, err
		}
	}
	if err := os.MkdirAll(filepath.Join(root, "prometheus"), 0o777); err != nil {
		return Image{}, err
	}
	if err := os.WriteFile(filepath.Join(dir, "Dockerfile"), []byte(dockerfile), 0o644); err != nil {
		return Image{}, err
	}
	return buildImage(ctx, dir, "perfgate/prometheus", sum, source, log)
}

// buildImage builds dir into repo:tag with the testcontainers provider unless
// that tag exists already; the image is kept as a cache for the next run.
func buildImage(ctx context.Context, dir, repo, tag, source string, log io.Writer) (Image, error) {
	return buildImageFile(ctx, dir, "Dockerfile", repo, tag, source, log)
}

// buildImageFile is buildImage with the Dockerfile at a path inside dir.
func buildImageFile(ctx context.Context, dir, dockerfile, repo, tag, source string, log io.Writer) (Image, error) {
	ref := repo + ":" + tag
	p, err := provider()
	if err != nil {
		return Image{}, err
	}
	defer p.Close()
	if _, err := p.Client().ImageInspect(ctx, ref); err == nil {
		source += " (cached)"
	} else {
		req := testcontainers.ContainerRequest{FromDockerfile: testcontainers.FromDockerfile{
			Context: dir, Dockerfile: filepath.ToSlash(dockerfile), Repo: repo, Tag: tag, KeepImage: true, BuildLogWriter: log,
		}}
		if _, err := p.BuildImage(ctx, &req); err != nil {
			return Image{}, fmt.Errorf("docker build %s: %w", ref, err)
		}
	}
	if err := tagLocal(ctx, ref, repo); err != nil {
		return Image{}, err
	}
	return Image{Tag: ref, Source: source}, nil
}

// tagLocal also tags ref as repo:local, so the compose stack runs the very
// image the gate measured.
func tagLocal(ctx context.Context, ref, repo string) error {
	p, err := provider()
	if err != nil {
		return err
	}
	defer p.Close()
	if _, err := p.Client().ImageTag(ctx, client.ImageTagOptions{Source: ref, Target: repo + ":local"}); err != nil {
		return fmt.Errorf("docker tag %s %s:local: %w", ref, repo, err)
	}
	return nil
}

var (
	pullMu     sync.Mutex
	pullFailed = map[string]error{}
)

// pullRemembered pulls ref unless a pull of it failed before in this
// process: a machine without a registry is asked once, and says so once,
// however many stacks start. first says whether this call asked.
func pullRemembered(ctx context.Context, c client.APIClient, ref string) (first bool, err error) {
	pullMu.Lock()
	defer pullMu.Unlock()
	if err, ok := pullFailed[ref]; ok {
		return false, err
	}
	if err = pullOnce(ctx, c, ref); err != nil && ctx.Err() == nil {
		pullFailed[ref] = err
	}
	return true, err
}

// pullOnce tries a registry exactly once, with a short deadline: on a machine
// without one, the fallback should start at once rather than after retries.
func pullOnce(ctx context.Context, c client.APIClient, ref string) error {
	ctx, cancel := context.WithTimeout(ctx, 3*time.Minute)
	defer cancel()
	rc, err := c.ImagePull(ctx, ref, client.ImagePullOptions{})
	if err != nil {
		return err
	}
	defer rc.Close()
	return rc.Wait(ctx)
}

func hashFiles(paths ...string) (string, error) {
	h := sha256.New()
	for _, p := range paths {
		if err := hashInto(h, p); err != nil {
			return "", err
		}
	}
	return hex.EncodeToString(h.Sum(nil))[:12], nil
}

func copyFile(src, dst string, mode os.FileMode) error {
	b, err := os.ReadFile(src)
	if err != nil {
		return err
	}
	return os.WriteFile(dst, b, mode)
}

func firstLine(err error) string {
	s, _, _ := strings.Cut(err.Error(), "\n")
	return string(bytes.TrimSpace([]byte(s)))
}

// BuildImageAt builds the service as it was at the git ref (a commit, a
// branch, "origin/main"), in a temporary worktree of the repository at
// moduleRoot, as the service section of the spec at specPath (relative to the
// root) at that commit describes it. When that spec is missing or unreadable
// there (an older format, say), svc, the candidate's section, is used and the
// image's Source says so. The image is also tagged perfgate/<name>:<commit>.
func BuildImageAt(ctx context.Context, moduleRoot, ref, specPath string, svc thresholds.Service, log io.Writer) (Image, string, error) {
	commit, err := git(ctx, moduleRoot, "rev-parse", "--verify", "--quiet", ref+"^{commit}")
	if err != nil {
		return Image{}, "", fmt.Errorf("%q is not a commit of %s: %w", ref, moduleRoot, err)
	}
	dir, err := os.MkdirTemp("", "perfgate-build-")
	if err != nil {
		return Image{}, "", err
	}
	defer os.RemoveAll(dir)
	wt := filepath.Join(dir, "src")
	if _, err := git(ctx, moduleRoot, "worktree", "add", "--detach", wt, commit); err != nil {
		return Image{}, "", fmt.Errorf("checking out %s: %w", ref, err)
	}
	defer git(context.WithoutCancel(ctx), moduleRoot, "worktree", "remove", "--force", wt) //nolint:errcheck // best effort; the directory goes anyway
	short := commit[:12]
	note := ""
	if specPath != "" {
		if spec, err := thresholds.ParseFile(filepath.Join(wt, filepath.FromSlash(specPath))); err == nil {
			svc = spec.ServiceOrDefault()
		} else {
			note = fmt.Sprintf("; its %s does not parse here, so with the candidate's service section", specPath)
		}
	}
	img, err := BuildService(ctx, wt, svc, log)
	if err != nil {
		return Image{}, "", fmt.Errorf("%s: %w", ref, err)
	}
	repo := "perfgate/" + svc.Name
	p, err := provider()
	if err != nil {
		return Image{}, "", err
	}
	defer p.Close()
	if _, err := p.Client().ImageTag(ctx, client.ImageTagOptions{Source: img.Tag, Target: repo + ":" + short}); err != nil {
		return Image{}, "", fmt.Errorf("docker tag %s: %w", img.Tag, err)
	}
	img.Source = fmt.Sprintf("%s at %s%s", img.Source, short, note)
	return img, commit, nil
}

// MergeBase is the commit a change started from: the merge-base of HEAD with
// the first of bases that exists (e.g. origin/main, main).
func MergeBase(ctx context.Context, moduleRoot string, bases ...string) (string, error) {
	for _, b := range bases {
		if _, err := git(ctx, moduleRoot, "rev-parse", "--verify", "--quiet", b+"^{commit}"); err != nil {
			continue
		}
		return git(ctx, moduleRoot, "merge-base", "HEAD", b)
	}
	return "", fmt.Errorf("none of %s exists in %s", strings.Join(bases, ", "), moduleRoot)
}

// Clean reports whether HEAD equals commit and the service's sources are
// unchanged in the work tree: then a baseline would measure the candidate twice.
func Clean(ctx context.Context, moduleRoot, commit string) bool {
	head, err := git(ctx, moduleRoot, "rev-parse", "HEAD")
	if err != nil || head != commit {
		return false
	}
	out, err := git(ctx, moduleRoot, "status", "--porcelain", "--", "service", "go.mod", "go.sum")
	return err == nil && out == ""
}

func git(ctx context.Context, dir string, args ...string) (string, error) {
	cmd := exec.CommandContext(ctx, "git", args...)
	cmd.Dir = dir
	out, err := cmd.Output()
	if err != nil {
		var ee *exec.ExitError
		if errors.As(err, &ee) && len(ee.Stderr) > 0 {
			return "", fmt.Errorf("git %s: %w: %s", strings.Join(args, " "), err, strings.TrimSpace(string(ee.Stderr)))
		}
		return "", fmt.Errorf("git %s: %w", strings.Join(args, " "), err)
	}
	return strings.TrimSpace(string(out)), nil
}
