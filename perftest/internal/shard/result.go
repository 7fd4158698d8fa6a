package shard

import (
	"bytes"
	"compress/zlib"
	"crypto/sha256"
	"encoding/base64"
	"encoding/binary"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"math"
	"math/bits"
	"slices"
	"strings"
	"time"

	"github.com/HdrHistogram/hdrhistogram-go"
)

// Version is the format version Encode writes and Decode accepts.
const Version = 1

// SpecHash is the fingerprint of a spec file's bytes that results carry.
func SpecHash(spec []byte) string {
	sum := sha256.Sum256(spec)
	return hex.EncodeToString(sum[:])
}

// Result is what one shard writes when its part of the run has ended.
type Result struct {
	Shard Plan `json:"shard"`
	// StartAt is the instant every shard of the run was told to start at;
	// intended send times count from it. Started is when this shard's load
	// began by its own clock, End when its last response arrived, and
	// MeasuredFrom is where the measured window begins (StartAt + warm-up).
	StartAt      time.Time `json:"start_at"`
	Started      time.Time `json:"started"`
	End          time.Time `json:"end"`
	MeasuredFrom time.Time `json:"measured_from"`
	// Spec is the SHA-256 of the spec file the shard ran, in hex: the shards
	// of one run, and the merge that judges them, read the same spec.
	Spec string `json:"spec_sha256"`
	Totals
}

// Totals are the figures of a run that add up across shards. Counters,
// rates and histograms cover the measured window; Timeline covers the whole
// run.
type Totals struct {
	// Sent requests went out; Completed ones got an HTTP response of any
	// status, OK ones a status their template expects; Errors are transport
	// errors, timeouts, 5xx and any status the template does not expect;
	// Dropped requests came due while every slot was taken and never went out.
	Sent      int64 `json:"sent"`
	Completed int64 `json:"completed"`
	OK        int64 `json:"ok"`
	Errors    int64 `json:"errors"`
	Dropped   int64 `json:"dropped"`
	// ByStatus counts outcomes by status code ("201", "500") or by "error",
	// "timeout" and "canceled", as package load does.
	ByStatus map[string]int64 `json:"by_status"`
	// ByTemplate has the figures of each request template by name, Templates
	// the names in the workload's order.
	ByTemplate map[string]TemplateStats `json:"by_template"`
	Templates  []string                 `json:"templates"`
	// Latency is measured from the intended send time, SendLag is how late
	// requests went out after it; both in microseconds.
	Latency Histogram `json:"latency"`
	SendLag Histogram `json:"send_lag"`
	// TargetRate is the mean rate this shard's part of the schedule calls for
	// over the measured window, AchievedRate what it sent; shards' rates add.
	TargetRate   float64 `json:"target_rate"`
	AchievedRate float64 `json:"achieved_rate"`
	// Timeline has one entry per second of the run, in order.
	Timeline []Second `json:"timeline"`
}

// TemplateStats is what the requests of one template saw.
// maxWhy bounds a template's reason in a shard's file.
const maxWhy = 4096

type TemplateStats struct {
	Count  int64 `json:"count"`
	Errors int64 `json:"errors"`
	// Planned requests were drawn as the template; FellBack of them went as
	// its fallback (Why: the shard's reason, for the first shard that has one).
	Planned  int64     `json:"planned,omitempty"`
	FellBack int64     `json:"fell_back,omitempty"`
	Why      string    `json:"why,omitempty"`
	NotOK    int64     `json:"not_ok,omitempty"` // expected answers that are not 2xx
	Strays   int64     `json:"strays,omitempty"` // 404s to a value of a capture that is not sticky
	Latency  Histogram `json:"latency,omitzero"` // microseconds; may be absent
}

// Second covers the requests intended in the second that ends T seconds
// after StartAt, the same second in every shard.
type Second struct {
	T          int     `json:"t"`
	TargetRate float64 `json:"target_rate"` // due per second
	Rate       float64 `json:"rate"`        // sent per second
	Errors     int64   `json:"errors"`
	Dropped    int64   `json:"dropped"`
	// Latency of the second's requests in microseconds, at a precision of
	// its own (a chart's); absent when none finished.
	Latency Histogram `json:"latency,omitzero"`
}

// Histogram is an HDR histogram that travels in JSON as a string in
// HdrHistogram's V2 compressed encoding (base64), which the HdrHistogram
// libraries of every language read. A nil one is JSON null.
//
// Reading one is two steps, so that a hostile file cannot make the reader
// allocate: UnmarshalJSON only keeps the JSON value, and Decode decodes each
// histogram of a result under caps checked from its header first.
type Histogram struct {
	*hdrhistogram.Histogram
	raw []byte // the JSON value UnmarshalJSON kept, until Decode decodes it
}

// Caps on what a shard result may make the reader allocate. Package load
// records 1 µs to 1 h at three digits (23,552 counts), and a run is at most
// an hour: one histogram per second at two digits, a few per template.
const (
	// MaxFileSize is the most Decode reads of a result.
	MaxFileSize = 32 << 20
	// MaxHistogramCounts caps one histogram's decoded counts (8 bytes each).
	MaxHistogramCounts = 1 << 16
	// MaxResultCounts caps the decoded counts of all of a result's histograms.
	MaxResultCounts = 1 << 24
)

// MarshalJSON encodes h.
func (h Histogram) MarshalJSON() ([]byte, error) {
	if h.Histogram == nil {
		return []byte("null"), nil
	}
	enc, err := h.Encode(hdrhistogram.V2CompressedEncodingCookieBase)
	if err != nil {
		return nil, err
	}
	return json.Marshal(string(enc))
}

// UnmarshalJSON keeps the JSON value for Decode, which decodes it under caps.
func (h *Histogram) UnmarshalJSON(b []byte) error {
	h.Histogram = nil
	h.raw = nil
	if string(b) != "null" {
		h.raw = slices.Clone(b)
	}
	return nil
}

// IsZero reports whether h holds no histogram, decoded or not.
func (h Histogram) IsZero() bool { return h.Histogram == nil && h.raw == nil }

// decode turns the JSON value UnmarshalJSON kept into the histogram, taking
// its counts from *budget; the header is read and checked before anything the
// size of the histogram is allocated.
func (h *Histogram) decode(budget *int64) error {
	if h.raw == nil {
		return nil
	}
	var s string
	if err := json.Unmarshal(h.raw, &s); err != nil {
		return errors.New("want a histogram in HdrHistogram's base64 V2 compressed encoding, got " + jsonKind(h.raw))
	}
	n, err := histogramCounts(s)
	if err != nil {
		return err
	}
	if n > MaxHistogramCounts {
		return fmt.Errorf("histogram would decode to %d counts, more than the %d a shard's histogram may have", n, MaxHistogramCounts)
	}
	if n > *budget {
		return fmt.Errorf("histogram would take the result's histograms past %d counts in all, the most a shard result may decode to", MaxResultCounts)
	}
	*budget -= n
	d, err := hdrhistogram.Decode([]byte(s))
	if err != nil {
		return fmt.Errorf("histogram: %w", err)
	}
	h.Histogram, h.raw = d, nil
	return nil
}

// histogramCounts reads the header of a histogram in the base64 V2
// compressed encoding and returns how many counts decoding it allocates.
func histogramCounts(s string) (int64, error) {
	const headerSize = 40 // cookie, payload length, offset, digits, lowest, highest, ratio
	b, err := base64.StdEncoding.DecodeString(s)
	if err != nil {
		return 0, errors.New("not base64: want a histogram in HdrHistogram's base64 V2 compressed encoding")
	}
	if len(b) < 8 {
		return 0, errors.New("histogram: too short for HdrHistogram's V2 compressed encoding")
	}
	z, err := zlib.NewReader(bytes.NewReader(b[8:]))
	if err != nil {
		return 0, fmt.Errorf("histogram: %w", err)
	}
	defer z.Close()
	var hdr [headerSize]byte
	if _, err := io.ReadFull(z, hdr[:]); err != nil {
		return 0, errors.New("histogram: its compressed header is cut short")
	}
	digits := int32(binary.BigEndian.Uint32(hdr[12:]))
	lowest := int64(binary.BigEndian.Uint64(hdr[16:]))
	highest := int64(binary.BigEndian.Uint64(hdr[24:]))
	return countsLen(lowest, highest, digits)
}

// countsLen is how many counts HdrHistogram allocates for a geometry, or an
// error for one it cannot have.
func countsLen(lowest, highest int64, digits int32) (int64, error) {
	if digits < 1 || digits > 5 {
		return 0, fmt.Errorf("histogram: %d significant digits: must be 1 to 5", digits)
	}
	if lowest < 1 {
		lowest = 1 // as HdrHistogram reads it
	}
	if highest < 2 || highest/2 < lowest {
		return 0, fmt.Errorf("histogram: covers %d to %d: the highest value must be at least twice the lowest", lowest, highest)
	}
	// HdrHistogram: sub-buckets of 2^ceil(log2(2·10^digits)), at least 2;
	// buckets doubling from subBucketCount<<unit until they cover highest.
	subMag := max(bits.Len64(2*uint64(math.Pow10(int(digits)))-1), 1)
	unit := bits.Len64(uint64(lowest)) - 1
	if unit+subMag > 62 {
		return 0, fmt.Errorf("histogram: lowest value %d is too large for %d significant digits", lowest, digits)
	}
	buckets := int64(1)
	for v := uint64(1) << (unit + subMag); v <= uint64(highest); v <<= 1 {
		buckets++
	}
	return (buckets + 1) << (subMag - 1), nil
}

// jsonKind names the kind of a JSON value for messages.
func jsonKind(b []byte) string {
	switch b = bytes.TrimSpace(b); {
	case len(b) == 0:
		return "nothing"
	case b[0] == '{':
		return "an object"
	case b[0] == '[':
		return "a list"
	case b[0] == 't' || b[0] == 'f':
		return "a boolean"
	default:
		return "a number"
	}
}

// file is the JSON form of a Result: the version beside its fields.
type file struct {
	Version int `json:"version"`
	Result
}

// Encode writes r as JSON with the format version.
func Encode(w io.Writer, r Result) error {
	b, err := json.MarshalIndent(file{Version: Version, Result: r}, "", "  ")
	if err != nil {
		return fmt.Errorf("shard result: %w", err)
	}
	_, err = w.Write(append(b, '\n'))
	return err
}

// Decode reads one Result that Encode wrote. It rejects another format
// version, unknown fields, trailing data, a result larger than MaxFileSize,
// histograms past their caps and a result that fails Validate.
func Decode(rd io.Reader) (Result, error) {
	b, err := io.ReadAll(io.LimitReader(rd, MaxFileSize+1))
	if err != nil {
		return Result{}, fmt.Errorf("shard result: %w", err)
	}
	if len(b) > MaxFileSize {
		return Result{}, fmt.Errorf("shard result: larger than %d MiB, the most a shard result may be", MaxFileSize>>20)
	}
	if len(bytes.TrimSpace(b)) == 0 {
		return Result{}, errors.New("shard result: empty: a shard that was killed writes no file, so an empty one is not a shard's result")
	}
	// The version first: a newer writer's fields are not "unknown", they are
	// a newer version.
	var v struct {
		Version *int `json:"version"`
	}
	if err := json.NewDecoder(bytes.NewReader(b)).Decode(&v); err != nil {
		return Result{}, fmt.Errorf("shard result: %w", err)
	}
	switch {
	case v.Version == nil:
		return Result{}, fmt.Errorf("shard result: no version: want %d", Version)
	case *v.Version != Version:
		return Result{}, fmt.Errorf("shard result: version %d: this perfgate reads version %d", *v.Version, Version)
	}
	dec := json.NewDecoder(bytes.NewReader(b))
	dec.DisallowUnknownFields()
	var f file
	if err := dec.Decode(&f); err != nil {
		return Result{}, fmt.Errorf("shard result: %w", err)
	}
	if _, err := dec.Token(); err != io.EOF {
		return Result{}, errors.New("shard result: data after the result")
	}
	if err := f.Result.decodeHistograms(); err != nil {
		return Result{}, err
	}
	if err := f.Result.Validate(); err != nil {
		return Result{}, err
	}
	return f.Result, nil
}

// decodeHistograms decodes r's histograms in file order under one budget of
// counts, naming the field of the first that cannot be decoded.
func (r *Result) decodeHistograms() error {
	budget := int64(MaxResultCounts)
	one := func(path string, h *Histogram) error {
		if err := h.decode(&budget); err != nil {
			return fmt.Errorf("shard result %s: %s: %w", r.Shard, path, err)
		}
		return nil
	}
	if err := one("latency", &r.Latency); err != nil {
		return err
	}
	if err := one("send_lag", &r.SendLag); err != nil {
		return err
	}
	for _, name := range sortedKeys(r.ByTemplate) {
		st := r.ByTemplate[name]
		if err := one(fmt.Sprintf("by_template[%q].latency", name), &st.Latency); err != nil {
			return err
		}
		r.ByTemplate[name] = st
	}
	for i := range r.Timeline {
		if err := one(fmt.Sprintf("timeline[%d].latency", i), &r.Timeline[i].Latency); err != nil {
			return err
		}
	}
	return nil
}

// Validate says everything that is wrong with r, or returns nil.
func (r Result) Validate() error {
	var bad []string
	add := func(format string, a ...any) { bad = append(bad, fmt.Sprintf(format, a...)) }
	if err := r.Shard.Validate(); err != nil {
		add("shard: %v", err)
	}
	if len(r.Spec) != 64 || strings.Trim(r.Spec, "0123456789abcdef") != "" {
		add("spec_sha256: %q is not a SHA-256 in hex", r.Spec)
	}
	for _, t := range []struct {
		name string
		t    time.Time
	}{{"start_at", r.StartAt}, {"started", r.Started}, {"end", r.End}, {"measured_from", r.MeasuredFrom}} {
		if t.t.IsZero() {
			add("%s: missing", t.name)
		}
	}
	if !r.Started.IsZero() && !r.End.IsZero() && r.End.Before(r.Started) {
		add("end: %s is before started %s", r.End.Format(time.RFC3339Nano), r.Started.Format(time.RFC3339Nano))
	}
	for _, c := range []struct {
		name string
		n    int64
	}{{"sent", r.Sent}, {"completed", r.Completed}, {"ok", r.OK}, {"errors", r.Errors}, {"dropped", r.Dropped}} {
		if c.n < 0 {
			add("%s: %d is negative", c.name, c.n)
		}
	}
	for _, k := range sortedKeys(r.ByStatus) {
		if n := r.ByStatus[k]; n < 0 {
			add("by_status[%q]: %d is negative", k, n)
		}
	}
	for i, name := range r.Templates {
		if slices.Index(r.Templates, name) < i {
			add("templates[%d]: %q is listed twice", i, name)
		}
	}
	for _, name := range sortedKeys(r.ByTemplate) {
		st := r.ByTemplate[name]
		if !slices.Contains(r.Templates, name) {
			add("by_template[%q]: not in templates", name)
		}
		if st.Count < 0 || st.Errors < 0 || st.Planned < 0 || st.FellBack < 0 || st.NotOK < 0 || st.Strays < 0 {
			add("by_template[%q]: negative count", name)
		}
		if st.FellBack > st.Planned {
			add("by_template[%q]: fell_back %d > planned %d", name, st.FellBack, st.Planned)
		}
		if len(st.Why) > maxWhy {
			add("by_template[%q]: why is %d bytes, more than %d", name, len(st.Why), maxWhy)
		}
	}
	if r.Latency.Histogram == nil {
		add("latency: missing")
	}
	if r.SendLag.Histogram == nil {
		add("send_lag: missing")
	}
	if !rate(r.TargetRate) {
		add("target_rate: %v is not a rate", r.TargetRate)
	}
	if !rate(r.AchievedRate) {
		add("achieved_rate: %v is not a rate", r.AchievedRate)
	}
	last := 0
	for i, s := range r.Timeline {
		if s.T <= last {
			add("timeline[%d]: t %d must be above %d", i, s.T, last)
		}
		last = max(last, s.T)
		if !rate(s.TargetRate) || !rate(s.Rate) || s.Errors < 0 || s.Dropped < 0 {
			add("timeline[%d]: negative or non-finite figure", i)
		}
	}
	if len(bad) == 0 {
		return nil
	}
	return fmt.Errorf("shard result %s: %s", r.Shard, strings.Join(bad, "; "))
}

// rate reports whether v can be a rate: finite and not negative.
func rate(v float64) bool { return v >= 0 && !math.IsInf(v, 1) }

func sortedKeys[V any](m map[string]V) []string {
	keys := make([]string, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	slices.Sort(keys)
	return keys
}
