package profdiff

import (
	"flag"
	"fmt"
	"math"
	"math/rand/v2"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/google/pprof/profile"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

var update = flag.Bool("update", false, "rewrite testdata/*.golden from the current output")

// The functions of the hand-made profiles: a handler calls store.(*Store).Get,
// into which decode is inlined and which allocates through runtime.mallocgc,
// and a generic cache's Put.
var (
	fHandler = &profile.Function{ID: 1, Name: "main.handler", Filename: "/src/service/cmd/tasksvc/main.go", StartLine: 10}
	fGet     = &profile.Function{ID: 2, Name: "github.com/perfgate/perfgate/service/internal/store.(*Store).Get", Filename: "/src/service/internal/store/store.go", StartLine: 140}
	fDecode  = &profile.Function{ID: 3, Name: "github.com/perfgate/perfgate/service/internal/store.decode", Filename: "/src/service/internal/store/store.go", StartLine: 198}
	fMalloc  = &profile.Function{ID: 4, Name: "runtime.mallocgc", Filename: "/usr/local/go/src/runtime/malloc.go", StartLine: 990}
	fPut     = &profile.Function{ID: 5, Name: "github.com/perfgate/perfgate/service/internal/cache.(*LRU[go.shape.string,go.shape.int]).Put", Filename: "/src/service/internal/cache/lru.go", StartLine: 48}

	lMalloc  = &profile.Location{ID: 1, Line: []profile.Line{{Function: fMalloc, Line: 1000}}}
	lGet     = &profile.Location{ID: 2, Line: []profile.Line{{Function: fDecode, Line: 201}, {Function: fGet, Line: 142}}} // decode inlined into Get
	lHandler = &profile.Location{ID: 3, Line: []profile.Line{{Function: fHandler, Line: 20}}}
	lPut     = &profile.Location{ID: 4, Line: []profile.Line{{Function: fPut, Line: 50}}}

	allocTypes = []*profile.ValueType{{Type: "alloc_objects", Unit: "count"}, {Type: "alloc_space", Unit: "bytes"}}
	cpuTypes   = []*profile.ValueType{{Type: "samples", Unit: "count"}, {Type: "cpu", Unit: "nanoseconds"}}
)

// sample is a stack, innermost first, and its values.
type sample struct {
	stack  []*profile.Location
	values []int64
}

// build is a valid profile of the samples, each value multiplied by scale.
func build(types []*profile.ValueType, scale int64, samples ...sample) *profile.Profile {
	p := &profile.Profile{
		SampleType: types,
		Location:   []*profile.Location{lMalloc, lGet, lHandler, lPut},
		Function:   []*profile.Function{fHandler, fGet, fDecode, fMalloc, fPut},
	}
	for _, s := range samples {
		vs := make([]int64, len(s.values))
		for i, v := range s.values {
			vs[i] = v * scale
		}
		p.Sample = append(p.Sample, &profile.Sample{Location: s.stack, Value: vs})
	}
	return p
}

var (
	getMalloc = []*profile.Location{lMalloc, lGet, lHandler}
	getOnly   = []*profile.Location{lGet, lHandler}
	put       = []*profile.Location{lPut, lHandler}
)

// handMade is three pairs of rounds whose values per request are the same in
// every round: 100, 50 and 200 requests with values in proportion.
// Per request the baseline allocates 2 objects (16 B each) in mallocgc under
// Get and 1 in Put; the candidate allocates 5 in mallocgc under Get, 1 in
// decode itself and 1 in Put.
func handMade(types []*profile.ValueType) Input {
	var in Input
	for _, r := range []struct{ requests, scale int64 }{{100, 2}, {50, 1}, {200, 4}} {
		in.Baseline = append(in.Baseline, Round{Requests: r.requests, Profile: build(types, r.scale,
			sample{getMalloc, []int64{100, 1600}},
			sample{put, []int64{50, 800}})})
		in.Candidate = append(in.Candidate, Round{Requests: r.requests, Profile: build(types, r.scale,
			sample{getMalloc, []int64{250, 4000}},
			sample{getOnly, []int64{50, 800}},
			sample{put, []int64{50, 800}})})
	}
	in.Changed = []string{"service/internal/store/store.go", "README.md"}
	return in
}

func names(fs []Func) []string {
	var out []string
	for _, f := range fs {
		out = append(out, ShortName(f.Name))
	}
	return out
}

func find(t *testing.T, r Result, short string) Func {
	t.Helper()
	for _, f := range r.Funcs {
		if ShortName(f.Name) == short {
			return f
		}
	}
	t.Fatalf("no function %s in %v", short, names(r.Funcs))
	return Func{}
}

// TestHandMade checks every number of a diff whose answer is known exactly.
func TestHandMade(t *testing.T) {
	r, err := Diff(handMade(allocTypes), AllocObjects, DefaultOptions)
	require.NoError(t, err)
	assert.Equal(t, 3, r.Pairs)
	assert.Equal(t, 3.0, r.Baseline)
	assert.Equal(t, 7.0, r.Candidate)

	want := map[string]Func{
		"store.(*Store).Get": {File: "/src/service/internal/store/store.go", Line: 142, Changed: "service/internal/store/store.go",
			Flat: Change{0, 0, 0, false}, Cum: Change{2, 6, 4, true}},
		"store.decode": {File: "/src/service/internal/store/store.go", Line: 201, Changed: "service/internal/store/store.go",
			Flat: Change{0, 1, 1, true}, Cum: Change{2, 6, 4, true}},
		"runtime.mallocgc": {File: "/usr/local/go/src/runtime/malloc.go", Line: 1000,
			Flat: Change{2, 5, 3, true}, Cum: Change{2, 5, 3, true}},
		"cache.(*LRU[...]).Put": {File: "/src/service/internal/cache/lru.go", Line: 50,
			Flat: Change{1, 1, 0, false}, Cum: Change{1, 1, 0, false}},
		"main.handler": {File: "/src/service/cmd/tasksvc/main.go", Line: 20,
			Flat: Change{0, 0, 0, false}, Cum: Change{3, 7, 4, true}},
	}
	require.Len(t, r.Funcs, len(want))
	for _, f := range r.Funcs {
		w, ok := want[ShortName(f.Name)]
		require.True(t, ok, "unexpected function %s", f.Name)
		w.Name = f.Name
		assert.Equal(t, w, f)
	}
	assert.Equal(t, "github.com/perfgate/perfgate/service/internal/cache.(*LRU[...]).Put", find(t, r, "cache.(*LRU[...]).Put").Name)

	assert.Equal(t, []string{"runtime.mallocgc", "store.decode"}, names(r.Top(Flat, 10)), "flat: only what grew, largest first")
	assert.Equal(t, []string{"store.(*Store).Get", "store.decode", "main.handler", "runtime.mallocgc"}, names(r.Top(Cum, 10)), "cum: ties by name")
	assert.Equal(t, []string{"store.(*Store).Get"}, names(r.Top(Cum, 1)))

	assert.Equal(t, "+1 allocs/request in store.decode (service/internal/store/store.go:201, changed in this PR)",
		r.Line(find(t, r, "store.decode"), Flat))
	assert.Equal(t, "+4 allocs/request in store.(*Store).Get and its callees (service/internal/store/store.go:142, changed in this PR)",
		r.Line(find(t, r, "store.(*Store).Get"), Cum))

	space, err := Diff(handMade(allocTypes), AllocSpace, DefaultOptions)
	require.NoError(t, err)
	assert.Equal(t, 48.0, find(t, space, "runtime.mallocgc").Flat.Growth, "3 more objects of 16 B")
	assert.Equal(t, "+48B/request in runtime.mallocgc (/usr/local/go/src/runtime/malloc.go:1000)", space.Line(find(t, space, "runtime.mallocgc"), Flat))
}

// TestKept: a heap profile's delta over a round is negative where the round
// freed what was live at its start. A leak under Put, in every candidate
// round and in no baseline round, is above noise per 1,000 requests; churn
// under Get that frees in some rounds what it kept in others is not, nor is
// the baseline's total of zero an error. Both builds allocate the same under
// Put, the baseline freeing it again: the samples that count for the live
// heap are its own (inuse_space), not the allocations. The twin: the same
// rounds with no leak name nothing.
func TestKept(t *testing.T) {
	heapTypes := []*profile.ValueType{{Type: "alloc_objects", Unit: "count"}, {Type: "alloc_space", Unit: "bytes"},
		{Type: "inuse_objects", Unit: "count"}, {Type: "inuse_space", Unit: "bytes"}}
	rounds := func(leak int64) Input {
		var in Input
		churn := []int64{640, -320, -320} // sums to zero over the rounds
		jitter := []int64{64, -128, 64}   // the baseline's Put: an object or two kept or freed
		for i, scale := range []int64{1, 1, 1} {
			heap := func(leak int64) *profile.Profile {
				p := build(heapTypes, scale, sample{getMalloc, []int64{20, 640, churn[i] / 32, churn[i]}},
					sample{put, []int64{1000, 64000, leak / 64, leak}})
				p.PeriodType, p.Period = &profile.ValueType{Type: "space", Unit: "bytes"}, 64
				return p
			}
			in.Baseline = append(in.Baseline, Round{Requests: 1000, Profile: heap(jitter[i])})
			in.Candidate = append(in.Candidate, Round{Requests: 1000, Profile: heap(leak)})
		}
		return in
	}
	r, err := Diff(rounds(64000), InuseSpace, DefaultOptions)
	require.NoError(t, err, "a kept measure may be negative, and a baseline that kept nothing is an answer")
	assert.Equal(t, 0.0, r.Baseline)
	assert.Equal(t, 64000.0, r.Candidate, "64 B a request kept: 64,000 B per 1,000 requests")
	assert.Equal(t, Change{0, 64000, 64000, true}, find(t, r, "cache.(*LRU[...]).Put").Flat)
	assert.False(t, find(t, r, "runtime.mallocgc").Flat.AboveNoise, "churn that sums to zero")
	assert.Equal(t, []string{"cache.(*LRU[...]).Put"}, names(r.Top(Flat, 3)))
	assert.Equal(t, "+62.5KiB/1k kept in cache.(*LRU[...]).Put (/src/service/internal/cache/lru.go:50)",
		r.Line(find(t, r, "cache.(*LRU[...]).Put"), Flat))

	same, err := Diff(rounds(0), InuseSpace, DefaultOptions)
	require.NoError(t, err)
	for _, f := range same.Funcs {
		assert.False(t, f.Flat.AboveNoise || f.Cum.AboveNoise, "%s: nothing leaks", f.Name)
	}

	// Goroutines are counted, not sampled: 12 more in every candidate round.
	var g Input
	gTypes := []*profile.ValueType{{Type: "goroutine", Unit: "count"}}
	for range 3 {
		g.Baseline = append(g.Baseline, Round{Requests: 4000, Profile: build(gTypes, 1, sample{put, []int64{0}})})
		g.Candidate = append(g.Candidate, Round{Requests: 4000, Profile: build(gTypes, 1, sample{put, []int64{12}})})
	}
	gr, err := Diff(g, Goroutines, DefaultOptions)
	require.NoError(t, err)
	assert.Equal(t, "+3/1k goroutines kept in cache.(*LRU[...]).Put (/src/service/internal/cache/lru.go:50)",
		gr.Line(find(t, gr, "cache.(*LRU[...]).Put"), Flat))

	_, err = Diff(g, AllocSpace, DefaultOptions)
	assert.ErrorContains(t, err, "no alloc_space samples", "a goroutine profile is no allocation profile")
}

// A block profile's delay, in nanoseconds over a round, reads as seconds
// waited per request: 300 µs more under Get in every candidate round.
func TestDelay(t *testing.T) {
	blockTypes := []*profile.ValueType{{Type: "contentions", Unit: "count"}, {Type: "delay", Unit: "nanoseconds"}}
	var in Input
	for _, jitter := range []int64{1, 2, 3} {
		in.Baseline = append(in.Baseline, Round{Requests: 1000, Profile: build(blockTypes, 1,
			sample{getOnly, []int64{100, 10_000_000 + jitter}}, sample{put, []int64{10, 1_000_000}})})
		in.Candidate = append(in.Candidate, Round{Requests: 1000, Profile: build(blockTypes, 1,
			sample{getOnly, []int64{900, 310_000_000 - jitter}}, sample{put, []int64{10, 1_000_000}})})
	}
	r, err := Diff(in, Delay, DefaultOptions)
	require.NoError(t, err)
	assert.InDelta(t, 11e-6, r.Baseline, 1e-9, "11 ms over 1,000 requests")
	assert.Equal(t, []string{"store.decode"}, names(r.Top(Flat, 3)), "Put waits as long in both")
	assert.Equal(t, "+300µs waited/request in store.(*Store).Get and its callees (/src/service/internal/store/store.go:142)",
		r.Line(find(t, r, "store.(*Store).Get"), Cum))
}

// TestFewPairs: with fewer pairs than MinPairs values are still compared,
// but no growth is above noise.
func TestFewPairs(t *testing.T) {
	in := handMade(allocTypes)
	in.Baseline, in.Candidate = in.Baseline[:2], in.Candidate[:2]
	r, err := Diff(in, AllocObjects, DefaultOptions)
	require.NoError(t, err)
	got := find(t, r, "runtime.mallocgc").Flat
	assert.Equal(t, Change{2, 5, 3, false}, got)
	assert.Contains(t, r.Line(find(t, r, "runtime.mallocgc"), Flat), "not above noise")
}

// TestGolden renders the top rows of each measure's diff of the hand-made
// profiles; go test -update rewrites testdata/top.golden.
func TestGolden(t *testing.T) {
	var b strings.Builder
	for _, c := range []struct {
		m     Measure
		types []*profile.ValueType
	}{{AllocObjects, allocTypes}, {AllocSpace, allocTypes}, {CPU, cpuTypes}} {
		in := handMade(c.types)
		if c.m == CPU { // nanoseconds to microsecond-sized figures
			for _, rs := range [][]Round{in.Baseline, in.Candidate} {
				for _, r := range rs {
					r.Profile.Scale(1000)
				}
			}
		}
		r, err := Diff(in, c.m, DefaultOptions)
		require.NoError(t, err)
		for _, k := range []Kind{Flat, Cum} {
			fmt.Fprintf(&b, "%s %s:\n", c.m.SampleType, map[Kind]string{Flat: "flat", Cum: "cum"}[k])
			for _, f := range r.Top(k, 3) {
				fmt.Fprintf(&b, "  %s\n", r.Line(f, k))
			}
		}
	}
	// Three noisy pairs with 10% more allocations in mallocgc: figures that
	// do not divide evenly, and rows within noise.
	r, err := Diff(noisy(7, 3, 1.1), AllocSpace, DefaultOptions)
	require.NoError(t, err)
	b.WriteString("noisy alloc_space cum:\n")
	for _, f := range r.Top(Cum, 5) {
		fmt.Fprintf(&b, "  %s\n", r.Line(f, Cum))
	}
	got := b.String()
	path := filepath.Join("testdata", "top.golden")
	if *update {
		require.NoError(t, os.MkdirAll("testdata", 0o755))
		require.NoError(t, os.WriteFile(path, []byte(got), 0o644))
	}
	want, err := os.ReadFile(path)
	require.NoError(t, err, "run go test -update to create it")
	assert.Equal(t, string(want), got, "%s is stale or the rendering changed: review the diff, then go test -update", path)
}

// noisy is pairs of rounds of a service whose functions' allocations per
// request vary by 3% from round to round and whose request counts vary by 2%;
// grow multiplies the candidate's mallocgc under Get.
func noisy(seed uint64, pairs int, grow float64) Input {
	rng := rand.New(rand.NewPCG(seed, 0))
	jitter := func(v, sd float64) int64 { return int64(math.Round(v * (1 + sd*rng.NormFloat64()))) }
	round := func(g float64) Round {
		requests := jitter(1000, 0.02)
		per := float64(requests) / 1000
		return Round{Requests: requests, Profile: build(allocTypes, 1,
			sample{getMalloc, []int64{jitter(2000*per*g, 0.03), jitter(2<<20*per*g, 0.03)}},
			sample{getOnly, []int64{jitter(500*per, 0.03), jitter(1<<20*per, 0.03)}},
			sample{put, []int64{jitter(1000*per, 0.03), jitter(3<<20*per, 0.03)}})}
	}
	var in Input
	for range pairs {
		in.Baseline = append(in.Baseline, round(1))
		in.Candidate = append(in.Candidate, round(grow))
	}
	return in
}

// above lists the values above noise as "function kind".
func above(r Result) []string {
	var out []string
	for _, f := range r.Funcs {
		for k, c := range map[string]Change{"flat": f.Flat, "cum": f.Cum} {
			if c.AboveNoise {
				out = append(out, ShortName(f.Name)+" "+k)
			}
		}
	}
	return out
}

// TestAA: the same service on both sides says nothing above noise, for any
// seed and either measure.
func TestAA(t *testing.T) {
	for seed := range uint64(20) {
		for _, m := range []Measure{AllocObjects, AllocSpace} {
			r, err := Diff(noisy(seed, 5, 1), m, DefaultOptions)
			require.NoError(t, err)
			assert.Empty(t, above(r), "seed %d, %s", seed, m.SampleType)
		}
	}
}

// TestAATwin: 30% more allocations in mallocgc is above noise, in mallocgc
// and in its callers, and nowhere else.
func TestAATwin(t *testing.T) {
	for seed := range uint64(20) {
		r, err := Diff(noisy(seed, 5, 1.3), AllocObjects, DefaultOptions)
		require.NoError(t, err)
		assert.ElementsMatch(t, []string{"runtime.mallocgc flat", "runtime.mallocgc cum", "store.(*Store).Get cum", "store.decode cum", "main.handler cum"},
			above(r), "seed %d", seed)
		assert.Equal(t, []string{"runtime.mallocgc"}, names(r.Top(Flat, 1)))
	}
}

// TestHostile: bad input is a clear error, never a panic.
func TestHostile(t *testing.T) {
	good := func() Input { return handMade(allocTypes) }
	cases := []struct {
		name  string
		input func() Input
		m     Measure
		want  string
	}{
		{"no rounds", func() Input { return Input{} }, AllocObjects,
			"no profiled rounds: profile at least one pair"},
		{"unpaired rounds", func() Input { in := good(); in.Candidate = in.Candidate[:2]; return in }, AllocObjects,
			"3 baseline rounds but 2 candidate rounds: rounds are compared in pairs"},
		{"a round without a profile", func() Input { in := good(); in.Candidate[1].Profile = nil; return in }, AllocObjects,
			"candidate round 2: no profile"},
		{"a round that served no requests", func() Input { in := good(); in.Baseline[2].Requests = 0; return in }, AllocObjects,
			"baseline round 3: 0 requests served: values per request need at least one"},
		{"negative requests", func() Input { in := good(); in.Baseline[0].Requests = -5; return in }, AllocObjects,
			"baseline round 1: -5 requests served: values per request need at least one"},
		{"an empty profile", func() Input { in := good(); in.Baseline[0].Profile = &profile.Profile{}; return in }, AllocObjects,
			"baseline round 1: no alloc_objects samples: the profile has []; is it the right kind of profile?"},
		{"an allocation profile read as CPU", good, CPU,
			"baseline round 1: no cpu samples: the profile has [alloc_objects alloc_space]; is it the right kind of profile?"},
		{"a CPU profile on one side only", func() Input {
			in := good()
			in.Candidate[0].Profile = build(cpuTypes, 1, sample{getMalloc, []int64{1, 10_000_000}})
			return in
		}, AllocObjects, "candidate round 1: no alloc_objects samples: the profile has [samples cpu]; is it the right kind of profile?"},
		{"a sample type in the wrong unit", func() Input {
			in := good()
			in.Baseline[0].Profile.SampleType = []*profile.ValueType{{Type: "alloc_objects", Unit: "bytes"}, {Type: "alloc_space", Unit: "bytes"}}
			return in
		}, AllocObjects, "baseline round 1: alloc_objects samples are in bytes, which is not none"},
		{"a sample with too few values", func() Input {
			in := good()
			in.Baseline[1].Profile.Sample[0].Value = []int64{1}
			return in
		}, AllocObjects, "baseline round 2: malformed profile: mismatch: sample has 1 values vs. 2 types"},
		{"profiles with no samples", func() Input {
			in := good()
			for i := range in.Candidate {
				in.Candidate[i].Profile = build(allocTypes, 1)
			}
			return in
		}, AllocObjects, "candidate: no alloc_objects samples in any of 3 rounds: was the profiler on while requests were served?"},
		{"a negative value", func() Input {
			in := good()
			in.Candidate[2].Profile.Sample[1].Value[0] = -7
			return in
		}, AllocObjects, "candidate round 3: a negative alloc_objects value, -7: a delta taken from snapshots out of order, or across a restart?"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			var err error
			require.NotPanics(t, func() { _, err = Diff(c.input(), c.m, DefaultOptions) })
			require.EqualError(t, err, c.want)
		})
	}
}

// TestUnsymbolized: frames without function names read as addresses.
func TestUnsymbolized(t *testing.T) {
	bare := &profile.Location{ID: 1, Address: 0x4a2f10}
	p := &profile.Profile{SampleType: allocTypes, Location: []*profile.Location{bare},
		Sample: []*profile.Sample{{Location: []*profile.Location{bare}, Value: []int64{10, 100}}}}
	in := Input{Baseline: []Round{{p, 10}}, Candidate: []Round{{p, 5}}}
	r, err := Diff(in, AllocObjects, DefaultOptions)
	require.NoError(t, err)
	require.Len(t, r.Funcs, 1)
	assert.Equal(t, Func{Name: "0x4a2f10", Flat: Change{1, 2, 1, false}, Cum: Change{1, 2, 1, false}}, r.Funcs[0])
	assert.Equal(t, "+1 allocs/request in 0x4a2f10 (not above noise)", r.Line(r.Funcs[0], Flat))
}

func TestNames(t *testing.T) {
	for name, want := range map[string]string{
		"github.com/x/y/store.(*Store).Get":                      "store.(*Store).Get",
		"github.com/x/y/cache.(*LRU[go.shape.string,int]).Put":   "cache.(*LRU[...]).Put",
		"github.com/x/y/cache.Map[go.shape.[]uint8,a/b.T].func1": "cache.Map[...].func1",
		"github.com/x/y/cache.Map[...]":                          "cache.Map[...]",
		"runtime.mallocgc":                                       "runtime.mallocgc",
		"gopkg.in/yaml%2ev3.(*decoder).unmarshal":                "yaml%2ev3.(*decoder).unmarshal",
	} {
		assert.Equal(t, want, ShortName(readable(name)), name)
	}
}

func TestChangedPath(t *testing.T) {
	changed := []string{"./service/internal/store/store.go", "store.go", "", "/cmd\\main.go"}
	for file, want := range map[string]string{
		"/src/service/internal/store/store.go":                         "service/internal/store/store.go",
		"github.com/perfgate/perfgate/service/internal/store/store.go": "service/internal/store/store.go",
		"service/internal/store/store.go":                              "service/internal/store/store.go",
		"/src/store.go":                                                "store.go",
		"/src/service/internal/store/mystore.go":                       "",
		"/src/cmd/main.go":                                             "cmd/main.go",
		"":                                                             "",
	} {
		assert.Equal(t, want, changedPath(file, changed), file)
	}
}

// Three pairs of rounds of allocation profiles in, the functions whose
// allocations per request grew out, as reports write them.
func ExampleResult_Line() {
	r, err := Diff(handMade(allocTypes), AllocObjects, DefaultOptions)
	if err != nil {
		fmt.Println(err)
		return
	}
	for _, f := range r.Top(Flat, 2) {
		fmt.Println(r.Line(f, Flat))
	}
	// Output:
	// +3 allocs/request in runtime.mallocgc (/usr/local/go/src/runtime/malloc.go:1000)
	// +1 allocs/request in store.decode (service/internal/store/store.go:201, changed in this PR)
}

// TestOneSampleIsGrainNotGrowth: a CPU profile's sample is its period, 10ms.
// Put in no baseline sample and in one sample of every candidate round is
// steady and clears 1% of a total of 50 samples, yet 3 samples over 3 rounds
// are within 3 standard deviations of a Poisson count (√3 each). Five
// samples a round, 15 in all, are above noise.
func TestOneSampleIsGrainNotGrowth(t *testing.T) {
	const period = 10_000_000 // ns
	input := func(putSamples int64) Input {
		var in Input
		for range 3 {
			base := build(cpuTypes, 1, sample{getOnly, []int64{50, 50 * period}})
			cand := build(cpuTypes, 1, sample{getOnly, []int64{50, 50 * period}}, sample{put, []int64{putSamples, putSamples * period}})
			for _, p := range []*profile.Profile{base, cand} {
				p.PeriodType, p.Period = &profile.ValueType{Type: "cpu", Unit: "nanoseconds"}, period
			}
			in.Baseline = append(in.Baseline, Round{Requests: 2000, Profile: base})
			in.Candidate = append(in.Candidate, Round{Requests: 2000, Profile: cand})
		}
		return in
	}
	put := func(in Input, o Options) Change {
		r, err := Diff(in, CPU, o)
		require.NoError(t, err)
		return find(t, r, "cache.(*LRU[...]).Put").Flat
	}
	one := put(input(1), DefaultOptions)
	assert.InDelta(t, 5e-6, one.Growth, 1e-12, "one sample of 10ms over 2,000 requests")
	assert.False(t, one.AboveNoise, "one sample a round is the profile's grain")
	assert.True(t, put(input(5), DefaultOptions).AboveNoise, "five samples a round, in every round")

	// The twin: without the count the one sample passes for a growth.
	noCount := DefaultOptions
	noCount.SamplesZ = 0
	assert.True(t, put(input(1), noCount).AboveNoise)
}

// TestSmallObjectsAreCountedBySamples: in an allocation profile a sample is
// a period of bytes, so 3 more samples of 32-byte objects a round read as
// +0.75 allocations a request at a 16 KiB period and 2,048 requests, steady
// in every round, yet 9 samples against none are not more than 3 standard
// deviations (3·√9).
func TestSmallObjectsAreCountedBySamples(t *testing.T) {
	const period = 16 << 10
	perSample := int64(period / 32) // objects a sample of a 32-byte object stands for
	input := func(samples int64) Input {
		var in Input
		for range 3 {
			base := build(allocTypes, 1, sample{getMalloc, []int64{100 * perSample, 100 * period}})
			cand := build(allocTypes, 1, sample{getMalloc, []int64{100 * perSample, 100 * period}}, sample{put, []int64{samples * perSample, samples * period}})
			for _, p := range []*profile.Profile{base, cand} {
				p.PeriodType, p.Period = &profile.ValueType{Type: "space", Unit: "bytes"}, period
			}
			in.Baseline = append(in.Baseline, Round{Requests: 2048, Profile: base})
			in.Candidate = append(in.Candidate, Round{Requests: 2048, Profile: cand})
		}
		return in
	}
	r, err := Diff(input(3), AllocObjects, DefaultOptions)
	require.NoError(t, err)
	got := find(t, r, "cache.(*LRU[...]).Put").Flat
	assert.InDelta(t, 0.75, got.Growth, 1e-9)
	assert.False(t, got.AboveNoise, "9 samples in all")
	r, err = Diff(input(40), AllocObjects, DefaultOptions)
	require.NoError(t, err)
	assert.True(t, find(t, r, "cache.(*LRU[...]).Put").Flat.AboveNoise, "120 samples in all")
}

// TestAFunctionMovedByALineAboveItIsStillItself: a pull request that adds a
// line near the top of a file (an import) moves the first line of every
// function below it. Functions are matched across the builds by name, so
// the diff reads exactly as if nothing had moved.
func TestAFunctionMovedByALineAboveItIsStillItself(t *testing.T) {
	in := handMade(allocTypes)
	want, err := Diff(in, AllocObjects, DefaultOptions)
	require.NoError(t, err)
	for i, r := range in.Candidate {
		p := r.Profile.Copy()
		for _, f := range p.Function {
			f.StartLine++
		}
		in.Candidate[i].Profile = p
	}
	got, err := Diff(in, AllocObjects, DefaultOptions)
	require.NoError(t, err)
	assert.Equal(t, want.Funcs, got.Funcs)
}
