package units

import (
	"math"
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

func parse(u Unit, s string, bare bool) (float64, error) {
	if bare {
		return u.ParseBare(s)
	}
	return u.Parse(s)
}

func TestParse(t *testing.T) {
	tests := []struct {
		name  string
		unit  Unit
		plain bool
		in    string
		want  float64
		err   error
	}{
		{"milliseconds are seconds/1000", Seconds, false, "50ms", 0.05, nil},
		{"us and µs are both microseconds", Seconds, false, "250us", 250e-6, nil},
		{"the micro sign works too", Seconds, false, "250µs", 250e-6, nil},
		{"compound durations add up", Seconds, false, "1m30s", 90, nil},
		{"a bare number is not a duration unless plain", Seconds, false, "5", 0, ErrSyntax},
		{"a bare number is seconds when plain", Seconds, true, "0.25", 0.25, nil},
		{"a percentage is a ratio", Ratio, false, "1%", 0.01, nil},
		{"70% is exactly 0.7", Ratio, false, "70%", 0.7, nil},
		{"a fractional percentage", Ratio, false, "0.5%", 0.005, nil},
		{"a space before % is refused", Ratio, false, "5 %", 0, ErrSyntax},
		{"a bare ratio needs plain", Ratio, false, "0.05", 0, ErrSyntax},
		{"a bare ratio when plain", Ratio, true, "0.05", 0.05, nil},
		{"MiB is binary", Bytes, false, "96MiB", 96 << 20, nil},
		{"MB is decimal", Bytes, false, "100MB", 100e6, nil},
		{"kB is decimal", Bytes, false, "2kB", 2000, nil},
		{"B is bytes", Bytes, false, "512B", 512, nil},
		{"GiB may be fractional", Bytes, false, "1.5GiB", 1.5 * (1 << 30), nil},
		{"sizes are case-sensitive", Bytes, false, "96mib", 0, ErrSyntax},
		{"a size without a number is refused", Bytes, false, "MiB", 0, ErrSyntax},
		{"a rate per second", PerSecond, false, "120/s", 120, nil},
		{"a rate per minute is refused", PerSecond, true, "120/m", 0, ErrSyntax},
		{"a plain rate", PerSecond, true, "120", 120, nil},
		{"none takes plain numbers", None, false, "-3.5", -3.5, nil},
		{"scientific notation is a number", None, false, "1e3", 1000, nil},
		{"NaN is refused by name", None, true, "NaN", 0, ErrNotFinite},
		{"YAML's .nan is refused by name", Seconds, false, ".nan", 0, ErrNotFinite},
		{"YAML's -.inf is refused by name", Ratio, false, "-.inf", 0, ErrNotFinite},
		{"infinity behind a unit is refused", Ratio, false, "inf%", 0, ErrNotFinite},
		{"an overflowing number is infinite", None, false, "1e999", 0, ErrNotFinite},
		{"an overflowing size is infinite", Bytes, false, "1e308TiB", 0, ErrNotFinite},
		{"an underflow is zero", None, false, "1e-999", 0, nil},
		{"an empty value is refused", Seconds, false, "", 0, ErrSyntax},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := parse(tt.unit, tt.in, tt.plain)
			if tt.err != nil {
				require.ErrorIs(t, err, tt.err)
				return
			}
			require.NoError(t, err)
			assert.Equal(t, tt.want, got)
		})
	}
}

func TestFormatAsWritten(t *testing.T) {
	tests := []struct {
		name string
		unit Unit
		in   float64
		want string
	}{
		{"seconds read as a Go duration", Seconds, 0.05, "50ms"},
		{"a minute drops the zero seconds", Seconds, 60, "1m"},
		{"a minute and a half", Seconds, 90.4, "1m30s"},
		{"an hour drops the zero minutes", Seconds, 3600, "1h"},
		{"mixed durations stay whole", Seconds, 7205, "2h0m5s"},
		{"a ratio reads as a percentage", Ratio, 0.7, "70%"},
		{"a small ratio keeps its digits", Ratio, 0.005, "0.5%"},
		{"bytes take the largest binary unit", Bytes, 96 << 20, "96MiB"},
		{"fractional sizes", Bytes, 1.5 * (1 << 30), "1.5GiB"},
		{"small sizes stay in bytes", Bytes, 512, "512B"},
		{"rates are per second", PerSecond, 88, "88/s"},
		{"large rates have no exponent", PerSecond, 1234567, "1234567/s"},
		{"plain numbers", None, -2.5, "-2.5"},
		{"NaN stays visible", Seconds, math.NaN(), "NaN"},
		{"durations past time.Duration's range", Seconds, 1e12, "1000000000000s"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			assert.Equal(t, tt.want, tt.unit.Format(tt.in))
		})
	}
}

func TestFormatReadsBackAsTheSameValue(t *testing.T) {
	for _, c := range []struct {
		unit Unit
		v    float64
	}{{Seconds, 0.15}, {Seconds, 5400}, {Ratio, 0.01}, {Bytes, 96 << 20}, {PerSecond, 75}, {None, 3}} {
		got, err := c.unit.Parse(c.unit.Format(c.v))
		require.NoError(t, err, c.unit.Format(c.v))
		assert.InDelta(t, c.v, got, 1e-12, c.unit.Format(c.v))
	}
}

func TestFormat(t *testing.T) {
	tests := []struct {
		name string
		v    float64
		unit Unit
		want string
	}{
		{"milliseconds keep three significant digits", 0.0732, Seconds, "73.2ms"},
		{"a round limit drops its trailing zeros", 0.050, Seconds, "50ms"},
		{"sub-millisecond latency reads in microseconds", 0.000850, Seconds, "850µs"},
		{"nanoseconds for the very small", 4e-8, Seconds, "40ns"},
		{"seconds above one", 1.25, Seconds, "1.25s"},
		{"a minute or more reads as a duration to the second", 1234.6, Seconds, "20m35s"},
		{"rounding up to the next scale moves to it", 0.99996, Seconds, "1s"},
		{"zero seconds", 0, Seconds, "0s"},
		{"negative durations keep their sign", -0.0732, Seconds, "-73.2ms"},
		{"a ratio is a percentage", 0.0125, Ratio, "1.25%"},
		{"a tiny ratio keeps its significant digits", 0.000123, Ratio, "0.0123%"},
		{"cpu above one core reads over 100 percent", 1.7, Ratio, "170%"},
		{"a zero ratio", 0, Ratio, "0%"},
		{"bytes in mebibytes", 81.4 * (1 << 20), Bytes, "81.4MiB"},
		{"bytes under a kibibyte", 512, Bytes, "512B"},
		{"bytes in gibibytes", 1.5 * (1 << 30), Bytes, "1.5GiB"},
		{"zero bytes", 0, Bytes, "0B"},
		{"a rate per second", 118, PerSecond, "118/s"},
		{"a fractional rate", 87.66, PerSecond, "87.7/s"},
		{"a large rate keeps its integer digits", 12345.6, PerSecond, "12346/s"},
		{"a plain number", 0.87349, None, "0.873"},
		{"an empty unit is a plain number", 42, "", "42"},
		{"an unknown unit is appended", 3, "widgets", "3 widgets"},
		{"NaN says so", math.NaN(), Seconds, "NaN"},
		{"positive infinity says so", math.Inf(1), Ratio, "+Inf"},
		{"negative infinity says so", math.Inf(-1), Bytes, "-Inf"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			assert.Equal(t, tt.want, tt.unit.Format(tt.v))
		})
	}
}

func TestFormatPairTellsCloseValuesApart(t *testing.T) {
	o, l := Seconds.FormatPair(0.0500001, 0.05)
	assert.NotEqual(t, o, l)
	assert.True(t, strings.HasPrefix(o, "50.0001"), o)

	o, l = Seconds.FormatPair(0.05, 0.05)
	assert.Equal(t, "50ms", o)
	assert.Equal(t, "50ms", l)
}

func TestFormatDelta(t *testing.T) {
	for _, tt := range []struct {
		d    float64
		u    Unit
		want string
	}{
		{0.142, Seconds, "+14.2%"},
		{-0.05, PerSecond, "-5%"},
		{0, Bytes, "0%"},
		{0.005, Ratio, "+0.5pp"},
		{0.0012, Ratio, "+0.12pp"},
		{math.Inf(1), Seconds, "+∞%"},
		{math.NaN(), Seconds, "n/a"},
	} {
		assert.Equal(t, tt.want, tt.u.FormatDelta(tt.d), "%v %s", tt.d, tt.u)
	}
	assert.Equal(t, "[+8.1%, +19.7%]", Seconds.FormatInterval(0.081, 0.197))
	assert.Equal(t, "±∞", Seconds.FormatInterval(math.Inf(-1), math.Inf(1)))
	assert.Equal(t, "n/a", Ratio.FormatInterval(math.NaN(), 0.1))
}

func TestCommonScale(t *testing.T) {
	for _, tt := range []struct {
		name   string
		u      Unit
		values []float64
		suffix string
		label  string // the first value in that scale
	}{
		{"an axis up to 1.5ms reads in milliseconds", Seconds, []float64{0.0005, 0.0015}, "ms", "0.5ms"},
		{"the largest magnitude decides", Seconds, []float64{-2, 0.0005}, "s", "-2s"},
		{"sizes scale to mebibytes", Bytes, []float64{8 << 20, 80 << 20}, "MiB", "8MiB"},
		{"a ratio is always percent", Ratio, []float64{0.0001, 0.5}, "%", "0.01%"},
		{"rates stay per second", PerSecond, []float64{1e6}, "/s", "1000000/s"},
		{"no finite value is the base unit", Seconds, []float64{math.NaN(), math.Inf(1)}, "s", "NaN"},
	} {
		t.Run(tt.name, func(t *testing.T) {
			s := CommonScale(tt.u, tt.values...)
			assert.Equal(t, tt.suffix, s.Suffix)
			assert.Equal(t, tt.label, s.Format(tt.values[0]))
		})
	}
	assert.Equal(t, "0.5ms", CommonScale(Seconds, 0.0015).Format(0.0005), "one scale for the set, unlike Format's 500µs")
	assert.Equal(t, "80s", CommonScale(Seconds, 0, 80).Format(80), "an axis of seconds stays in seconds, unlike Format's 1m20s")
	assert.Equal(t, "0s", CommonScale(Seconds, 0.0015).Format(0), "zero reads in the base unit")
	assert.InDelta(t, 1.5, CommonScale(Seconds, 0.0015).Scale(0.0015), 1e-12)
}

func TestPoints(t *testing.T) {
	for _, u := range All {
		assert.Equal(t, u == Ratio, u.Absolute(), u)
	}
}

// A growth per 1,000 requests is written as its quantity and told as a
// difference, never as a percentage of a baseline near 0.
func TestGrowthUnits(t *testing.T) {
	for _, c := range []struct {
		u    Unit
		in   string
		want float64
	}{
		{BytesPer1k, "64KiB", 64 << 10},
		{BytesPer1k, "64KiB/1k", 64 << 10},
		{BytesPer1k, "-2MB", -2e6},
		{Per1k, "1", 1},
		{Per1k, "0.5/1k", 0.5},
	} {
		got, err := c.u.Parse(c.in)
		require.NoError(t, err, c.in)
		assert.Equal(t, c.want, got, c.in)
	}
	for _, bad := range []string{"10%", "64", "64KiB/s"} {
		_, err := BytesPer1k.Parse(bad)
		assert.Error(t, err, bad)
	}
	assert.Equal(t, "205KiB/1k", BytesPer1k.Format(210e3))
	assert.Equal(t, "-1.91MiB/1k", BytesPer1k.Format(-2e6))
	assert.Equal(t, "+199KiB/1k", BytesPer1k.FormatDelta(204e3))
	assert.Equal(t, "-300/1k", Per1k.FormatDelta(-300))
	assert.Equal(t, "0/1k", Per1k.FormatDelta(0))
	assert.True(t, BytesPer1k.Absolute() && Per1k.Absolute() && Ratio.Absolute())
	assert.False(t, Bytes.Absolute())
}

// A wait is written as a duration and told as a difference: a baseline that
// waits 0 makes any percentage of it meaningless.
func TestWaitedUnit(t *testing.T) {
	got, err := Waited.Parse("20µs")
	require.NoError(t, err)
	assert.InDelta(t, 20e-6, got, 1e-15)
	_, err = Waited.Parse("20")
	assert.ErrorIs(t, err, ErrSyntax, "a bare number is no duration")
	assert.Equal(t, "3.5µs", Waited.Format(3.5e-6))
	assert.Equal(t, "+20µs", Waited.FormatDelta(20e-6))
	assert.Equal(t, "-1.5ms", Waited.FormatDelta(-1.5e-3))
	assert.Equal(t, "0s", Waited.FormatDelta(0))
	assert.True(t, Waited.Absolute() && Waited.Difference() && !Waited.Growth())
	assert.False(t, Seconds.Difference(), "a latency changes by a percentage")
}
