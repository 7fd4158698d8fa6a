// Command perfgate holds the gate's chores outside `go test`: checking a
// thresholds file, building the images, sweeping leftovers of crashed runs.
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
	"syscall"

	"github.com/perfgate/perfgate/perftest/internal/stack"
	"github.com/perfgate/perfgate/thresholds"
)

const usage = `usage: perfgate <command> [arguments]

commands:
  check [FILE...]   validate thresholds files (default thresholds/slo.yaml)
  images            build the service and Prometheus images (also tagged :local)
  sweep             remove containers, networks and volumes of runs whose process is gone
`

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	err := run(ctx, os.Args[1:], os.Stdout, os.Stderr)
	stop()
	if err != nil {
		if !errors.Is(err, errReported) {
			fmt.Fprintln(os.Stderr, "perfgate:", err)
		}
		os.Exit(1)
	}
}

// errReported means the details were already written to stderr.
var errReported = errors.New("reported")

func run(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	if len(args) == 0 {
		fmt.Fprint(stderr, usage)
		return errReported
	}
	switch args[0] {
	case "check":
		return check(args[1:], stdout, stderr)
	case "images":
		if err := stack.Ping(ctx); err != nil {
			return err
		}
		return images(ctx, args[1:], stdout, stderr)
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

func check(files []string, stdout, stderr io.Writer) error {
	if len(files) == 0 {
		files = []string{filepath.Join("thresholds", thresholds.DefaultFile)}
	}
	bad := false
	for _, f := range files {
		spec, err := thresholds.ParseFile(f)
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
	}
	if bad {
		return errReported
	}
	return nil
}

func images(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	fs := flag.NewFlagSet("images", flag.ContinueOnError)
	fs.SetOutput(stderr)
	root := fs.String("root", ".", "module root holding service/")
	if err := fs.Parse(args); err != nil {
		return errReported
	}
	svc, err := stack.BuildServiceImage(ctx, *root, stderr)
	if err != nil {
		return err
	}
	fmt.Fprintf(stdout, "service:    %s (also perfgate/tasksvc:local) — %s\n", svc.Tag, svc.Source)
	prom, err := stack.PrometheusImage(ctx, stderr)
	if err != nil {
		return err
	}
	fmt.Fprintf(stdout, "prometheus: %s — %s\n", prom.Tag, prom.Source)
	return nil
}
