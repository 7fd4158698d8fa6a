package compare

import (
	"fmt"
	"math"

	"github.com/perfgate/perfgate/thresholds/units"
)

// Noise is what an A/A run (the baseline against itself) says about one metric on
// this runner, at this alpha and number of rounds.
//
// Spread is the largest change between any round of one slot and any round of the
// other: how far apart two runs of the same build land here.
//
// MinDetectable is the smallest shift that would have moved this run's 1-alpha
// interval of Delta clear of no change, up or down, whichever is larger. A real
// change of about this size is significant in roughly half of the runs; a smaller one
// mostly reads "~", so a budget below MinDetectable is tighter than the runner can
// enforce: it fails only when the noise happens to line up. It is an estimate from
// one run, +Inf when the rounds are too few for an interval.
type Noise struct {
	Metric        string
	Unit          units.Unit
	N             int // rounds per slot
	Spread        float64
	MinDetectable float64
	P             float64 // the A/A test; below alpha means the slots differ: suspect order effects
	Why           string
}

// Calibrate measures the noise of each metric from A/A samples: Baseline and
// Candidate are two slots of the same build run in the same interleaved order.
func Calibrate(samples []Samples, o Options) []Noise {
	out := make([]Noise, 0, len(samples))
	for _, s := range samples {
		n := Noise{Metric: s.Metric, Unit: s.Unit, N: min(len(s.Baseline), len(s.Candidate)),
			Spread: math.Inf(1), MinDetectable: math.Inf(1), P: math.NaN()}
		if bad := badAlpha(o.Alpha); bad != "" {
			n.Why = s.Metric + ": " + bad
			out = append(out, n)
			continue
		}
		r, err := measure(s, o.Alpha)
		if err != "" {
			n.Why = s.Metric + ": " + err
			out = append(out, n)
			continue
		}
		n.P = r.P
		n.Spread = spread(s)
		n.MinDetectable = detectable(r.DeltaLo, r.DeltaHi, s)
		switch {
		case math.IsInf(n.MinDetectable, 0):
			n.Why = fmt.Sprintf("%s: rounds differ by up to %s; %d rounds are too few for an interval at α=%v",
				s.Metric, s.Unit.FormatMagnitude(n.Spread), n.N, o.Alpha)
		default:
			n.Why = fmt.Sprintf("%s: rounds of one build differ by up to %s; a change under %s mostly reads ~ at α=%v with %d rounds",
				s.Metric, s.Unit.FormatMagnitude(n.Spread), s.Unit.FormatMagnitude(n.MinDetectable), o.Alpha, n.N)
		}
		if r.Significant {
			n.Why += fmt.Sprintf("; the two slots differ (%s), so suspect the order of rounds or a drifting runner", FormatP(r.P))
		}
		out = append(out, n)
	}
	return out
}

// spread is the largest |change| between a round of one slot and a round of the other.
func spread(s Samples) float64 {
	m := 0.0
	for _, b := range s.Baseline {
		for _, c := range s.Candidate {
			m = max(m, math.Abs(change(b, c, s.Unit)))
		}
	}
	return m
}

// detectable is the shift that moves the interval [lo, hi] of Delta clear of 0 in
// either direction. A ratio shifts multiplicatively: a factor f turns 1+lo into
// (1+lo)·f, which passes 1 when f > 1/(1+lo); points shift by addition.
func detectable(lo, hi float64, s Samples) float64 {
	if math.IsInf(lo, 0) || math.IsInf(hi, 0) || math.IsNaN(lo) || math.IsNaN(hi) {
		return math.Inf(1)
	}
	var up, down float64
	if s.Unit.Absolute() {
		up, down = -lo, hi
	} else {
		if lo <= -1 {
			return math.Inf(1) // a round at 0 in the candidate slot: no factor clears it
		}
		up, down = 1/(1+lo)-1, 1-1/(1+hi)
	}
	// An interval already clear of 0 (the A/A slots differ) detects any shift: 0.
	return max(up, down, 0)
}
