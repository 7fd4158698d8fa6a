package units

import (
	"math"
	"strconv"
	"strings"
	"time"
)

// Digits is how many significant digits Format shows: enough to compare an
// observation with its limit at a glance. Integer digits are never rounded
// away, so 1234567/s stays 1234567/s.
const Digits = 3

// Format renders v, given in u's base unit, for people: "73.2ms", "1.25%",
// "81.4MiB", "118/s". It picks the largest scale in which v keeps an integer
// part, so 999.96ms reads "1s", shows Digits significant digits and drops
// trailing zeros. A minute or more reads as a Go duration rounded to the
// second: 1m30s, 1h15m. Parse reads what it writes back as v rounded.
func (u Unit) Format(v float64) string { return u.format(v, Digits) }

// FormatPair renders v beside limit with as many digits as it takes to tell
// them apart, so a breach never reads "50ms > 50ms".
func (u Unit) FormatPair(v, limit float64) (string, string) {
	for sig := Digits; ; sig++ {
		a, b := u.format(v, sig), u.format(limit, sig)
		if a != b || v == limit || sig >= 12 {
			return a, b
		}
	}
}

// FormatDelta renders a change d with its sign: "+14.2%" of the baseline,
// "+0.12pp" in percentage points for a ratio, "+12KiB/1k" for a growth, "+20µs" for a wait; "+∞%"
// when the baseline was 0 and "n/a" for NaN.
func (u Unit) FormatDelta(d float64) string {
	switch {
	case math.IsNaN(d):
		return "n/a"
	case d == 0:
		return "0" + u.deltaSuffix()
	case d > 0:
		return "+" + u.FormatMagnitude(d)
	}
	return "-" + u.FormatMagnitude(d)
}

// FormatInterval renders the interval of a change: "[+8.1%, +19.7%]", or "±∞"
// when either end is unbounded.
func (u Unit) FormatInterval(lo, hi float64) string {
	switch {
	case math.IsNaN(lo) || math.IsNaN(hi):
		return "n/a"
	case math.IsInf(lo, 0) || math.IsInf(hi, 0):
		return "±∞"
	}
	return "[" + u.FormatDelta(lo) + ", " + u.FormatDelta(hi) + "]"
}

// FormatMagnitude renders the size of a change, |d|, without a sign: "3.2%"
// of the baseline, "0.5pp" for a ratio, or the difference itself for a
// growth or a wait ("12KiB/1k", "20µs"). One decimal, two below 1, so 0.5pp never reads 1pp.
func (u Unit) FormatMagnitude(d float64) string {
	d = math.Abs(d)
	if math.IsInf(d, 0) {
		return "∞" + u.deltaSuffix()
	}
	if u.Difference() {
		return u.Format(d)
	}
	pct := d * 100
	digits := 1
	if pct < 1 {
		digits = 2
	}
	return trim(strconv.FormatFloat(pct, 'f', digits, 64)) + u.deltaSuffix()
}

func (u Unit) deltaSuffix() string {
	switch {
	case u == Ratio:
		return "pp"
	case u.Difference():
		return u.scales()[u.base()].Suffix
	}
	return "%"
}

func (u Unit) format(v float64, sig int) string {
	switch {
	case math.IsNaN(v):
		return "NaN"
	case math.IsInf(v, 1):
		return "+Inf"
	case math.IsInf(v, -1):
		return "-Inf"
	}
	if (u == Seconds || u == Waited) && math.Abs(v) >= 60 && math.Abs(v) < 1e9 && (sig == Digits || v == math.Round(v)) {
		return clock(v)
	}
	scales := u.scales()
	if v == 0 {
		return "0" + scales[u.base()].Suffix
	}
	best := scales[0]
	for _, s := range scales {
		if math.Abs(roundSig(v/s.Factor, sig)) >= 1 {
			best = s
		}
	}
	return number(v/best.Factor, sig) + best.Suffix
}

// clock renders a minute or more as a Go duration rounded to the second,
// without zero tails: 1m30s, 1m, 1h15m, 2h0m5s.
func clock(v float64) string {
	s := time.Duration(math.Round(v) * 1e9).String()
	if t, ok := strings.CutSuffix(s, "m0s"); ok {
		s = t + "m"
	}
	if t, ok := strings.CutSuffix(s, "h0m"); ok {
		s = t + "h"
	}
	return s
}

func roundSig(x float64, sig int) float64 {
	r, _ := strconv.ParseFloat(number(x, sig), 64)
	return r
}

// number formats x with sig significant digits, but keeps every integer digit.
func number(x float64, sig int) string {
	if x == 0 {
		return "0"
	}
	decimals := max(sig-1-int(math.Floor(math.Log10(math.Abs(x)))), 0)
	s := trim(strconv.FormatFloat(x, 'f', decimals, 64))
	if s == "-0" {
		s = "0"
	}
	return s
}

// trim drops trailing zeros after a decimal point, and the point itself.
func trim(s string) string {
	if strings.Contains(s, ".") {
		s = strings.TrimSuffix(strings.TrimRight(s, "0"), ".")
	}
	return s
}
