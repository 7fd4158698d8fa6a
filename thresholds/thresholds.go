// Package thresholds loads and validates the versioned SLO spec that the gate enforces.
package thresholds

import (
	"time"

	"github.com/perfgate/perfgate/thresholds/units"
)

// DefaultFile is the path of the committed spec relative to this directory.
const DefaultFile = "slo.yaml"

// Version is the only spec version this package reads.
const Version = 1

// WindowPlaceholder is replaced in custom queries by the measured window, e.g. 25s.
const WindowPlaceholder = "$window"

// DefaultLoad holds the values used for load fields the file leaves out.
// Stages have no default: a spec must say how hard to push.
var DefaultLoad = Load{
	WarmUp:      5 * time.Second,
	MaxInFlight: 128,
	Timeout:     2 * time.Second,
	MaxLag:      0.05,
}

// Spec is a parsed and validated SLO file.
type Spec struct {
	Version  int        `yaml:"version"`
	File     string     // where the spec was read from, for messages
	Load     Load       `yaml:"load" want:"a mapping of warmup, stages, max_in_flight, timeout and max_lag"`
	Workload []Template `yaml:"workload" want:"a list of request templates like - {name: home, path: /}" item:"a mapping with name, method, path and weight"` // the requests the load sends
	SLOs     []SLO      `yaml:"slos" want:"a list of SLOs" item:"a mapping with name, metric and max or min"`
	Compare  *Compare   `yaml:"compare" want:"a mapping of alpha, rounds, round and metrics"`                                    // nil: absolute mode only, no baseline build
	Service  *Service   `yaml:"service" want:"a mapping with name, build, port, ready, args, env, replicas, volume and metrics"` // nil: the reference task API, DefaultService
	Target   *Target    `yaml:"target" want:"a mapping with urls, instances, allow, max_rate and query"`                         // set: load and read an existing deployment, start no containers

	// src maps field paths to where they were written, so Validate can point at them.
	src map[string]srcPos
}

// ServiceOrDefault is the service section, or DefaultService when the spec has none.
func (s *Spec) ServiceOrDefault() Service {
	if s.Service != nil {
		return *s.Service
	}
	return DefaultService
}

// Load is the ramped open-model load profile: arrivals follow the stages
// whatever the service does, like k6's ramping-arrival-rate executor.
type Load struct {
	WarmUp      time.Duration `yaml:"warmup"` // the first part of the stages, excluded from every measurement
	Stages      []Stage       `yaml:"stages" want:"a list of stages like {duration: 10s, target: 50/s}" item:"a mapping like {duration: 10s, target: 50/s}"`
	MaxInFlight int           `yaml:"max_in_flight"`                                             // requests outstanding at once; a request due beyond it is dropped
	Timeout     time.Duration `yaml:"timeout"`                                                   // per request
	MaxLag      float64       `yaml:"max_lag" unit:"ratio" want:"expected a percentage like 5%"` // ratio: the run is inconclusive if the achieved rate falls further behind
}

// Stage ramps the arrival rate linearly from the previous stage's target
// (0 for the first stage) to Target over Duration.
type Stage struct {
	Duration time.Duration `yaml:"duration"`
	Target   float64       `yaml:"target" unit:"1/s" want:"expected a rate like 50/s"` // requests per second
}

// Duration is the sum of the stages, warm-up included.
func (l Load) Duration() time.Duration {
	var d time.Duration
	for _, s := range l.Stages {
		d += s.Duration
	}
	return d
}

// Window is the measured part of the run: the stages after the warm-up.
func (l Load) Window() time.Duration {
	return max(l.Duration()-l.WarmUp, 0)
}

// RateAt is the intended arrival rate in requests per second at t since the start of the stages;
// 0 outside them.
func (l Load) RateAt(t time.Duration) float64 {
	if t < 0 {
		return 0
	}
	from, start := 0.0, time.Duration(0)
	for _, s := range l.Stages {
		end := start + s.Duration
		if t < end && s.Duration > 0 {
			f := float64(t-start) / float64(s.Duration)
			return from + (s.Target-from)*f
		}
		from, start = s.Target, end
	}
	return 0
}

// Requests is the number of arrivals the stages ask for between from and to
// (offsets since the start of the stages): the area under the ramp.
func (l Load) Requests(from, to time.Duration) float64 {
	var n float64
	prev, start := 0.0, time.Duration(0)
	for _, s := range l.Stages {
		end := start + s.Duration
		lo, hi := max(from, start), min(to, end)
		if hi > lo && s.Duration > 0 {
			// Trapezoid between the rates at lo and hi on this stage's line.
			rate := func(t time.Duration) float64 {
				return prev + (s.Target-prev)*float64(t-start)/float64(s.Duration)
			}
			n += (rate(lo) + rate(hi)) / 2 * (hi - lo).Seconds()
		}
		prev, start = s.Target, end
	}
	return n
}

// peak is the highest target of any stage.
func (l Load) peak() float64 {
	p := 0.0
	for _, s := range l.Stages {
		p = max(p, s.Target)
	}
	return p
}

// Metric names what an SLO measures.
type Metric string

// The metrics a spec may name.
const (
	ErrorRate  Metric = "error_rate" // share of 5xx responses
	Latency    Metric = "latency"    // a quantile of request duration
	Throughput Metric = "throughput" // completed requests per second
	CPU        Metric = "cpu"        // CPU time as a share of one core
	Memory     Metric = "memory"     // peak resident set size
	// Work per request, from the Go runtime's counters: they barely move
	// between runs of one build, so they see a handler doing more.
	CPUPerRequest    Metric = "cpu_per_request"         // CPU seconds per served request
	AllocsPerRequest Metric = "allocs_per_request"      // heap allocations per served request (Go services)
	BytesPerRequest  Metric = "alloc_bytes_per_request" // bytes allocated on the heap per served request (Go services)
	Custom           Metric = "custom"                  // a PromQL query of the spec's own
)

// metrics lists the known metrics in the order messages name them.
var metrics = []Metric{ErrorRate, Latency, Throughput, CPU, Memory, CPUPerRequest, AllocsPerRequest, BytesPerRequest, Custom}

// Unit is the base unit a metric is measured in; limits are stored in it.
// Custom metrics declare theirs.
func (m Metric) Unit() Unit { return metricUnits[m] }

var metricUnits = map[Metric]Unit{
	ErrorRate: Ratio, CPU: Ratio, Latency: Seconds, CPUPerRequest: Seconds,
	Throughput: PerSecond, Memory: Bytes, BytesPerRequest: Bytes, AllocsPerRequest: None,
}

// Scope says whether an SLO holds for the replicas together or for each one.
type Scope string

// The scopes a spec may name.
const (
	Aggregate   Scope = "aggregate"
	PerInstance Scope = "per_instance"
)

// Unit is the base unit of an SLO's values; package units parses and formats them.
type Unit = units.Unit

// The units a spec may name (units.All).
const (
	Seconds   = units.Seconds
	Ratio     = units.Ratio
	Bytes     = units.Bytes
	PerSecond = units.PerSecond
	None      = units.None
)

// SLO is one objective the gate checks.
type SLO struct {
	Name        string `yaml:"name"`
	Description string `yaml:"description"`

	Metric   Metric  `yaml:"metric"`
	Quantile float64 `yaml:"quantile" unit:"none" spec:"plain" want:"expected a number like 0.95"` // latency only, in (0, 1)
	Route    string  `yaml:"route"`                                                                // a route pattern like /tasks; error_rate, latency and throughput only
	Scope    Scope   `yaml:"scope"`

	Query string `yaml:"query"` // custom only, with the $window placeholder

	// Max and Min are in base units: seconds, ratio (0.01 = 1%), bytes, req/s, ratio of one core.
	// They are read in the metric's unit, once it is known.
	Max *float64 `yaml:"max" spec:"later"`
	Min *float64 `yaml:"min" spec:"later"`

	Unit Unit `yaml:"unit"` // implied by Metric (cpu → Ratio) or given for custom

	Line, Col int // where the SLO starts in the file
}
