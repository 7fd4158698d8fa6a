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
}

// Quantiles reads quantile q per instance from BucketsQuery's samples, with
// histogram_quantile's rules: buckets sorted by le, counts made monotonic,
// the first bucket starting at 0. Unlike histogram_quantile it keeps the
// bucket, so a limit inside it is never judged on the interpolation, which can
// be wrong by the bucket's whole width.
func Quantiles(samples []Sample, q float64) ([]Bound, error) {
	type bucket struct{ le, n float64 }
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
		nan := math.NaN()
		b := Bound{Instance: inst, Est: nan, Lo: nan, Hi: nan}
		if !math.IsInf(bs[len(bs)-1].le, 1) {
			return nil, fmt.Errorf("buckets of %q have no +Inf bucket: not a complete histogram", inst)
		}
		for i := 1; i < len(bs); i++ { // counts are cumulative: scrape races can break that
			bs[i].n = max(bs[i].n, bs[i-1].n)
		}
		b.Total = bs[len(bs)-1].n
		if !(b.Total > 0) || math.IsNaN(q) || q < 0 || q > 1 {
			out = append(out, b)
			continue
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
		out = append(out, b)
	}
	return out, nil
}
