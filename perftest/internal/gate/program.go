package gate

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"time"

	"github.com/perfgate/perfgate/perftest/internal/compare"
	"github.com/perfgate/perfgate/perftest/internal/report"
	"github.com/perfgate/perfgate/perftest/internal/shard"
	"github.com/perfgate/perfgate/perftest/internal/stack"
	"github.com/perfgate/perfgate/perftest/internal/verdict"
	"github.com/perfgate/perfgate/thresholds"
)

// Settings are what a door (go test, the perfgate CLI, the GitHub Action)
// decides before a run, read once from its flags and environment.
type Settings struct {
	Spec         string   // path of the spec
	Root         string   // the repository root: builds and git refs are relative to it; "" finds it from Spec
	ReportDir    string   // where the reports go; "" is perf-report/ under Root
	ServiceArgs  []string // extra arguments for every replica, e.g. a fault to inject
	Baseline     string   // git ref to compare with; "" the merge-base with BaseBranches; "none" no comparison
	BaseBranches []string // where a merge-base is looked for, first that exists; default origin/main, main
	// PullRequestBase is the branch a pull request merges into (GITHUB_BASE_REF):
	// on a pull request a comparison is asked for, and one that cannot find
	// its baseline is inconclusive, never a pass on absolute SLOs alone.
	PullRequestBase string
	// RequireDocker makes a missing Docker engine a failure at a go test
	// door, where it is otherwise a skip (PERF_REQUIRE_DOCKER, set in CI).
	RequireDocker bool
	// Profile is when a comparison runs profiled pairs to tell why a metric
	// grew (PERF_PROFILE): after a worse metric, always, or never.
	Profile ProfileWhen
	// Prometheus is where Prometheus's image comes from
	// (PERF_PROMETHEUS_IMAGE, PERF_PROMETHEUS_BIN); zero looks for one.
	Prometheus stack.PrometheusSource
	Out        io.Writer
	// Getenv reads the environment variables a target's query headers name
	// (the door passes os.Getenv); nil reads none.
	Getenv func(string) string
	// Started, when set, learns each stack as soon as it exists, so a caller
	// can look for its leftovers afterwards.
	Started func(*stack.Stack)
	// Merged, when set, is a sharded run's load, put together from its
	// shards' results: Gate judges it instead of applying load. The spec
	// must have a target.
	Merged *shard.Merged
}

// Env names the environment variables the doors read into Settings.
var Env = struct {
	Spec, ReportDir, ServiceArgs, Baseline, BaseRef        string
	RequireDocker, PrometheusImage, PrometheusBin, Profile string
}{
	"PERF_THRESHOLDS", "PERF_REPORT_DIR", "PERF_SERVICE_ARGS", "PERF_BASELINE", "GITHUB_BASE_REF",
	"PERF_REQUIRE_DOCKER", "PERF_PROMETHEUS_IMAGE", "PERF_PROMETHEUS_BIN", "PERF_PROFILE",
}

// FlagNames name a door's flags; a name left "" is not a flag of that door.
type FlagNames struct{ Spec, Root, ReportDir, Baseline, ServiceArgs, Profile string }

// The flags of the two doors: go test ./perftest and perfgate run.
var (
	TestFlags = FlagNames{Spec: "perf.thresholds", ReportDir: "perf.report", Baseline: "perf.baseline", ServiceArgs: "perf.service-args", Profile: "perf.profile"}
	CLIFlags  = FlagNames{Spec: "f", Root: "root", ReportDir: "report", Baseline: "baseline", ServiceArgs: "service-args", Profile: "profile"}
)

// RegisterFlags defines the gate's flags on fs under a door's names, with
// one help text each, and returns the settings they fill once fs is
// parsed; WithEnv then fills what the flags left blank.
func RegisterFlags(fs *flag.FlagSet, names FlagNames) *Settings {
	s := &Settings{}
	str := func(p *string, name, help string) {
		if name != "" {
			fs.StringVar(p, name, "", help)
		}
	}
	str(&s.Spec, names.Spec, "spec to enforce (default $"+Env.Spec+", else thresholds/slo.yaml)")
	str(&s.Root, names.Root, "repository root the spec's paths are relative to (default: the git repository holding the spec)")
	str(&s.ReportDir, names.ReportDir, "directory for the reports (default $"+Env.ReportDir+", else perf-report/ at the repository root)")
	str(&s.Baseline, names.Baseline, "git ref to compare with (default $"+Env.Baseline+", else the merge-base with main; none disables)")
	if names.ServiceArgs != "" {
		fs.Func(names.ServiceArgs, "extra `arguments` for every replica, e.g. -fault-latency=50ms (default $"+Env.ServiceArgs+")", func(v string) error {
			s.ServiceArgs = nil // "" leaves the variable's value in force
			if v != "" {
				s.ServiceArgs = strings.Fields(v)
			}
			return nil
		})
	}
	if names.Profile != "" {
		fs.Var(&s.Profile, names.Profile, "when a comparison runs pairs of rounds with profiling to tell why a metric grew: worse, always or never (default $"+Env.Profile+", else worse)")
	}
	return s
}

// WithEnv fills the settings left blank from the environment that getenv
// reads (os.Getenv at a door, a map in tests): flags first, then variables.
func (s Settings) WithEnv(getenv func(string) string) Settings {
	if s.Getenv == nil {
		s.Getenv = getenv
	}
	if s.Spec == "" {
		s.Spec = getenv(Env.Spec)
	}
	if s.ReportDir == "" {
		s.ReportDir = getenv(Env.ReportDir)
	}
	if s.ServiceArgs == nil {
		s.ServiceArgs = strings.Fields(getenv(Env.ServiceArgs))
	}
	if s.Baseline == "" {
		s.Baseline = getenv(Env.Baseline)
	}
	if s.PullRequestBase == "" {
		s.PullRequestBase = getenv(Env.BaseRef)
	}
	if !s.RequireDocker {
		s.RequireDocker = getenv(Env.RequireDocker) != ""
	}
	if s.Prometheus == (stack.PrometheusSource{}) {
		s.Prometheus = stack.PrometheusSource{Image: getenv(Env.PrometheusImage), Bin: getenv(Env.PrometheusBin)}
	}
	if s.Profile == "" {
		if v := getenv(Env.Profile); s.Profile.Set(v) != nil {
			s.Profile = ProfileWhen(v) // Gate refuses it, naming the variable
		}
	}
	if s.BaseBranches == nil {
		if b := s.PullRequestBase; b != "" { // a pull request in GitHub Actions
			s.BaseBranches = []string{"origin/" + b}
		}
		s.BaseBranches = append(s.BaseBranches, "origin/main", "main")
	}
	return s
}

// Outcome is what one run of the gate decided and wrote.
type Outcome struct {
	Run      report.Run
	Decision verdict.Decision
	Reports  []string // paths of the files written, report.html last
}

// BadInputError is a spec or setting the gate refuses before starting anything.
type BadInputError struct{ Err error }

func (e *BadInputError) Error() string { return e.Err.Error() }
func (e *BadInputError) Unwrap() error { return e.Err }

// badInput says whether err is the spec's fault: bad input, or a service
// started as the spec says that answers as it does not expect.
func badInput(err error) bool {
	bad, spec := (*BadInputError)(nil), (*stack.SpecError)(nil)
	return errors.As(err, &bad) || errors.As(err, &spec)
}

// Exit codes of the doors.
const (
	ExitPass         = 0
	ExitFail         = 1 // an SLO or a budget was breached
	ExitBadInput     = 2 // the spec or a setting is wrong; nothing ran
	ExitInconclusive = 3 // the run cannot vouch for its figures: missing data, a late generator
	ExitCannotRun    = 4 // no Docker, a failed build: no verdict
)

// ExitCode maps what Gate returned to the doors' exit code.
func ExitCode(o Outcome, err error) int {
	var bad *BadInputError
	switch {
	case errors.As(err, &bad):
		return ExitBadInput
	case err != nil:
		return ExitCannotRun
	}
	switch o.Decision.Verdict {
	case verdict.Pass:
		return ExitPass
	case verdict.Fail:
		return ExitFail
	default:
		return ExitInconclusive
	}
}

// Gate is the whole program behind every door: it loads the spec, runs the
// absolute SLOs, compares with the baseline when there is one, writes the
// reports and prints the table. An error means there is no verdict; a
// comparison that cannot run is a failure in the verdict, with the SLO
// report still written.
func Gate(ctx context.Context, s Settings) (o Outcome, err error) {
	if s.Out == nil {
		s.Out = io.Discard
	}
	if s.Spec == "" {
		s.Spec = filepath.Join("thresholds", thresholds.DefaultFile)
	}
	if v := s.Profile; v.Set(string(v)) != nil {
		return o, &BadInputError{fmt.Errorf("%s=%s: say worse, always or never", Env.Profile, string(v))}
	}
	spec, err := thresholds.ParseFileContext(ctx, s.Spec)
	if err != nil && ctx.Err() != nil {
		return o, err // interrupted: not bad input
	}
	if err != nil {
		return o, &BadInputError{err}
	}
	if s.Root == "" {
		if s.Root, err = RepoRoot(filepath.Dir(s.Spec)); err != nil {
			return o, &BadInputError{err}
		}
	}
	if spec.Target == nil {
		if err := spec.CheckFiles(s.Root); err != nil {
			return o, &BadInputError{err}
		}
	}
	defaultDir := s.ReportDir == ""
	if defaultDir {
		s.ReportDir = filepath.Join(s.Root, "perf-report")
	}
	if s.Merged != nil && spec.Target == nil {
		return o, &BadInputError{fmt.Errorf("%s: a sharded run is judged through the query API of its target: the spec has no target section", s.Spec)}
	}
	var headers map[string]string
	if tg := spec.Target; tg != nil {
		if headers, err = s.queryHeaders(tg); err != nil {
			return o, &BadInputError{err}
		}
	} else if err := stack.Ping(ctx); err != nil { // a target needs no Docker
		return o, err
	}

	out := &syncWriter{w: s.Out} // the comparison is prepared beside the absolute run
	var mu sync.Mutex
	started := func(st *stack.Stack) {
		if s.Started != nil {
			mu.Lock()
			defer mu.Unlock()
			s.Started(st)
		}
	}
	var ref, missing string
	if spec.Compare != nil {
		ref, missing = s.baseline(ctx)
	}
	// The comparison's builds, stack start, Prometheus's discovery and
	// priming need no quiet machine: they run during the absolute run's own
	// setup, which waits for them before its load starts.
	var prep *preparing
	if ref != "" {
		prep = prepare(ctx, CompareOptions{
			Spec: spec, ModuleRoot: s.Root, Baseline: ref, CandidateArgs: s.ServiceArgs,
			Profile: s.Profile, Prometheus: s.Prometheus, Log: out, Started: started,
		})
	}
	defer func() { err = errors.Join(err, prep.close(ctx)) }()
	run, err := Run(ctx, Options{
		Spec: spec, ModuleRoot: s.Root, ServiceArgs: s.ServiceArgs, Prometheus: s.Prometheus,
		Progress: out, Log: out, Started: started, QueryHeaders: headers, Merged: s.Merged,
		Hold: prep.hold,
	})
	if err != nil {
		if badInput(err) {
			return o, &BadInputError{err}
		}
		return o, err
	}
	if missing != "" {
		// A pull request asked for a comparison: absolute SLOs alone cannot pass it.
		run.Comparison = &compare.Result{Verdict: verdict.Inconclusive, Reason: missing}
	}
	if ref != "" {
		c, err := Comparison{}, prep.wait(ctx)
		if err == nil {
			t := time.Now()
			c, err = prep.bench.Measure(ctx)
			// Its setup overlapped the absolute run's; its rounds come after.
			run.Phases = append(run.Phases, report.Phase{Name: "compare", Duration: time.Since(t)})
			run.Finished = time.Now()
		}
		if err != nil {
			// No figures to compare: never a pass, and the SLO report is still written.
			run.Baseline = ref
			run.Comparison = &compare.Result{Verdict: verdict.Inconclusive, Reason: fmt.Sprintf("the comparison with %s could not run: %v", ref, err)}
		} else {
			run.Baseline, run.Comparison, run.Noise = c.Baseline, &c.Result, c.Noise
			run.Profiles = c.Profiles
			if err := writeProfiles(s.ReportDir, c.ProfileFiles); err != nil {
				return o, err
			}
		}
	}

	run.Decide()
	o.Run = run
	o.Decision = run.Decision
	if o.Reports, err = report.WriteDir(s.ReportDir, run); err != nil {
		return o, err
	}
	if defaultDir { // build output inside the user's repository: git leaves it alone
		ignore := filepath.Join(s.ReportDir, ".gitignore")
		if _, err := os.Stat(ignore); errors.Is(err, os.ErrNotExist) {
			_ = os.WriteFile(ignore, []byte("# perfgate's reports: build output, not source\n*\n"), 0o644)
		}
	}
	if err := report.Console(run)(s.Out); err != nil {
		return o, err
	}
	fmt.Fprintf(s.Out, "reports: %s\n", strings.Join(o.Reports, ", "))
	if n := len(o.Reports); n > 0 && strings.HasSuffix(o.Reports[n-1], ".html") {
		fmt.Fprintf(s.Out, "open %s\n", o.Reports[n-1]) // the one to look at
	}
	return o, nil
}

// queryHeaders reads the values of a target's query headers from the
// environment variables the spec names, only those named
// thresholds.HeaderEnvPrefix…; they are never written to a report.
func (s Settings) queryHeaders(tg *thresholds.Target) (map[string]string, error) {
	h := map[string]string{}
	for name, env := range tg.Query.Headers {
		if !strings.HasPrefix(env, thresholds.HeaderEnvPrefix) {
			return nil, fmt.Errorf("%s: target.query.headers.%s: $%s: a header's value is read only from a variable named %s…", s.Spec, name, env, thresholds.HeaderEnvPrefix)
		}
		v := ""
		if s.Getenv != nil {
			v = s.Getenv(env)
		}
		if v == "" {
			return nil, fmt.Errorf("%s: target.query.headers.%s: $%s is not set", s.Spec, name, env)
		}
		h[name] = v
	}
	return h, nil
}

// baseline decides what to compare against: the setting; "none" turns
// comparison off; else the merge-base with the first base branch that
// exists. A merge-base equal to an unchanged work tree leaves nothing to
// compare. ref is "" when there is no comparison; missing then says why a
// comparison a pull request asks for cannot run, with the fix.
func (s Settings) baseline(ctx context.Context) (ref, missing string) {
	switch s.Baseline {
	case "none":
		return "", ""
	case "":
	default:
		return s.Baseline, ""
	}
	bases := s.BaseBranches
	if len(bases) == 0 {
		bases = []string{"origin/main", "main"}
	}
	mb, err := stack.MergeBase(ctx, s.Root, bases...)
	switch {
	case err != nil && s.PullRequestBase != "":
		return "", fmt.Sprintf("no baseline for this pull request into %s: %v; the clone is shallow or lacks the base branch: "+
			"check out with actions/checkout's fetch-depth: 0, or run git fetch origin %s before the gate", s.PullRequestBase, err, s.PullRequestBase)
	case err != nil:
		fmt.Fprintf(s.Out, "no baseline: %v; absolute SLOs only\n", err)
		return "", ""
	case stack.Clean(ctx, s.Root, mb):
		fmt.Fprintf(s.Out, "no baseline: the work tree is its merge-base %s; absolute SLOs only\n", mb[:12])
		return "", ""
	}
	return mb, ""
}

// RepoRoot is the root of the git repository holding dir, else the
// directory of its Go module, else dir itself.
func RepoRoot(dir string) (string, error) {
	abs, err := filepath.Abs(dir)
	if err != nil {
		return "", err
	}
	if out, err := exec.Command("git", "-C", abs, "rev-parse", "--show-toplevel").Output(); err == nil {
		return strings.TrimSpace(string(out)), nil
	}
	for d := abs; ; d = filepath.Dir(d) {
		if _, err := os.Stat(filepath.Join(d, "go.mod")); err == nil {
			return d, nil
		}
		if filepath.Dir(d) == d {
			return abs, nil
		}
	}
}

// preparing is a comparison being prepared in the background.
type preparing struct {
	done   chan struct{}
	bench  *Bench
	err    error
	cancel context.CancelFunc
}

func prepare(ctx context.Context, o CompareOptions) *preparing {
	p := &preparing{done: make(chan struct{})}
	ctx, p.cancel = context.WithCancel(ctx)
	go func() {
		defer close(p.done)
		p.bench, p.err = Prepare(ctx, o)
	}()
	return p
}

// wait returns once the preparation has ended, with its error.
func (p *preparing) wait(ctx context.Context) error {
	select {
	case <-p.done:
		return p.err
	case <-ctx.Done():
		return ctx.Err()
	}
}

// hold is Run's Hold: the absolute load waits for the preparation, and does
// not start at all when the spec is wrong for both runs. Nothing to wait
// for without a comparison.
func (p *preparing) hold(ctx context.Context) error {
	if p == nil {
		return nil
	}
	if err := p.wait(ctx); badInput(err) || ctx.Err() != nil {
		return err
	}
	return nil
}

// close stops a preparation still under way and removes its stack.
func (p *preparing) close(ctx context.Context) error {
	if p == nil {
		return nil
	}
	p.cancel()
	<-p.done
	return p.bench.Close(ctx)
}
