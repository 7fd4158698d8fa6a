package gate

import (
	"bytes"
	"compress/gzip"
	"net/http"
	"net/http/httptest"
	"net/http/pprof"
	"runtime"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/google/pprof/profile"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/perfgate/perfgate/perftest/internal/compare"
	"github.com/perfgate/perfgate/perftest/internal/stack"
)

// profiled is a process serving Go's profiles as a service with -pprof does.
func profiled(t *testing.T) stack.Replica {
	mux := http.NewServeMux()
	mux.HandleFunc("/debug/pprof/", pprof.Index)
	mux.HandleFunc("/debug/pprof/profile", pprof.Profile)
	srv := httptest.NewServer(mux)
	t.Cleanup(srv.Close)
	return stack.Replica{Name: "replica-1", Variant: Candidate, URL: srv.URL}
}

var sink, kept [][]byte

//go:noinline
func allocateForTheRound(n int) {
	for range n {
		sink = append(sink, make([]byte, 4096))
	}
	sink = nil
}

//go:noinline
func keepForever(n int) {
	for range n {
		kept = append(kept, make([]byte, 64<<10))
	}
}

//go:noinline
func waitForever(done <-chan struct{}) { <-done }

var held sync.Mutex

// waitForTheLock blocks on held until it is free: a request waiting on a lock.
//
//go:noinline
func waitForTheLock() {
	held.Lock()
	held.Unlock() //nolint:staticcheck // the wait is the point
}

func TestProfileRoundTakesTheCPUProfileAndTheAllocationsOfTheRound(t *testing.T) {
	if testing.Short() {
		t.Skip("profiles a one-second round")
	}
	ran := false
	done := make(chan struct{})
	t.Cleanup(func() { close(done); kept = nil })
	// Every 64 KiB object sampled, so the kept heap is exact, not an estimate.
	rate := runtime.MemProfileRate
	runtime.MemProfileRate = 4096
	t.Cleanup(func() { runtime.MemProfileRate = rate })
	// Every blocking event recorded, so the wait is exact too.
	runtime.SetBlockProfileRate(1)
	t.Cleanup(func() { runtime.SetBlockProfileRate(0) })
	held.Lock() // a wait of 100 ms before the round, which is not the round's
	var before sync.WaitGroup
	before.Go(waitForTheLock)
	time.Sleep(100 * time.Millisecond)
	held.Unlock()
	before.Wait()
	p, err := profileRound(t.Context(), []stack.Replica{profiled(t)}, "/debug/pprof", time.Second, func() error {
		ran = true
		held.Lock()
		var waited sync.WaitGroup
		for range 3 { // 3 requests wait 50 ms each for a lock
			waited.Go(waitForTheLock)
		}
		time.Sleep(50 * time.Millisecond)
		held.Unlock()
		waited.Wait()
		deadline := time.Now().Add(900 * time.Millisecond)
		for time.Now().Before(deadline) {
			allocateForTheRound(64)
		}
		keepForever(64) // 4 MiB the round leaves live
		for range 7 {
			go waitForever(done) // and 7 goroutines it leaves waiting
		}
		return nil
	})
	require.NoError(t, err)
	require.True(t, ran)
	cpu, allocs, goroutines, block := p["cpu"], p["allocs"], p["goroutine"], p["block"]
	require.NotNil(t, cpu)
	require.NotNil(t, allocs)
	assert.Equal(t, "cpu", cpu.SampleType[len(cpu.SampleType)-1].Type)

	// The allocations are the round's: the function that allocated in it is there, with a positive count.
	objects := -1
	for i, st := range allocs.SampleType {
		if st.Type == "alloc_objects" {
			objects = i
		}
	}
	require.GreaterOrEqual(t, objects, 0)
	var mine int64
	for _, s := range allocs.Sample {
		for _, loc := range s.Location {
			for _, line := range loc.Line {
				if strings.HasSuffix(line.Function.Name, "allocateForTheRound") {
					mine += s.Value[objects]
				}
			}
		}
	}
	assert.Positive(t, mine, "the round's own allocations")

	// What the round left behind: the heap read after a GC at both ends
	// keeps what keepForever allocated, and 7 more goroutines wait.
	inuse := -1
	for i, st := range allocs.SampleType {
		if st.Type == "inuse_space" {
			inuse = i
		}
	}
	require.GreaterOrEqual(t, inuse, 0)
	assert.InDelta(t, 4<<20, sumWhere(allocs, inuse, "keepForever"), 64<<10, "the live heap the round kept")
	// Of the round's garbage, hundreds of MiB, at most an object or two a
	// goroutine's stack still held when the GC ran.
	assert.Less(t, sumWhere(allocs, inuse, "allocateForTheRound"), int64(64<<10), "garbage is not kept: the heap is read after a GC")
	require.NotNil(t, goroutines)
	assert.Equal(t, int64(7), sumWhere(goroutines, 0, "waitForever"))

	// Where the round's requests waited: the block profile's change holds
	// the three waits for the lock, about 50 ms each, and nothing from
	// before the round.
	require.NotNil(t, block)
	delay := slices.IndexFunc(block.SampleType, func(v *profile.ValueType) bool { return v.Type == "delay" })
	require.GreaterOrEqual(t, delay, 0)
	assert.InDelta(t, 150*time.Millisecond, time.Duration(sumWhere(block, delay, "waitForTheLock")), float64(60*time.Millisecond))
}

// sumWhere sums value i of the samples with fn on their stack.
func sumWhere(p *profile.Profile, i int, fn string) int64 {
	var n int64
	for _, s := range p.Sample {
		if slices.ContainsFunc(s.Location, func(loc *profile.Location) bool {
			return slices.ContainsFunc(loc.Line, func(l profile.Line) bool { return strings.HasSuffix(l.Function.Name, fn) })
		}) {
			n += s.Value[i]
		}
	}
	return n
}

func TestProfileRoundSaysWhenTheServiceServesNoProfiles(t *testing.T) {
	srv := httptest.NewServer(http.NotFoundHandler())
	defer srv.Close()
	_, err := profileRound(t.Context(), []stack.Replica{{Name: "replica-1", URL: srv.URL}}, "/debug/pprof", time.Second, func() error { return nil })
	require.Error(t, err)
	assert.Contains(t, err.Error(), "/debug/pprof/block: 404 Not Found")
}

func TestOnlyWorseMetricsAreProfiled(t *testing.T) {
	res := compare.Result{Rows: []compare.Row{
		{Metric: "allocs_per_request", Status: compare.Worse},
		{Metric: "p95_latency", Status: compare.Same},
		{Metric: "throughput", Status: compare.Better},
	}}
	assert.Equal(t, []string{"allocs_per_request"}, worseMetrics(res))
	assert.Empty(t, worseMetrics(compare.Result{}))
	assert.Equal(t, []toDiff{{"allocs_per_request", true}}, profiledMetrics(res, false))
}

// Profiling always diffs one metric of each profile the worse ones leave out,
// so a green comparison's diff is on record too; a metric no profile tells
// about (error_rate) is not diffed.
func TestProfilingAlwaysDiffsEachProfileOnce(t *testing.T) {
	rows := func(worse string) compare.Result {
		var res compare.Result
		for _, m := range []string{"error_rate", "peak_rss", "allocs_per_request", "alloc_bytes_per_request", "p95_latency", "cpu_per_request", "heap_growth"} {
			st := compare.Same
			if m == worse {
				st = compare.Worse
			}
			res.Rows = append(res.Rows, compare.Row{Metric: m, Status: st})
		}
		return res
	}
	assert.Empty(t, profiledMetrics(rows(""), false), "green, profiling after a worse metric: nothing to diff")
	assert.Equal(t, []toDiff{{"peak_rss", false}, {"allocs_per_request", false}, {"alloc_bytes_per_request", false}, {"p95_latency", false}},
		profiledMetrics(rows(""), true))
	assert.Equal(t, []toDiff{{"cpu_per_request", true}, {"peak_rss", false}, {"allocs_per_request", false}, {"alloc_bytes_per_request", false}},
		profiledMetrics(rows("cpu_per_request"), true), "the worse metric stands for the CPU profile")
	assert.Equal(t, []toDiff{{"heap_growth", true}, {"allocs_per_request", false}, {"alloc_bytes_per_request", false}, {"p95_latency", false}},
		profiledMetrics(rows("heap_growth"), true), "the worse metric stands for the live heap")
}

func TestProfileWhenTakesWorseAlwaysOrNever(t *testing.T) {
	for in, want := range map[string]ProfileWhen{"": "", "worse": ProfileWorse, "always": ProfileAlways, "never": ProfileNever} {
		var p ProfileWhen
		require.NoError(t, p.Set(in), in)
		assert.Equal(t, want, p, in)
	}
	var p ProfileWhen
	err := p.Set("sometimes")
	require.Error(t, err)
	assert.Contains(t, err.Error(), `profile "sometimes": say worse`)
	// A flag set to worse holds against the variable; one left unset takes it.
	always := func(k string) string { return map[string]string{Env.Profile: "always"}[k] }
	assert.Equal(t, ProfileWorse, Settings{Profile: ProfileWorse}.WithEnv(always).Profile)
	assert.Equal(t, ProfileAlways, Settings{}.WithEnv(always).Profile)

	s := Settings{}.WithEnv(func(k string) string { return map[string]string{Env.Profile: "sometimes"}[k] })
	_, err = Gate(t.Context(), s)
	require.Error(t, err)
	assert.Contains(t, err.Error(), "PERF_PROFILE=sometimes: say worse, always or never")
	assert.True(t, badInput(err))
}

func TestAProfileIsReadWithinItsCapAndNeverFollowsARedirect(t *testing.T) {
	var buf bytes.Buffer
	zw := gzip.NewWriter(&buf)
	_, _ = zw.Write(make([]byte, maxProfile+1)) // inflates past the cap from a few KiB
	require.NoError(t, zw.Close())
	_, err := parseProfile(&buf)
	require.Error(t, err)
	assert.Contains(t, err.Error(), "profile larger than")

	redirect := httptest.NewServer(http.RedirectHandler("http://192.0.2.1/debug/pprof/allocs", http.StatusFound))
	defer redirect.Close()
	_, err = profileRound(t.Context(), []stack.Replica{{Name: "replica-1", URL: redirect.URL}}, "/debug/pprof", time.Second, func() error { return nil })
	require.Error(t, err)
	assert.Contains(t, err.Error(), "302 Found", "answered, not followed off the replica")
}

// The report directory holds one set of merged profiles: the bursty pairs'
// block profile, which the wait's diff read, and the evenly paced pairs' others.
func TestKeepFilesGivesEachDiffTheProfilesItRead(t *testing.T) {
	even, bursty := &profile.Profile{}, &profile.Profile{}
	set := func(p *profile.Profile) map[string]*profile.Profile {
		out := map[string]*profile.Profile{}
		for _, v := range []string{Baseline, Candidate} {
			for _, name := range []string{"cpu", "allocs", "goroutine", "block"} {
				out[profileFile(v, name)] = p
			}
		}
		return out
	}
	dst := map[string]*profile.Profile{}
	keepFiles(dst, set(even), []toDiff{{metric: "allocs_per_request"}})
	keepFiles(dst, set(bursty), []toDiff{{metric: "wait_per_request"}})
	require.Len(t, dst, 8)
	assert.Same(t, bursty, dst["candidate.block.pb.gz"], "the wait's diff read the bursty pairs")
	assert.Same(t, bursty, dst["baseline.block.pb.gz"])
	assert.Same(t, even, dst["candidate.allocs.pb.gz"], "the allocations' diff read the evenly paced pairs")
	assert.Same(t, even, dst["baseline.cpu.pb.gz"], "the first set's, where no diff of the second read it")
}
