package verdict

import (
	"math"
	"strconv"
	"strings"
)

// Unit is the base unit of an objective's values, spelled as in the SLO spec.
type Unit string

const (
	UnitSeconds   Unit = "s"
	UnitRatio     Unit = "ratio"
	UnitBytes     Unit = "bytes"
	UnitPerSecond Unit = "1/s"
	UnitNone      Unit = "none"
)

// sigDigits is what a reader needs to compare an observation with its limit.
const sigDigits = 3

// Format renders v, given in base units, for people: "73.2ms", "1.25%",
// "81.4MiB", "118/s". A ratio is shown as a percentage, so CPU (cores as a
// ratio, 1.0 = one core) reads "85%". Three significant digits, trailing zeros
// dropped, integer digits never rounded away.
func Format(v float64, u Unit) string {
	return formatSig(v, u, sigDigits)
}

// formatPair renders an observation and its limit with as many digits as it
// takes to tell them apart, so a breach never reads "50ms > 50ms".
func formatPair(obs, limit float64, u Unit) (string, string) {
	for sig := sigDigits; ; sig++ {
		a, b := formatSig(obs, u, sig), formatSig(limit, u, sig)
		if a != b || obs == limit || sig >= 12 {
			return a, b
		}
	}
}

type scale struct {
	factor float64
	suffix string
}

var (
	secondScales = []scale{{1e-9, "ns"}, {1e-6, "µs"}, {1e-3, "ms"}, {1, "s"}}
	byteScales   = []scale{{1, "B"}, {1 << 10, "KiB"}, {1 << 20, "MiB"}, {1 << 30, "GiB"}, {1 << 40, "TiB"}}
)

func formatSig(v float64, u Unit, sig int) string {
	if math.IsNaN(v) {
		return "NaN"
	}
	if math.IsInf(v, 0) {
		if v > 0 {
			return "+Inf"
		}
		return "-Inf"
	}
	switch u {
	case UnitSeconds:
		return scaled(v, sig, secondScales)
	case UnitBytes:
		return scaled(v, sig, byteScales)
	case UnitRatio:
		return number(v*100, sig) + "%"
	case UnitPerSecond:
		return number(v, sig) + "/s"
	case UnitNone, "":
		return number(v, sig)
	default:
		return number(v, sig) + " " + string(u)
	}
}

// scaled picks the largest scale whose rounded value is at least 1, so that
// 999.96ms reads "1s", not "1000ms".
func scaled(v float64, sig int, scales []scale) string {
	if v == 0 {
		for _, s := range scales {
			if s.factor == 1 {
				return "0" + s.suffix
			}
		}
	}
	best := scales[0]
	for _, s := range scales {
		if math.Abs(roundSig(v/s.factor, sig)) >= 1 {
			best = s
		}
	}
	return number(v/best.factor, sig) + best.suffix
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
	decimals := sig - 1 - int(math.Floor(math.Log10(math.Abs(x))))
	if decimals < 0 {
		decimals = 0
	}
	s := strconv.FormatFloat(x, 'f', decimals, 64)
	if strings.Contains(s, ".") {
		s = strings.TrimRight(s, "0")
		s = strings.TrimSuffix(s, ".")
	}
	if s == "-0" {
		s = "0"
	}
	return s
}
