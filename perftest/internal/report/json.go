package report

import (
	"encoding/json"
	"io"
	"math"
	"time"

	"github.com/perfgate/perfgate/perftest/internal/compare"
	"github.com/perfgate/perfgate/perftest/internal/verdict"
	"github.com/perfgate/perfgate/thresholds"
	"github.com/perfgate/perfgate/thresholds/units"
)

// JSONVersion is the version of report.json's shape; it changes when a field
// is renamed or removed.
const JSONVersion = 1

// JSON renders the run as report.json for machines: the verdict at the top,
// then checks, the generator's and client's figures, timeline and phases.
// Values that are unknown (no data, NaN) are null.
func JSON(r Run) Reporter {
	return func(w io.Writer) error {
		enc := json.NewEncoder(w)
		enc.SetIndent("", "  ")
		enc.SetEscapeHTML(false)
		return enc.Encode(toJSON(r))
	}
}

// jsonFloat is a number that encodes NaN and ±Inf as null.
type jsonFloat float64

func (f jsonFloat) MarshalJSON() ([]byte, error) {
	v := float64(f)
	if math.IsNaN(v) || math.IsInf(v, 0) {
		return []byte("null"), nil
	}
	return json.Marshal(v)
}

func ms(d time.Duration) jsonFloat { return jsonFloat(float64(d) / float64(time.Millisecond)) }

type jsonReport struct {
	Version     int             `json:"version"`
	Title       string          `json:"title"`
	Verdict     verdict.Verdict `json:"verdict"` // the run's decision: SLOs and comparison together
	Reason      string          `json:"reason"`
	Failures    []string        `json:"failures"`              // the decision's: one sentence per item that did not pass, led by its part
	SLOVerdict  verdict.Verdict `json:"slo_verdict,omitempty"` // the SLOs alone, when there is a comparison
	Summary     jsonSummary     `json:"summary"`
	Started     time.Time       `json:"started"`
	Finished    time.Time       `json:"finished"`
	Window      jsonWindow      `json:"window"`
	Service     string          `json:"service"`
	ServiceArgs []string        `json:"service_args"`
	Prometheus  string          `json:"prometheus"`
	Checks      []jsonCheck     `json:"checks"`
	Comparison  *jsonComparison `json:"comparison,omitempty"`
	Generator   jsonGenerator   `json:"generator"`
	Client      jsonClient      `json:"client"`
	Timeline    []jsonPoint     `json:"timeline"`
	Phases      []jsonPhase     `json:"phases"`
}

type jsonSummary struct {
	SLOs     int `json:"slos"`
	Breached int `json:"breached"`
	NoData   int `json:"no_data"`
	Errors   int `json:"errors"`
	Checks   int `json:"checks"`
	Failed   int `json:"failed_checks"`
}

type jsonWindow struct {
	From    time.Time `json:"from"`
	To      time.Time `json:"to"`
	Seconds jsonFloat `json:"seconds"`
}

type jsonCheck struct {
	Name        string         `json:"name"`
	Description string         `json:"description"`
	Instance    string         `json:"instance"`
	Metric      string         `json:"metric"`
	Quantile    *jsonFloat     `json:"quantile"` // latency only, as the spec gave it (0.95); null otherwise
	Route       string         `json:"route"`    // the route the SLO reads; "" for every route
	Status      verdict.Status `json:"status"`
	Observed    jsonFloat      `json:"observed"`
	Limit       jsonFloat      `json:"limit"`
	Op          string         `json:"op"`
	Unit        units.Unit     `json:"unit"`
	Query       string         `json:"query"`
	Why         string         `json:"why"`
}

// jsonComparison is the baseline-vs-candidate comparison; unknown figures are null.
type jsonComparison struct {
	Verdict  verdict.Verdict `json:"verdict"`
	Reason   string          `json:"reason"`
	Baseline string          `json:"baseline"`
	Alpha    jsonFloat       `json:"alpha"`
	Rows     []jsonRow       `json:"rows"`
	Noise    []jsonNoise     `json:"noise"`
	Reruns   []string        `json:"reruns"` // pairs of rounds that ran again, and why
	Profiles []jsonProfile   `json:"profiles"`
}

// jsonProfile is why a metric grew, from the profiled pairs.
type jsonProfile struct {
	Metric    string         `json:"metric"`
	Worse     bool           `json:"worse"`   // false: profiled because profiling always runs
	Profile   string         `json:"profile"` // cpu, allocs (the heap), goroutine or block
	Lines     []string       `json:"lines"`   // one per function that grew above noise, as the text reports show it
	Functions []jsonFunction `json:"functions"`
	Why       string         `json:"why,omitempty"`
	Command   string         `json:"command,omitempty"`
}

// jsonFunction is one function that grew above noise, per request served.
type jsonFunction struct {
	Name      string     `json:"name"`
	Where     string     `json:"where"`            // file:line
	Changed   bool       `json:"changed"`          // in a file the pull request changed
	Callees   bool       `json:"callees"`          // cumulative: with everything it calls
	Copies    int        `json:"copies,omitempty"` // differently named copies of one closure, counted as one
	Baseline  jsonFloat  `json:"baseline"`
	Candidate jsonFloat  `json:"candidate"`
	Unit      units.Unit `json:"unit"`
}

type jsonRow struct {
	Metric      string         `json:"metric"`
	Unit        units.Unit     `json:"unit"`
	Status      compare.Status `json:"status"`
	Fail        bool           `json:"fail"`
	Baseline    jsonSummaryCI  `json:"baseline"`
	Candidate   jsonSummaryCI  `json:"candidate"`
	Delta       jsonFloat      `json:"delta"` // ratio; a difference in the unit (points for a ratio) when points is true
	DeltaLo     jsonFloat      `json:"delta_lo"`
	DeltaHi     jsonFloat      `json:"delta_hi"`
	Points      bool           `json:"points"`
	P           jsonFloat      `json:"p"`
	Significant bool           `json:"significant"`
	Test        string         `json:"test"` // signed-rank (pairs), Fisher (pooled counts) or trend (levels over the run: baseline and candidate are each build's slope)
	Budget      string         `json:"budget"`
	MaxIncrease *jsonFloat     `json:"max_increase"`
	MaxDecrease *jsonFloat     `json:"max_decrease"`
	Why         string         `json:"why"`
}

type jsonSummaryCI struct {
	Median jsonFloat `json:"median"`
	Lo     jsonFloat `json:"lo"`
	Hi     jsonFloat `json:"hi"`
	N      int       `json:"n"`
}

type jsonNoise struct {
	Metric        string     `json:"metric"`
	Unit          units.Unit `json:"unit"`
	N             int        `json:"n"`
	Spread        jsonFloat  `json:"spread"`
	MinDetectable jsonFloat  `json:"min_detectable"`
	P             jsonFloat  `json:"p"`
	Why           string     `json:"why"`
}

func toJSONComparison(r Run) *jsonComparison {
	c := r.Comparison
	out := &jsonComparison{
		Verdict: c.Verdict, Reason: c.Reason, Baseline: r.Baseline, Alpha: jsonFloat(c.Alpha),
		Rows: []jsonRow{}, Noise: []jsonNoise{}, Reruns: append([]string{}, c.Reruns...), Profiles: []jsonProfile{},
	}
	for _, d := range r.Profiles {
		p := jsonProfile{Metric: d.Metric, Worse: d.Worse, Profile: d.Profile, Lines: []string{}, Functions: []jsonFunction{}, Why: d.Why, Command: d.Command}
		for _, f := range d.Funcs {
			p.Lines = append(p.Lines, f.Text)
			p.Functions = append(p.Functions, jsonFunction{Name: f.Name, Where: f.Where, Changed: f.Changed, Callees: f.Callees, Copies: f.Copies,
				Baseline: jsonFloat(f.Baseline), Candidate: jsonFloat(f.Candidate), Unit: f.Unit})
		}
		out.Profiles = append(out.Profiles, p)
	}
	opt := func(x *float64) *jsonFloat {
		if x == nil {
			return nil
		}
		f := jsonFloat(*x)
		return &f
	}
	sum := func(s compare.Summary) jsonSummaryCI {
		return jsonSummaryCI{Median: jsonFloat(s.Center), Lo: jsonFloat(s.Lo), Hi: jsonFloat(s.Hi), N: s.N}
	}
	for _, row := range c.Rows {
		out.Rows = append(out.Rows, jsonRow{
			Metric: row.Metric, Unit: row.Unit, Status: row.Status, Fail: row.Fail,
			Baseline: sum(row.Baseline), Candidate: sum(row.Candidate),
			Delta: jsonFloat(row.Delta), DeltaLo: jsonFloat(row.DeltaLo), DeltaHi: jsonFloat(row.DeltaHi),
			Points: row.Unit.Absolute(), P: jsonFloat(row.P), Significant: row.Significant, Test: row.Test,
			Budget: row.Budget, MaxIncrease: opt(row.MaxIncrease), MaxDecrease: opt(row.MaxDecrease), Why: row.Why,
		})
	}
	for _, n := range r.Noise {
		out.Noise = append(out.Noise, jsonNoise{
			Metric: n.Metric, Unit: n.Unit, N: n.N, Spread: jsonFloat(n.Spread),
			MinDetectable: jsonFloat(n.MinDetectable), P: jsonFloat(n.P), Why: noiseLine(n, c.Rows),
		})
	}
	return out
}

type jsonGenerator struct {
	TargetRate   jsonFloat `json:"target_rate"`
	AchievedRate jsonFloat `json:"achieved_rate"`
	MaxLag       jsonFloat `json:"max_lag"`
	Sent         int64     `json:"sent"`
	Dropped      int64     `json:"dropped"`
}

type jsonClient struct {
	Sent         int64            `json:"sent"`
	OK           int64            `json:"ok"`
	Errors       int64            `json:"errors"`
	Dropped      int64            `json:"dropped"`
	TargetRate   jsonFloat        `json:"target_rate"`
	AchievedRate jsonFloat        `json:"achieved_rate"`
	P50          jsonFloat        `json:"p50_ms"`
	P95          jsonFloat        `json:"p95_ms"`
	P99          jsonFloat        `json:"p99_ms"`
	Max          jsonFloat        `json:"max_ms"`
	ByStatus     map[string]int64 `json:"by_status"` // encoding/json sorts the keys
	Templates    []jsonTemplate   `json:"templates"` // per request template, in workload order
}

type jsonTemplate struct {
	Name     string    `json:"name"`
	Sent     int64     `json:"sent"`
	Errors   int64     `json:"errors"`
	Planned  int64     `json:"planned,omitempty"`   // drawn as this template
	FellBack int64     `json:"fell_back,omitempty"` // of those, sent as its fallback
	Why      string    `json:"why,omitempty"`
	NotOK    int64     `json:"not_ok,omitempty"` // expected answers that are not 2xx
	Strays   int64     `json:"strays,omitempty"` // 404s to a value of a capture that is not sticky
	P50      jsonFloat `json:"p50_ms"`
	P95      jsonFloat `json:"p95_ms"`
	P99      jsonFloat `json:"p99_ms"`
}

type jsonPoint struct {
	T          jsonFloat `json:"t"`
	TargetRate jsonFloat `json:"target_rate"`
	Rate       jsonFloat `json:"rate"`
	P95        jsonFloat `json:"p95_ms"`
	CPU        jsonFloat `json:"cpu_cores"`
	Errors     int64     `json:"errors"`
}

type jsonPhase struct {
	Name    string    `json:"name"`
	Seconds jsonFloat `json:"seconds"`
}

func toJSON(r Run) jsonReport {
	t := count(r.Result.Checks)
	out := jsonReport{
		Version:  JSONVersion,
		Title:    r.Title,
		Verdict:  r.Decision.Verdict,
		Reason:   overallReason(r),
		Failures: append([]string{}, r.Decision.Failures...),
		Summary:  jsonSummary{t.slos, t.breached, t.noData, t.errored, t.checks, t.failed},
		Started:  r.Started.UTC(),
		Finished: r.Finished.UTC(),
		Window: jsonWindow{
			From:    r.WindowFrom.UTC(),
			To:      r.WindowTo.UTC(),
			Seconds: jsonFloat(r.WindowTo.Sub(r.WindowFrom).Seconds()),
		},
		Service:     r.Service,
		ServiceArgs: append([]string{}, r.ServiceArgs...),
		Prometheus:  r.Prometheus,
		Checks:      []jsonCheck{},
		Generator: jsonGenerator{
			TargetRate:   jsonFloat(r.Result.Load.TargetRate),
			AchievedRate: jsonFloat(r.Result.Load.AchievedRate),
			MaxLag:       jsonFloat(r.Result.Load.MaxLag),
			Sent:         r.Result.Load.Sent,
			Dropped:      r.Result.Load.Dropped,
		},
		Client: jsonClient{
			Sent:         r.Client.Sent,
			OK:           r.Client.OK,
			Errors:       r.Client.Errors,
			Dropped:      r.Client.Dropped,
			TargetRate:   jsonFloat(r.Client.TargetRate),
			AchievedRate: jsonFloat(r.Client.AchievedRate),
			P50:          ms(r.Client.P50),
			P95:          ms(r.Client.P95),
			P99:          ms(r.Client.P99),
			Max:          ms(r.Client.Max),
			ByStatus:     map[string]int64{},
		},
		Timeline: []jsonPoint{},
		Phases:   []jsonPhase{},
	}
	if r.Comparison != nil {
		out.SLOVerdict = r.Result.Verdict
		out.Comparison = toJSONComparison(r)
	}
	out.Client.Templates = []jsonTemplate{}
	for _, t := range r.Client.ByTemplate {
		out.Client.Templates = append(out.Client.Templates, jsonTemplate{Name: t.Name, Sent: t.Count, Errors: t.Errors,
			Planned: t.Planned, FellBack: t.FellBack, Why: t.Why, NotOK: t.NotOK, Strays: t.Strays, P50: ms(t.P50), P95: ms(t.P95), P99: ms(t.P99)})
	}
	for code, n := range r.Client.ByStatus {
		out.Client.ByStatus[code] = n
	}
	for _, c := range r.Result.Checks {
		obs := jsonFloat(math.NaN())
		if c.HasObserved {
			obs = jsonFloat(c.Observed)
		}
		lim := jsonFloat(c.Limit)
		if c.Op == "" {
			lim = jsonFloat(math.NaN())
		}
		var q *jsonFloat
		if c.Metric == thresholds.Latency {
			q = new(jsonFloat(c.Quantile))
		}
		out.Checks = append(out.Checks, jsonCheck{
			Name: c.Name, Description: c.Description, Instance: c.Instance, Metric: string(c.Metric),
			Quantile: q, Route: c.Route, Status: c.Status,
			Observed: obs, Limit: lim, Op: c.Op, Unit: c.Unit, Query: c.Query, Why: c.Why,
		})
	}
	for _, p := range r.Timeline {
		out.Timeline = append(out.Timeline, jsonPoint{
			T: jsonFloat(p.T), TargetRate: jsonFloat(p.TargetRate), Rate: jsonFloat(p.Rate),
			P95: jsonFloat(p.P95), CPU: jsonFloat(p.CPU), Errors: p.Errors,
		})
	}
	for _, p := range r.Phases {
		out.Phases = append(out.Phases, jsonPhase{Name: p.Name, Seconds: jsonFloat(p.Duration.Seconds())})
	}
	return out
}
