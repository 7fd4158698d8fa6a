// Package gate runs one pass of the regression gate: images, stack, ramped
// load, PromQL over the measured window, verdict and report data.
package gate

import (
	"context"
	"errors"
	"fmt"
	"io"
	"math"
	"slices"
	"sort"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/perfgate/perfgate/perftest/internal/load"
	"github.com/perfgate/perfgate/perftest/internal/promq"
	"github.com/perfgate/perfgate/perftest/internal/report"
	"github.com/perfgate/perfgate/perftest/internal/shard"
	"github.com/perfgate/perfgate/perftest/internal/stack"
	"github.com/perfgate/perfgate/perftest/internal/verdict"
	"github.com/perfgate/perfgate/thresholds"
	"github.com/perfgate/perfgate/thresholds/units"
)

// Options configure one run.
type Options struct {
	Spec        *thresholds.Spec
	ModuleRoot  string   // where go.mod and service/ live
	ServiceArgs []string // extra flags for every replica, e.g. fault injection
	Replicas    int      // default 2
	Seed        uint64
	Prometheus  stack.PrometheusSource // where Prometheus's image comes from; zero looks for one
	Progress    io.Writer              // the per-second load line; nil is silent
	Log         io.Writer              // phase and container lines; nil is silent
	// During, when set, runs in its own goroutine once load is half done: a
	// hook for fault tests (stop a replica, stop Prometheus).
	During func(ctx context.Context, s *stack.Stack)
	// Started, when set, learns the run's stack as soon as it exists, so a
	// caller can look for its leftovers afterwards.
	Started func(s *stack.Stack)
	// Hold, when set, is waited for before load starts: work sharing the
	// machine during setup (a comparison being prepared) ends first. An
	// error ends the run before any load.
	Hold func(context.Context) error
	// QueryHeaders are sent to a target's query API: the values of the
	// spec's target.query.headers, read from the environment by the door.
	QueryHeaders map[string]string
	// Shard and StartAt make the load one shard of a run split over several
	// generators, from an agreed instant (see Shard). Merged, when set, is
	// such a run's load, put together from its shards' results: Run then
	// applies no load and judges that one.
	Shard   shard.Plan
	StartAt time.Time
	Merged  *shard.Merged
}

// settle waits, after the window that ended at end, until the queries can
// read it, and returns the series to read it with. With the scrape interval
// known, that is as soon as every target has a scrape after end, read at the
// quiet instant before their next scrapes (quiet is then true: later scrapes
// cannot change what is read, so the replicas may go). Otherwise, or when
// that wait fails, it is at the series' fixed settle time, once that has
// passed and every target has been scraped after end.
func settle(ctx context.Context, pc *promq.Client, series promq.Series, end time.Time, logw io.Writer) (_ promq.Series, quiet bool, lag string, _ error) {
	if iv := series.ScrapeInterval; iv > 0 {
		wctx, cancel := context.WithTimeout(ctx, 3*iv+2*time.Second)
		at, err := pc.QuietAfter(wctx, series, end, iv, 25*time.Millisecond)
		cancel()
		if err == nil {
			series.Settle = at.Sub(end)
			return series, true, "", nil
		}
		if ctx.Err() != nil {
			return series, false, "", ctx.Err()
		}
		fmt.Fprintf(logw, "reading the window at its fixed settle time: %v\n", err)
	}
	lag, err := settleFixed(ctx, pc, series, end, logw)
	return series, false, lag, err
}

// settleFixed waits until the series' settle time after end has passed and
// every target has been scraped after end, so the last second's counts are
// in. lag says when the store holds the series but no scrape of every target
// after end: it lags, and what it answers about the window's last seconds is
// older data, so the run cannot vouch for the service.
func settleFixed(ctx context.Context, pc *promq.Client, series promq.Series, end time.Time, logw io.Writer) (lag string, _ error) {
	at := series.SettleAt(end)
	if err := pause(ctx, time.Until(at.Add(50*time.Millisecond))); err != nil {
		return "", err
	}
	wctx, cancel := context.WithTimeout(ctx, 5*time.Second)
	defer cancel()
	err := pc.WaitForScrape(wctx, series, end, at, 50*time.Millisecond)
	if err == nil {
		return "", nil
	}
	if ctx.Err() != nil {
		return "", ctx.Err()
	}
	if stale := (*promq.StaleError)(nil); errors.As(err, &stale) {
		return fmt.Sprintf("the store has no scrape of every target after the window's end %s (%v), so it cannot answer for the window's last seconds: does it lag, as VictoriaMetrics does by its -search.latencyOffset?",
			end.UTC().Format("15:04:05.000"), stale), nil
	}
	// Prometheus gone, a selector that matches nothing: the queries say so
	// as no data, which is never a pass.
	fmt.Fprintf(logw, "reading the window without a scrape after it: %v\n", err)
	return "", nil
}

// GeneratorNice is the priority the gate asks for its generator: ahead of
// the service's containers and of other work on the machine, so a busy
// runner delays the service, which both builds of a pair share, rather
// than the generator's schedule (see load.Prioritize).
const GeneratorNice = -5

// prioritize raises the generator's priority once per process, saying what it got.
var prioritize = sync.OnceValue(func() string {
	if err := load.Prioritize(GeneratorNice); err != nil {
		return fmt.Sprintf("%v: the generator runs at the default priority", err)
	}
	return fmt.Sprintf("generator at nice %d, ahead of the service and other work", GeneratorNice)
})

// MaxSendLag is how late the 99th percentile request may leave after its
// intended send time before the generator, not the service, is to blame for
// what was measured: a pacer that stalls and then bursts keeps its mean rate.
const MaxSendLag = 50 * time.Millisecond

// Run performs the whole gate and returns what the reports need. An error
// means the gate could not run at all (no Docker, a failed build); a breached
// SLO is not an error but a failing verdict in the returned run.
func Run(ctx context.Context, o Options) (run report.Run, err error) {
	if o.Spec == nil {
		return run, errors.New("gate: no thresholds spec")
	}
	svcSpec := o.Spec.ServiceOrDefault()
	series := promq.SeriesOf(svcSpec)
	if o.Replicas == 0 {
		o.Replicas = svcSpec.Replicas
	}
	logw := o.Log
	if logw == nil {
		logw = io.Discard
	}
	logw = &syncWriter{w: logw} // Prometheus starts in a goroutine of its own
	fmt.Fprintln(logw, prioritize())
	run = report.Run{
		Title:       fmt.Sprintf("perfgate: %s ×%d", svcSpec.Name, o.Replicas),
		Started:     time.Now(),
		ServiceArgs: o.ServiceArgs,
	}
	phase := func(name string, start time.Time) {
		d := time.Since(start)
		run.Phases = append(run.Phases, report.Phase{Name: name, Duration: d})
		fmt.Fprintf(logw, "phase %-9s %6.1fs\n", name, d.Seconds())
	}
	if o.Spec.Target != nil {
		out, err := runTarget(ctx, o, run, series, phase, logw)
		out.Phases = run.Phases // phase appends to this run, not to the copy handed on
		return out, err
	}

	st := stack.New(stack.Config{Service: svcSpec, Replicas: o.Replicas, ServiceArgs: o.ServiceArgs, Log: logw})
	// Prometheus first: it hands its targets to the scrape loops only some 5 s
	// after it starts, and that wait then covers the build and the replicas'
	// start instead of coming after them.
	prom := startPrometheus(ctx, st, o.Prometheus, logw)
	var retiring *retirement
	defer func() {
		prom.wait() // a start under way ends before its stack is removed
		t := time.Now()
		err = errors.Join(err, teardown(ctx, st))
		retiring.wait()
		phase("teardown", t)
		run.Finished = time.Now()
	}()
	if o.Started != nil { // after the deferred teardown, so even a panic in it cleans up
		o.Started(st)
	}

	t := time.Now()
	sweep(ctx, logw)
	svc, err := stack.BuildService(ctx, o.ModuleRoot, svcSpec, io.Discard)
	if err != nil {
		return run, err
	}
	phase("build", t)
	run.Service = fmt.Sprintf("%s, %s", svc.Tag, svc.Source)

	t = time.Now()
	<-prom.imageDone
	if prom.imageErr != nil {
		return run, prom.imageErr
	}
	phase("images", t)

	t = time.Now()
	// The replicas wait for Prometheus's process: starting beside it, they
	// would slow the start its 5 s count from, and they are up long before.
	<-prom.running
	select {
	case <-prom.done:
		if prom.err != nil {
			return run, prom.err
		}
	default:
	}
	err = st.StartReplicas(ctx, svc.Tag)
	prom.wait()
	if err = errors.Join(err, prom.err); err != nil {
		return run, err
	}
	phase("stack", t)

	t = time.Now()
	pc, err := waitForTargets(ctx, st, svcSpec.Name)
	if err != nil {
		return run, err
	}
	if o.Hold != nil {
		if err := o.Hold(ctx); err != nil {
			return run, err
		}
	}
	phase("wait", t)
	run.Prometheus = fmt.Sprintf("%s, %s", prom.image.Tag, prom.image.Source)
	if v, err := pc.Version(ctx); err == nil {
		run.Prometheus = fmt.Sprintf("Prometheus %s from %s", v, run.Prometheus)
	}

	t = time.Now()
	// A few seconds in, the service has served requests and been scraped:
	// a metric name the spec has wrong ends the run then, not after it.
	lctx, stopLoad := context.WithCancelCause(ctx)
	defer stopLoad(nil)
	go func() {
		select {
		case <-time.After(2 * time.Second):
		case <-lctx.Done():
			return
		}
		if err := checkNames(lctx, pc, series, t.Add(time.Second), sloMetrics(o.Spec.SLOs)); err != nil {
			stopLoad(err)
		}
	}()
	res, err := applyLoad(lctx, o, st)
	if bad := (*BadInputError)(nil); errors.As(context.Cause(lctx), &bad) {
		return run, bad
	}
	if err != nil {
		return run, err
	}
	stopLoad(nil)
	phase("load", t)

	names := make([]string, len(st.Replicas))
	for i, r := range st.Replicas {
		names[i] = r.Name
	}
	series.ScrapeInterval = st.ScrapeInterval()
	out, err := measure(ctx, o, run, window{Prom: pc, Series: series, Load: res, Names: names, Phase: phase, Log: logw,
		Quiet: func() { retiring = retire(ctx, st) }})
	out.Phases = run.Phases // phase appends to this run, not to the copy handed on
	return out, err
}

// window is what measure reads: the load that ran, and the store and
// series that saw it.
type window struct {
	Prom   *promq.Client
	Series promq.Series
	Load   *load.Result
	Names  []string                // the instances per-instance checks expect; none reads them from the store
	Phase  func(string, time.Time) // records how long a phase took; nil records nothing
	Log    io.Writer               // nil is silent
	Quiet  func()                  // when set, learns that nothing later scrapes can change what is read
}

// measure reads what the store saw of the window once its last scrape is
// in, and judges it.
func measure(ctx context.Context, o Options, run report.Run, w window) (report.Run, error) {
	pc, series, res, names, phase, logw, quiet := w.Prom, w.Series, w.Load, w.Names, w.Phase, w.Log, w.Quiet
	if phase == nil {
		phase = func(string, time.Time) {}
	}
	if logw == nil {
		logw = io.Discard
	}
	t := time.Now()
	series, settled, lag, err := settle(ctx, pc, series, res.End, logw) // let the last scrape land before the window is read
	if err != nil {
		return run, err
	}
	unsound := func(why string) {
		fmt.Fprintln(logw, why)
		r := *res
		r.Unsound = append(slices.Clip(r.Unsound), why)
		res = &r
	}
	if lag != "" {
		unsound(lag)
	}
	if settled && quiet != nil {
		quiet()
	}
	run.WindowFrom, run.WindowTo = res.MeasuredFrom, res.End
	from, to := run.WindowFrom, run.WindowTo
	aligned := names     // the instance of each of the load's targets, in order, when known
	if len(names) == 0 { // a deployment that does not name its instances: read them from the store
		var why string
		names, why = instancesOf(ctx, pc, series, from, to, targets(o))
		if why != "" {
			unsound(why)
		}
	}
	if why := resets(ctx, pc, series, from, to); why != "" {
		unsound(why)
	}
	objs, builtin := builtins(o.Spec.SLOs, names)

	// One query per read, each writing its own slot, a few at once.
	var reads []func()
	obs := make([]verdict.Observation, len(o.Spec.SLOs), len(o.Spec.SLOs)+len(builtin))
	hung := unansweredBy(res, aligned, o.Spec.Load.Timeout)
	for i, slo := range o.Spec.SLOs {
		reads = append(reads, func() { obs[i] = observeSLO(ctx, pc, series, slo, from, to, hung) })
	}
	builtinObs := make([]verdict.Observation, len(builtin))
	for i, name := range builtin {
		reads = append(reads, func() { builtinObs[i] = observeBuiltin(ctx, pc, series, name, from, to, res) })
	}
	var cpu []promq.Point
	reads = append(reads, func() {
		var err error
		if cpu, err = pc.RangeQuery(ctx, series.CPUTimelineQuery(), res.Start, res.End, time.Second); err != nil {
			fmt.Fprintf(logw, "CPU timeline: %v\n", err)
		}
	})
	var replicas []report.ReplicaSeries
	if len(names) > 0 {
		replicas = make([]report.ReplicaSeries, len(names))
	}
	for i, name := range names {
		replicas[i].Name = name
		reads = append(reads,
			func() { replicas[i].CPU = replicaLine(ctx, pc, series.ReplicaCPUQuery(name), name, res, logw) },
			func() { replicas[i].RSS = replicaLine(ctx, pc, series.ReplicaRSSQuery(name), name, res, logw) })
	}
	parallel(queriesAtOnce, reads)
	phase("query", t)

	run.Result = verdict.Evaluate(measured(append(Objectives(o.Spec.SLOs, names), objs...), append(obs, builtinObs...)),
		loadAccount(res, o.Spec.Load.MaxLag))
	run.Client = clientStats(res)
	run.Timeline = timeline(res, cpu)
	run.Replicas = replicas
	return run, nil
}

// targets is how many URLs the load went to: at least as many instances
// must answer for them.
func targets(o Options) int {
	if o.Spec.Target != nil {
		return len(o.Spec.Target.URLs)
	}
	return 0
}

// instancesOf are the instances the series' selector finds scraped in the
// window, for a deployment that does not name them; why says when they
// cannot stand for the load: none at all (no up series: the store cannot
// show the window was scraped whole), or fewer than the URLs the load went
// to, so some of the load was never read.
func instancesOf(ctx context.Context, pc *promq.Client, series promq.Series, from, to time.Time, urls int) (names []string, why string) {
	q := series.InstancesQuery(to.Sub(from))
	s, err := pc.Instant(ctx, q, series.At(thresholds.Latency, to))
	if err != nil {
		return nil, fmt.Sprintf("the instances of the deployment cannot be read: %v", err)
	}
	for _, x := range s {
		names = append(names, x.Instance)
	}
	sel := strings.Join(queryMatchers(series), ",")
	switch {
	case len(names) == 0:
		return nil, fmt.Sprintf("no up series match {%s} in the window: the store cannot show the window was scraped whole; "+
			"the selector must match the scrape job's own labels", sel)
	case len(names) < urls:
		return names, fmt.Sprintf("{%s} matches %d instance(s) (%s) but the load went to %d URLs, so some of it may never be read: "+
			"name target.instances, one per URL, or widen the selector", sel, len(names), strings.Join(names, ", "), urls)
	}
	return names, ""
}

// resets says when a counter of the service went backwards between the
// window's start and the instant it is read: a restarted process counts
// from 0 again, and every difference over the window is then wrong.
func resets(ctx context.Context, pc *promq.Client, series promq.Series, from, to time.Time) string {
	s, err := pc.Instant(ctx, series.ResetsQuery(to.Sub(from)), series.At(thresholds.Latency, to))
	if err != nil || len(s) == 0 {
		return "" // no store: every check says so as no data
	}
	var on []string
	for _, x := range s {
		on = append(on, x.Instance)
	}
	return fmt.Sprintf("counters of %s went back to 0 in the window (a restart): a difference over the window would be wrong, so it is not read",
		strings.Join(on, ", "))
}

// queriesAtOnce bounds a run's queries in flight: Prometheus shares two
// cores with everything else, and a few at once already hide the round trips.
const queriesAtOnce = 4

// parallel runs every f, at most n at once, and returns when all have.
func parallel(n int, fs []func()) {
	slots := make(chan struct{}, n)
	var wg sync.WaitGroup
	for _, f := range fs {
		slots <- struct{}{}
		wg.Add(1)
		go func() {
			defer func() { <-slots; wg.Done() }()
			f()
		}()
	}
	wg.Wait()
}

// retire removes st's replicas in the background while the window is read:
// settle has chosen an instant to read at before any of their next scrapes,
// so the failed scrapes of replicas that are gone, which end their series at
// their own time, fall after it and change nothing that is read.
func retire(ctx context.Context, st *stack.Stack) *retirement {
	r := &retirement{done: make(chan struct{})}
	go func() {
		defer close(r.done)
		// Not cancelled with the run: the teardown waits for a removal under way.
		rmctx, rmcancel := context.WithTimeout(context.WithoutCancel(ctx), time.Minute)
		defer rmcancel()
		st.RemoveReplicas(rmctx) //nolint:errcheck // the teardown tries again and reports what remains
	}()
	return r
}

// retirement is a retire under way; wait does nothing on nil.
type retirement struct{ done chan struct{} }

// stop gives up waiting for the scrapes; a removal under way goes on.
// wait returns once retire is over.
func (r *retirement) wait() {
	if r != nil {
		<-r.done
	}
}

// loadAccount is the generator's own account for the verdict. A request
// dropped at max_in_flight was issued on time: the service held every slot, so
// it counts against the service (as an error), not as the generator lagging.
func loadAccount(r *load.Result, maxLag float64) verdict.Load {
	l := verdict.Load{
		TargetRate: r.TargetRate, AchievedRate: r.AchievedRate,
		MaxLag: maxLag, Sent: r.Sent, Dropped: r.Dropped, MaxSendLag: MaxSendLag.Seconds(),
		Unsound: r.Unsound,
	}
	if r.Sent > 0 {
		l.AchievedRate = r.AchievedRate * float64(r.Sent+r.Dropped) / float64(r.Sent)
	}
	if r.SendLag != nil && r.SendLag.TotalCount() > 0 {
		l.SendLagP99 = (time.Duration(r.SendLag.ValueAtQuantile(99)) * time.Microsecond).Seconds()
	} else {
		l.SendLagP99 = math.NaN() // nothing sent: the rate check says so
		l.MaxSendLag = 0
	}
	return l
}

// replicaLine reads one chart line of a replica (its CPU or resident
// memory) per second of the run; a failed query leaves NaN and a log line.
func replicaLine(ctx context.Context, pc *promq.Client, query, name string, r *load.Result, logw io.Writer) []float64 {
	pts, err := pc.RangeQuery(ctx, query, r.Start, r.End, time.Second)
	if err != nil {
		fmt.Fprintf(logw, "replica %s timeline: %v\n", name, err)
	}
	return perSecond(r, pts)
}

// perSecond places range-query points on the seconds of the load timeline:
// the nearest point within a second, NaN where there is none.
func perSecond(r *load.Result, pts []promq.Point) []float64 {
	sort.Slice(pts, func(i, j int) bool { return pts[i].T.Before(pts[j].T) })
	out := make([]float64, len(r.Timeline))
	for i, s := range r.Timeline {
		out[i] = math.NaN()
		at := r.Start.Add(time.Duration(s.T) * time.Second)
		for _, p := range pts {
			if d := p.T.Sub(at); d > -time.Second && d < time.Second {
				out[i] = p.Value
				break
			}
		}
	}
	return out
}

func applyLoad(ctx context.Context, o Options, st *stack.Stack) (*load.Result, error) {
	l := o.Spec.Load
	cfg := loadConfig(l, o.Spec.Workload, o.Seed, o.Progress, st.Replicas)
	cfg.WarmUp = l.WarmUp
	cfg.Shard, cfg.StartAt = o.Shard, o.StartAt
	if t := o.Spec.Target; t != nil {
		cfg.Allow = t.Allow
	}
	cfg.Stages = slices.Clone(l.Stages)
	if o.During != nil {
		hookCtx, cancel := context.WithCancel(ctx)
		defer cancel()
		go func() {
			select {
			case <-hookCtx.Done():
			case <-time.After(l.Duration() / 2):
				o.During(hookCtx, st)
			}
		}()
	}
	return load.Run(ctx, cfg) // its errors say "load: …" already
}

// loadConfig is the part of a load run that the spec's load section and
// workload and the replicas decide; callers add the stages.
func loadConfig(l thresholds.Load, w []thresholds.Template, seed uint64, progress io.Writer, replicas []stack.Replica) load.Config {
	cfg := load.Config{
		Balance:     load.LeastInFlight,
		Workload:    w,
		MaxInFlight: l.MaxInFlight,
		Timeout:     l.Timeout,
		Seed:        seed,
		Progress:    progress,
	}
	for _, r := range replicas {
		cfg.Targets = append(cfg.Targets, r.URL)
	}
	return cfg
}

// promStart is Prometheus's image and container, started in the background.
type promStart struct {
	image     stack.Image
	imageErr  error
	imageDone chan struct{} // closed once image or imageErr is set
	running   chan struct{} // closed once its process runs, or its start is over
	err       error
	done      chan struct{} // closed once the start is over, err set
}

// startPrometheus gets the Prometheus image and starts st's Prometheus from
// it, in a goroutine of its own.
func startPrometheus(ctx context.Context, st *stack.Stack, src stack.PrometheusSource, logw io.Writer) *promStart {
	p := &promStart{imageDone: make(chan struct{}), running: make(chan struct{}), done: make(chan struct{})}
	var once sync.Once
	running := func() { once.Do(func() { close(p.running) }) }
	go func() {
		defer close(p.done)
		defer running()
		prepared := make(chan error, 1)
		go func() { prepared <- st.Prepare(ctx) }() // beside the image: neither needs the other
		p.image, p.imageErr = stack.PrometheusImage(ctx, src, logw)
		close(p.imageDone)
		if p.err = <-prepared; p.err == nil && p.imageErr == nil {
			p.err = st.StartPrometheus(ctx, p.image.Tag, running)
		}
	}()
	return p
}

// wait returns once the start is over, whatever its outcome.
func (p *promStart) wait() { <-p.done }

// syncWriter lets goroutines share one writer.
type syncWriter struct {
	mu sync.Mutex
	w  io.Writer
}

func (s *syncWriter) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.w.Write(p)
}

// sweep removes what crashed runs left behind.
func sweep(ctx context.Context, logw io.Writer) {
	if n, err := stack.Sweep(ctx); err != nil {
		fmt.Fprintf(logw, "sweeping leftovers of earlier runs: %v\n", err)
	} else if n > 0 {
		fmt.Fprintf(logw, "removed %d leftovers of earlier runs\n", n)
	}
}

// startStack sweeps what crashed runs left behind and starts a stack; the
// stack is returned even when it failed half-way, for the caller to tear down.
func startStack(ctx context.Context, cfg stack.Config) (*stack.Stack, error) {
	if cfg.Log == nil {
		cfg.Log = io.Discard
	}
	sweep(ctx, cfg.Log)
	return stack.Start(ctx, cfg)
}

// teardown removes the stack even when ctx was cancelled (Ctrl-C, a timeout).
func teardown(ctx context.Context, st *stack.Stack) error {
	cctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), time.Minute)
	defer cancel()
	if err := st.Close(cctx); err != nil {
		return fmt.Errorf("teardown: %w", err)
	}
	return nil
}

// waitForTargets returns a client of the stack's Prometheus once it sees
// every replica up, so load never starts before they can be measured.
func waitForTargets(ctx context.Context, st *stack.Stack, job string) (*promq.Client, error) {
	pc, err := promq.New(st.PrometheusURL)
	if err != nil {
		return nil, err
	}
	wctx, cancel := context.WithTimeout(ctx, time.Minute)
	defer cancel()
	if err := pc.WaitForTargets(wctx, job, len(st.Replicas), 50*time.Millisecond); err != nil { // load starts within 50 ms of the last target up
		return nil, fmt.Errorf("%w\n%s", err, st.Logs(ctx, 10))
	}
	return pc, nil
}

// pause waits d unless ctx ends first.
func pause(ctx context.Context, d time.Duration) error {
	select {
	case <-ctx.Done():
		return ctx.Err()
	case <-time.After(d):
		return nil
	}
}

// observeSLO runs an SLO's query where promq says it must be evaluated;
// latency is read as buckets, with the requests the client gave up on
// counted in, and judged on the bucket of its quantile.
func observeSLO(ctx context.Context, pc *promq.Client, series promq.Series, s thresholds.SLO, from, to time.Time, hung unanswered) verdict.Observation {
	q, at := series.Query(s, to.Sub(from)), series.At(s.Metric, to)
	if s.Metric == thresholds.Latency {
		return quantile(ctx, pc, q, at, s.Quantile, hung.of(s))
	}
	return instant(ctx, pc, q, at)
}

// unanswered is what the generator knows of the requests it gave up on
// after its timeout: how many in all, and per instance when each target's
// instance is known. A server's latency histogram never records them.
type unanswered struct {
	total      int64
	byInstance map[string]int64 // nil when the targets' instances are not known
	after      time.Duration
}

func unansweredBy(res *load.Result, instances []string, timeout time.Duration) unanswered {
	u := unanswered{total: res.ByStatus["timeout"], after: timeout}
	if len(instances) > 0 && len(instances) == len(res.TimedOutByTarget) {
		u.byInstance = map[string]int64{}
		for i, n := range res.TimedOutByTarget {
			u.byInstance[instances[i]] += n
		}
	}
	return u
}

// of is how the unanswered requests count toward one latency SLO: all of
// them toward the whole service, each instance's own toward it, and where
// the client cannot tell (a route, an instance it cannot map), all of them
// possibly, so they can turn a pass into "cannot tell" but never into a breach.
func (u unanswered) of(s thresholds.SLO) func(instance string) promq.Unanswered {
	if u.total == 0 {
		return nil
	}
	after := u.after.Seconds()
	return func(instance string) promq.Unanswered {
		switch {
		case s.Route != "":
			return promq.Unanswered{Possible: float64(u.total), After: after}
		case instance == "":
			return promq.Unanswered{Certain: float64(u.total), After: after}
		case u.byInstance != nil:
			return promq.Unanswered{Certain: float64(u.byInstance[instance]), After: after}
		}
		return promq.Unanswered{Possible: float64(u.total), After: after}
	}
}

// quantile runs a buckets query and reads quantile q's bucket per instance.
func quantile(ctx context.Context, pc *promq.Client, query string, at time.Time, q float64, hung func(string) promq.Unanswered) verdict.Observation {
	o := verdict.Observation{Query: query}
	samples, err := pc.Instant(ctx, query, at)
	if err == nil && len(samples) > 0 {
		var bounds []promq.Bound
		if bounds, err = promq.QuantilesCounting(samples, q, hung); err == nil {
			for _, b := range bounds {
				o.Samples = append(o.Samples, verdict.Sample{Instance: b.Instance, Value: b.Est, Bounded: true, Lo: b.Lo, Hi: b.Hi,
					Unanswered: int64(b.Unanswered)})
			}
		}
	}
	if err != nil {
		o.Err = err.Error()
	}
	return o
}

// instant runs one query; a failed query is an observation without data.
func instant(ctx context.Context, pc *promq.Client, q string, at time.Time) verdict.Observation {
	o := verdict.Observation{Query: q}
	if q == "" {
		o.Err = "the service's metrics (service.metrics) name no series for this"
		return o
	}
	samples, err := pc.Instant(ctx, q, at)
	if err != nil {
		o.Err = err.Error()
	}
	for _, x := range samples {
		o.Samples = append(o.Samples, verdict.Sample{Instance: x.Instance, Value: x.Value})
	}
	return o
}

// metricUp is what replicas_up measures: Prometheus's up series.
const metricUp thresholds.Metric = "up"

// Names of the checks the gate adds to every spec.
const (
	ReplicasUp      = "replicas_up"
	ClientErrorRate = "client_error_rate"
)

// builtins are the checks no spec can forget: every replica answered every
// scrape of the window (a crashed replica takes its error counters with it,
// so server-side error rates alone would miss it), and the generator's own
// error rate — transport failures included — stays within the spec's error
// budget.
func builtins(slos []thresholds.SLO, instances []string) ([]verdict.Objective, []string) {
	one := 1.0
	var objs []verdict.Objective
	var names []string
	if len(instances) > 0 { // a target that does not name its instances has no replicas to count
		objs = append(objs, verdict.Objective{
			Name: ReplicasUp, Description: "every replica answered every scrape of the window",
			Metric: metricUp, PerInstance: true, Instances: instances, Min: &one, Unit: units.Ratio,
		})
		names = append(names, ReplicasUp)
	}
	for _, s := range slos {
		if s.Metric == thresholds.ErrorRate && s.Scope != thresholds.PerInstance && s.Route == "" && s.Max != nil {
			max := *s.Max
			objs = append(objs, verdict.Objective{
				Name: ClientErrorRate, Description: "errors the generator saw (5xx, timeouts, refused connections, requests dropped with every slot taken), against the " + s.Name + " budget",
				Metric: thresholds.ErrorRate, Max: &max, Unit: units.Ratio,
			})
			names = append(names, ClientErrorRate)
			break
		}
	}
	return objs, names
}

// observeBuiltin observes one of the checks builtins names.
func observeBuiltin(ctx context.Context, pc *promq.Client, series promq.Series, name string, from, to time.Time, res *load.Result) verdict.Observation {
	switch name {
	case ReplicasUp:
		return instant(ctx, pc, series.UpQuery(to.Sub(from)), series.At(thresholds.Latency, to))
	case ClientErrorRate:
		// A drop is a request the service had no room for: an error, like a 503.
		o := verdict.Observation{Query: "generator: (errors + dropped at max_in_flight) / (sent + dropped) in the measured window"}
		if n := res.Sent + res.Dropped; n > 0 {
			o.Samples = []verdict.Sample{{Value: float64(res.Errors+res.Dropped) / float64(n)}}
		}
		return o
	}
	return verdict.Observation{Err: "no such built-in check"}
}

// Objectives converts the spec's SLOs into what the pure verdict evaluates,
// keeping each one's metric, quantile, route and unit; a per-instance SLO
// expects a value from every one of instances.
func Objectives(slos []thresholds.SLO, instances []string) []verdict.Objective {
	objs := make([]verdict.Objective, 0, len(slos))
	for _, s := range slos {
		desc := s.Description
		if s.Metric == thresholds.Latency && desc == "" {
			desc = "p" + strconv.FormatFloat(s.Quantile*100, 'g', -1, 64) + " latency"
		}
		obj := verdict.Objective{
			Name: s.Name, Description: desc, Metric: s.Metric, Quantile: s.Quantile, Route: s.Route,
			PerInstance: s.Scope == thresholds.PerInstance,
			Max:         s.Max, Min: s.Min, Unit: s.Unit,
		}
		if obj.PerInstance {
			obj.Instances = instances
		}
		objs = append(objs, obj)
	}
	return objs
}

// measured pairs each objective with the observation made for it, which
// the reads wrote at the objective's index.
func measured(objs []verdict.Objective, obs []verdict.Observation) []verdict.Measured {
	ms := make([]verdict.Measured, len(objs))
	for i, o := range objs {
		ms[i] = verdict.Measured{Objective: o, Observation: obs[i]}
	}
	return ms
}

func clientStats(r *load.Result) report.ClientStats {
	c := report.ClientStats{
		Sent: r.Sent, Errors: r.Errors, Dropped: r.Dropped,
		TargetRate: r.TargetRate, AchievedRate: r.AchievedRate,
		P50: r.Quantile(0.50), P95: r.Quantile(0.95), P99: r.Quantile(0.99),
		ByStatus: r.ByStatus,
	}
	for _, name := range r.Templates {
		op := r.ByTemplate[name]
		if op == nil || op.Count == 0 && op.Planned == 0 {
			continue
		}
		q := func(p float64) time.Duration {
			if op.Latency == nil {
				return 0
			}
			return time.Duration(op.Latency.ValueAtQuantile(p)) * time.Microsecond
		}
		c.ByTemplate = append(c.ByTemplate, report.TemplateStats{Name: name, Count: op.Count, Errors: op.Errors,
			Planned: op.Planned, FellBack: op.FellBack, Why: op.Why, NotOK: op.NotOK, Strays: op.Strays, P50: q(50), P95: q(95), P99: q(99)})
	}
	if r.Latency != nil {
		c.Max = time.Duration(r.Latency.Max()) * time.Microsecond
	}
	for code, n := range r.ByStatus {
		if len(code) == 3 && code[0] == '2' {
			c.OK += n
		}
	}
	return c
}

// timeline joins the generator's seconds with the server CPU Prometheus saw.
func timeline(r *load.Result, cpu []promq.Point) []report.Point {
	cores := perSecond(r, cpu)
	ms := func(d time.Duration) float64 { return float64(d) / float64(time.Millisecond) }
	out := make([]report.Point, 0, len(r.Timeline))
	for i, s := range r.Timeline {
		out = append(out, report.Point{
			T: float64(s.T), TargetRate: s.TargetRate, Rate: s.Rate, Dropped: s.Dropped,
			P50: ms(s.P50), P95: ms(s.P95), P99: ms(s.P99), Errors: s.Errors, CPU: cores[i],
		})
	}
	return out
}

// checkNames fails fast on a spec that names series the service does not
// export: once Prometheus has scraped the service after since (when it had
// served requests), every series the metrics read must be there, or the
// run would end, minutes later, with "no data". A store that cannot tell
// lets the run go on: its queries then say what is missing.
func checkNames(ctx context.Context, pc *promq.Client, series promq.Series, since time.Time, metrics []string) error {
	wctx, cancel := context.WithTimeout(ctx, 5*time.Second)
	defer cancel()
	if err := pc.WaitForScrape(wctx, series, since, since.Add(5*time.Second), 50*time.Millisecond); err != nil {
		return nil
	}
	missing, err := pc.Missing(ctx, series, series.Needs(metrics...), since.Add(-time.Minute), time.Now())
	if err != nil || len(missing) == 0 {
		return nil
	}
	return &BadInputError{fmt.Errorf("the spec names series the service does not export (as Prometheus saw it after its first requests):\n  %s",
		strings.Join(missing, "\n  "))}
}

// sloMetrics are the metrics the SLOs read.
func sloMetrics(slos []thresholds.SLO) []string {
	var out []string
	for _, s := range slos {
		out = append(out, string(s.Metric))
	}
	return out
}
