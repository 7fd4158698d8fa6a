package thresholds

import (
	"errors"
	"math"
	"strconv"
	"strings"
	"time"
)

var (
	errSyntax    = errors.New("not a value in the expected unit")
	errNotFinite = errors.New("not a finite number")
)

// parseNumber reads a plain decimal number. NaN and infinities, in Go's or YAML's
// spelling (.nan, .inf), come back as errNotFinite so they can be refused by name.
func parseNumber(s string) (float64, error) {
	switch strings.ToLower(strings.TrimLeft(s, "+-")) {
	case ".nan", ".inf":
		return 0, errNotFinite
	}
	x, err := strconv.ParseFloat(s, 64)
	if errors.Is(err, strconv.ErrRange) && !math.IsInf(x, 0) {
		return x, nil // an underflow to 0 is still a number
	}
	if err != nil && !errors.Is(err, strconv.ErrRange) {
		return 0, errSyntax
	}
	if math.IsNaN(x) || math.IsInf(x, 0) {
		return 0, errNotFinite
	}
	return x, nil
}

// parseDuration reads a Go duration (250ms, 1.5s, 1m30s) as seconds.
func parseDuration(s string) (float64, error) {
	d, err := time.ParseDuration(s)
	if err != nil {
		return 0, errSyntax
	}
	return d.Seconds(), nil
}

// sizes are the byte units a spec may write, longest suffix first so "MiB" wins over "B".
var sizes = []struct {
	suffix string
	bytes  float64
}{
	{"KiB", 1 << 10}, {"MiB", 1 << 20}, {"GiB", 1 << 30}, {"TiB", 1 << 40},
	{"kB", 1e3}, {"KB", 1e3}, {"MB", 1e6}, {"GB", 1e9}, {"TB", 1e12},
	{"B", 1},
}

// parseValue reads s in unit u: durations for seconds, percentages for ratios,
// sizes for bytes, N/s for rates. plain also accepts a bare number in the base unit.
func parseValue(u Unit, s string, plain bool) (float64, error) {
	if _, err := parseNumber(s); errors.Is(err, errNotFinite) {
		return 0, err // refused by name whatever unit was expected
	}
	if plain || u == None {
		if x, err := parseNumber(s); err == nil || errors.Is(err, errNotFinite) {
			return x, err
		}
	}
	var (
		text  string
		scale = 1.0 // bytes per unit for sizes
	)
	switch u {
	case Seconds:
		return parseDuration(s)
	case Ratio:
		t, ok := strings.CutSuffix(s, "%")
		if !ok {
			return 0, errSyntax
		}
		text = t
	case Bytes:
		for _, z := range sizes {
			if t, ok := strings.CutSuffix(s, z.suffix); ok {
				text, scale = t, z.bytes
				break
			}
		}
	case PerSecond:
		t, ok := strings.CutSuffix(s, "/s")
		if !ok {
			return 0, errSyntax
		}
		text = t
	}
	if text == "" || text != strings.TrimSpace(text) {
		return 0, errSyntax
	}
	x, err := parseNumber(text)
	if err != nil {
		return 0, err
	}
	if u == Ratio {
		x /= 100 // dividing keeps 70% at exactly 0.7
	} else {
		x *= scale
	}
	if math.IsInf(x, 0) {
		return 0, errNotFinite
	}
	return x, nil
}
