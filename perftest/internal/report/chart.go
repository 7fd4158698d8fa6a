package report

import (
	"fmt"
	"io"
	"math"
	"strconv"
	"strings"
)

// maxChartPoints keeps a chart legible and a PR comment small.
const maxChartPoints = 60

// bucket is a span of consecutive timeline points drawn as one.
type bucket struct {
	T          float64 // start of the span
	TargetRate float64 // mean
	Rate       float64 // mean
	P50        float64 // worst second, like P95
	P95        float64 // worst second: a spike must not average away
	P99        float64 // worst second, like P95
	CPU        float64 // mean of the known seconds; NaN when none is known
	Errors     float64 // mean per second
}

// downsample merges points into at most n buckets of equal width.
func downsample(points []Point, n int) []bucket {
	if len(points) == 0 {
		return nil
	}
	size := (len(points) + n - 1) / n
	var out []bucket
	for start := 0; start < len(points); start += size {
		span := points[start:min(start+size, len(points))]
		b := bucket{T: span[0].T, CPU: math.NaN()}
		var cpuSum float64
		var cpuN int
		for _, p := range span {
			b.TargetRate += p.TargetRate
			b.Rate += p.Rate
			b.Errors += float64(p.Errors)
			b.P50, b.P95, b.P99 = max(b.P50, p.P50), max(b.P95, p.P95), max(b.P99, p.P99)
			if !math.IsNaN(p.CPU) && !math.IsInf(p.CPU, 0) {
				cpuSum += p.CPU
				cpuN++
			}
		}
		k := float64(len(span))
		b.TargetRate /= k
		b.Rate /= k
		b.Errors /= k
		if cpuN > 0 {
			b.CPU = cpuSum / float64(cpuN)
		}
		out = append(out, b)
	}
	return out
}

// series is one bar or line of an xychart.
type series struct {
	kind   string // "bar" or "line"
	values []float64
}

// xychart writes one mermaid xychart-beta block. The x axis is numeric:
// mermaid spreads the values evenly from "from" to "to", so the two must be
// whole seconds apart by a whole step to place every value exactly.
func xychart(w io.Writer, title, yTitle string, from, to float64, ss ...series) {
	top := 0.0
	for _, s := range ss {
		for _, v := range s.values {
			if !math.IsNaN(v) && v > top {
				top = v
			}
		}
	}
	fmt.Fprintf(w, "```mermaid\nxychart-beta\n")
	fmt.Fprintf(w, "    title %s\n", quote(title))
	fmt.Fprintf(w, "    x-axis %s %s --> %s\n", quote("seconds since load start"), data(from), data(to))
	fmt.Fprintf(w, "    y-axis %s 0 --> %s\n", quote(yTitle), data(niceCeil(top*1.1)))
	for _, s := range ss {
		vals := make([]string, len(s.values))
		for i, v := range s.values {
			vals[i] = data(v)
		}
		fmt.Fprintf(w, "    %s [%s]\n", s.kind, strings.Join(vals, ", "))
	}
	fmt.Fprintf(w, "```\n\n")
}

// quote makes a mermaid string, which has no escapes: a double quote would end it.
func quote(s string) string {
	return `"` + strings.ReplaceAll(strings.Join(strings.Fields(s), " "), `"`, "'") + `"`
}

// niceCeil rounds v up to a round number (1, 1.2, 1.5, 2, 2.5, 3, 4, 5, 6 or
// 8 times a power of ten), so the y axis reads well without much empty space.
func niceCeil(v float64) float64 {
	if !(v > 0) || math.IsInf(v, 0) {
		return 1
	}
	exp := math.Pow(10, math.Floor(math.Log10(v)))
	for _, m := range []float64{1, 1.2, 1.5, 2, 2.5, 3, 4, 5, 6, 8, 10} {
		if m*exp >= v*(1-1e-12) {
			return m * exp
		}
	}
	return 10 * exp
}

// data formats a chart value with four significant digits, at most three
// decimals: enough for a chart, short enough for a comment.
func data(v float64) string {
	if math.IsNaN(v) || math.IsInf(v, 0) || v == 0 {
		return "0"
	}
	decimals := min(max(3-int(math.Floor(math.Log10(math.Abs(v)))), 0), 3)
	s := strconv.FormatFloat(v, 'f', decimals, 64)
	if strings.Contains(s, ".") {
		s = strings.TrimSuffix(strings.TrimRight(s, "0"), ".")
	}
	if s == "-0" {
		return "0"
	}
	return s
}

// filled carries the last known value over unknown ones (and the first known
// value back over a leading gap); ok is false when nothing is known.
func filled(vs []float64) (out []float64, ok bool) {
	out = make([]float64, len(vs))
	last := math.NaN()
	for _, v := range vs {
		if !math.IsNaN(v) {
			last = v
			break
		}
	}
	if math.IsNaN(last) {
		return nil, false
	}
	for i, v := range vs {
		if !math.IsNaN(v) {
			last = v
		}
		out[i] = last
	}
	return out, true
}
