package promq

import (
	"fmt"
	"math"
	"slices"
	"strconv"
)

// Bound is a quantile read from cumulative histogram buckets: the true value
// lies in the bucket (Lo, Hi] that holds its rank, and Est is the linear
// interpolation inside it that histogram_quantile reports. Hi is +Inf when
// the rank lies beyond the largest finite bucket; all are NaN without requests.
type Bound struct {
	Instance     string
	Est, Lo, Hi  float64
	Count, Total float64 // requests at or below Hi, and in all
	// Unanswered is how many requests the client gave up on were counted in
	// (see QuantilesCounting); Lo and Hi then bound the quantile whatever
	// those requests would have taken.
	Unanswered float64
}

// Unanswered are requests the client gave up on after After seconds: the
// server's histogram never records them, yet each took longer than After.
// Certain of them belong to the series; Possible more may (the client cannot
// tell which instance or route a request it gave up on would have reached).
type Unanswered struct {
	Certain, Possible float64
	After             float64
}

type bucket struct{ le, n float64 }

// Quantiles reads quantile q per instance from BucketsQuery's samples, with
// histogram_quantile's rules: buckets sorted by le, counts made monotonic,
// the first bucket starting at 0. Unlike histogram_quantile it keeps the
// bucket, so a limit inside it is never judged on the interpolation, which can
// be wrong by the bucket's whole width.
func Quantiles(samples []Sample, q float64) ([]Bound, error) {
	return QuantilesCounting(samples, q, nil)
}

// QuantilesCounting is Quantiles with the requests the client gave up on
// counted in, per instance: a replica that hangs on one request in fifty
// has a p99 of at least the client's timeout, though its histogram holds
// only the forty-nine it answered. Lo is the quantile's bucket with them
// just above After, Hi with them all beyond every bucket: the two ends of
// what they may have taken. unanswered may be nil.
func QuantilesCounting(samples []Sample, q float64, unanswered func(instance string) Unanswered) ([]Bound, error) {
	by := map[string][]bucket{}
	var order []string
	for _, s := range samples {
		le, err := strconv.ParseFloat(s.Le, 64)
		if err != nil {
			return nil, fmt.Errorf("bucket series without a numeric le label (le=%q): not a histogram", s.Le)
		}
		if _, ok := by[s.Instance]; !ok {
			order = append(order, s.Instance)
		}
		by[s.Instance] = append(by[s.Instance], bucket{le, s.Value})
	}
	out := make([]Bound, 0, len(order))
	for _, inst := range order {
		bs := by[inst]
		slices.SortFunc(bs, func(a, b bucket) int {
			switch {
			case a.le < b.le:
				return -1
			case a.le > b.le:
				return 1
			}
			return 0
		})
		if !math.IsInf(bs[len(bs)-1].le, 1) {
			return nil, fmt.Errorf("buckets of %q have no +Inf bucket: not a complete histogram", inst)
		}
		for i := 1; i < len(bs); i++ { // counts are cumulative: scrape races can break that
			bs[i].n = max(bs[i].n, bs[i-1].n)
		}
		var u Unanswered
		if unanswered != nil {
			u = unanswered(inst)
		}
		if u.Certain+u.Possible <= 0 {
			b := quantileOf(bs, q)
			b.Instance = inst
			out = append(out, b)
			continue
		}
		worst, best := slices.Clone(bs), slices.Clone(bs)
		worst[len(worst)-1].n += u.Certain + u.Possible
		for i := range best {
			if best[i].le > u.After {
				best[i].n += u.Certain
			}
		}
		b := quantileOf(worst, q)
		b.Instance, b.Lo, b.Unanswered = inst, quantileOf(best, q).Lo, u.Certain+u.Possible
		out = append(out, b)
	}
	return out, nil
}

// quantileOf is quantile q of sorted, monotonic cumulative buckets ending at +Inf.
func quantileOf(bs []bucket, q float64) Bound {
	nan := math.NaN()
	b := Bound{Est: nan, Lo: nan, Hi: nan}
	b.Total = bs[len(bs)-1].n
	if !(b.Total > 0) || math.IsNaN(q) || q < 0 || q > 1 {
		return b
	}
	rank := q * b.Total
	i, _ := slices.BinarySearchFunc(bs, rank, func(x bucket, r float64) int {
		if x.n < r {
			return -1
		}
		return 1
	})
	i = min(i, len(bs)-1)
	lo, prev := 0.0, 0.0
	if i > 0 {
		lo, prev = bs[i-1].le, bs[i-1].n
	} else if bs[0].le <= 0 {
		lo = bs[0].le
	}
	b.Lo, b.Hi, b.Count = lo, bs[i].le, bs[i].n
	switch {
	case math.IsInf(b.Hi, 1):
		b.Est = b.Lo // histogram_quantile's answer: the largest finite bound
	case bs[i].n == prev:
		b.Est = b.Hi
	default:
		b.Est = lo + (b.Hi-lo)*(rank-prev)/(bs[i].n-prev)
	}
	return b
}
