package load

import (
	"fmt"
	"strconv"
	"sync"
	"time"

	"github.com/HdrHistogram/hdrhistogram-go"
)

// Result is what one run saw. Counters and histograms cover the measured
// window (requests intended from MeasuredFrom on); Timeline covers the whole run.
type Result struct {
	// Start is the instant intended send times count from: when load began,
	// or the agreed StartAt of a sharded run. Began is when this generator
	// started sending: Start, or later when it started late. End is when
	// the last response arrived.
	Start, Began, End time.Time
	// MeasuredFrom is Start + WarmUp.
	MeasuredFrom time.Time
	// Sent requests went out; Completed ones got an HTTP response of any
	// status; Errors are transport errors, timeouts, 5xx and any status the
	// request's template does not expect; Dropped requests were due while
	// MaxInFlight requests were outstanding, or before sending began after a
	// StartAt that had passed, and were never sent.
	Sent, Completed, Errors, Dropped int64
	// ByStatus counts outcomes by status code ("201", "404", "500") or by
	// "error" (transport), "timeout" and "canceled" (stopped by ctx; neither
	// an error nor completed).
	ByStatus map[string]int64
	// ByTemplate has every template of the workload by name, Templates
	// their names in the workload's order. A request counts under the
	// template it was sent as: a fallback's when a pool was empty.
	ByTemplate map[string]*TemplateStats
	Templates  []string
	// Latency of all finished requests except canceled ones, in microseconds,
	// from the intended send time (or the actual send when that came earlier).
	Latency *hdrhistogram.Histogram
	// SendLag is how late requests went out after their intended time, in
	// microseconds: the generator's own share of Latency.
	SendLag *hdrhistogram.Histogram
	// OnTime is the Latency of the requests that left within Config.OnTime
	// of their intended time, and Late how many did not; nil and 0 without
	// Config.OnTime.
	OnTime *hdrhistogram.Histogram
	Late   int64
	// TargetRate is the mean rate the stages call for over the measured
	// window; AchievedRate is Sent over the same window.
	TargetRate, AchievedRate float64
	// Timeline has one entry per second of the whole run.
	Timeline []Second
	// TimedOutByTarget counts, per target in Config.Targets' order, the
	// requests of the measured window the generator gave up on after
	// Timeout: a server histogram never records them, so a latency SLO
	// must count them as slower than Timeout. Nil when not known per target.
	TimedOutByTarget []int64
	// Unsound says why the load was not the plan, as for a merged run the
	// shards with no result or that started late; a run with a reason here
	// cannot vouch for the service.
	Unsound []string
}

// minPlanned is how many requests must be drawn as a template before its
// share sent as written is judged: a handful says nothing.
const minPlanned = 20

// NotAsWritten says which templates ran far below their weight: most of the
// requests of the measured window drawn as them went as their fallback,
// because a pool they need stayed empty (a capture that never matches, a
// pool emptied faster than it fills). A run that did not apply the workload
// the spec wrote cannot vouch for the service.
func (r *Result) NotAsWritten() []string {
	var out []string
	for _, name := range r.Templates {
		st := r.ByTemplate[name]
		if st == nil || st.Planned < minPlanned || 2*st.FellBack <= st.Planned {
			continue
		}
		why := st.Why
		if why == "" {
			why = "a pool it needs was empty"
		}
		out = append(out, fmt.Sprintf("template %s ran as written for %d of the %d requests drawn as it, the rest went as its fallback: %s",
			name, st.Planned-st.FellBack, st.Planned, why))
	}
	return out
}

// TemplateStats is what the requests of one template saw in the measured
// window, canceled requests left out.
type TemplateStats struct {
	Count, Errors int64
	// Planned requests were drawn as this template; FellBack of them went
	// as its fallback instead, a pool it needs being empty (Why says which).
	Planned, FellBack int64
	Why               string
	// NotOK are answers the template expects that are not 2xx: a 404 it
	// allows. When they are most of its answers, the run measured mostly
	// misses (replicas that do not share state, a capture that goes stale).
	NotOK int64
	// Strays are 404 answers to requests that carried a value of a capture
	// that is not sticky: with replicas that do not share state, values
	// that went to a replica that never made them.
	Strays  int64
	Latency *hdrhistogram.Histogram // microseconds
}

// Second covers the requests intended in the second that ends T seconds
// after Start.
type Second struct {
	T                int
	TargetRate, Rate float64 // due and sent per second
	Dropped          int64   // due but not sent: every slot was taken, or sending had not begun
	InFlight         int     // most requests outstanding when one was sent
	Errors           int64
	P50, P95, P99    time.Duration
	// Latency holds the second's latencies at two significant digits, for
	// merging with other shards' seconds; nil when none finished.
	Latency *hdrhistogram.Histogram
}

// Quantile returns the latency at quantile q (0.95 for p95) over the measured
// window, or 0 when nothing was measured.
func (r *Result) Quantile(q float64) time.Duration {
	if r == nil || r.Latency == nil || r.Latency.TotalCount() == 0 {
		return 0
	}
	return usToDuration(r.Latency.ValueAtQuantile(q * 100))
}

// OnTimeQuantile is Quantile over the requests that left on time (see
// Config.OnTime); Quantile's when there is no such histogram.
func (r *Result) OnTimeQuantile(q float64) time.Duration {
	if r == nil || r.OnTime == nil {
		return r.Quantile(q)
	}
	if r.OnTime.TotalCount() == 0 {
		return 0
	}
	return usToDuration(r.OnTime.ValueAtQuantile(q * 100))
}

// Histogram geometry: 1 µs to 1 h; three significant digits for the measured
// window, two for the per-second histograms, which only feed a chart.
const (
	histMax       = int64(time.Hour / time.Microsecond)
	histDigits    = 3
	secHistDigits = 2
)

func newHist(digits int) *hdrhistogram.Histogram { return hdrhistogram.New(1, histMax, digits) }

func usToDuration(us int64) time.Duration { return time.Duration(us) * time.Microsecond }

func toUs(d time.Duration) int64 {
	us := int64(d / time.Microsecond)
	return min(max(us, 0), histMax)
}

// outcome is how a request ended.
type outcome uint8

const (
	gotResponse outcome = iota
	transportError
	timedOut
	canceled
)

type tmplRec struct {
	count, errors     int64
	planned, fellBack int64 // drawn as this template; of those, sent as its fallback
	notOK             int64 // answers the template expects that are not 2xx (a 404 it allows)
	strays            int64 // 404s to requests that carried a value of a capture that is not sticky
	lat               *hdrhistogram.Histogram
}

type secRec struct {
	hist   *hdrhistogram.Histogram
	errors int64
}

// recorder accumulates finished requests. One mutex guards it: a request
// holds it for well under a microsecond, against tens of microseconds of
// client work, so it is cheaper than per-worker histograms of 190 KB each.
type recorder struct {
	warm   time.Duration
	onTime time.Duration // 0: no on-time histogram

	mu        sync.Mutex
	lat, lag  *hdrhistogram.Histogram
	latOn     *hdrhistogram.Histogram // requests that left on time
	late      int64
	tmpls     []tmplRec
	codes     [1000]int64
	transport int64
	timeouts  int64
	timedOut  []int64 // per target
	canceled  int64
	completed int64
	errors    int64
	secs      []secRec
	doneAll   int64 // whole run, for the progress line
	errorsAll int64
}

func newRecorder(warm, onTime time.Duration, seconds, templates, targets int) *recorder {
	r := &recorder{warm: warm, onTime: onTime, lat: newHist(histDigits), lag: newHist(histDigits), secs: make([]secRec, seconds),
		tmpls: make([]tmplRec, templates), timedOut: make([]int64, targets)}
	if onTime > 0 {
		r.latOn = newHist(histDigits)
	}
	for i := range r.tmpls {
		r.tmpls[i].lat = newHist(histDigits)
	}
	return r
}

// add records one finished request of template ti, drawn as template
// planned (ti unless it fell back), sent to target target, intended at at
// (since Start); expected tells whether its template expects the status it
// got, and stray whether it was a 404 to a captured value (see Strays).
func (r *recorder) add(ti, planned, target, sec int, at, latency, lag time.Duration, code int, oc outcome, expected, stray bool) {
	isErr := oc == transportError || oc == timedOut || (oc == gotResponse && !expected)
	latUs, lagUs := toUs(latency), toUs(lag)

	r.mu.Lock()
	defer r.mu.Unlock()
	s := &r.secs[sec]
	if oc != canceled {
		if s.hist == nil {
			s.hist = newHist(secHistDigits)
		}
		_ = s.hist.RecordValue(latUs) // in range by toUs
		r.doneAll++
	}
	if isErr {
		s.errors++
		r.errorsAll++
	}
	if at < r.warm {
		return
	}
	switch oc {
	case gotResponse:
		r.completed++
		if code >= 0 && code < len(r.codes) {
			r.codes[code]++
		}
	case transportError:
		r.transport++
	case timedOut:
		r.timeouts++
		if target >= 0 && target < len(r.timedOut) {
			r.timedOut[target]++
		}
	case canceled:
		r.canceled++
		return
	}
	r.tmpls[planned].planned++
	if planned != ti {
		r.tmpls[planned].fellBack++
	}
	st := &r.tmpls[ti]
	st.count++
	if oc == gotResponse && expected && code/100 != 2 {
		st.notOK++
	}
	if stray {
		st.strays++
	}
	if isErr {
		st.errors++
		r.errors++
	}
	_ = st.lat.RecordValue(latUs)
	_ = r.lat.RecordValue(latUs)
	_ = r.lag.RecordValue(lagUs)
	switch {
	case r.latOn == nil:
	case lag <= r.onTime:
		_ = r.latOn.RecordValue(latUs)
	default:
		r.late++
	}
}

// secondP95 returns the p95 so far of requests intended in second s.
func (r *recorder) secondP95(s int) time.Duration {
	r.mu.Lock()
	defer r.mu.Unlock()
	if h := r.secs[s].hist; h != nil {
		return usToDuration(h.ValueAtQuantile(95))
	}
	return 0
}

func (r *recorder) totals() (done, errors int64) {
	r.mu.Lock()
	defer r.mu.Unlock()
	return r.doneAll, r.errorsAll
}

// fill copies the measured figures into res, templates by the names given;
// call it after every request ended.
func (r *recorder) fill(res *Result, names []string) {
	res.Completed, res.Errors = r.completed, r.errors
	res.TimedOutByTarget = append([]int64(nil), r.timedOut...)
	res.Latency, res.SendLag = r.lat, r.lag
	res.OnTime, res.Late = r.latOn, r.late
	res.ByStatus = map[string]int64{}
	for code, n := range r.codes {
		if n > 0 {
			res.ByStatus[strconv.Itoa(code)] = n
		}
	}
	for key, n := range map[string]int64{"error": r.transport, "timeout": r.timeouts, "canceled": r.canceled} {
		if n > 0 {
			res.ByStatus[key] = n
		}
	}
	res.Templates = names
	res.ByTemplate = make(map[string]*TemplateStats, len(names))
	for i, name := range names {
		st := r.tmpls[i]
		res.ByTemplate[name] = &TemplateStats{Count: st.count, Errors: st.errors, Planned: st.planned, FellBack: st.fellBack, NotOK: st.notOK, Strays: st.strays, Latency: st.lat}
	}
}
