package profdiff

import (
	"bytes"
	"runtime"
	"runtime/pprof"
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
	start := allocs(t)
	sink = fill[int64](n)
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
	assert.Equal(t, int64(23), f.Line, "the line that allocates")
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
