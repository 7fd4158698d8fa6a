package profdiff

import (
	"bytes"
	"runtime"
	"runtime/pprof"
	"strings"
	"testing"

	"github.com/google/pprof/profile"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

var sink [][]int64

// fill allocates n slices of T, so it shows in profiles as a generic
// instantiation.
//
//go:noinline
func fill[T any](n int) [][]T {
	out := make([][]T, 0, n)
	for range n {
		out = append(out, make([]T, 16))
	}
	return out
}

// allocs is the allocation profile of this process now.
func allocs(t *testing.T) *profile.Profile {
	t.Helper()
	runtime.GC()
	var buf bytes.Buffer
	require.NoError(t, pprof.Lookup("allocs").WriteTo(&buf, 0))
	p, err := profile.Parse(&buf)
	require.NoError(t, err)
	return p
}

// allocRound is what n calls of fill allocate, as a profiled round would
// record it: the allocation profile at its end minus the one at its start.
func allocRound(t *testing.T, n int) *profile.Profile {
	t.Helper()
	return allocated(t, func() { sink = fill[int64](n) })
}

// allocated is what run allocates, as a profiled round would record it.
func allocated(t *testing.T, run func()) *profile.Profile {
	t.Helper()
	start := allocs(t)
	run()
	end := allocs(t)
	start.Scale(-1)
	d, err := profile.Merge([]*profile.Profile{end, start})
	require.NoError(t, err)
	return d
}

// TestRealProfile diffs allocation profiles written by Go's runtime, so the
// names, files and lines are the ones a service's profiles carry: a generic
// function reads fill[...] and its file is matched by its module path.
func TestRealProfile(t *testing.T) {
	defer func(rate int) { runtime.MemProfileRate = rate }(runtime.MemProfileRate)
	runtime.MemProfileRate = 1 // record every allocation, so the counts are exact

	var in Input
	for range 3 {
		in.Baseline = append(in.Baseline, Round{Profile: allocRound(t, 1000), Requests: 1000})
		in.Candidate = append(in.Candidate, Round{Profile: allocRound(t, 3000), Requests: 1000})
	}
	in.Changed = []string{"perftest/internal/profdiff/real_test.go"}
	r, err := Diff(in, AllocObjects, DefaultOptions)
	require.NoError(t, err)
	f := find(t, r, "profdiff.fill[...]")
	assert.Equal(t, "github.com/perfgate/perfgate/perftest/internal/profdiff.fill[...]", f.Name)
	assert.Equal(t, "perftest/internal/profdiff/real_test.go", f.Changed)
	assert.InDelta(t, 2.0, f.Flat.Growth, 0.05, "two more slices per request")
	t.Logf("%s; total %.3g → %.3g", r.Line(f, Flat), r.Baseline, r.Candidate)
	assert.Equal(t, int64(24), f.Line, "the line that allocates")
	assert.True(t, f.Flat.AboveNoise)
	// The profiler's own allocations grow from round to round as the
	// profiles do, a drift the noise rule does not take for a growth.
	var above []string
	for _, g := range r.Funcs {
		if g.Flat.AboveNoise {
			above = append(above, g.Name)
		}
	}
	assert.Equal(t, []string{f.Name}, above)
}

// filling returns a closure that fills n slices. It is small enough to be
// inlined, so the compiler makes a copy of its closure wherever it is called.
func filling(n int) func() {
	return func() { sink = fill[int64](n) }
}

// handlers makes one closure at each of three call sites of filling, as a
// service wraps each route's handler.
func handlers(n int) []func() {
	return []func(){filling(n), filling(n), filling(n)}
}

// TestRealInlinedClosureIsOneFunction diffs a closure whose maker was
// inlined at three call sites: the runtime names the three copies apart
// (profdiff.handlers.filling.func1, …), and the diff counts them as the one
// piece of source they are, so its growth is not split three ways.
func TestRealInlinedClosureIsOneFunction(t *testing.T) {
	defer func(rate int) { runtime.MemProfileRate = rate }(runtime.MemProfileRate)
	runtime.MemProfileRate = 1

	run := func(n int) func() {
		return func() {
			for _, h := range handlers(n) {
				h()
			}
		}
	}
	var in Input
	for range 3 {
		in.Baseline = append(in.Baseline, Round{Profile: allocated(t, run(100)), Requests: 1000})
		in.Candidate = append(in.Candidate, Round{Profile: allocated(t, run(300)), Requests: 1000})
	}
	r, err := Diff(in, AllocObjects, DefaultOptions)
	require.NoError(t, err)
	var closures []Func
	for _, f := range r.Funcs {
		if strings.Contains(f.Name, "filling.func") {
			closures = append(closures, f)
		}
	}
	require.Len(t, closures, 1, "the copies are one function: %v", names(closures))
	f := closures[0]
	assert.Equal(t, 3, f.Copies, "three call sites, three copies")
	assert.InDelta(t, 0.6, f.Cum.Growth, 0.01, "three closures, each filling 200 more slices a round of 1,000 requests")
	assert.True(t, f.Cum.AboveNoise)
	assert.Contains(t, r.Line(f, Cum), "3 inlined copies")
	t.Log(r.Line(f, Cum))
}
