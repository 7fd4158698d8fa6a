package compare

import (
	"fmt"
	"math"
	"slices"
)

// Trend is what a growth judged by its trend reads: a gauge's level at the
// end of each pair's rounds, in the order the pairs ran, and the requests
// each build had served by then.
//
// Some gauges grow in steps: a resident set is a high-water mark that rises
// when the heap outgrows what the process already holds and falls when
// memory goes back to the system. A leak then shows in a few rounds, not in
// every one, and a test of round against round cannot see it (a leak of
// 181 bytes a request read p = 0.16 that way); the levels over the whole
// run still climb with every request. Both builds run at the same time
// (duets), so the difference of their levels cancels what both do (their
// warm-up), and its trend against the requests served is the extra each
// request keeps.
type Trend struct {
	BaselineLevels, CandidateLevels []float64
	BaselineServed, CandidateServed []float64
}

// Add appends one round's level and requests served to its build's side.
func (t *Trend) Add(baseline bool, level, served float64) {
	if baseline {
		t.BaselineLevels, t.BaselineServed = append(t.BaselineLevels, level), append(t.BaselineServed, served)
	} else {
		t.CandidateLevels, t.CandidateServed = append(t.CandidateLevels, level), append(t.CandidateServed, served)
	}
}

// measureTrend compares a growth by the trend of the difference of the two
// builds' levels: Delta is its Theil–Sen slope per 1,000 requests with Sen's
// distribution-free interval, P the two-sided Mann–Kendall test of that
// difference against no trend. Each build's own slope is its summary.
func measureTrend(r Row, s Samples, alpha float64) (Row, string) {
	t := s.Trend
	n := len(t.BaselineLevels)
	if len(t.CandidateLevels) != n || len(t.BaselineServed) != n || len(t.CandidateServed) != n {
		return r, fmt.Sprintf("levels of %d baseline and %d candidate rounds, requests served by %d and %d: the trend needs all four for every pair",
			n, len(t.CandidateLevels), len(t.BaselineServed), len(t.CandidateServed))
	}
	for _, side := range []struct {
		name           string
		levels, served []float64
	}{{"baseline", t.BaselineLevels, t.BaselineServed}, {"candidate", t.CandidateLevels, t.CandidateServed}} {
		var bad []string
		for i := range n {
			if !finite(side.levels[i]) || !finite(side.served[i]) {
				bad = append(bad, fmt.Sprint(i+1))
			}
		}
		if len(bad) > 0 {
			return r, fmt.Sprintf("no level or no count of requests served at the end of %s %s of %d: a missing value is never a pass", side.name, rounds(bad), n)
		}
		for i := 1; i < n; i++ {
			if side.served[i] <= side.served[i-1] {
				return r, fmt.Sprintf("the %s served no more requests by the end of round %d than of round %d: a counter was reset, so there is no trend to read", side.name, i+1, i)
			}
		}
	}
	if kendallMinP(n) >= alpha {
		return r, fmt.Sprintf("too few samples: %d pairs of rounds cannot show a trend at α=%v", n, alpha)
	}
	served := make([]float64, n)
	diff := make([]float64, n)
	for i := range n {
		served[i] = (t.BaselineServed[i] + t.CandidateServed[i]) / 2 // one request stream: they differ by the odd failure
		diff[i] = t.CandidateLevels[i] - t.BaselineLevels[i]
	}
	perK := func(est, lo, hi float64) (float64, float64, float64) { return 1000 * est, 1000 * lo, 1000 * hi }
	bc, blo, bhi := perK(senSlope(t.BaselineServed, t.BaselineLevels, alpha))
	cc, clo, chi := perK(senSlope(t.CandidateServed, t.CandidateLevels, alpha))
	r.Baseline = Summary{bc, blo, bhi, n}
	r.Candidate = Summary{cc, clo, chi, n}
	r.Test = TestTrend
	r.P = mannKendall(diff)
	r.Significant = r.P < alpha
	r.Delta, r.DeltaLo, r.DeltaHi = perK(senSlope(served, diff, alpha))
	return r, ""
}

func finite(v float64) bool { return !math.IsNaN(v) && !math.IsInf(v, 0) }

// senSlope is the Theil–Sen estimate of y's slope against x (the median of
// the slopes between every two points) and Sen's interval at 1-alpha: the
// slopes ranked k+1 from either end, where Kendall's distribution puts
// alpha/2 on k discordances or fewer. x must increase. ±Inf when the points
// are too few for an interval.
func senSlope(x, y []float64, alpha float64) (est, lo, hi float64) {
	var slopes []float64
	for i := range x {
		for j := i + 1; j < len(x); j++ {
			slopes = append(slopes, (y[j]-y[i])/(x[j]-x[i]))
		}
	}
	if len(slopes) == 0 {
		return math.NaN(), math.Inf(-1), math.Inf(1)
	}
	slices.Sort(slopes)
	m := len(slopes)
	est = (slopes[(m-1)/2] + slopes[m/2]) / 2
	cdf := inversionCDF(len(x))
	k := -1
	for k+1 < len(cdf) && cdf[k+1] <= alpha/2 {
		k++
	}
	if k < 0 {
		return est, math.Inf(-1), math.Inf(1)
	}
	return est, slopes[k], slopes[m-1-k]
}

// mannKendall is the two-sided p-value of the Mann–Kendall test of y, in
// order, against no trend: S, the pairs that rise minus those that fall,
// against its exact distribution without ties, which is Kendall's number of
// inversions of a random order. A tie counts neither way; ties narrow S's
// true distribution, so reading them against the untied one errs towards
// "no trend", never towards a false alarm.
func mannKendall(y []float64) float64 {
	n := len(y)
	s := 0
	for i := range n {
		for j := i + 1; j < n; j++ {
			switch {
			case y[j] > y[i]:
				s++
			case y[j] < y[i]:
				s--
			}
		}
	}
	if n < 2 {
		return 1
	}
	// |S| or more away from 0 is inversions ≤ (N − |S|)/2, or as many from the top.
	N := n * (n - 1) / 2
	if s < 0 {
		s = -s
	}
	return math.Min(1, 2*inversionCDF(n)[(N-s)/2])
}

// kendallMinP is the smallest two-sided p of the Mann–Kendall test over n
// points: all in order, 2/n!.
func kendallMinP(n int) float64 {
	if n < 2 {
		return 1
	}
	return math.Min(1, 2*inversionCDF(n)[0])
}

// inversionCDF is P(inversions ≤ k) of a random order of n items, for k
// from 0 to n(n−1)/2: the n-th item adds 0 to n−1 inversions, each as
// likely.
func inversionCDF(n int) []float64 {
	p := []float64{1}
	for m := 2; m <= n; m++ {
		next := make([]float64, len(p)+m-1)
		run := 0.0 // sum of p over the window [k−m+1, k]
		for k := range next {
			if k < len(p) {
				run += p[k]
			}
			if k-m >= 0 {
				run -= p[k-m]
			}
			next[k] = run / float64(m)
		}
		p = next
	}
	for k := 1; k < len(p); k++ {
		p[k] += p[k-1]
	}
	return p
}
