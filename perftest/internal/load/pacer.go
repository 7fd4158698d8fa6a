package load

import (
	"fmt"
	"math"
	"strconv"
	"strings"
	"time"

	"github.com/perfgate/perfgate/thresholds"
)

// A Pacer decides when the next request is due, given the time elapsed since
// the start of the load and the number of requests already due before.
type Pacer interface {
	// Pace returns how long to wait before the next request is due, or stop
	// when no more requests are due.
	Pace(elapsed time.Duration, hits uint64) (wait time.Duration, stop bool)
}

// A Stage ramps the arrival rate linearly from the previous stage's target
// (0 before the first stage) to Target requests per second over Duration.
// A stage with a zero Duration is a step to its Target. It is the spec's
// stage: the ramp's maths lives once, in thresholds.Load.
type Stage = thresholds.Stage

// RampPacer paces requests at a piecewise-linear arrival rate made of Stages.
// Request n (counted from 0) is due at the moment the integral of the rate
// reaches n+1, so the number due by time t is the floor of that integral.
type RampPacer struct {
	Stages []Stage
	// Burst, above 1, sends arrivals in groups that many at once: each
	// is due when the first of its group is, so the mean rate is the same.
	Burst int
}

var _ Pacer = RampPacer{}

// hitEpsilon absorbs float rounding in the integral, so that a plan of exactly
// 1500 requests does not lose the last one to 1499.9999999.
const hitEpsilon = 1e-6

// Pace implements Pacer.
func (p RampPacer) Pace(elapsed time.Duration, hits uint64) (time.Duration, bool) {
	at, ok := p.hitTime(hits)
	if !ok {
		return 0, true
	}
	if at <= elapsed {
		return 0, false
	}
	return at - elapsed, false
}

// Rate returns the arrival rate in requests per second at elapsed, and 0
// before the start and from the end of the last stage on.
func (p RampPacer) Rate(elapsed time.Duration) float64 {
	return thresholds.Load{Stages: p.Stages}.RateAt(elapsed)
}

// Total returns the number of requests the stages call for: the integral of
// the rate over all stages.
func (p RampPacer) Total() float64 {
	return p.hitsBy(p.Duration())
}

// Duration returns the summed duration of all stages.
func (p RampPacer) Duration() time.Duration {
	var d time.Duration
	for _, s := range p.Stages {
		d += s.Duration
	}
	return d
}

// String describes the stages, e.g. "Ramp{0→100/s in 10s, 100→100/s in 30s}".
func (p RampPacer) String() string {
	var b strings.Builder
	b.WriteString("Ramp{")
	prev := 0.0
	for i, s := range p.Stages {
		if i > 0 {
			b.WriteString(", ")
		}
		fmt.Fprintf(&b, "%s→%s/s in %s", fmtRate(prev), fmtRate(s.Target), s.Duration)
		prev = s.Target
	}
	b.WriteString("}")
	return b.String()
}

func fmtRate(r float64) string { return strconv.FormatFloat(r, 'f', -1, 64) }

// hitsBy returns the integral of the rate from 0 to t: how many requests are
// due by t, as a real number.
func (p RampPacer) hitsBy(t time.Duration) float64 {
	return thresholds.Load{Stages: p.Stages}.Requests(0, t)
}

// hitTime returns when request n (from 0) is due, or false when the stages
// call for fewer than n+1 requests.
func (p RampPacer) hitTime(n uint64) (time.Duration, bool) {
	at, ok := p.evenTime(n)
	if ok && p.Burst > 1 {
		at, ok = p.evenTime(n - n%uint64(p.Burst))
	}
	return at, ok
}

// evenTime is when request n is due with no bursts: when the integral of
// the rate reaches n+1.
func (p RampPacer) evenTime(n uint64) (time.Duration, bool) {
	h := float64(n) + 1
	var start time.Duration
	prev, cum := 0.0, 0.0
	for _, s := range p.Stages {
		d := s.Duration.Seconds()
		area := (prev + s.Target) / 2 * d
		if area > 0 && h <= cum+area+hitEpsilon {
			x := h - cum
			slope := (s.Target - prev) / d
			// Solve prev*tau + slope*tau²/2 = x in the form that stays stable
			// when slope is zero or negative.
			disc := prev*prev + 2*slope*x
			if disc < 0 {
				disc = 0
			}
			tau := 2 * x / (prev + math.Sqrt(disc))
			if !(tau <= d) { // also catches NaN
				tau = d
			}
			if tau < 0 {
				tau = 0
			}
			return start + time.Duration(tau*float64(time.Second)), true
		}
		cum += area
		start += s.Duration
		prev = s.Target
	}
	return 0, false
}

// validate reports every stage that cannot be paced.
func (p RampPacer) validate() []error {
	var errs []error
	if len(p.Stages) == 0 {
		return []error{fmt.Errorf("Stages: at least one stage is needed")}
	}
	for i, s := range p.Stages {
		if s.Duration < 0 {
			errs = append(errs, fmt.Errorf("Stages[%d].Duration: %s must not be negative", i, s.Duration))
		}
		if math.IsNaN(s.Target) || math.IsInf(s.Target, 0) || s.Target < 0 {
			errs = append(errs, fmt.Errorf("Stages[%d].Target: %v must be a finite rate ≥ 0", i, s.Target))
		}
	}
	if len(errs) == 0 && p.Duration() <= 0 {
		errs = append(errs, fmt.Errorf("Stages: total duration must be > 0"))
	}
	if len(errs) == 0 && p.Total() < 1 {
		errs = append(errs, fmt.Errorf("Stages: %s calls for %.2f requests; at least 1 is needed", p, p.Total()))
	}
	return errs
}
