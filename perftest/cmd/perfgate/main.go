// Command perfgate is the regression gate outside `go test`: running it,
// checking a spec, running and merging the shards of a sharded load,
// rendering them as a Kubernetes Job, building the images, sweeping
// leftovers of crashed runs.
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"os/signal"
	"path/filepath"
	"runtime/debug"
	"syscall"

	"github.com/perfgate/perfgate/perftest/internal/door"
	"github.com/perfgate/perfgate/perftest/internal/gate"
	"github.com/perfgate/perfgate/perftest/internal/stack"
	"github.com/perfgate/perfgate/thresholds"
)

const usage = `usage: perfgate <command> [arguments]

commands:
  run [flags]       run the gate: exit 0 pass, 1 fail, 2 bad input, 3 inconclusive, 4 could not run
  check [FILE...]   validate thresholds files (default thresholds/slo.yaml): exit 0 valid, 2 bad input
  load [flags]      run one shard of a sharded load against the spec's target; write its result
  merge [flags] FILE...
                    merge shard results and judge the run once, with run's reports and exit codes
  k8s [flags]       print the ConfigMap and Indexed Job that run the spec's load as N shards
  images            build the service and Prometheus images (also tagged :local)
  sweep             remove containers, networks and volumes of runs whose process is gone
`

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	err := protect(func() error { return run(ctx, os.Args[1:], os.Stdout, os.Stderr) }, os.Stderr)
	stop()
	var ex exitCode
	switch {
	case errors.As(err, &ex):
		os.Exit(int(ex))
	case err != nil:
		if !errors.Is(err, errReported) {
			fmt.Fprintln(os.Stderr, "perfgate:", err)
		}
		os.Exit(1)
	}
}

// protect runs f and turns a panic in it into the exit code of a run that
// could not reach a verdict, with the stack on stderr: a bug is not bad input.
func protect(f func() error, stderr io.Writer) (err error) {
	defer func() {
		if r := recover(); r != nil {
			fmt.Fprintf(stderr, "perfgate: internal error: %v\n%s", r, debug.Stack())
			err = exitCode(gate.ExitCannotRun)
		}
	}()
	return f()
}

// exitCode ends the program with a code the run has already explained.
type exitCode int

func (e exitCode) Error() string { return fmt.Sprintf("exit status %d", int(e)) }

// errReported means the details were already written to stderr.
var errReported = errors.New("reported")

// run is the command's door: the only place it reads the environment, into
// the settings each command takes.
func run(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	getenv := os.Getenv
	if len(args) == 0 {
		fmt.Fprint(stderr, usage)
		return errReported
	}
	door.Testcontainers(getenv)
	switch args[0] {
	case "run":
		return runGate(ctx, args[1:], getenv, stdout, stderr)
	case "check":
		return check(ctx, args[1:], stdout, stderr)
	case "load":
		return loadShard(ctx, args[1:], stdout, stderr)
	case "merge":
		return merge(ctx, args[1:], getenv, stdout, stderr)
	case "k8s":
		return kube(args[1:], stdout, stderr)
	case "images":
		if err := stack.Ping(ctx); err != nil {
			return err
		}
		return images(ctx, args[1:], gate.Settings{}.WithEnv(getenv).Prometheus, stdout, stderr)
	case "sweep":
		if err := stack.Ping(ctx); err != nil {
			return err
		}
		n, err := stack.Sweep(ctx)
		if err != nil {
			return err
		}
		fmt.Fprintf(stdout, "removed %d leftovers\n", n)
		return nil
	case "help", "-h", "-help", "--help":
		fmt.Fprint(stdout, usage)
		return nil
	default:
		fmt.Fprintf(stderr, "perfgate: unknown command %q\n%s", args[0], usage)
		return errReported
	}
}

// check is `perfgate check`: it exits 2, bad input, when a file is not a
// valid spec, as the other commands do.
func check(ctx context.Context, files []string, stdout, stderr io.Writer) error {
	if len(files) == 0 {
		files = []string{filepath.Join("thresholds", thresholds.DefaultFile)}
	}
	bad := false
	for _, f := range files {
		spec, err := thresholds.ParseFileContext(ctx, f)
		if ctx.Err() != nil {
			fmt.Fprintln(stderr, "perfgate check: interrupted:", ctx.Err())
			return exitCode(gate.ExitCannotRun)
		}
		if err == nil && spec.Target == nil {
			// What the gate would build must be there: found now, not at build time.
			var root string
			if root, err = gate.RepoRoot(filepath.Dir(f)); err == nil {
				err = spec.CheckFiles(root)
			}
		}
		if err != nil {
			fmt.Fprintln(stderr, err)
			bad = true
			continue
		}
		cmp := "no comparison with a baseline"
		if c := spec.Compare; c != nil {
			cmp = fmt.Sprintf("%d metrics compared with a baseline over %d rounds per build", len(c.Metrics), c.Rounds)
		}
		fmt.Fprintf(stdout, "%s: ok: %d SLOs, %s of load (%s warm-up); %s\n", f, len(spec.SLOs), spec.Load.Duration(), spec.Load.WarmUp, cmp)
		for _, n := range spec.Notes() {
			fmt.Fprintf(stdout, "note: %s\n", n)
		}
	}
	if bad {
		return exitCode(gate.ExitBadInput)
	}
	return nil
}

func images(ctx context.Context, args []string, prometheus stack.PrometheusSource, stdout, stderr io.Writer) error {
	fs := flag.NewFlagSet("images", flag.ContinueOnError)
	fs.SetOutput(stderr)
	root := fs.String("root", ".", "repository root the build paths are relative to")
	specPath := fs.String("f", "", "spec whose service section says what to build (default: the reference task API)")
	if err := fs.Parse(args); err != nil {
		return errReported
	}
	service := thresholds.DefaultService
	if *specPath != "" {
		spec, err := thresholds.ParseFileContext(ctx, *specPath)
		if err != nil {
			return err
		}
		service = spec.ServiceOrDefault()
	}
	svc, err := stack.BuildService(ctx, *root, service, stderr)
	if err != nil {
		return err
	}
	fmt.Fprintf(stdout, "service:    %s (also perfgate/%s:local) — %s\n", svc.Tag, service.Name, svc.Source)
	prom, err := stack.PrometheusImage(ctx, prometheus, stderr)
	if err != nil {
		return err
	}
	fmt.Fprintf(stdout, "prometheus: %s — %s\n", prom.Tag, prom.Source)
	return nil
}

// runGate is `perfgate run`: the settings `go test ./perftest` takes, as
// flags, with the same PERF_* variables as defaults.
func runGate(ctx context.Context, args []string, getenv func(string) string, stdout, stderr io.Writer) error {
	fs := flag.NewFlagSet("run", flag.ContinueOnError)
	fs.SetOutput(stderr)
	flags := gate.RegisterFlags(fs, gate.CLIFlags)
	if err := fs.Parse(args); err != nil {
		return exitCode(gate.ExitBadInput)
	}
	if fs.NArg() > 0 {
		fmt.Fprintf(stderr, "perfgate run: unexpected argument %q (the spec is given with -f)\n", fs.Arg(0))
		return exitCode(gate.ExitBadInput)
	}
	s := flags.WithEnv(getenv)
	s.Out = stdout
	return judge(ctx, s, stdout, stderr)
}

// judge runs the gate with s and turns its outcome into the exit code.
func judge(ctx context.Context, s gate.Settings, stdout, stderr io.Writer) error {
	o, err := gate.Gate(ctx, s)
	if err != nil {
		fmt.Fprintln(stderr, "perfgate:", err)
	} else {
		fmt.Fprintf(stdout, "verdict: %s\n", o.Decision.Verdict)
	}
	if code := gate.ExitCode(o, err); code != gate.ExitPass {
		return exitCode(code)
	}
	return nil
}
