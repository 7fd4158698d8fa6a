package compare

import (
	"fmt"
	"math"
	"strconv"
	"strings"

	"github.com/perfgate/perfgate/perftest/internal/verdict"
)

// FormatDelta renders a change with its sign: "+14.2%" for a ratio, "+0.12pp" in
// points for a ratio metric, "+∞%" when the baseline was 0.
func FormatDelta(d float64, u verdict.Unit) string {
	switch {
	case math.IsNaN(d):
		return "n/a"
	case d == 0:
		return "0" + suffix(u)
	case d > 0:
		return "+" + formatMagnitude(d, u)
	}
	return "-" + formatMagnitude(-d, u)
}

// FormatInterval renders the interval of a change: "[+8.1%, +19.7%]", or "±∞" when unbounded.
func FormatInterval(lo, hi float64, u verdict.Unit) string {
	switch {
	case math.IsNaN(lo) || math.IsNaN(hi):
		return "n/a"
	case math.IsInf(lo, 0) || math.IsInf(hi, 0):
		return "±∞"
	}
	return "[" + FormatDelta(lo, u) + ", " + FormatDelta(hi, u) + "]"
}

// FormatP renders a p-value the way benchstat does, "p=0.002", but never rounds a
// tiny one to zero: "p<0.001".
func FormatP(p float64) string {
	switch {
	case math.IsNaN(p):
		return "p=n/a"
	case p < 0.001:
		return "p<0.001"
	}
	return fmt.Sprintf("p=%.3f", p)
}

// formatMagnitude renders |d| as a percentage of the baseline, or in points.
func formatMagnitude(d float64, u verdict.Unit) string {
	if math.IsInf(d, 0) {
		return "∞" + suffix(u)
	}
	pct := d * 100
	digits := 1
	if pct < 1 {
		digits = 2 // 0.5pp must not read 1pp
	}
	s := strconv.FormatFloat(pct, 'f', digits, 64)
	if strings.Contains(s, ".") {
		s = strings.TrimSuffix(strings.TrimRight(s, "0"), ".")
	}
	return s + suffix(u)
}

func suffix(u verdict.Unit) string {
	if Points(u) {
		return "pp"
	}
	return "%"
}
