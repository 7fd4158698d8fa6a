package units

import "math"

// Scaler shows values of one unit in one scale, such as every label of an axis.
type Scaler struct {
	Unit   Unit
	Factor float64 // base units per unit shown: 1e-3 for ms, 1<<20 for MiB, 0.01 for %
	Suffix string  // what follows the number: "ms", "MiB", "%", "/s"
}

// Scale is v in the scaler's unit: 0.02 seconds is 20 for milliseconds.
func (s Scaler) Scale(v float64) float64 { return v / s.Factor }

// Format renders v in the scaler's unit with Digits significant digits:
// "0.5ms" where Unit.Format would pick "500µs", and "90s" where it would
// write "1m30s". Zero and values that are not finite read as Unit.Format
// writes them: "0s", "NaN".
func (s Scaler) Format(v float64) string {
	if v == 0 || math.IsNaN(v) || math.IsInf(v, 0) {
		return s.Unit.Format(v)
	}
	return number(v/s.Factor, Digits) + s.Suffix
}

// CommonScale is the one scale in which u.Format would show the largest of
// values (by magnitude), so the set reads in one unit: for an axis from 0 to
// 1.5ms it is milliseconds. Without a finite value it is the base unit's.
func CommonScale(u Unit, values ...float64) Scaler {
	hi := 0.0
	for _, v := range values {
		if !math.IsNaN(v) && !math.IsInf(v, 0) {
			hi = math.Max(hi, math.Abs(v))
		}
	}
	scales := u.scales()
	if hi == 0 {
		return scales[u.base()]
	}
	best := scales[0]
	for _, s := range scales {
		if hi >= s.Factor {
			best = s
		}
	}
	return best
}

// scaleTable holds the scales of each unit this package knows, smallest first.
var scaleTable = map[Unit][]Scaler{
	Seconds:    {{Seconds, 1e-9, "ns"}, {Seconds, 1e-6, "µs"}, {Seconds, 1e-3, "ms"}, {Seconds, 1, "s"}},
	Bytes:      {{Bytes, 1, "B"}, {Bytes, 1 << 10, "KiB"}, {Bytes, 1 << 20, "MiB"}, {Bytes, 1 << 30, "GiB"}, {Bytes, 1 << 40, "TiB"}},
	Ratio:      {{Ratio, 0.01, "%"}},
	PerSecond:  {{PerSecond, 1, "/s"}},
	None:       {{None, 1, ""}},
	BytesPer1k: {{BytesPer1k, 1, "B/1k"}, {BytesPer1k, 1 << 10, "KiB/1k"}, {BytesPer1k, 1 << 20, "MiB/1k"}, {BytesPer1k, 1 << 30, "GiB/1k"}},
	Per1k:      {{Per1k, 1, "/1k"}},
	Waited:     {{Waited, 1e-9, "ns"}, {Waited, 1e-6, "µs"}, {Waited, 1e-3, "ms"}, {Waited, 1, "s"}},
	"":         {{"", 1, ""}},
}

// scales are the scales u is shown in, smallest first.
func (u Unit) scales() []Scaler {
	if s, ok := scaleTable[u]; ok {
		return s
	}
	return []Scaler{{Unit: u, Factor: 1, Suffix: " " + string(u)}} // a unit this package does not know
}

// base is the index in scales of the base unit's own scale, where zero is shown.
func (u Unit) base() int {
	for i, s := range u.scales() {
		if s.Factor == 1 {
			return i
		}
	}
	return 0
}
