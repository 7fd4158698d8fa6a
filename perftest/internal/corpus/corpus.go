// Package corpus loads the regression corpus (realistic changes to the reference service, kept as patches) and turns an entry into a git commit of its own.
package corpus

import (
	"errors"
	"fmt"
	"math"
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"strconv"
	"strings"

	"github.com/perfgate/perfgate/thresholds"
	"github.com/perfgate/perfgate/thresholds/units"
	"gopkg.in/yaml.v3"
)

// Cost names what a change makes the service spend more of.
type Cost string

// The costs an entry can have; CostNone is for changes that must not fail.
const (
	CostExtraQueries   Cost = "extra_queries"
	CostCPU            Cost = "cpu"
	CostAllocation     Cost = "allocation"
	CostLockContention Cost = "lock_contention"
	CostResponseSize   Cost = "response_size"
	CostSlowWrites     Cost = "slow_writes"
	CostMemoryLeak     Cost = "memory_leak"    // memory retained for every request, never freed
	CostGoroutineLeak  Cost = "goroutine_leak" // goroutines started and never ended
	CostErrors         Cost = "errors"         // a share of requests answered 5xx
	CostNone           Cost = "none"
)

// Costs lists every valid Cost.
var Costs = []Cost{CostExtraQueries, CostCPU, CostAllocation, CostLockContention, CostResponseSize, CostSlowWrites, CostMemoryLeak, CostGoroutineLeak, CostErrors, CostNone}

// Expect is what the gate must say about an entry.
type Expect string

// ExpectFail entries must fail the gate; ExpectPass entries must pass it.
const (
	ExpectFail Expect = "fail"
	ExpectPass Expect = "pass"
)

// Entry is one change of the corpus: NAME.patch and NAME.yaml side by side.
type Entry struct {
	Name        string `yaml:"-"`
	Description string `yaml:"description"`
	Cost        Cost   `yaml:"cost"`
	Expect      Expect `yaml:"expect"`
	// Culprits are the functions a profile diff of the change should name,
	// as pprof's graphs label them (store.(*Store).Get): those the patch
	// changes, and a library function it newly calls.
	Culprits []string `yaml:"culprits,omitempty,flow"`
	Effect   *Effect  `yaml:"effect,omitempty"`

	// File is the YAML file and Patch the patch file, as found by Load.
	File  string `yaml:"-"`
	Patch string `yaml:"-"`
}

// Effect is the change's true effect, measured outside the gate by
// TestTrueEffect: each build as its own process, in pairs of rounds run at once
type Effect struct {
	Date  string `yaml:"date"`  // when it was measured, YYYY-MM-DD
	Base  string `yaml:"base"`  // the commit the patch was applied to
	Pairs int    `yaml:"pairs"` // rounds per build, each pair with its own seed
	Rate  string `yaml:"rate"`  // constant arrival rate of each round, e.g. "500/s"
	Round string `yaml:"round"` // e.g. "2s warm-up + 8s measured, both builds at once"
	// Metrics holds the change per metric; a metric that could not be
	// measured is absent, never zero.
	Metrics Metrics `yaml:"metrics"`
	// Note says what the figures mean where they need a word, e.g. that the
	// effect is tiny.
	Note string `yaml:"note,omitempty"`
}

// Metrics are the measured changes, each per served request (not /metrics)
// from the service's own /metrics, or from the client for latency.
type Metrics struct {
	AllocsPerRequest     *Change `yaml:"allocs_per_request,omitempty,flow"`
	AllocBytesPerRequest *Change `yaml:"alloc_bytes_per_request,omitempty,flow"`
	CPUPerRequest        *Change `yaml:"cpu_per_request,omitempty,flow"`
	P50Latency           *Change `yaml:"p50_latency,omitempty,flow"`
	P95Latency           *Change `yaml:"p95_latency,omitempty,flow"`
	// What the service kept per 1,000 requests served: a leak's measure,
	// told as a difference since a healthy service keeps about nothing.
	HeapGrowth      *Growth `yaml:"heap_growth,omitempty,flow"`
	GoroutineGrowth *Growth `yaml:"goroutine_growth,omitempty,flow"`
}

// Growth is one growth metric's effect, per 1,000 requests served: both
// builds' medians over rounds, and the median over pairs of candidate −
// baseline with the smallest and largest pair's, as units formats them
// ("+180KiB/1k", "+300/1k").
type Growth struct {
	Baseline   string    `yaml:"baseline"`
	Candidate  string    `yaml:"candidate"`
	Difference string    `yaml:"difference"`
	Spread     [2]string `yaml:"spread,flow"`
}

// GrowthMetric is one growth metric of Metrics: its name in the spec and
// the word a table shows it by.
type GrowthMetric struct{ Name, Label string }

// Unit is the metric's unit, as the spec's compare section has it.
func (g GrowthMetric) Unit() units.Unit { return thresholds.Budget{Metric: g.Name}.Unit() }

// Growths are the growth metrics of Metrics, in order.
var Growths = []GrowthMetric{{thresholds.CompareHeapGrowth, "heap"}, {thresholds.CompareGoroutineGrowth, "goroutines"}}

// Growth returns the growth metric called name, or nil.
func (m *Metrics) Growth(name string) *Growth {
	if p := m.growth(name); p != nil {
		return *p
	}
	return nil
}

// SetGrowth records g as the growth metric called name.
func (m *Metrics) SetGrowth(name string, g *Growth) {
	if p := m.growth(name); p != nil {
		*p = g
	}
}

func (m *Metrics) growth(name string) **Growth {
	switch name {
	case thresholds.CompareHeapGrowth:
		return &m.HeapGrowth
	case thresholds.CompareGoroutineGrowth:
		return &m.GoroutineGrowth
	}
	return nil
}

// MetricNames are the keys of Metrics in order.
var MetricNames = []string{"allocs_per_request", "alloc_bytes_per_request", "cpu_per_request", "p50_latency", "p95_latency"}

// Get returns the change of the metric called name, or nil.
func (m *Metrics) Get(name string) *Change {
	if p := m.field(name); p != nil {
		return *p
	}
	return nil
}

// Set records c as the change of the metric called name.
func (m *Metrics) Set(name string, c *Change) {
	if p := m.field(name); p != nil {
		*p = c
	}
}

func (m *Metrics) field(name string) **Change {
	switch name {
	case "allocs_per_request":
		return &m.AllocsPerRequest
	case "alloc_bytes_per_request":
		return &m.AllocBytesPerRequest
	case "cpu_per_request":
		return &m.CPUPerRequest
	case "p50_latency":
		return &m.P50Latency
	case "p95_latency":
		return &m.P95Latency
	}
	return nil
}

// Change is one metric's effect: the median over pairs of candidate/baseline
// − 1, the smallest and largest pair's, and both builds' medians for scale.
type Change struct {
	Baseline  string     `yaml:"baseline"`  // median over the baseline rounds, with its unit
	Candidate string     `yaml:"candidate"` // median over the candidate rounds
	Change    Percent    `yaml:"change"`
	Spread    [2]Percent `yaml:"spread,flow"` // min and max over the pairs
}

// Percent is a relative change, 0.85 for +85%, written "+85.0%".
type Percent float64

func (p Percent) String() string {
	v := math.Round(float64(p)*1000) / 10
	if v == 0 {
		v = 0 // -0.04% reads 0.0%, not -0.0%
	}
	return strconv.FormatFloat(v, 'f', 1, 64) + "%"
}

// Signed is String with its sign, e.g. "+85.0%", "-3.2%", "+0.0%".
func (p Percent) Signed() string {
	if s := p.String(); strings.HasPrefix(s, "-") {
		return s
	}
	return "+" + p.String()
}

// MarshalYAML writes p with its sign, e.g. "+85.0%" or "-3.2%".
func (p Percent) MarshalYAML() (any, error) { return p.Signed(), nil }

// UnmarshalYAML reads "+85.0%", "-3.2%" or "0%".
func (p *Percent) UnmarshalYAML(n *yaml.Node) error {
	s := n.Value
	if n.Kind != yaml.ScalarNode || !strings.HasSuffix(s, "%") {
		return fmt.Errorf("%q is not a percentage such as +12.5%%", s)
	}
	f, err := strconv.ParseFloat(strings.TrimPrefix(strings.TrimSuffix(s, "%"), "+"), 64)
	if err != nil {
		return fmt.Errorf("%q is not a percentage such as +12.5%%", s)
	}
	*p = Percent(f / 100)
	return nil
}

// Load reads every NAME.yaml in dir with its NAME.patch, strictly: unknown
// fields, a missing patch, a patch without a YAML file and invalid values are
// all reported at once, each as file:line: message.
func Load(dir string) ([]Entry, error) {
	des, err := os.ReadDir(dir)
	if err != nil {
		return nil, fmt.Errorf("corpus: %w", err)
	}
	var (
		entries []Entry
		errs    []error
		yamls   = map[string]bool{}
		patches []string
	)
	for _, de := range des {
		name := de.Name()
		switch {
		case de.IsDir():
		case strings.HasSuffix(name, ".yaml"):
			yamls[strings.TrimSuffix(name, ".yaml")] = true
		case strings.HasSuffix(name, ".patch"):
			patches = append(patches, strings.TrimSuffix(name, ".patch"))
		}
	}
	for _, p := range patches {
		if !yamls[p] {
			errs = append(errs, fmt.Errorf("%s: no %s.yaml beside it: every patch needs its description, cost and expectation",
				filepath.Join(dir, p+".patch"), p))
		}
	}
	names := make([]string, 0, len(yamls))
	for n := range yamls {
		names = append(names, n)
	}
	slices.Sort(names)
	for _, n := range names {
		e, err := loadFile(filepath.Join(dir, n+".yaml"))
		if err != nil {
			errs = append(errs, err)
			continue
		}
		entries = append(entries, e)
	}
	if len(errs) > 0 {
		return entries, errors.Join(errs...)
	}
	return entries, nil
}

// validName keeps entry names usable as file names and ref names.
var validName = regexp.MustCompile(`^[a-z0-9][a-z0-9_]*$`)

// loadFile reads one entry; its patch is the .patch beside it.
func loadFile(path string) (Entry, error) {
	data, err := os.ReadFile(path)
	if err != nil {
		return Entry{}, fmt.Errorf("corpus: %w", err)
	}
	e := Entry{
		Name:  strings.TrimSuffix(filepath.Base(path), ".yaml"),
		File:  path,
		Patch: strings.TrimSuffix(path, ".yaml") + ".patch",
	}
	if err := thresholds.Decode(path, data, &e, "entry", "description, cost and expect"); err != nil {
		return Entry{}, err
	}
	var root yaml.Node
	if err := yaml.Unmarshal(data, &root); err != nil {
		return Entry{}, err // Decode read it
	}

	var errs []error
	at := func(key string) string { return fmt.Sprintf("%s:%d", path, keyLine(&root, key)) }
	if !validName.MatchString(e.Name) {
		errs = append(errs, fmt.Errorf("%s:1: name %q: use lower case letters, digits and _", path, e.Name))
	}
	if strings.TrimSpace(e.Description) == "" {
		errs = append(errs, fmt.Errorf("%s: description: must say what the change does", at("description")))
	}
	if !slices.Contains(Costs, e.Cost) {
		errs = append(errs, fmt.Errorf("%s: cost: %q is not one of %s", at("cost"), e.Cost, joinCosts()))
	}
	if e.Expect != ExpectFail && e.Expect != ExpectPass {
		errs = append(errs, fmt.Errorf("%s: expect: %q must be fail or pass", at("expect"), e.Expect))
	}
	if e.Cost == CostNone && e.Expect == ExpectFail {
		errs = append(errs, fmt.Errorf("%s: expect: a change that costs nothing (cost: none) must pass", at("expect")))
	}
	if fi, err := os.Stat(e.Patch); err != nil || !fi.Mode().IsRegular() {
		errs = append(errs, fmt.Errorf("%s:1: no patch %s beside it", path, filepath.Base(e.Patch)))
	}
	if len(errs) > 0 {
		return Entry{}, errors.Join(errs...)
	}
	return e, nil
}

func joinCosts() string {
	s := make([]string, len(Costs))
	for i, c := range Costs {
		s[i] = string(c)
	}
	return strings.Join(s, ", ")
}

// keyLine returns the line of a top-level key, or 1 when it is absent.
func keyLine(root *yaml.Node, key string) int {
	doc := root
	if doc.Kind == yaml.DocumentNode && len(doc.Content) > 0 {
		doc = doc.Content[0]
	}
	if doc.Kind == yaml.MappingNode {
		for i := 0; i+1 < len(doc.Content); i += 2 {
			if doc.Content[i].Value == key {
				return doc.Content[i].Line
			}
		}
	}
	return 1
}
