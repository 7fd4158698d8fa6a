package compare

import (
	"math"

	"github.com/aclements/go-moremath/stats"
)

// Count is how many of a round's requests were events (errors) out of how many trials (requests planned).
type Count struct{ Events, Trials int64 }

// pooled sums the counts of all rounds of one build.
func pooled(cs []Count) Count {
	var t Count
	for _, c := range cs {
		t.Events += c.Events
		t.Trials += c.Trials
	}
	return t
}

// fisher is the two-sided Fisher exact test of two proportions: the
// probability, with both totals fixed, of a split at least as unlikely as the
// one observed (R's fisher.test). The hypergeometric distribution is
// go-moremath's.
func fisher(base, cand Count) float64 {
	events := base.Events + cand.Events
	if events == 0 || events == base.Trials+cand.Trials {
		return 1 // nothing to tell apart
	}
	d := stats.HypergeometicDist{N: int(base.Trials + cand.Trials), K: int(events), Draws: int(cand.Trials)}
	observed := d.PMF(float64(cand.Events))
	lo, hi := max(0, int(events)-int(base.Trials)), min(int(events), int(cand.Trials))
	p := 0.0
	for k := lo; k <= hi; k++ {
		if pk := d.PMF(float64(k)); pk <= observed*(1+1e-7) {
			p += pk
		}
	}
	return min(1, p)
}

// wilson is the Wilson score interval of a proportion at confidence 1-alpha.
func wilson(c Count, alpha float64) (lo, hi float64) {
	if c.Trials == 0 {
		return math.NaN(), math.NaN()
	}
	z := stats.NormalDist{Mu: 0, Sigma: 1}.InvCDF(1 - alpha/2)
	n, p := float64(c.Trials), float64(c.Events)/float64(c.Trials)
	mid := (p + z*z/(2*n)) / (1 + z*z/n)
	half := z / (1 + z*z/n) * math.Sqrt(p*(1-p)/n+z*z/(4*n*n))
	return max(0, mid-half), min(1, mid+half)
}

// newcombe is the interval of the difference cand - base of two proportions
// from their Wilson intervals (Newcombe 1998, method 10).
func newcombe(base, cand Count, alpha float64) (lo, hi float64) {
	pb, pc := share(base), share(cand)
	lb, ub := wilson(base, alpha)
	lc, uc := wilson(cand, alpha)
	d := pc - pb
	return d - math.Sqrt((pc-lc)*(pc-lc)+(ub-pb)*(ub-pb)), d + math.Sqrt((uc-pc)*(uc-pc)+(pb-lb)*(pb-lb))
}

func share(c Count) float64 {
	if c.Trials == 0 {
		return math.NaN()
	}
	return float64(c.Events) / float64(c.Trials)
}
