package thresholds

import (
	"errors"
	"math"
	"os"
	"path/filepath"
	"testing"
)

// FuzzParse holds Parse to its contract on any input: no panic, and either a spec that
// passes Validate or an Errors that says where, never both and never neither.
func FuzzParse(f *testing.F) {
	files, err := filepath.Glob("testdata/*.yaml")
	if err != nil {
		f.Fatal(err)
	}
	for _, file := range append(files, DefaultFile) {
		data, err := os.ReadFile(file)
		if err != nil {
			f.Fatal(err)
		}
		f.Add(data)
	}
	f.Add([]byte(knownGood))
	f.Add([]byte(knownGood + "    p99_latency: {max_increase: 25%}\n    peak_rss: {max_increase: 999%}\n"))

	f.Fuzz(func(t *testing.T, data []byte) {
		s, err := Parse("fuzz.yaml", data)
		if err != nil {
			if s != nil {
				t.Fatalf("Parse returned a spec and an error: %v", err)
			}
			var errs Errors
			if !errors.As(err, &errs) || len(errs) == 0 {
				t.Fatalf("error is not a non-empty Errors: %#v", err)
			}
			for _, e := range errs {
				if e.File != "fuzz.yaml" || e.Msg == "" {
					t.Fatalf("error without file or message: %#v", e)
				}
			}
			return
		}
		if s == nil {
			t.Fatal("Parse returned neither a spec nor an error")
		}
		if err := s.Validate(); err != nil {
			t.Fatalf("a parsed spec fails Validate: %v", err)
		}
		// What the gate relies on, checked again from the outside.
		l := s.Load
		if s.Version != Version || len(l.Stages) == 0 || len(s.SLOs) == 0 {
			t.Fatalf("accepted an incomplete spec: %+v", s)
		}
		if l.Window() < minWindow || l.Duration() > maxDuration {
			t.Fatalf("accepted an unusable load: %+v", l)
		}
		weight := 0
		for _, tm := range s.Workload {
			weight += tm.Weight
			if tm.Weight < 0 || tm.Name == "" || tm.Line <= 0 {
				t.Fatalf("accepted an unusable template: %+v", tm)
			}
		}
		if weight <= 0 {
			t.Fatalf("accepted a workload that sends nothing: %+v", s.Workload)
		}
		if n := l.Requests(l.WarmUp, l.Duration()); !(n >= 1) || math.IsInf(n, 0) {
			t.Fatalf("accepted a load that measures %v requests", n)
		}
		for _, o := range s.SLOs {
			if o.Max == nil && o.Min == nil {
				t.Fatalf("accepted an SLO without limits: %+v", o)
			}
			for _, x := range []*float64{o.Max, o.Min} {
				if x != nil && (math.IsNaN(*x) || math.IsInf(*x, 0)) {
					t.Fatalf("accepted a non-finite limit in %+v", o)
				}
			}
			if o.Line <= 0 || o.Unit == "" {
				t.Fatalf("accepted an SLO without position or unit: %+v", o)
			}
		}
		if c := s.Compare; c != nil {
			if !(c.Alpha > 0 && c.Alpha <= maxAlpha) || c.Rounds < minRounds || c.Rounds > MaxRounds || MinP(c.Rounds) >= c.Alpha {
				t.Fatalf("accepted a comparison that cannot decide: %+v", c)
			}
			if c.Round.Duration < minRoundDuration || c.Round.Requests() < minRoundRequests || c.Duration() > maxDuration {
				t.Fatalf("accepted an unusable round: %+v", c.Round)
			}
			if len(c.Metrics) == 0 {
				t.Fatal("accepted a comparison of nothing")
			}
			for _, b := range c.Metrics {
				x := b.MaxIncrease
				if b.Metric == CompareThroughput {
					x = b.MaxDecrease
				}
				ceiling := maxBudget
				if b.Unit().Growth() {
					ceiling = math.MaxFloat64 // absolute: any finite budget can fail
				}
				if b.Unit() == "" || b.Line <= 0 || x == nil || !(*x > 0 && *x < ceiling) || (b.MaxIncrease != nil) == (b.MaxDecrease != nil) {
					t.Fatalf("accepted a budget that cannot be applied: %+v", b)
				}
			}
		}
	})
}
