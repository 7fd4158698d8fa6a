package thresholds

import (
	"fmt"
	"math"
)

// Notes are what a spec allows but a reader should know: each a sentence
// led by the file and the line of the field it is about. They never fail
// a check.
func (s *Spec) Notes() []string {
	var out []string
	buckets := s.ServiceOrDefault().Metrics.Buckets
	for _, slo := range s.SLOs {
		if slo.Metric != Latency || len(buckets) == 0 {
			continue
		}
		for _, b := range []struct {
			name  string
			limit *float64
		}{{"max", slo.Max}, {"min", slo.Min}} {
			if b.limit == nil {
				continue
			}
			lo, hi, inside := bucketAround(buckets, *b.limit)
			if !inside {
				continue
			}
			span := fmt.Sprintf("(%s, %s]", Seconds.Format(lo), Seconds.Format(hi))
			fix := fmt.Sprintf("put the limit on %s or %s", Seconds.Format(lo), Seconds.Format(hi))
			if math.IsInf(hi, 1) {
				span, fix = "beyond "+Seconds.Format(lo), "put the limit at or below "+Seconds.Format(lo)
			}
			out = append(out, fmt.Sprintf("%s:%d:%d: slo %q: %s %s falls inside the latency histogram's bucket %s (service.metrics.buckets): "+
				"a p%s in that bucket can only read \"cannot tell\", which is inconclusive; %s",
				s.File, slo.Line, slo.Col, slo.Name, b.name, Seconds.Format(*b.limit), span, quantileName(slo.Quantile), fix))
		}
	}
	return out
}

// bucketAround is the bucket (lo, hi] of the sorted upper bounds that holds
// v, and whether v lies strictly inside it rather than on a bound.
func bucketAround(bounds []float64, v float64) (lo, hi float64, inside bool) {
	lo = 0
	for _, b := range bounds {
		if sameBound(b, v) {
			return 0, 0, false
		}
		if v < b {
			return lo, b, true
		}
		lo = b
	}
	return lo, math.Inf(1), true
}

// sameBound compares bucket bounds written in different units (0.1 and 100ms).
func sameBound(a, b float64) bool { return math.Abs(a-b) <= 1e-9*math.Max(math.Abs(a), math.Abs(b)) }

func quantileName(q float64) string { return fmt.Sprint(math.Round(q*1000) / 10) }
