package load

import (
	"context"
	"fmt"
	"io"
	"math/rand/v2"
	"net"
	"net/http"
	"strconv"
	"sync"
	"sync/atomic"
	"time"

	"github.com/perfgate/perfgate/perftest/internal/workload"
	"github.com/valyala/fasthttp"
)

// earlySend lets the pacer release a request up to this much before its
// intended time. Go timers wake with millisecond granularity when the process
// is idle, so waiting for the exact instant would add up to a millisecond of
// the generator's own lag to every latency; sending a little early costs
// nothing, since latency then counts from the actual send.
const earlySend = time.Millisecond

// stopGrace is added to the planned end + Timeout as a last bound on a run.
const stopGrace = time.Second

// job is one request handed from the pacer to a worker.
type job struct {
	at  time.Duration // intended send time since Start
	n   uint64        // request number
	rnd uint64        // randomness for the request: pool values, random strings
	tmp int           // the template picked
}

// secPace is what the pacer did in one second; written by the pacer only,
// read by the progress line.
type secPace struct {
	sent, dropped, inFlight atomic.Int64
}

type runner struct {
	cfg     prepared
	fast    []*fasthttp.HostClient // per target; nil when requests go through client
	conns   *connSet               // the connections of fast
	client  *http.Client           // when set, requests go through net/http
	workers []*worker
	start   time.Time // intended send times count from it
	began   time.Time // when sending began: start, or later when it had passed
	passed  bool      // StartAt had passed when the run was ready to wait for it
	share   float64   // this shard's part of the schedule, 1/Count
	rec     *recorder
	session *workload.Session
	seconds []secPace
	// lateDropped counts the requests due before sending began; written by
	// the pacer, read once it has returned.
	lateDropped int64

	inFlight  atomic.Int64
	waiting   atomic.Bool   // the pacer waits for a free slot
	slot      chan struct{} // a worker freed a slot while the pacer waited
	rr        atomic.Uint64
	perTarget []atomic.Int64 // outstanding per target, for LeastInFlight

	userCtx context.Context // cancellation by the caller, as opposed to the run's own bound
	runCtx  context.Context
	cancel  context.CancelFunc
}

// Run applies the load cfg describes and returns what it saw. It returns when
// the last stage has ended and every request has finished, at most Timeout
// later, or promptly once ctx is done; the Result is then partial and the
// error wraps ctx's.
func Run(ctx context.Context, cfg Config) (*Result, error) {
	p, err := cfg.prepare()
	if err != nil {
		return nil, err
	}
	r, cancel := newRunner(ctx, p)
	defer cancel()
	plan := p.pacer.Duration()

	jobs := make(chan job, p.MaxInFlight)
	var workers sync.WaitGroup
	r.workers = make([]*worker, p.MaxInFlight)
	for i := range r.workers {
		w := newWorker(r)
		r.workers[i] = w
		workers.Go(func() {
			for j := range jobs {
				w.do(j)
			}
			w.close()
		})
	}
	if r.fast != nil {
		// Requests in flight end with their connections.
		defer context.AfterFunc(r.runCtx, r.conns.closeAll)()
	}
	unbound, err := r.begin(ctx)
	if err != nil {
		return nil, fmt.Errorf("load: waiting for the start at %s: %w", p.StartAt.Format(time.RFC3339Nano), err)
	}
	defer unbound()
	progressDone := make(chan struct{})
	var progress sync.WaitGroup
	if p.Progress != nil {
		progress.Go(func() { r.progress(p.Progress, progressDone) })
	}

	sent, dropped, stoppedAt := r.pace(r.runCtx, jobs)
	close(jobs)
	workers.Wait()
	end := time.Now()
	close(progressDone)
	progress.Wait()

	res := r.result(end, stoppedAt, sent, dropped)
	if err := ctx.Err(); err != nil {
		return res, fmt.Errorf("load: stopped after %s of %s: %w", stoppedAt.Round(time.Millisecond), plan, err)
	}
	return res, nil
}

// newRunner prepares a run; cancel ends it and closes idle connections.
func newRunner(ctx context.Context, p prepared) (*runner, context.CancelFunc) {
	plan := p.pacer.Duration()
	seconds := int((plan + time.Second - 1) / time.Second)
	r := &runner{
		cfg:       p,
		rec:       newRecorder(p.WarmUp, p.OnTime, seconds, len(p.program.Names()), len(p.targets)),
		session:   p.program.Start(),
		seconds:   make([]secPace, seconds),
		slot:      make(chan struct{}, 1),
		perTarget: make([]atomic.Int64, len(p.targets)),
		userCtx:   ctx,
		share:     1 / float64(p.Shard.Count),
	}
	r.start = time.Now()
	r.runCtx, r.cancel = context.WithCancel(ctx)
	if p.Client == nil && p.plainHTTP() {
		r.conns = newConnSet(r.runCtx, p.Timeout)
		for _, t := range p.targets {
			r.fast = append(r.fast, newHostClient(fasthttp.AddMissingPort(t.host, false), p, r.conns))
		}
	} else if p.Client != nil {
		c := *p.Client // the caller's, with the generator's redirect policy
		c.CheckRedirect = keepRedirect
		r.client = &c
	} else {
		r.client = newClient(p.MaxInFlight, len(p.targets), p.Timeout)
	}
	return r, func() {
		r.cancel()
		for _, hc := range r.fast {
			hc.CloseIdleConnections()
		}
		if r.conns != nil {
			r.conns.closeAll()
		}
		if r.client != nil {
			r.client.CloseIdleConnections()
		}
	}
}

// begin marks the start of load, once the workers are ready: now, or
// StartAt once it comes. It bounds the run in time: past the last stage plus
// Timeout, whatever is left is canceled. It returns a func that lifts the bound.
func (r *runner) begin(ctx context.Context) (func() bool, error) {
	r.start = time.Now()
	if at := r.cfg.StartAt; !at.IsZero() {
		r.passed = !time.Now().Before(at)
		if err := pauseUntil(ctx, at); err != nil {
			return nil, err
		}
		r.start = at
	}
	r.began = time.Now()
	bound := r.start.Add(r.cfg.pacer.Duration() + r.cfg.Timeout + stopGrace)
	return time.AfterFunc(time.Until(bound), r.cancel).Stop, nil
}

// pauseUntil waits for the instant at, or returns ctx's error first.
func pauseUntil(ctx context.Context, at time.Time) error {
	t := time.NewTimer(time.Until(at))
	defer t.Stop()
	select {
	case <-ctx.Done():
		return ctx.Err()
	case <-t.C:
		return nil
	}
}

// keepRedirect makes a 3xx the response: a redirect is never followed, so
// no request leaves the targets that Allow and the rate cap were checked for.
func keepRedirect(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }

func newClient(maxInFlight, targets int, timeout time.Duration) *http.Client {
	dialer := &net.Dialer{Timeout: timeout, KeepAlive: 30 * time.Second}
	return &http.Client{CheckRedirect: keepRedirect, Transport: &http.Transport{
		Proxy:               nil,
		DialContext:         dialer.DialContext,
		MaxIdleConns:        maxInFlight * targets,
		MaxIdleConnsPerHost: maxInFlight,
		IdleConnTimeout:     90 * time.Second,
		TLSHandshakeTimeout: timeout,
		DisableCompression:  true,
	}}
}

// pace sends each request at its intended time, or drops it when every slot
// is taken. It returns the sent and dropped counts of the measured window and
// how far into the plan it got.
func (r *runner) pace(ctx context.Context, jobs chan<- job) (sent, dropped int64, stoppedAt time.Duration) {
	pacer, warm := r.cfg.pacer, r.cfg.WarmUp
	maxInFlight := int64(r.cfg.MaxInFlight)
	d := r.dealer()
	plan := r.cfg.Shard
	timer := time.NewTimer(time.Hour)
	timer.Stop()
	done := ctx.Done()

	// Requests intended before dropUntil came due while every slot was taken.
	dropUntil := time.Duration(-1)
	// Requests intended before lateUntil came due before sending began (a
	// StartAt that had passed): sent at once they would burst far beyond
	// the planned rate, and a target's rate cap with it. They are dropped.
	// A run that waited for its StartAt began only its timer's wake-up after
	// it: what came due meanwhile goes out a little late, like any lag.
	lateUntil := time.Duration(-1)
	if r.passed {
		lateUntil = r.began.Sub(r.start)
	}
	now := time.Since(r.start)
	for n := uint64(0); ; n++ {
		at, ok := pacer.hitTime(n)
		if !ok {
			return sent, dropped, pacer.Duration()
		}
		j := d.deal(n, at) // for every arrival, so each shard draws the same sequence
		if !plan.Owns(n) {
			continue
		}
		if at < lateUntil {
			r.seconds[min(int(at/time.Second), len(r.seconds)-1)].dropped.Add(1)
			r.lateDropped++
			if at >= warm {
				dropped++
			}
			continue
		}
		if at > now+earlySend {
			timer.Reset(at - earlySend - now)
			select {
			case <-done:
				timer.Stop()
				return sent, dropped, time.Since(r.start)
			case <-timer.C:
			}
			now = time.Since(r.start)
		} else {
			select {
			case <-done:
				return sent, dropped, now
			default:
			}
		}

		sec := min(int(at/time.Second), len(r.seconds)-1)
		measured := at >= warm
		if at < dropUntil || r.inFlight.Load() >= maxInFlight {
			r.seconds[sec].dropped.Add(1)
			if measured {
				dropped++
			}
			if at >= dropUntil {
				// Block instead of spinning through due requests: all that
				// come due until a slot frees are dropped.
				if !r.waitSlot(done, maxInFlight) {
					return sent, dropped, time.Since(r.start)
				}
				now = time.Since(r.start)
				dropUntil = now
			}
			continue
		}
		inFlight := r.inFlight.Add(1)
		ps := &r.seconds[sec]
		ps.sent.Add(1)
		if inFlight > ps.inFlight.Load() {
			ps.inFlight.Store(inFlight)
		}
		if measured {
			sent++
		}
		jobs <- j // never blocks: cap is MaxInFlight
		now = time.Since(r.start)
	}
}

// rng is the run's source of randomness, drawn by the pacer alone so that
// request n gets the same template and randomness in every run with the
// same seed.
func (r *runner) rng() *rand.Rand {
	return rand.New(rand.NewPCG(r.cfg.Seed, r.cfg.Seed^0x9e3779b97f4a7c15))
}

// dealer draws what each request is, in the pacer's order.
type dealer struct {
	rng  *rand.Rand
	prog *workload.Program
}

func (r *runner) dealer() dealer { return dealer{rng: r.rng(), prog: r.cfg.program} }

// deal returns request n, intended at at: its template and its randomness.
func (d *dealer) deal(n uint64, at time.Duration) job {
	t := d.prog.Pick(d.rng)
	return job{at: at, n: n, rnd: d.rng.Uint64(), tmp: t}
}

// waitSlot blocks until fewer than maxInFlight requests are outstanding; it
// returns false when done closes first.
func (r *runner) waitSlot(done <-chan struct{}, maxInFlight int64) bool {
	r.waiting.Store(true)
	defer r.waiting.Store(false)
	// Workers decrement inFlight before they look at waiting, so either this
	// load sees the free slot or the worker sees waiting and signals.
	for r.inFlight.Load() >= maxInFlight {
		select {
		case <-r.slot:
		case <-done:
			return false
		}
	}
	return true
}

// release frees the slot of a finished request sent to target ti.
func (r *runner) release(ti int) {
	if r.cfg.Balance == LeastInFlight {
		r.perTarget[ti].Add(-1)
	}
	r.inFlight.Add(-1)
	if r.waiting.Load() {
		select {
		case r.slot <- struct{}{}:
		default:
		}
	}
}

// pickTarget returns the index of the target for the next request: pinned
// when it names one.
func (r *runner) pickTarget(pinned int) int {
	n := uint64(len(r.cfg.targets))
	if ti := pinned; n == 1 || ti >= 0 && ti < int(n) {
		if n == 1 {
			ti = 0
		}
		if r.cfg.Balance == LeastInFlight {
			r.perTarget[ti].Add(1)
		}
		return ti
	}
	turn := r.rr.Add(1)
	if r.cfg.Balance != LeastInFlight {
		return int(turn % n)
	}
	best := int(turn % n)
	bestLoad := r.perTarget[best].Load()
	for k := uint64(1); k < n; k++ {
		i := int((turn + k) % n)
		if l := r.perTarget[i].Load(); l < bestLoad {
			best, bestLoad = i, l
		}
	}
	r.perTarget[best].Add(1)
	return best
}

// result assembles the Result once every request has finished.
func (r *runner) result(end time.Time, stoppedAt time.Duration, sent, dropped int64) *Result {
	pacer, warm := r.cfg.pacer, r.cfg.WarmUp
	res := &Result{
		Start:        r.start.Round(0),
		Began:        r.began.Round(0),
		End:          end.Round(0),
		MeasuredFrom: r.start.Add(warm).Round(0),
		Sent:         sent,
		Dropped:      dropped,
	}
	r.rec.fill(res, r.cfg.program.Names())
	for i, name := range res.Templates {
		if st := res.ByTemplate[name]; st.FellBack > 0 {
			st.Why = r.session.Why(i)
		}
	}
	res.Unsound = append(res.Unsound, res.NotAsWritten()...)
	if r.lateDropped > 0 {
		res.Unsound = append(res.Unsound, fmt.Sprintf("sending began %s after the start: the %d requests due before then were dropped, not sent at once",
			r.began.Sub(r.start).Round(time.Millisecond), r.lateDropped))
	}
	if window := (stoppedAt - warm).Seconds(); window > 0 {
		res.TargetRate = (pacer.hitsBy(stoppedAt) - pacer.hitsBy(warm)) / window * r.share
		res.AchievedRate = float64(sent) / window
	}
	plan := pacer.Duration()
	for s := range r.seconds {
		from := time.Duration(s) * time.Second
		if from >= stoppedAt {
			break
		}
		to := min(from+time.Second, plan)
		span := (to - from).Seconds()
		ps, rs := &r.seconds[s], &r.rec.secs[s]
		sec := Second{
			T:          s + 1,
			TargetRate: (pacer.hitsBy(to) - pacer.hitsBy(from)) / span * r.share,
			Rate:       float64(ps.sent.Load()) / span,
			Dropped:    ps.dropped.Load(),
			InFlight:   int(ps.inFlight.Load()),
			Errors:     rs.errors,
		}
		if rs.hist != nil {
			sec.Latency = rs.hist
			sec.P50 = usToDuration(rs.hist.ValueAtQuantile(50))
			sec.P95 = usToDuration(rs.hist.ValueAtQuantile(95))
			sec.P99 = usToDuration(rs.hist.ValueAtQuantile(99))
		}
		res.Timeline = append(res.Timeline, sec)
	}
	return res
}

// progress writes one line per second until done closes.
func (r *runner) progress(w io.Writer, done <-chan struct{}) {
	tick := time.NewTicker(time.Second)
	defer tick.Stop()
	for t := 1; ; t++ {
		select {
		case <-done:
			return
		case <-tick.C:
		}
		if t > len(r.seconds) {
			continue // the last requests are finishing
		}
		_, _ = io.WriteString(w, r.progressLine(t))
	}
}

// progressLine describes second t (ending t seconds after Start), e.g.
// "  12s  target  96.0/s  actual  95.8/s  in-flight   3  errors 0 (0.00%)  p95  4.1ms".
func (r *runner) progressLine(t int) string {
	s := t - 1
	from := time.Duration(s) * time.Second
	to := min(from+time.Second, r.cfg.pacer.Duration())
	span := (to - from).Seconds()
	target := (r.cfg.pacer.hitsBy(to) - r.cfg.pacer.hitsBy(from)) / span * r.share
	actual := float64(r.seconds[s].sent.Load()) / span
	done, errs := r.rec.totals()
	share := 0.0
	if done > 0 {
		share = 100 * float64(errs) / float64(done)
	}
	return fmt.Sprintf("%5ds  target %7.1f/s  actual %7.1f/s  in-flight %4d  errors %d (%.2f%%)  p95 %7s\n",
		t, target, actual, r.inFlight.Load(), errs, share, fmtLatency(r.rec.secondP95(s)))
}

// fmtLatency prints a latency compactly: "850µs", "4.1ms", "1.25s".
func fmtLatency(d time.Duration) string {
	switch {
	case d < time.Millisecond:
		return strconv.FormatInt(d.Microseconds(), 10) + "µs"
	case d < time.Second:
		return strconv.FormatFloat(float64(d)/float64(time.Millisecond), 'f', 1, 64) + "ms"
	default:
		return strconv.FormatFloat(d.Seconds(), 'f', 2, 64) + "s"
	}
}
