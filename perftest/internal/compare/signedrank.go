package compare

import (
	"math"
	"slices"
	"sort"
	"sync"
)

// The paired test. Rounds are run in pairs that replay one request sequence
// at the same time, so what the machine does meanwhile cancels within a
// pair. Each pair gives one log-ratio d = ln(candidate/baseline); the Wilcoxon
// signed-rank test asks whether the d are symmetric about 0, and the
// Hodges–Lehmann estimate (the median of the Walsh averages (dᵢ+dⱼ)/2) with
// Tukey's distribution-free interval says by how much. Neither
// golang.org/x/perf nor go-moremath has the signed-rank test; the exact null
// distribution below is the textbook recursion, checked against R's
// psignrank in the tests.

// signedRank is the exact two-sided Wilcoxon signed-rank test of d against 0.
// Zeros are dropped (Wilcoxon's convention, R's default); ties get midranks,
// for which the exact distribution is computed over the doubled ranks.
// It returns p = 1 when every d is zero.
func signedRank(d []float64) (p float64) {
	var abs []float64
	var neg []bool
	for _, x := range d {
		if x != 0 {
			abs = append(abs, math.Abs(x))
			neg = append(neg, x < 0)
		}
	}
	n := len(abs)
	if n == 0 {
		return 1
	}
	ranks2 := doubledMidranks(abs) // 2 × rank, so midranks stay integers
	wplus := 0
	for i, r := range ranks2 {
		if !neg[i] {
			wplus += r
		}
	}
	dist := signedRankDist(ranks2) // probability of each doubled W+
	var lo, hi float64
	for w, pr := range dist {
		if w <= wplus {
			lo += pr
		}
		if w >= wplus {
			hi += pr
		}
	}
	return min(1, 2*min(lo, hi))
}

// doubledMidranks ranks xs (ascending, ties sharing their mean rank) and returns 2 × each rank.
func doubledMidranks(xs []float64) []int {
	idx := make([]int, len(xs))
	for i := range idx {
		idx[i] = i
	}
	sort.SliceStable(idx, func(a, b int) bool { return xs[idx[a]] < xs[idx[b]] })
	out := make([]int, len(xs))
	for i := 0; i < len(idx); {
		j := i
		for j+1 < len(idx) && xs[idx[j+1]] == xs[idx[i]] {
			j++
		}
		r2 := i + 1 + j + 1 // 2 × mean of ranks i+1..j+1
		for k := i; k <= j; k++ {
			out[idx[k]] = r2
		}
		i = j + 1
	}
	return out
}

// signedRankDist is the null distribution of the doubled W+ for these doubled
// ranks: each rank is positive with probability ½, independently.
func signedRankDist(ranks2 []int) []float64 {
	total := 0
	for _, r := range ranks2 {
		total += r
	}
	dist := make([]float64, total+1)
	dist[0] = 1
	top := 0
	for _, r := range ranks2 {
		for w := top; w >= 0; w-- {
			if dist[w] != 0 {
				dist[w+r] += dist[w] / 2
				dist[w] /= 2
			}
		}
		top += r
	}
	return dist
}

var critCache sync.Map // [2]any{n, alpha} → int

// tukeyCut is C, the rank of the lower end of the 1-alpha interval among the
// n(n+1)/2 sorted Walsh averages: the largest c with P(T+ ≤ c-1) ≤ alpha/2
// under the untied null distribution, so that the interval leaves out 0 exactly
// when the two-sided test has p ≤ alpha. 0 means no finite interval.
func tukeyCut(n int, alpha float64) int {
	key := [2]any{n, alpha}
	if c, ok := critCache.Load(key); ok {
		return c.(int)
	}
	ranks2 := make([]int, n)
	for i := range ranks2 {
		ranks2[i] = 2 * (i + 1)
	}
	dist := signedRankDist(ranks2)
	c, cum := 0, 0.0
	for t := 0; 2*t < len(dist); t++ { // T+ = t has doubled value 2t
		cum += dist[2*t]
		if cum > alpha/2 {
			break
		}
		c = t + 1
	}
	critCache.Store(key, c)
	return c
}

// hodgesLehmann is the median of the Walsh averages of d and its 1-alpha
// interval; the interval is ±Inf when there are too few pairs for one.
func hodgesLehmann(d []float64, alpha float64) (est, lo, hi float64) {
	n := len(d)
	walsh := make([]float64, 0, n*(n+1)/2)
	for i := range d {
		for j := i; j < n; j++ {
			walsh = append(walsh, (d[i]+d[j])/2)
		}
	}
	slices.Sort(walsh)
	m := len(walsh)
	if m%2 == 1 {
		est = walsh[m/2]
	} else {
		est = (walsh[m/2-1] + walsh[m/2]) / 2
	}
	c := tukeyCut(n, alpha)
	if c == 0 {
		return est, math.Inf(-1), math.Inf(1)
	}
	return est, walsh[c-1], walsh[m-c]
}
