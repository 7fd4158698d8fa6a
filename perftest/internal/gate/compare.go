package gate

import (
	"context"
	"errors"
	"fmt"
	"io"
	"maps"
	"math"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"time"

	"github.com/google/pprof/profile"

	"github.com/perfgate/perfgate/perftest/internal/compare"
	"github.com/perfgate/perfgate/perftest/internal/load"
	"github.com/perfgate/perfgate/perftest/internal/promq"
	"github.com/perfgate/perfgate/perftest/internal/report"
	"github.com/perfgate/perfgate/perftest/internal/stack"
	"github.com/perfgate/perfgate/perftest/internal/verdict"
	"github.com/perfgate/perfgate/thresholds"
)

// Variant names, also Prometheus labels.
const (
	Baseline  = "baseline"
	Candidate = "candidate"
)

// CompareOptions configure a baseline-versus-candidate run.
type CompareOptions struct {
	Spec          *thresholds.Spec // Spec.Compare must be set
	ModuleRoot    string
	Baseline      string   // git ref to build the baseline from; "" builds both from the work tree (an A/A run)
	Candidate     string   // git ref to build the candidate from; "" is the work tree
	BaselineArgs  []string // extra flags for the baseline's replicas
	CandidateArgs []string // extra flags for the candidate's replicas
	Seed          uint64
	Profile       ProfileWhen            // when the profiled pairs run: after a worse metric ("" or worse), always, or never
	Prometheus    stack.PrometheusSource // where Prometheus's image comes from; zero looks for one
	Progress, Log io.Writer
	// Started, when set, learns the run's stack as soon as it exists.
	Started func(s *stack.Stack)
}

// Comparison is what a baseline-versus-candidate run found.
type Comparison struct {
	Result   compare.Result
	Noise    []compare.Noise // from the baseline's own rounds, odd against even
	Baseline string          // what the baseline was, for the report
	Rounds   []Round         // in the order they ran; rounds 2k and 2k+1 are one pair (Result.Reruns: which ran again)
	// Profiles say why the worse metrics grew, from ProfiledPairs run after
	// the rounds that decided; ProfileFiles are the builds' merged profiles
	// by file name (baseline.cpu.pb.gz, …), for the report directory.
	Profiles     []report.ProfileDiff
	ProfileFiles map[string]*profile.Profile
}

// Round is one round of load on one variant.
type Round struct {
	Variant  string
	Pair     int // the pair it belongs to, from 0: its seed; a pair that runs again keeps its number
	Burst    int // arrivals at once, above 1 in a contention pair; 0: evenly paced
	From, To time.Time
	Values   map[string]float64 // metric name → value
	Errors   compare.Count      // failed requests (5xx, transport errors, drops) of those issued
	// Unsound says why the generator cannot vouch for this round (it stalled,
	// or fell behind its rate); "" when it can. An unsound round's values are
	// missing, so the comparison is inconclusive, never a pass.
	Unsound string
}

// pairOrder is the order of pair k's rounds: A B, then B A, and so on,
// which round of a duet starts first and, for the profiled pairs, which
// runs first, so neither variant always goes first.
func pairOrder(k int) [2]string {
	if k%2 == 0 {
		return [2]string{Baseline, Candidate}
	}
	return [2]string{Candidate, Baseline}
}

// schedule hands out the pairs to run: the planned ones in order, then each
// that could not count once more, while the budget of extra pairs lasts.
type schedule struct {
	queue  []int
	extra  int      // pairs that may still run again
	reruns []string // which ran again, and why
}

func newSchedule(planned int) *schedule {
	s := &schedule{queue: make([]int, planned), extra: ExtraPairs(planned)}
	for k := range s.queue {
		s.queue[k] = k
	}
	return s
}

// next is the pair to run next; false when none is left.
func (s *schedule) next() (int, bool) {
	if len(s.queue) == 0 {
		return 0, false
	}
	k := s.queue[0]
	s.queue = s.queue[1:]
	return k, true
}

// again queues pair k to run again, for the reason given, when the budget
// allows; false when it is spent.
func (s *schedule) again(k int, why string) bool {
	if s.extra == 0 {
		return false
	}
	s.extra--
	s.queue = append(s.queue, k)
	s.reruns = append(s.reruns, fmt.Sprintf("pair %d ran again: %s", k+1, why))
	return true
}

// ExtraPairs is how many pairs may run again, beyond the planned ones,
// because a round of theirs could not count: a third of the plan, at least 2.
func ExtraPairs(planned int) int { return max(2, (planned+2)/3) }

// Compare builds both variants, starts them side by side with one Prometheus,
// runs the interleaved rounds and compares the per-round figures.
func Compare(ctx context.Context, o CompareOptions) (c Comparison, err error) {
	b, err := Prepare(ctx, o)
	defer func() { err = errors.Join(err, b.Close(ctx)) }()
	if err != nil {
		return b.c, err
	}
	return b.Measure(ctx)
}

// Bench is a comparison made ready to measure: both variants built, started
// side by side, primed, and seen by Prometheus. Its setup needs no quiet
// machine, so the gate prepares it beside the absolute run's own setup.
type Bench struct {
	o      CompareOptions
	c      Comparison
	st     *stack.Stack
	pc     *promq.Client
	series promq.Series
	logw   io.Writer
}

// Prepare builds the variants, starts their stack and primes them. Close
// the Bench whatever the error.
func Prepare(ctx context.Context, o CompareOptions) (b *Bench, err error) {
	b = &Bench{o: o, logw: o.Log}
	spec := o.Spec
	if spec == nil || spec.Compare == nil {
		return b, errors.New("gate: the spec has no compare section")
	}
	if b.logw == nil {
		b.logw = io.Discard
	}
	logw, c := b.logw, &b.c
	fmt.Fprintln(logw, prioritize())
	svc := spec.ServiceOrDefault()
	b.series = promq.SeriesOf(svc)
	// Each variant is built from its git ref, as that commit's own spec
	// describes the service, or from the work tree when it has none.
	build := func(ref string) (stack.Image, string, error) {
		if ref == "" {
			img, err := stack.BuildService(ctx, o.ModuleRoot, svc, io.Discard)
			return img, "", err
		}
		return stack.BuildImageAt(ctx, o.ModuleRoot, ref, specInRepo(o.ModuleRoot, spec.File), svc, io.Discard)
	}
	cand, _, err := build(o.Candidate)
	if err != nil {
		return b, fmt.Errorf("candidate: %w", err)
	}
	base, commit, err := build(o.Baseline)
	if err != nil {
		return b, fmt.Errorf("baseline: %w", err)
	}
	switch {
	case o.Baseline != "" && strings.HasPrefix(commit, o.Baseline):
		c.Baseline = commit[:12] // a commit id already: no need to say it twice
	case o.Baseline != "":
		c.Baseline = fmt.Sprintf("%s (%s)", o.Baseline, commit[:12])
	case o.Candidate == "":
		c.Baseline = "the work tree (the same build as the candidate)"
	default:
		c.Baseline = "the work tree"
	}
	prom, err := stack.PrometheusImage(ctx, o.Prometheus, logw)
	if err != nil {
		return b, err
	}
	fmt.Fprintf(logw, "baseline %s: %s; candidate: %s\n", c.Baseline, base.Tag, cand.Tag)

	b.st, err = startStack(ctx, stack.Config{
		Service: svc, PrometheusImage: prom.Tag, Log: logw,
		Pin: true, // a build's replica j shares CPU j with the other build's: CPU per request reads alike
		Variants: []stack.Variant{
			{Name: Baseline, Image: base.Tag, Args: o.BaselineArgs},
			{Name: Candidate, Image: cand.Tag, Args: o.CandidateArgs},
		},
	})
	st := b.st
	if o.Started != nil {
		o.Started(st)
	}
	if err != nil {
		return b, err
	}
	cs := spec.Compare
	// One unmeasured round per variant first: the first requests of a fresh
	// replica (an empty database, cold code paths, connections) are slower
	// and costlier than any after them, and would weigh on pair 1 alone.
	// Nothing reads them, so both variants prime at once, while Prometheus
	// discovers its targets (about 5 s).
	primed := b.prime(ctx)
	b.pc, err = waitForTargets(ctx, st, svc.Name)
	if err = errors.Join(err, <-primed, <-primed); err != nil {
		return b, err
	}
	var metrics []string
	for _, m := range cs.Metrics {
		metrics = append(metrics, m.Metric)
	}
	return b, checkNames(ctx, b.pc, b.series, time.Now(), metrics)
}

// prime runs the unmeasured round of both variants at once and sends each
// one's error, or nil, on the channel it returns.
func (b *Bench) prime(ctx context.Context) <-chan error {
	spec, cs := b.o.Spec, b.o.Spec.Compare
	fmt.Fprintf(b.logw, "priming %s and %s\n", Baseline, Candidate)
	primed := make(chan error, 2)
	for _, variant := range []string{Baseline, Candidate} {
		cfg := loadConfig(spec.Load, spec.Workload, b.o.Seed, nil, b.st.ReplicasOf(variant))
		cfg.Stages = []load.Stage{{Duration: cs.Round.WarmUp + cs.Round.Duration, Target: cs.Round.Rate}}
		go func() {
			res, err := load.Run(ctx, cfg)
			if err != nil {
				err = fmt.Errorf("priming %s: %w", variant, err)
			} else if off := res.NotAsWritten(); len(off) > 0 { // every round would run the same wrong workload
				err = fmt.Errorf("priming %s: the workload did not run as written: %s", variant, strings.Join(off, "; "))
			}
			primed <- err
		}()
	}
	return primed
}

// Close removes the Bench's stack; a Bench that never started one has
// nothing to remove.
func (b *Bench) Close(ctx context.Context) error {
	if b == nil || b.st == nil {
		return nil
	}
	return teardown(ctx, b.st)
}

// Measure runs the interleaved rounds on a prepared Bench and compares them.
func (b *Bench) Measure(ctx context.Context) (Comparison, error) {
	o, spec, st, pc, series, logw := b.o, b.o.Spec, b.st, b.pc, b.series, b.logw
	cs, c := spec.Compare, b.c
	roundCfg := func(variant string, seed uint64, burst int) load.Config {
		cfg := loadConfig(spec.Load, spec.Workload, seed, o.Progress, st.ReplicasOf(variant))
		cfg.WarmUp = cs.Round.WarmUp
		cfg.OnTime = MaxSendLag
		cfg.Burst = burst
		cfg.Stages = []load.Stage{
			{Duration: cs.Round.WarmUp, Target: cs.Round.Rate},
			{Duration: cs.Round.Duration, Target: cs.Round.Rate},
		}
		return cfg
	}
	gap := max(100*time.Millisecond, st.ScrapeInterval()-cs.Round.WarmUp)
	// cpusFor gives the replicas the CPUs a pair's kind needs: one each for
	// the evenly paced pairs, where both builds then share each core alike
	// (A/A CPU per request within ±3% in 19 of 20 runs at 800/s, against
	// 2 of 15 beyond ±3% left to the scheduler; README); every CPU for pairs in
	// bursts, whose requests must run side by side to meet at a lock
	// (pinned, a global mutex waited +58 µs a request, unpinned +167 µs
	// or more). A switch waits the second a Go runtime takes to see its
	// new CPUs.
	cpusFor := func(burst int) error {
		pinned := burst == 0
		if st.Pinned() == pinned {
			return nil
		}
		if err := st.SetPinned(ctx, pinned); err != nil {
			return err
		}
		return pause(ctx, 1500*time.Millisecond)
	}
	// runPair runs pair k's two rounds in its order, replaying one sequence,
	// and says why the generator cannot vouch for them, if it cannot.
	runPair := func(k int) (unsound string, _ error) {
		// Both rounds run in the same seconds, each variant under its own
		// generator replaying one sequence (a duet): what the machine does
		// meanwhile (a neighbour, a scrape, a slower second) weighs on both
		// alike, and the pair's difference keeps only what the builds do.
		// Run one after the other, the rounds of one A/A pair read CPU per
		// request 11.8% apart (sd); in a duet, 2.3% (make perf-aa PAIRS=20).
		order, burst, kind := pairOrder(k), 0, ""
		if k >= cs.Rounds { // a contention pair: arrivals in bursts
			burst, kind = cs.Contention.Burst, ", contention"
		}
		if err := cpusFor(burst); err != nil {
			return "", err
		}
		var res [2]*load.Result
		var errs [2]error
		var wg sync.WaitGroup
		for i, variant := range order {
			fmt.Fprintf(logw, "round %d (pair %d%s): %s\n", len(c.Rounds)+1+i, k+1, kind, variant)
			cfg := roundCfg(variant, o.Seed+uint64(k), burst)
			if i == 1 {
				cfg.Progress = nil // one progress line for the two
			}
			wg.Go(func() { res[i], errs[i] = load.Run(ctx, cfg) })
		}
		wg.Wait()
		var whys []string
		for i, variant := range order {
			n := len(c.Rounds) + 1
			if errs[i] != nil {
				return "", fmt.Errorf("round %d (%s): %w", n, variant, errs[i])
			}
			res := res[i]
			r := Round{Variant: variant, Pair: k, Burst: burst, From: res.MeasuredFrom, To: res.End, Values: clientValues(res, cs.Round.Duration)}
			r.Unsound = roundUnsound(res, spec.Load.MaxLag)
			r.Errors = roundErrors(res, r.Unsound)
			if r.Errors.Trials > 0 {
				r.Values[thresholds.CompareErrorRate] = float64(r.Errors.Events) / float64(r.Errors.Trials)
			}
			if r.Unsound == "" && res.Late > 0 {
				fmt.Fprintf(logw, "round %d (%s): %d requests left more than %s late (a stall of the generator); latency from the %d on time\n",
					n, variant, res.Late, MaxSendLag, res.OnTime.TotalCount())
			}
			if r.Unsound != "" {
				whys = append(whys, fmt.Sprintf("round %d (%s) cannot count: %s", n, variant, r.Unsound))
				fmt.Fprintln(logw, whys[len(whys)-1])
			}
			c.Rounds = append(c.Rounds, r)
		}
		// Counters are per variant and per request: the gap only has to
		// keep the next pair's windows a scrape away from this one's.
		return strings.Join(whys, "; "), pause(ctx, gap)
	}
	// read settles the store after the last round and reads the server's
	// figures of the rounds from first on.
	read := func(first int) error {
		n := len(c.Rounds)
		if n == first {
			return nil
		}
		last := c.Rounds[n-1].To // the later of the last duet's two ends
		if t := c.Rounds[n-2].To; t.After(last) {
			last = t
		}
		lag, err := settleFixed(ctx, pc, series, last, logw)
		if err != nil {
			return err
		}
		if lag != "" { // the rounds' server figures would be older data: no comparison
			return errors.New(lag)
		}
		for i := first; i < n; i++ {
			if err := serverValues(ctx, pc, series, &c.Rounds[i]); err != nil {
				return err
			}
		}
		return nil
	}

	// A pair with a round that cannot count runs again, replaying the same
	// sequence, while the budget of extra pairs lasts: one noisy second on a
	// busy runner costs its pair, not the run.
	plan := newSchedule(cs.Pairs())
	for first := 0; ; first = len(c.Rounds) {
		for k, ok := plan.next(); ok; k, ok = plan.next() {
			why, err := runPair(k)
			if err != nil {
				return c, err
			}
			if why != "" && plan.again(k, why) {
				fmt.Fprintf(logw, "pair %d runs again (%d extra pairs left)\n", k+1, plan.extra)
			}
		}
		if err := read(first); err != nil {
			return c, err
		}
		// A pair the store has no figure of, where other pairs have one (a
		// lost scrape), runs again too, once the store is read.
		again := false
		for _, k := range pairsMissing(c.Rounds[first:], *cs) {
			again = plan.again(k, "the store has no figure of one of its rounds") || again
		}
		if !again {
			break
		}
	}
	samples := Samples(c.Rounds, *cs)
	c.Result = compare.Compare(samples, compare.Budgets(cs), compare.Options{Alpha: cs.Alpha})
	c.Result.Reruns = plan.reruns
	if c.Result.Verdict == verdict.Inconclusive {
		var unsound []string
		for i, r := range c.Rounds {
			if r.Unsound != "" {
				unsound = append(unsound, fmt.Sprintf("round %d (%s) cannot count: %s", i+1, r.Variant, r.Unsound))
			}
		}
		if len(unsound) > 0 {
			c.Result.Reason = fmt.Sprintf("%d rounds could not count, and the %d extra pairs are spent: %s; %s",
				len(unsound), ExtraPairs(cs.Pairs()), unsound[0], c.Result.Reason)
		}
	}
	// The baseline's rounds split in two measure this run's own noise, when
	// half of them can reach alpha at all; otherwise make perf-aa has to.
	if thresholds.MinP(cs.Rounds/2) < cs.Alpha {
		c.Noise = compare.Calibrate(SplitBaseline(samples), compare.Options{Alpha: cs.Alpha})
	}

	// Why a metric got worse: pairs of rounds with profiling on, after the
	// rounds that decided, so profiling never touches the verdict.
	prefix := spec.ServiceOrDefault().Profile
	profiles := profiledMetrics(c.Result, o.Profile == ProfileAlways)
	if prefix == "" || len(profiles) == 0 || o.Profile == ProfileNever {
		return c, nil
	}
	t := time.Now()
	var changed []string
	if o.Baseline != "" {
		changed = changedFiles(ctx, o.ModuleRoot, o.Baseline, o.Candidate)
	}
	// A metric read from the contention pairs is profiled in bursts like
	// theirs, where its waits happen; the rest evenly paced, as decided.
	groups := map[int][]toDiff{}
	for _, p := range profiles {
		burst := 0
		if cs.Contended(p.metric) {
			burst = cs.Contention.Burst
		}
		groups[burst] = append(groups[burst], p)
	}
	// profilePairs runs the profiled pairs, their arrivals in bursts when burst > 1.
	profilePairs := func(burst int) (got [2][]roundProfiles, err error) { // baseline's, candidate's
		if err := cpusFor(burst); err != nil {
			return got, err
		}
		for k := range ProfiledPairs {
			for _, variant := range pairOrder(k) {
				p, err := profileRound(ctx, st.ReplicasOf(variant), prefix, cs.Round.WarmUp+cs.Round.Duration, func() error {
					_, err := load.Run(ctx, roundCfg(variant, o.Seed+uint64(cs.Pairs()+ExtraPairs(cs.Pairs())+k), burst))
					return err
				})
				if err != nil {
					return got, err
				}
				i := 0
				if variant == Candidate {
					i = 1
				}
				got[i] = append(got[i], p)
				if err := pause(ctx, gap); err != nil {
					return got, err
				}
			}
		}
		return got, nil
	}
	c.ProfileFiles = map[string]*profile.Profile{}
	for _, burst := range slices.Sorted(maps.Keys(groups)) { // evenly paced first
		metrics, how := groups[burst], ""
		if burst > 0 {
			how = fmt.Sprintf(", in bursts of %d", burst)
		}
		var names []string
		for _, p := range metrics {
			names = append(names, p.metric)
		}
		fmt.Fprintf(logw, "%d pairs of rounds with profiling%s, to tell why of %s\n", ProfiledPairs, how, strings.Join(names, ", "))
		got, perr := profilePairs(burst)
		if err := ctx.Err(); err != nil {
			return c, err
		}
		if perr != nil {
			for _, p := range metrics {
				c.Profiles = append(c.Profiles, report.ProfileDiff{Metric: p.metric, Worse: p.worse, Why: fmt.Sprintf("the profiled rounds could not run: %v", perr)})
			}
			continue
		}
		c.Profiles = append(c.Profiles, whyWorse(metrics, got[0], got[1], profiledRequests(cs.Round), changed)...)
		keepFiles(c.ProfileFiles, mergedFiles(got[0], got[1]), metrics)
	}
	fmt.Fprintf(logw, "profiled pairs: %s\n", time.Since(t).Round(time.Millisecond))
	return c, nil
}

// keepFiles adds a set of profiled pairs' merged profiles to dst: those
// the diffs of metrics read (their commands name them) replace any other
// set's; the rest come from the first set that has them.
func keepFiles(dst, files map[string]*profile.Profile, metrics []toDiff) {
	for name, p := range files {
		if _, taken := dst[name]; !taken {
			dst[name] = p
		}
	}
	for _, m := range metrics {
		for _, v := range []string{Baseline, Candidate} {
			name := profileFile(v, profileName(measureOf[m.metric]))
			if f := files[name]; f != nil {
				dst[name] = f
			}
		}
	}
}

// MaxLateShare is how many of a comparison round's requests may leave late
// (more than MaxSendLag after their intended time) for the round to count:
// a stall of 100 ms at 400/s makes 2.5% late. The round's latency is read
// from the requests that left on time, so a short stall of the generator
// does not move it; a longer one, or a generator that fell behind, costs
// the round.
const MaxLateShare = 0.05

// roundUnsound says why the generator cannot vouch for a comparison round,
// or "" when it can.
func roundUnsound(res *load.Result, maxLag float64) string {
	acct := loadAccount(res, maxLag)
	acct.MaxSendLag = 0 // a stall is judged by how many requests it made late, below
	if why := verdict.Shortfall(acct); why != "" {
		return why
	}
	if n := res.Sent; n > 0 && float64(res.Late) > MaxLateShare*float64(n) {
		return fmt.Sprintf("generator stalled: %d of %d requests (%.1f%%) left more than %s after their intended time (%.0f%% allowed)",
			res.Late, n, 100*float64(res.Late)/float64(n), MaxSendLag, 100*MaxLateShare)
	}
	return ""
}

// roundErrors are a round's failed requests among those due: 5xx,
// transport errors and timeouts of the requests sent, and the requests
// dropped because every slot was taken — a service too slow to answer. In
// a round the generator cannot vouch for (unsound), a stalled generator
// takes slots too, so its drops are nobody's fault: the round then counts
// the requests sent alone.
func roundErrors(res *load.Result, unsound string) compare.Count {
	if unsound != "" {
		return compare.Count{Events: res.Errors, Trials: res.Sent}
	}
	return compare.Count{Events: res.Errors + res.Dropped, Trials: res.Sent + res.Dropped}
}

// clientValues are the generator's figures of one round: latency from the
// intended send time of the requests that left on time, and throughput as
// the responses to the requests planned in the measured part, over its
// planned duration, so one slow response at the end cannot stretch the round.
func clientValues(r *load.Result, planned time.Duration) map[string]float64 {
	v := map[string]float64{
		thresholds.CompareP50: r.OnTimeQuantile(0.50).Seconds(),
		thresholds.CompareP95: r.OnTimeQuantile(0.95).Seconds(),
		thresholds.CompareP99: r.OnTimeQuantile(0.99).Seconds(),
	}
	if planned > 0 {
		v[thresholds.CompareThroughput] = float64(r.Completed) / planned.Seconds()
	}
	if e := roundErrors(r, ""); e.Trials > 0 {
		v[thresholds.CompareErrorRate] = float64(e.Events) / float64(e.Trials)
	}
	return v
}

// costMetrics are the comparison's server-side figures per request served.
var costMetrics = []string{thresholds.CompareCPUPerRequest, thresholds.CompareAllocs, thresholds.CompareAllocBytes, thresholds.CompareGCPerRequest,
	thresholds.CompareQueries}

// serverValues adds what Prometheus saw of the round's variant: its work per
// request served (CPU, heap allocations and bytes, GC cycles, queries) and what a
// request waited for locks and pooled connections, what it kept
// per 1,000 requests (live heap, resident set, goroutines) and the peak resident set of
// its replicas.
func serverValues(ctx context.Context, pc *promq.Client, series promq.Series, r *Round) error {
	window := r.To.Sub(r.From)
	type query struct {
		q  string
		at time.Time
	}
	queries := map[string]query{thresholds.ComparePeakRSS: {series.PeakRSSQuery(r.Variant, window), r.To}}
	for _, m := range costMetrics {
		queries[m] = query{series.VariantCostQuery(thresholds.Metric(m), r.Variant, window), series.At(thresholds.CPUPerRequest, r.To)}
	}
	for _, m := range []string{thresholds.CompareHeapGrowth, thresholds.CompareRSSGrowth, thresholds.CompareGoroutineGrowth} {
		queries[m] = query{series.GrowthQuery(m, r.Variant, window), series.At(thresholds.CPUPerRequest, r.To)}
	}
	queries[thresholds.CompareWaitPerRequest] = query{series.WaitQuery(r.Variant, window), series.At(thresholds.CPUPerRequest, r.To)}
	if q := series.LevelQuery(thresholds.CompareRSSGrowth, r.Variant); q != "" {
		queries[levelOf(thresholds.CompareRSSGrowth)] = query{q, series.At(thresholds.CPUPerRequest, r.To)}
		queries[servedKey] = query{series.ServedQuery(r.Variant), series.At(thresholds.CPUPerRequest, r.To)}
	}
	for metric, q := range queries {
		if q.q == "" {
			continue // the service exports no such counter: the metric stays missing
		}
		s, err := pc.Instant(ctx, q.q, q.at)
		if err != nil {
			return fmt.Errorf("round of %s at %s: %w", r.Variant, r.To.Format(time.TimeOnly), err)
		}
		if len(s) == 1 {
			r.Values[metric] = s[0].Value
		} // no series: the metric stays missing, and the comparison says so
	}
	return nil
}

// Keys of Round.Values that are no metric: a trended metric's gauge level at
// the round's end, and the requests served by then.
const servedKey = "served@end"

func levelOf(metric string) string { return metric + "@end" }

// perRequest are the compared metrics a round measures per request issued
// or served: a generator that stalled or fell behind does not change them,
// so a round it cannot vouch for still counts for them.
var perRequest = map[string]bool{
	thresholds.CompareAllocs: true, thresholds.CompareAllocBytes: true, thresholds.CompareCPUPerRequest: true,
	thresholds.CompareGCPerRequest: true, thresholds.CompareQueries: true, thresholds.CompareErrorRate: true,
	thresholds.CompareHeapGrowth: true, thresholds.CompareRSSGrowth: true, thresholds.CompareGoroutineGrowth: true,
}

// counts says whether round r has a value of metric that can count.
func counts(r Round, metric string) bool {
	v, ok := r.Values[metric]
	return ok && !math.IsNaN(v) && !math.IsInf(v, 0) && (r.Unsound == "" || perRequest[metric])
}

// Samples gathers, per compared metric, the baseline's and the candidate's
// value of every pair of rounds (rounds 2k and 2k+1) that can count for it,
// among the pairs of its kind: the contention pairs for a metric c reads
// there (c.Contended), the evenly paced ones for the rest. With fewer such
// pairs than planned, every pair goes in and the rest are NaN, so a missing
// value is named, never dropped. The error rate carries each round's
// counts, to be pooled.
func Samples(rounds []Round, c thresholds.Compare) []compare.Samples {
	out := make([]compare.Samples, 0, len(c.Metrics))
	for _, b := range c.Metrics {
		s := compare.Samples{Metric: b.Metric, Unit: b.Unit()}
		if thresholds.Trended(b.Metric) {
			s.Trend = &compare.Trend{}
		}
		pairs, planned := pairsFor(rounds, c, b.Metric)
		good := 0
		for _, pair := range pairs {
			if counts(pair[0], b.Metric) && counts(pair[1], b.Metric) {
				good++
			}
		}
		for _, pair := range pairs {
			if good >= planned && !(counts(pair[0], b.Metric) && counts(pair[1], b.Metric)) {
				continue
			}
			for _, r := range pair {
				v := r.Values[b.Metric]
				if !counts(r, b.Metric) {
					v = math.NaN()
				}
				if s.Trend != nil {
					s.Trend.Add(r.Variant == Baseline, value(r, levelOf(b.Metric)), value(r, servedKey))
				}
				if r.Variant == Baseline {
					s.Baseline = append(s.Baseline, v)
					if b.Metric == thresholds.CompareErrorRate {
						s.BaselineCounts = append(s.BaselineCounts, r.Errors)
					}
				} else {
					s.Candidate = append(s.Candidate, v)
					if b.Metric == thresholds.CompareErrorRate {
						s.CandidateCounts = append(s.CandidateCounts, r.Errors)
					}
				}
			}
		}
		out = append(out, s)
	}
	return out
}

// value is r's value under key, NaN when it has none.
func value(r Round, key string) float64 {
	if v, ok := r.Values[key]; ok {
		return v
	}
	return math.NaN()
}

// pairsFor are the pairs of rounds metric is read from (rounds 2k and 2k+1
// of its kind, or of every kind for a trended metric, in the order they ran),
// and how many of them c plans.
func pairsFor(rounds []Round, c thresholds.Compare, metric string) (pairs [][]Round, planned int) {
	contended := c.Contended(metric)
	every := thresholds.Trended(metric)
	for i := 0; i+1 < len(rounds); i += 2 {
		if every || (rounds[i].Burst > 1) == contended {
			pairs = append(pairs, rounds[i:i+2])
		}
	}
	switch {
	case every:
		return pairs, c.Pairs()
	case contended:
		return pairs, c.Contention.Rounds
	}
	return pairs, c.Rounds
}

// pairsMissing are the pairs, by number, that lack a value of some metric
// that other pairs of its kind have: the store lost a scrape, and they can
// run again. A metric no pair has (the service does not export it) names none.
func pairsMissing(rounds []Round, c thresholds.Compare) []int {
	var out []int
	seen := map[int]bool{}
	for _, b := range c.Metrics {
		var have, lack []int
		pairs, _ := pairsFor(rounds, c, b.Metric)
		for _, pair := range pairs {
			_, ok0 := pair[0].Values[b.Metric]
			_, ok1 := pair[1].Values[b.Metric]
			if ok0 && ok1 {
				have = append(have, pair[0].Pair)
			} else {
				lack = append(lack, pair[0].Pair)
			}
		}
		for _, k := range lack {
			if len(have) > 0 && !seen[k] {
				seen[k] = true
				out = append(out, k)
			}
		}
	}
	return out
}

// SplitBaseline pits the baseline's odd rounds against its even ones: the
// noise of this machine within this very run, with nothing changed.
func SplitBaseline(samples []compare.Samples) []compare.Samples {
	out := make([]compare.Samples, 0, len(samples))
	for _, s := range samples {
		a := compare.Samples{Metric: s.Metric, Unit: s.Unit}
		for i, v := range s.Baseline {
			if i%2 == 0 {
				a.Baseline = append(a.Baseline, v)
			} else {
				a.Candidate = append(a.Candidate, v)
			}
		}
		out = append(out, a)
	}
	return out
}

// specInRepo is the spec's path relative to the repository root, where the
// baseline's own spec is looked up; "" when the spec lives outside it.
func specInRepo(root, file string) string {
	abs, err := filepath.Abs(file)
	if err != nil {
		return ""
	}
	rel, err := filepath.Rel(root, abs)
	if err != nil || rel == ".." || strings.HasPrefix(rel, ".."+string(filepath.Separator)) {
		return ""
	}
	return filepath.ToSlash(rel)
}
