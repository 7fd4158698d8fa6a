package shard

import (
	"bytes"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"math"
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
type TemplateStats struct {
	Count   int64     `json:"count"`
	Errors  int64     `json:"errors"`
	Latency Histogram `json:"latency,omitzero"` // microseconds; may be absent
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
type Histogram struct{ *hdrhistogram.Histogram }

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

// UnmarshalJSON decodes what MarshalJSON wrote.
func (h *Histogram) UnmarshalJSON(b []byte) error {
	if string(b) == "null" {
		h.Histogram = nil
		return nil
	}
	var s string
	if err := json.Unmarshal(b, &s); err != nil {
		return errors.New("want a histogram in HdrHistogram's base64 V2 compressed encoding")
	}
	d, err := hdrhistogram.Decode([]byte(s))
	if err != nil {
		return fmt.Errorf("histogram: %w", err)
	}
	h.Histogram = d
	return nil
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
// version, unknown fields, trailing data and a result that fails Validate.
func Decode(rd io.Reader) (Result, error) {
	b, err := io.ReadAll(rd)
	if err != nil {
		return Result{}, fmt.Errorf("shard result: %w", err)
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
	if err := f.Result.Validate(); err != nil {
		return Result{}, err
	}
	return f.Result, nil
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
		if st.Count < 0 || st.Errors < 0 {
			add("by_template[%q]: negative count", name)
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
