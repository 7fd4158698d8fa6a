package thresholds

import (
	"math"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

func TestParseValue(t *testing.T) {
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
		{"a bare number is not a duration unless plain", Seconds, false, "5", 0, errSyntax},
		{"a bare number is seconds when plain", Seconds, true, "0.25", 0.25, nil},
		{"a percentage is a ratio", Ratio, false, "1%", 0.01, nil},
		{"70% is exactly 0.7", Ratio, false, "70%", 0.7, nil},
		{"a fractional percentage", Ratio, false, "0.5%", 0.005, nil},
		{"a space before % is refused", Ratio, false, "5 %", 0, errSyntax},
		{"a bare ratio needs plain", Ratio, false, "0.05", 0, errSyntax},
		{"a bare ratio when plain", Ratio, true, "0.05", 0.05, nil},
		{"MiB is binary", Bytes, false, "96MiB", 96 << 20, nil},
		{"MB is decimal", Bytes, false, "100MB", 100e6, nil},
		{"kB is decimal", Bytes, false, "2kB", 2000, nil},
		{"B is bytes", Bytes, false, "512B", 512, nil},
		{"GiB may be fractional", Bytes, false, "1.5GiB", 1.5 * (1 << 30), nil},
		{"sizes are case-sensitive", Bytes, false, "96mib", 0, errSyntax},
		{"a size without a number is refused", Bytes, false, "MiB", 0, errSyntax},
		{"a rate per second", PerSecond, false, "120/s", 120, nil},
		{"a rate per minute is refused", PerSecond, true, "120/m", 0, errSyntax},
		{"a plain rate", PerSecond, true, "120", 120, nil},
		{"none takes plain numbers", None, false, "-3.5", -3.5, nil},
		{"scientific notation is a number", None, false, "1e3", 1000, nil},
		{"NaN is refused by name", None, true, "NaN", 0, errNotFinite},
		{"YAML's .nan is refused by name", Seconds, false, ".nan", 0, errNotFinite},
		{"YAML's -.inf is refused by name", Ratio, false, "-.inf", 0, errNotFinite},
		{"infinity behind a unit is refused", Ratio, false, "inf%", 0, errNotFinite},
		{"an overflowing number is infinite", None, false, "1e999", 0, errNotFinite},
		{"an overflowing size is infinite", Bytes, false, "1e308TiB", 0, errNotFinite},
		{"an underflow is zero", None, false, "1e-999", 0, nil},
		{"an empty value is refused", Seconds, false, "", 0, errSyntax},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := parseValue(tt.unit, tt.in, tt.plain)
			if tt.err != nil {
				require.ErrorIs(t, err, tt.err)
				return
			}
			require.NoError(t, err)
			assert.Equal(t, tt.want, got)
		})
	}
}

func TestUnitFormat(t *testing.T) {
	tests := []struct {
		name string
		unit Unit
		in   float64
		want string
	}{
		{"seconds read as a Go duration", Seconds, 0.05, "50ms"},
		{"a minute drops the zero seconds", Seconds, 60, "1m"},
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
	}{{Seconds, 0.15}, {Ratio, 0.01}, {Bytes, 96 << 20}, {PerSecond, 75}, {None, 3}} {
		got, err := parseValue(c.unit, c.unit.Format(c.v), false)
		require.NoError(t, err, c.unit.Format(c.v))
		assert.InDelta(t, c.v, got, 1e-12, c.unit.Format(c.v))
	}
}

func TestMetricUnits(t *testing.T) {
	assert.Equal(t, Ratio, ErrorRate.Unit())
	assert.Equal(t, Seconds, Latency.Unit())
	assert.Equal(t, PerSecond, Throughput.Unit())
	assert.Equal(t, Ratio, CPU.Unit())
	assert.Equal(t, Bytes, Memory.Unit())
	assert.Equal(t, Unit(""), Custom.Unit(), "custom SLOs declare their own")
}

func TestLoadRamp(t *testing.T) {
	l := Load{WarmUp: 5 * time.Second, Stages: []Stage{
		{5 * time.Second, 40},
		{20 * time.Second, 120},
		{5 * time.Second, 120},
	}}
	assert.Equal(t, 30*time.Second, l.Duration())
	assert.Equal(t, 25*time.Second, l.Window())

	rates := []struct {
		at   time.Duration
		want float64
	}{
		{-time.Second, 0},
		{0, 0},
		{2500 * time.Millisecond, 20},
		{5 * time.Second, 40},
		{15 * time.Second, 80},
		{27 * time.Second, 120},
		{30 * time.Second, 0},
	}
	for _, r := range rates {
		assert.InDelta(t, r.want, l.RateAt(r.at), 1e-9, "rate at %s", r.at)
	}

	assert.InDelta(t, 100, l.Requests(0, 5*time.Second), 1e-9, "ramp 0→40/s over 5 s")
	assert.InDelta(t, 2300, l.Requests(0, l.Duration()), 1e-9)
	assert.InDelta(t, 2200, l.Requests(l.WarmUp, l.Duration()), 1e-9)
	assert.InDelta(t, 800, l.Requests(10*time.Second, 20*time.Second), 1e-9, "rate 60→100/s over 10 s")
	assert.Zero(t, l.Requests(40*time.Second, time.Minute))

	short := Load{WarmUp: time.Minute, Stages: l.Stages}
	assert.Zero(t, short.Window(), "a warm-up past the stages leaves nothing to measure")
}
