package telemetry

import (
	"runtime"
	"runtime/metrics"
	"testing"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/testutil"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

var sink []*[64]byte

// allocsSeen gathers reg, allocates n objects of 64 bytes, gathers again and
// returns how much the two allocation counters grew.
func allocsSeen(t *testing.T, reg *prometheus.Registry, n int) (objects, bytes float64) {
	t.Helper()
	read := func() (float64, float64) {
		mfs, err := reg.Gather()
		require.NoError(t, err)
		var o, b float64
		for _, mf := range mfs {
			switch mf.GetName() {
			case "go_memstats_mallocs_total":
				require.Equal(t, "COUNTER", mf.GetType().String(), "the counter keeps its name and type")
				o = mf.GetMetric()[0].GetCounter().GetValue()
			case "go_memstats_alloc_bytes_total":
				b = mf.GetMetric()[0].GetCounter().GetValue()
			}
		}
		return o, b
	}
	o0, b0 := read()
	for range n {
		sink = append(sink, new([64]byte))
	}
	o1, b1 := read()
	sink = nil
	return o1 - o0, b1 - b0
}

func TestAllocationCountersAreExact(t *testing.T) {
	reg := NewRegistry(BuildInfo{})
	for range 5 {
		objects, bytes := allocsSeen(t, reg, 10)
		// Ten objects, plus what gathering itself allocates between the two reads.
		assert.GreaterOrEqual(t, objects, 10.0)
		assert.GreaterOrEqual(t, bytes, 640.0)
	}
	// The exported value is ReadMemStats' own, read during the scrape.
	var before, after runtime.MemStats
	runtime.ReadMemStats(&before)
	mfs, err := reg.Gather()
	require.NoError(t, err)
	runtime.ReadMemStats(&after)
	for _, mf := range mfs {
		if mf.GetName() == "go_memstats_mallocs_total" {
			v := mf.GetMetric()[0].GetCounter().GetValue()
			assert.GreaterOrEqual(t, v, float64(before.Mallocs))
			assert.LessOrEqual(t, v, float64(after.Mallocs))
		}
	}
	problems, err := testutil.GatherAndLint(reg)
	require.NoError(t, err)
	assert.Empty(t, problems)
}

// The twin: runtime/metrics, where client_golang's Go collector reads these
// counters, misses small allocations still in the per-P span caches, the
// noise the wrapper removes.
func TestRuntimeMetricsMissCachedAllocations(t *testing.T) {
	read := func() uint64 {
		s := []metrics.Sample{{Name: "/gc/heap/allocs:objects"}}
		metrics.Read(s)
		return s[0].Value.Uint64()
	}
	missed := 0
	for range 5 {
		var ms runtime.MemStats
		runtime.ReadMemStats(&ms) // flush the caches: start from an exact count
		before := read()
		for range 10 {
			sink = append(sink, new([64]byte))
		}
		if read()-before < 10 {
			missed++
		}
		sink = nil
	}
	assert.Positive(t, missed, "runtime/metrics counted every one of 10 small allocations in 5 tries")
}

// go_gc_heap_live_bytes is the heap the last GC found live: what the gate's
// heap_growth reads. Memory kept across a GC raises it by that much; the
// same memory dropped lowers it again.
func TestLiveHeapGaugeFollowsRetainedMemory(t *testing.T) {
	reg := NewRegistry(BuildInfo{})
	live := func() float64 {
		runtime.GC()
		mfs, err := reg.Gather()
		require.NoError(t, err)
		for _, mf := range mfs {
			if mf.GetName() == "go_gc_heap_live_bytes" {
				require.Equal(t, "GAUGE", mf.GetType().String())
				return mf.GetMetric()[0].GetGauge().GetValue()
			}
		}
		t.Fatal("the registry exports no go_gc_heap_live_bytes")
		return 0
	}
	before := live()
	kept := make([]*[1024]byte, 8192) // 8 MiB in 1 KiB objects
	for i := range kept {
		kept[i] = new([1024]byte)
	}
	grown := live()
	assert.InDelta(t, 8<<20, grown-before, 1<<20, "8 MiB kept across a GC")
	runtime.KeepAlive(kept)
	kept = nil
	assert.Less(t, live(), grown-4<<20, "and gone once dropped")
}
