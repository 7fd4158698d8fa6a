package units

import (
	"errors"
	"math"
	"strconv"
	"strings"
	"time"
)

var (
	// ErrSyntax is returned for a value not written in the unit expected.
	ErrSyntax = errors.New("not a value in the expected unit")
	// ErrNotFinite is returned for NaN and infinities, in Go's or YAML's
	// spelling (.nan, .inf), and for a value that overflows once scaled.
	ErrNotFinite = errors.New("not a finite number")
)

// Parse reads s as a spec writes a value in u and returns it in the base
// unit: a Go duration for Seconds (250ms, 1m30s), a percentage for Ratio
// (1.5%), a size for Bytes (96MiB, 1GB, 512B), N/s for PerSecond, a plain
// number for None, and those of a growth with or without "/1k": 64KiB/1k, 3.
func (u Unit) Parse(s string) (float64, error) { return u.parse(s, false) }

// ParseBare is Parse that also takes a bare number in the base unit: 0.25 for
// 250ms, 0.01 for 1%.
func (u Unit) ParseBare(s string) (float64, error) { return u.parse(s, true) }

// sizes are the byte suffixes a spec may write; "B" comes last so "MiB" wins over it.
var sizes = []struct {
	suffix string
	bytes  float64
}{
	{"KiB", 1 << 10}, {"MiB", 1 << 20}, {"GiB", 1 << 30}, {"TiB", 1 << 40},
	{"kB", 1e3}, {"KB", 1e3}, {"MB", 1e6}, {"GB", 1e9}, {"TB", 1e12},
	{"B", 1},
}

// suffixes end a ratio's and a rate's numbers.
var suffixes = map[Unit]string{Ratio: "%", PerSecond: "/s"}

func (u Unit) parse(s string, bare bool) (float64, error) {
	switch u { // a growth is written as its quantity, "/1k" optional
	case BytesPer1k:
		return Bytes.parse(strings.TrimSuffix(s, "/1k"), bare)
	case Per1k:
		return None.parse(strings.TrimSuffix(s, "/1k"), bare)
	case Waited:
		return Seconds.parse(s, bare)
	}
	switch x, err := parseNumber(s); {
	case errors.Is(err, ErrNotFinite):
		return 0, err // refused by name whatever unit was expected
	case err == nil && (bare || u == None):
		return x, nil
	}
	var (
		text  string
		scale = 1.0 // bytes per unit for sizes
	)
	switch u {
	case Seconds:
		d, err := time.ParseDuration(s)
		if err != nil {
			return 0, ErrSyntax
		}
		return d.Seconds(), nil
	case Ratio, PerSecond:
		t, ok := strings.CutSuffix(s, suffixes[u])
		if !ok {
			return 0, ErrSyntax
		}
		text = t
	case Bytes:
		for _, z := range sizes {
			if t, ok := strings.CutSuffix(s, z.suffix); ok {
				text, scale = t, z.bytes
				break
			}
		}
	}
	if text == "" || text != strings.TrimSpace(text) {
		return 0, ErrSyntax
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
		return 0, ErrNotFinite
	}
	return x, nil
}

// parseNumber reads a plain decimal number. NaN and infinities, in Go's or
// YAML's spelling, come back as ErrNotFinite so they can be refused by name.
func parseNumber(s string) (float64, error) {
	switch strings.ToLower(strings.TrimLeft(s, "+-")) {
	case ".nan", ".inf":
		return 0, ErrNotFinite
	}
	x, err := strconv.ParseFloat(s, 64)
	if errors.Is(err, strconv.ErrRange) && !math.IsInf(x, 0) {
		return x, nil // an underflow to 0 is still a number
	}
	if err != nil && !errors.Is(err, strconv.ErrRange) {
		return 0, ErrSyntax
	}
	if math.IsNaN(x) || math.IsInf(x, 0) {
		return 0, ErrNotFinite
	}
	return x, nil
}
