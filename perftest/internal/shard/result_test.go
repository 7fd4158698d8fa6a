package shard

import (
	"bytes"
	"compress/zlib"
	"encoding/base64"
	"encoding/binary"
	"encoding/json"
	"errors"
	"io"
	"math"
	"slices"
	"testing"
	"time"

	"github.com/HdrHistogram/hdrhistogram-go"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// t0 is the agreed start of the runs in these tests.
var t0 = time.Date(2026, 12, 2, 15, 0, 0, 0, time.UTC)

// newHist has package load's geometry: 1 µs to 1 h, three digits.
func newHist() *hdrhistogram.Histogram {
	return hdrhistogram.New(1, int64(time.Hour/time.Microsecond), 3)
}

func hist(values ...int64) Histogram {
	h := newHist()
	for _, v := range values {
		if err := h.RecordValue(v); err != nil {
			panic(err)
		}
	}
	return Histogram{Histogram: h}
}

// sample is a valid result of shard index of count that started on time.
func sample(index, count int) Result {
	return Result{
		Shard:        Plan{Index: index, Count: count},
		StartAt:      t0,
		Started:      t0.Add(2 * time.Millisecond),
		End:          t0.Add(10*time.Second + 40*time.Millisecond),
		MeasuredFrom: t0.Add(2 * time.Second),
		Spec:         "9f86d081884c7d659a2feaa0c55ad015a3bf4f1b2b0b822cd15d6c15b0f00a08",
		Totals: Totals{
			Sent: 300, Completed: 298, OK: 295, Errors: 4, Dropped: 1,
			ByStatus: map[string]int64{"200": 250, "201": 45, "500": 3, "timeout": 1},
			ByTemplate: map[string]TemplateStats{
				"list":   {Count: 250, Errors: 2, Latency: hist(900, 1100, 1300)},
				"create": {Count: 49, Errors: 2}, // no latency: it may be absent
			},
			Templates:    []string{"list", "create"},
			Latency:      hist(900, 1100, 1300, 2500, 40_000),
			SendLag:      hist(3, 5, 8, 120),
			TargetRate:   37.5,
			AchievedRate: 37.375,
			Timeline: []Second{
				{T: 1, TargetRate: 12.5, Rate: 12.5},
				{T: 2, TargetRate: 25, Rate: 24, Dropped: 1},
				{T: 3, TargetRate: 37.5, Rate: 37.5, Errors: 4},
			},
		},
	}
}

func encode(t *testing.T, r Result) []byte {
	t.Helper()
	var b bytes.Buffer
	require.NoError(t, Encode(&b, r))
	return b.Bytes()
}

// withoutHists returns r with its histograms taken out, after checking that
// they equal want's.
func withoutHists(t *testing.T, want, r Result) Result {
	t.Helper()
	require.True(t, want.Latency.Equals(r.Latency.Histogram), "latency")
	require.True(t, want.SendLag.Equals(r.SendLag.Histogram), "send lag")
	r.Latency, r.SendLag = Histogram{}, Histogram{}
	tmpl := map[string]TemplateStats{}
	for name, st := range r.ByTemplate {
		if w := want.ByTemplate[name].Latency; w.Histogram == nil {
			require.Nil(t, st.Latency.Histogram, "latency of %s", name)
		} else {
			require.True(t, w.Equals(st.Latency.Histogram), "latency of %s", name)
		}
		st.Latency = Histogram{}
		tmpl[name] = st
	}
	r.ByTemplate = tmpl
	return r
}

func TestEncodeDecodeIsLossless(t *testing.T) {
	want := sample(1, 3)
	b := encode(t, want)
	got, err := Decode(bytes.NewReader(b))
	require.NoError(t, err)

	assert.Equal(t, withoutHists(t, want, want), withoutHists(t, want, got))
	assert.Equal(t, string(b), string(encode(t, got)), "encoding what was decoded gives the same bytes")
	assert.Contains(t, string(b), `"version": 1,`)
	assert.NotContains(t, string(b[bytes.Index(b, []byte(`"create"`)):]), `"latency": null`, "an absent template latency is left out")
}

// encHist encodes h as a result file holds it, after edit changes the 40
// bytes of its decompressed header.
func encHist(t *testing.T, h *hdrhistogram.Histogram, edit ...func(hdr []byte)) string {
	t.Helper()
	enc, err := h.Encode(hdrhistogram.V2CompressedEncodingCookieBase)
	require.NoError(t, err)
	if len(edit) == 0 {
		return string(enc)
	}
	raw, err := base64.StdEncoding.DecodeString(string(enc))
	require.NoError(t, err)
	z, err := zlib.NewReader(bytes.NewReader(raw[8:]))
	require.NoError(t, err)
	plain, err := io.ReadAll(z)
	require.NoError(t, err)
	for _, e := range edit {
		e(plain[:40])
	}
	var b bytes.Buffer
	w := zlib.NewWriter(&b)
	_, _ = w.Write(plain)
	require.NoError(t, w.Close())
	out := binary.BigEndian.AppendUint32(slices.Clone(raw[:4]), uint32(b.Len()))
	return base64.StdEncoding.EncodeToString(append(out, b.Bytes()...))
}

func TestCountsLenIsWhatHdrHistogramAllocates(t *testing.T) {
	for _, g := range []struct {
		lowest, highest int64
		digits          int
	}{
		{1, int64(time.Hour / time.Microsecond), 3}, {1, int64(time.Hour / time.Microsecond), 2}, {1, math.MaxInt64, 5}, {1, math.MaxInt64, 3}, {1000, 1 << 40, 2}, {1, 1 << 62, 1}, {7, 1 << 20, 4},
	} {
		n, err := countsLen(g.lowest, g.highest, int32(g.digits))
		require.NoError(t, err, g)
		h := hdrhistogram.New(g.lowest, g.highest, g.digits)
		assert.Equal(t, int64(h.ByteSize()-6*8-5*4)/8, n, "%+v", g)
	}
}

// A reader without end stops at the cap: counted in bytes read, not timed,
// which a busy machine would make flaky.
func TestDecodeReadsNoMoreThanTheCap(t *testing.T) {
	z := &zeros{}
	_, err := Decode(z)
	require.EqualError(t, err, "shard result: larger than 32 MiB, the most a shard result may be")
	assert.LessOrEqual(t, z.read, int64(MaxFileSize)+64<<10, "read past the cap")
}

// zeros reads as /dev/zero does, and counts what it gave; past twice the
// cap it fails, so a Decode without a cap fails the test instead of hanging.
type zeros struct{ read int64 }

func (z *zeros) Read(p []byte) (int, error) {
	if z.read > 2*MaxFileSize {
		return 0, errors.New("read twice the cap")
	}
	clear(p)
	z.read += int64(len(p))
	return len(p), nil
}

func TestEncodeDecodeKeepsEmptyHistograms(t *testing.T) {
	want := sample(0, 1)
	want.Latency, want.SendLag = Histogram{Histogram: newHist()}, Histogram{Histogram: newHist()}
	got, err := Decode(bytes.NewReader(encode(t, want)))
	require.NoError(t, err)
	assert.Zero(t, got.Latency.TotalCount())
	assert.True(t, want.Latency.Equals(got.Latency.Histogram), "geometry survives without values")
}

// edit returns the encoding of sample(1, 3) changed by f, which edits its
// JSON as a generic value.
func edit(t *testing.T, f func(m map[string]any)) []byte {
	t.Helper()
	var m map[string]any
	require.NoError(t, json.Unmarshal(encode(t, sample(1, 3)), &m))
	f(m)
	b, err := json.Marshal(m)
	require.NoError(t, err)
	return b
}

func TestDecodeRejects(t *testing.T) {
	tests := []struct {
		name string
		in   []byte
		err  string
	}{
		{
			name: "an unknown field",
			in:   edit(t, func(m map[string]any) { m["shards"] = 3 }),
			err:  `shard result: json: unknown field "shards"`,
		},
		{
			name: "an unknown field in a second",
			in:   edit(t, func(m map[string]any) { m["timeline"].([]any)[0].(map[string]any)["p95"] = 0.01 }),
			err:  `shard result: json: unknown field "p95"`,
		},
		{
			name: "an empty file",
			in:   []byte(" \n"),
			err:  `shard result: empty: a shard that was killed writes no file, so an empty one is not a shard's result`,
		},
		{
			name: "a newer version",
			in:   edit(t, func(m map[string]any) { m["version"] = 2; m["spec_hash"] = "abc" }),
			err:  `shard result: version 2: this perfgate reads version 1`,
		},
		{
			name: "no version",
			in:   edit(t, func(m map[string]any) { delete(m, "version") }),
			err:  `shard result: no version: want 1`,
		},
		{
			name: "a second document after the result",
			in:   append(encode(t, sample(1, 3)), "{}"...),
			err:  `shard result: data after the result`,
		},
		{
			name: "a histogram that is not an encoded one",
			in:   edit(t, func(m map[string]any) { m["latency"] = "not a histogram" }),
			err:  `shard result 1/3: latency: not base64: want a histogram in HdrHistogram's base64 V2 compressed encoding`,
		},
		{
			name: "a histogram as a number",
			in:   edit(t, func(m map[string]any) { m["send_lag"] = 12 }),
			err:  `shard result 1/3: send_lag: want a histogram in HdrHistogram's base64 V2 compressed encoding, got a number`,
		},
		{
			name: "a histogram of a template that decodes to 47 MiB",
			in: edit(t, func(m map[string]any) {
				m["by_template"].(map[string]any)["list"].(map[string]any)["latency"] = encHist(t, hdrhistogram.New(1, math.MaxInt64, 5))
			}),
			err: `shard result 1/3: by_template["list"].latency: histogram would decode to 6160384 counts, more than the 65536 a shard's histogram may have`,
		},
		{
			name: "a second's histogram whose header is cut short",
			in: edit(t, func(m map[string]any) {
				m["timeline"].([]any)[2].(map[string]any)["latency"] = base64.StdEncoding.EncodeToString([]byte{0x1c, 0x84, 0x93, 0x14, 0, 0, 0, 2, 0x78, 0x9c})
			}),
			err: `shard result 1/3: timeline[2].latency: histogram: its compressed header is cut short`,
		},
		{
			name: "a histogram with seven significant digits",
			in: edit(t, func(m map[string]any) {
				m["latency"] = encHist(t, hdrhistogram.New(1, 1000, 5), func(hdr []byte) { hdr[15] = 7 })
			}),
			err: `shard result 1/3: latency: histogram: 7 significant digits: must be 1 to 5`,
		},
		{
			name: "more histograms than a result may decode",
			in: edit(t, func(m map[string]any) {
				var tl []any
				for i := 1; i <= 600; i++ {
					tl = append(tl, map[string]any{"t": i, "target_rate": 1, "rate": 1, "errors": 0, "dropped": 0,
						"latency": encHist(t, hdrhistogram.New(1, 1<<40, 3))})
				}
				m["timeline"] = tl
			}),
			err: `shard result 1/3: timeline[509].latency: histogram would take the result's histograms past 16777216 counts in all, the most a shard result may decode to`,
		},
		{
			name: "no histograms, a negative count, a bad plan and a timeline out of order",
			in: edit(t, func(m map[string]any) {
				m["latency"], m["send_lag"] = nil, nil
				m["sent"] = -1
				m["shard"] = map[string]any{"index": 3, "count": 3}
				m["timeline"].([]any)[1].(map[string]any)["t"] = 1
			}),
			err: `shard result 3/3: shard: index 3: must be below the count 3 (indices run from 0 to 2); ` +
				`sent: -1 is negative; latency: missing; send_lag: missing; timeline[1]: t 1 must be above 1`,
		},
		{
			name: "no start",
			in:   edit(t, func(m map[string]any) { delete(m, "start_at") }),
			err:  `shard result 1/3: start_at: missing`,
		},
		{
			name: "no spec fingerprint",
			in:   edit(t, func(m map[string]any) { m["spec_sha256"] = "abc" }),
			err:  `shard result 1/3: spec_sha256: "abc" is not a SHA-256 in hex`,
		},
		{
			name: "an end before the start",
			in:   edit(t, func(m map[string]any) { m["end"] = "2026-12-02T14:59:59Z" }),
			err:  `shard result 1/3: end: 2026-12-02T14:59:59Z is before started 2026-12-02T15:00:00.002Z`,
		},
		{
			name: "a template counted but not listed",
			in:   edit(t, func(m map[string]any) { m["templates"] = []string{"list"} }),
			err:  `shard result 1/3: by_template["create"]: not in templates`,
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := Decode(bytes.NewReader(tt.in))
			require.EqualError(t, err, tt.err)
		})
	}
}
