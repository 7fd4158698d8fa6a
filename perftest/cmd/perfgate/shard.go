package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strings"
	"time"

	"github.com/perfgate/perfgate/perftest/internal/gate"
	"github.com/perfgate/perfgate/perftest/internal/k8s"
	"github.com/perfgate/perfgate/perftest/internal/shard"
	"github.com/perfgate/perfgate/thresholds"
	"k8s.io/apimachinery/pkg/api/resource"
)

// loadShard is `perfgate load`: one shard of a sharded run. It sends its
// part of the spec's load to the spec's target from the agreed instant and
// writes its result for `perfgate merge`; it judges nothing.
func loadShard(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	fs := flag.NewFlagSet("load", flag.ContinueOnError)
	fs.SetOutput(stderr)
	specPath := fs.String("f", filepath.Join("thresholds", thresholds.DefaultFile), "spec whose load goes to its target")
	planFlag := fs.String("shard", "0/1", "this shard and the count, index/count: arrival k is sent by shard k mod count")
	startFlag := fs.String("start", "", "the instant every shard starts at, RFC 3339 (2026-12-02T18:00:00Z); required")
	out := fs.String("out", "", "file to write the shard's result to, - for stdout; required")
	if err := fs.Parse(args); err != nil {
		return exitCode(gate.ExitBadInput)
	}
	bad := badInput(stderr, "load")
	if fs.NArg() > 0 {
		return bad("unexpected argument %q (the spec is given with -f)", fs.Arg(0))
	}
	if strings.Contains(*planFlag, "$(") {
		return bad("-shard %q: the index was not filled in (in an Indexed Job, $(JOB_COMPLETION_INDEX) needs the variable set in the container's env)", *planFlag)
	}
	plan, err := shard.ParsePlan(*planFlag)
	if err != nil {
		return bad("-shard: %v", err)
	}
	if *startFlag == "" {
		return bad("-start: missing: every shard of a run starts at one agreed instant, e.g. -start %s", time.Now().Add(time.Minute).UTC().Format(time.RFC3339))
	}
	startAt, err := time.Parse(time.RFC3339Nano, *startFlag)
	if err != nil {
		return bad("-start %q: not an RFC 3339 instant such as 2026-12-02T18:00:00Z", *startFlag)
	}
	if *out == "" {
		return bad("-out: missing: where the shard's result goes (- for stdout)")
	}
	res, err := gate.Shard(ctx, *specPath, plan, startAt, stderr)
	if sp := (*gate.StartPassedError)(nil); errors.As(err, &sp) {
		return bad("-start %q has passed: the %s of stages from it ended %s ago; every shard starts at an instant still ahead, e.g. -start %s",
			*startFlag, sp.Stages, sp.Ago.Round(time.Second), time.Now().Add(time.Minute).UTC().Format(time.RFC3339))
	}
	if err != nil {
		fmt.Fprintln(stderr, "perfgate load:", err)
		return exitCode(gate.ExitCode(gate.Outcome{}, err))
	}
	if err := writeResult(*out, res, stdout); err != nil {
		fmt.Fprintln(stderr, "perfgate load:", err)
		return exitCode(gate.ExitCannotRun)
	}
	fmt.Fprintf(stderr, "shard %s: sent %d, errors %d, dropped %d, started %s after the agreed start; result in %s\n",
		plan, res.Sent, res.Errors, res.Dropped, res.Started.Sub(res.StartAt).Round(time.Millisecond), *out)
	return nil
}

// writeResult writes r to path whole or not at all: a shard killed while
// writing leaves no file, which the merge counts as a missing shard.
func writeResult(path string, r shard.Result, stdout io.Writer) error {
	if path == "-" {
		return shard.Encode(stdout, r)
	}
	if dir := filepath.Dir(path); dir != "" {
		if err := os.MkdirAll(dir, 0o755); err != nil {
			return err
		}
	}
	f, err := os.CreateTemp(filepath.Dir(path), "."+filepath.Base(path)+".*")
	if err != nil {
		return err
	}
	defer os.Remove(f.Name())
	if err := errors.Join(shard.Encode(f, r), f.Sync(), f.Close()); err != nil {
		return fmt.Errorf("writing %s: %w", path, err)
	}
	return os.Rename(f.Name(), path)
}

// merge is `perfgate merge`: it puts the shards' results together and
// judges the run once, through the target's query API, with the reports and
// exit codes of `perfgate run`. A shard with no result makes the run
// inconclusive, never a pass, and so does one that started late.
func merge(ctx context.Context, args []string, getenv func(string) string, stdout, stderr io.Writer) error {
	fs := flag.NewFlagSet("merge", flag.ContinueOnError)
	fs.SetOutput(stderr)
	flags := gate.RegisterFlags(fs, gate.FlagNames{Spec: gate.CLIFlags.Spec, ReportDir: gate.CLIFlags.ReportDir}) // the spec the shards ran
	count := fs.Int("shards", 0, "how many shards the run was planned for (default: what the results say)")
	tolerance := fs.Duration("late", shard.DefaultTolerance, "how long after the agreed start a shard may begin before the run is inconclusive")
	if err := fs.Parse(args); err != nil {
		return exitCode(gate.ExitBadInput)
	}
	bad := badInput(stderr, "merge")
	if fs.NArg() == 0 {
		return bad("no shard results: give the files the shards wrote, e.g. results/shard-*.json")
	}
	if *count != 0 {
		if err := (shard.Plan{Count: *count}).Validate(); err != nil {
			return bad("-shards: %v", err)
		}
	}
	var results []shard.Result
	for _, name := range fs.Args() {
		f, err := os.Open(name)
		if err != nil {
			return bad("%v", err)
		}
		r, err := shard.Decode(f)
		f.Close()
		if err != nil {
			return bad("%s: %v", name, err)
		}
		results = append(results, r)
	}
	if *count == 0 {
		*count = results[0].Shard.Count
	}
	m, err := shard.Merge(results, *count, *tolerance)
	if err != nil {
		return bad("%v", err)
	}
	s := flags.WithEnv(getenv)
	if s.Spec == "" {
		s.Spec = filepath.Join("thresholds", thresholds.DefaultFile)
	}
	raw, err := thresholds.ReadFile(s.Spec)
	if err != nil {
		return bad("%v", err)
	}
	if h := shard.SpecHash(raw); h != m.Spec {
		return bad("the shards ran the spec with SHA-256 %.12s…, %s is %.12s…: judge a run by the spec it ran", m.Spec, s.Spec, h)
	}
	fmt.Fprintf(stdout, "merged %d of %d shards: sent %d, errors %d, dropped %d\n", len(m.Shards), m.Count, m.Sent, m.Errors, m.Dropped)
	if m.Incomplete {
		fmt.Fprintf(stdout, "incomplete: %s\n", m.Reason)
	}
	for _, l := range m.Late {
		fmt.Fprintf(stdout, "late: %s\n", l)
	}
	s.Baseline, s.Out, s.Merged = "none", stdout, &m
	return judge(ctx, s, stdout, stderr)
}

// kube is `perfgate k8s`: it prints the ConfigMap and Indexed Job that run
// the spec's load as N shards, for kubectl apply -f -.
func kube(args []string, stdout, stderr io.Writer) error {
	fs := flag.NewFlagSet("k8s", flag.ContinueOnError)
	fs.SetOutput(stderr)
	specPath := fs.String("f", filepath.Join("thresholds", thresholds.DefaultFile), "spec the shards run; it must have a target section")
	var o k8s.Options
	fs.StringVar(&o.Name, "name", "perfgate-load", "name of the Job (the ConfigMap is <name>-spec)")
	fs.StringVar(&o.Namespace, "namespace", "", "namespace (default: kubectl's current one)")
	fs.StringVar(&o.Image, "image", "", "image with perfgate on its PATH; required")
	fs.IntVar(&o.Shards, "shards", 0, "number of shards, one pod each; required")
	fs.StringVar(&o.ResultsClaim, "claim", "", "PersistentVolumeClaim the shards write their results to (ReadWriteMany across nodes); required")
	startIn := fs.Duration("start-in", 2*time.Minute, "start the load this long from now: time for the pods to be scheduled and pull the image")
	startFlag := fs.String("start", "", "start the load at this RFC 3339 instant instead")
	deadline := fs.Duration("deadline", 0, "bound on the Job from its creation (default: the wait for the start, the load, and 2m)")
	fs.StringVar(&o.Resources.CPURequest, "cpu", k8s.DefaultResources.CPURequest, "CPU of each shard, request and limit")
	fs.StringVar(&o.Resources.MemoryRequest, "memory", k8s.DefaultResources.MemoryRequest, "memory of each shard, request and limit")
	if err := fs.Parse(args); err != nil {
		return exitCode(gate.ExitBadInput)
	}
	bad := badInput(stderr, "k8s")
	if fs.NArg() > 0 {
		return bad("unexpected argument %q (the spec is given with -f)", fs.Arg(0))
	}
	raw, err := thresholds.ReadFile(*specPath)
	if err != nil {
		return bad("%v", err)
	}
	spec, err := thresholds.Parse(*specPath, raw)
	if err != nil {
		fmt.Fprintln(stderr, err)
		return exitCode(gate.ExitBadInput)
	}
	if spec.Target == nil {
		return bad("%s: shards load the spec's target: the spec has no target section", *specPath)
	}
	o.SpecYAML = raw
	if *startFlag == "" && *startIn < minStartIn {
		return bad("-start-in %s: must be at least %s: the pods need the time to be scheduled and pull the image", *startIn, minStartIn)
	}
	o.StartAt = time.Now().Add(*startIn).UTC().Truncate(time.Second)
	if *startFlag != "" {
		if o.StartAt, err = time.Parse(time.RFC3339Nano, *startFlag); err != nil {
			return bad("-start %q: not an RFC 3339 instant such as 2026-12-02T18:00:00Z", *startFlag)
		}
		if time.Until(o.StartAt) <= 0 {
			return bad("-start %q has passed: leave the pods time to be scheduled and pull the image", *startFlag)
		}
	}
	if m, err := resource.ParseQuantity(o.Resources.MemoryRequest); err == nil && m.Cmp(k8s.MinMemory) < 0 {
		return bad("-memory %s: must be at least %s, what a shard needs for its histograms and connections", o.Resources.MemoryRequest, k8s.MinMemory.String())
	}
	o.Resources.CPULimit, o.Resources.MemoryLimit = o.Resources.CPURequest, o.Resources.MemoryRequest
	least := time.Until(o.StartAt) + spec.Load.Duration() + spec.Load.Timeout
	o.Deadline = *deadline
	switch {
	case o.Deadline == 0:
		o.Deadline = least + 2*time.Minute
	case o.Deadline < least:
		return bad("-deadline %s: must be at least %s: the wait for the start, the %s of load and its %s timeout (leave room to write the results)",
			*deadline, least.Round(time.Second), spec.Load.Duration(), spec.Load.Timeout)
	}
	out, err := k8s.Render(o)
	if err != nil {
		return bad("%v", err)
	}
	_, err = stdout.Write(out)
	return err
}

// minStartIn is the least -start-in perfgate k8s takes.
const minStartIn = 10 * time.Second

// badInput returns a func that says what is wrong with command's input on
// stderr and ends it with the bad-input exit code.
func badInput(stderr io.Writer, command string) func(format string, a ...any) error {
	return func(format string, a ...any) error {
		fmt.Fprintf(stderr, "perfgate "+command+": "+format+"\n", a...)
		return exitCode(gate.ExitBadInput)
	}
}
