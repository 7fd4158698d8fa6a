package stack

import (
	"bufio"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"sort"
	"strings"

	"github.com/moby/moby/client"

	"github.com/perfgate/perfgate/thresholds"
)

// BuildService gets the image of the service a spec describes, from the
// repository at root: a prebuilt image as it is; else a docker build of its
// self-contained Dockerfile when that Dockerfile's base images are here or
// can be pulled; else a static Go build on the host wrapped in its FROM
// scratch Dockerfile (the path for machines without a registry). Image.Source
// says which path was taken. Built images are tagged by the hash of their
// inputs, so an unchanged service is not built again.
func BuildService(ctx context.Context, root string, svc thresholds.Service, log io.Writer) (Image, error) {
	if log == nil {
		log = io.Discard
	}
	b := svc.Build
	repo := "perfgate/" + svc.Name
	if b.Image != "" {
		return Image{Tag: b.Image, Source: "prebuilt image " + b.Image}, nil
	}
	var dockerErr error
	if b.Dockerfile != "" {
		img, err := dockerBuild(ctx, root, repo, b, log)
		if err == nil || b.Go == nil {
			return img, err
		}
		dockerErr = err
		fmt.Fprintf(log, "%s cannot be built here (%v); building on the host instead\n", b.Dockerfile, firstLine(err))
	}
	if b.Go == nil {
		return Image{}, errors.New("service.build says neither how to build nor which image to run")
	}
	img, err := hostGoBuild(ctx, root, repo, *b.Go, log)
	if err != nil {
		return Image{}, errors.Join(dockerErr, err)
	}
	if dockerErr != nil {
		msg, _, _ := strings.Cut(firstLine(dockerErr), ": ")
		img.Source += fmt.Sprintf("; not %s: %s", b.Dockerfile, msg)
	}
	return img, nil
}

// dockerBuild builds a self-contained Dockerfile, once its base images are
// known to be here: a build that would wait on an unreachable registry fails
// fast instead.
func dockerBuild(ctx context.Context, root, repo string, b thresholds.Build, log io.Writer) (Image, error) {
	dockerfile := filepath.Join(root, filepath.FromSlash(b.Dockerfile))
	contextDir := filepath.Dir(dockerfile)
	if b.Context != "" {
		contextDir = filepath.Join(root, filepath.FromSlash(b.Context))
	}
	bases, err := baseImages(dockerfile)
	if err != nil {
		return Image{}, err
	}
	p, err := provider()
	if err != nil {
		return Image{}, err
	}
	for _, ref := range bases {
		if _, err := p.Client().ImageInspect(ctx, ref); err == nil {
			continue
		}
		if err := pullOnce(ctx, p.Client(), ref); err != nil {
			p.Close()
			return Image{}, fmt.Errorf("base image %s cannot be pulled: %w", ref, err)
		}
	}
	p.Close()
	rel, err := filepath.Rel(contextDir, dockerfile)
	if err != nil || strings.HasPrefix(rel, "..") {
		return Image{}, fmt.Errorf("%s is outside its build context %s", b.Dockerfile, contextDir)
	}
	sum, err := hashTree(contextDir)
	if err != nil {
		return Image{}, err
	}
	return buildImageFile(ctx, contextDir, rel, repo, sum, "docker build of "+b.Dockerfile, log)
}

// baseImages lists the images a Dockerfile's FROM lines name, leaving out
// scratch and its own earlier stages.
func baseImages(dockerfile string) ([]string, error) {
	f, err := os.Open(dockerfile)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	stages := map[string]bool{"scratch": true}
	var out []string
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		fields := strings.Fields(sc.Text())
		if len(fields) < 2 || !strings.EqualFold(fields[0], "FROM") {
			continue
		}
		args := fields[1:]
		for len(args) > 0 && strings.HasPrefix(args[0], "--") { // --platform=…
			args = args[1:]
		}
		if len(args) == 0 {
			continue
		}
		ref := args[0]
		if !stages[strings.ToLower(ref)] && !strings.Contains(ref, "$") {
			out = append(out, ref)
		}
		if len(args) >= 3 && strings.EqualFold(args[1], "AS") {
			stages[strings.ToLower(args[2])] = true
		}
	}
	return out, sc.Err()
}

// hostGoBuild compiles the package as a static Linux binary for the Docker
// engine's platform, and builds the FROM scratch Dockerfile around it. The
// tag is the hash of the build's inputs (the module's Go files the package
// needs, go.mod, go.sum, the toolchain, the flags, the Dockerfile), checked
// before compiling: an unchanged service costs one go list.
func hostGoBuild(ctx context.Context, root, repo string, g thresholds.GoBuild, log io.Writer) (Image, error) {
	// The spec's check refuses these; a spec built in code is not checked.
	for _, a := range append([]string{g.Package, g.Binary()}, g.Tags...) {
		if strings.HasPrefix(a, "-") {
			return Image{}, fmt.Errorf("go build of %q: %q starts with \"-\", which go would read as a flag", g.Package, a)
		}
	}
	goos, goarch := "linux", runtime.GOARCH
	if arch, err := engineArch(ctx); err == nil && arch != "" {
		goarch = arch
	}
	args := []string{"build", "-trimpath"}
	if len(g.Tags) > 0 {
		args = append(args, "-tags", strings.Join(g.Tags, " "))
	}
	cgo := "0"
	if g.CGO {
		cgo = "1"
		args = append(args, "-ldflags", `-s -w -linkmode external -extldflags "-static"`)
	} else {
		args = append(args, "-ldflags", "-s -w")
	}
	env := append(os.Environ(), "CGO_ENABLED="+cgo, "GOOS="+goos, "GOARCH="+goarch)
	dockerfile := filepath.Join(root, filepath.FromSlash(g.Dockerfile))

	sum, err := goInputsHash(ctx, root, g.Package, env, append(append([]string{}, args...), dockerfile, g.Binary(), strings.Join(g.Dirs, ",")), dockerfile)
	if err != nil {
		return Image{}, err
	}
	source := fmt.Sprintf("static host build of %s (%s/%s) in %s", g.Package, goos, goarch, g.Dockerfile)
	if img, ok := cachedImage(ctx, repo, sum, source); ok {
		return img, nil
	}

	dir, err := os.MkdirTemp("", "perfgate-build-")
	if err != nil {
		return Image{}, err
	}
	defer os.RemoveAll(dir)
	args = append(args, "-o", filepath.Join(dir, g.Binary()), g.Package)
	cmd := exec.CommandContext(ctx, "go", args...)
	cmd.Dir = root
	cmd.Env = env
	if out, err := cmd.CombinedOutput(); err != nil {
		hint := ""
		if g.CGO {
			hint = "\nA static cgo build needs gcc and libc6-dev (apt-get install gcc libc6-dev), and a C cross compiler when the engine is not " + runtime.GOOS + "/" + runtime.GOARCH + ": give service.build a dockerfile that builds inside the image"
		}
		return Image{}, fmt.Errorf("building %s (go %s): %w\n%s%s", g.Package, strings.Join(args, " "), err, out, hint)
	}
	if err := copyFile(dockerfile, filepath.Join(dir, "Dockerfile"), 0o644); err != nil {
		return Image{}, err
	}
	for _, d := range g.Dirs {
		if err := os.MkdirAll(filepath.Join(dir, filepath.FromSlash(d)), 0o755); err != nil {
			return Image{}, err
		}
	}
	return buildImage(ctx, dir, repo, sum, source, log)
}

// goInputsHash hashes what a go build of pkg reads from the module: every Go,
// cgo and embedded file of the packages it depends on inside the main module,
// plus go.mod and go.sum (which pin the rest), the toolchain version and extra.
func goInputsHash(ctx context.Context, root, pkg string, env, extra []string, files ...string) (string, error) {
	const format = `{{if and .Module .Module.Main}}{{$d := .Dir}}{{range .GoFiles}}{{$d}}/{{.}}{{"\n"}}{{end}}{{range .CgoFiles}}{{$d}}/{{.}}{{"\n"}}{{end}}{{range .CFiles}}{{$d}}/{{.}}{{"\n"}}{{end}}{{range .HFiles}}{{$d}}/{{.}}{{"\n"}}{{end}}{{range .EmbedFiles}}{{$d}}/{{.}}{{"\n"}}{{end}}{{end}}`
	cmd := exec.CommandContext(ctx, "go", "list", "-deps", "-f", format, pkg)
	cmd.Dir = root
	cmd.Env = env
	out, err := cmd.Output()
	if err != nil {
		var ee *exec.ExitError
		if errors.As(err, &ee) {
			return "", fmt.Errorf("go list %s: %w\n%s", pkg, err, ee.Stderr)
		}
		return "", fmt.Errorf("go list %s: %w", pkg, err)
	}
	paths := strings.Fields(string(out))
	sort.Strings(paths)
	paths = append(paths, filepath.Join(root, "go.mod"), filepath.Join(root, "go.sum"))
	paths = append(paths, files...)
	h := sha256.New()
	ver, _ := exec.CommandContext(ctx, "go", "env", "GOVERSION").Output()
	fmt.Fprintf(h, "%s\n%s\n", ver, strings.Join(extra, "\x00"))
	for _, p := range paths {
		if err := hashInto(h, p); err != nil && !errors.Is(err, os.ErrNotExist) {
			return "", err
		}
		fmt.Fprintln(h, strings.TrimPrefix(p, root))
	}
	return hex.EncodeToString(h.Sum(nil))[:12], nil
}

// hashTree hashes every file under dir, names and contents, for the tag of a
// docker build of that context.
func hashTree(dir string) (string, error) {
	h := sha256.New()
	err := filepath.WalkDir(dir, func(p string, d os.DirEntry, err error) error {
		if err != nil {
			return err
		}
		if d.IsDir() && (d.Name() == ".git" || d.Name() == "perf-report") {
			return filepath.SkipDir
		}
		if !d.Type().IsRegular() {
			return nil
		}
		fmt.Fprintln(h, strings.TrimPrefix(p, dir))
		return hashInto(h, p)
	})
	if err != nil {
		return "", err
	}
	return hex.EncodeToString(h.Sum(nil))[:12], nil
}

func hashInto(w io.Writer, path string) error {
	f, err := os.Open(path)
	if err != nil {
		return err
	}
	defer f.Close()
	_, err = io.Copy(w, f)
	return err
}

// cachedImage is repo:tag when it exists already, re-tagged :local.
func cachedImage(ctx context.Context, repo, tag, source string) (Image, bool) {
	p, err := provider()
	if err != nil {
		return Image{}, false
	}
	defer p.Close()
	ref := repo + ":" + tag
	if _, err := p.Client().ImageInspect(ctx, ref); err != nil {
		return Image{}, false
	}
	if err := tagLocal(ctx, ref, repo); err != nil {
		return Image{}, false
	}
	return Image{Tag: ref, Source: source + " (cached)"}, true
}

// engineArch is the Docker engine's CPU architecture in GOARCH terms, so a
// build on an arm64 laptop or an amd64 runner matches the containers.
func engineArch(ctx context.Context) (string, error) {
	p, err := provider()
	if err != nil {
		return "", err
	}
	defer p.Close()
	info, err := p.Client().Info(ctx, client.InfoOptions{})
	if err != nil {
		return "", err
	}
	switch a := info.Info.Architecture; a {
	case "x86_64", "amd64":
		return "amd64", nil
	case "aarch64", "arm64":
		return "arm64", nil
	default:
		return "", fmt.Errorf("unknown engine architecture %q", a)
	}
}
