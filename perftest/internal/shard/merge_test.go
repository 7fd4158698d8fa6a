package shard

import (
	"fmt"
	"math"
	"math/rand/v2"
	"slices"
	"testing"
	"time"

	"github.com/HdrHistogram/hdrhistogram-go"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// Merged percentiles of three shards equal those of one histogram of every
// sample, and both are within HDR precision of the exact percentiles.
func TestMergedPercentilesMatchOneHistogram(t *testing.T) {
	const count, perShard = 3, 10_000
	rng := rand.New(rand.NewPCG(11, 3))
	results := make([]Result, count)
	for i := range results {
		results[i] = sample(i, count)
		results[i].Latency = Histogram{Histogram: newHist()}
	}
	all := newHist()
	var exact []int64
	for k := range uint64(count * perShard) {
		// Log-normal around 2 ms with a long tail, in microseconds.
		v := int64(math.Exp(math.Log(2000)+0.8*rng.NormFloat64())) + 1
		exact = append(exact, v)
		require.NoError(t, all.RecordValue(v))
		for i := range results {
			if results[i].Shard.Owns(k) {
				require.NoError(t, results[i].Latency.RecordValue(v))
			}
		}
	}
	for _, r := range results {
		require.EqualValues(t, perShard, r.Latency.TotalCount())
	}
	slices.Sort(exact)

	m, err := Merge(results, count, DefaultTolerance)
	require.NoError(t, err)
	require.False(t, m.Incomplete, m.Reason)
	assert.True(t, m.Latency.Equals(all), "the merged histogram is the histogram of all samples")
	precision := math.Pow10(-int(all.SignificantFigures()))
	for _, q := range []float64{50, 95, 99} {
		t.Run(fmt.Sprintf("p%g", q), func(t *testing.T) {
			got := m.Latency.ValueAtQuantile(q)
			assert.Equal(t, all.ValueAtQuantile(q), got)
			// The rank HDR uses: q% of the samples, rounded, at least one.
			want := exact[max(1, int(q/100*float64(len(exact))+0.5))-1]
			assert.True(t, all.ValuesAreEquivalent(want, got), "p%g: merged %d µs, exact %d µs", q, got, want)
			assert.InEpsilon(t, float64(want), float64(got), precision)
		})
	}
	// The inputs are untouched: Merge works on copies.
	for _, r := range results {
		assert.EqualValues(t, perShard, r.Latency.TotalCount())
	}
}

func TestMergeAddsUp(t *testing.T) {
	a, b, c := sample(0, 3), sample(1, 3), sample(2, 3)
	b.Started, b.End, b.MeasuredFrom = t0.Add(time.Millisecond), t0.Add(11*time.Second), t0.Add(2*time.Second+5*time.Millisecond)
	b.Sent, b.Completed, b.OK, b.Errors, b.Dropped = 10, 9, 8, 1, 2
	b.ByStatus = map[string]int64{"200": 8, "503": 1, "error": 1}
	b.ByTemplate = map[string]TemplateStats{
		"list":   {Count: 7, Errors: 1, Latency: hist(5000)},
		"create": {Count: 1, Latency: hist(700)}, // a and c have none: the merge has none
		"delete": {Count: 2, Latency: hist(800, 900)},
	}
	b.Templates = []string{"list", "create", "delete"}
	b.TargetRate, b.AchievedRate = 12.5, 12
	b.Timeline = []Second{{T: 1, TargetRate: 1, Rate: 1}, {T: 2, TargetRate: 2, Rate: 2, Errors: 1}, {T: 3, TargetRate: 3, Rate: 1, Dropped: 2}, {T: 4, TargetRate: 4, Rate: 4}}
	c.Timeline = c.Timeline[:1]                                                                                           // a shard whose timeline is shorter
	a.ByTemplate = map[string]TemplateStats{"list": a.ByTemplate["list"], "create": a.ByTemplate["create"], "delete": {}} // sent none
	a.Templates = []string{"list", "create", "delete"}

	m, err := Merge([]Result{c, a, b}, 3, DefaultTolerance) // in any order
	require.NoError(t, err)

	assert.False(t, m.Incomplete)
	assert.Empty(t, m.Reason)
	assert.Empty(t, m.Late)
	assert.Equal(t, []int{0, 1, 2}, m.Shards)
	assert.Equal(t, 3, m.Count)
	assert.Equal(t, t0, m.StartAt)
	assert.Equal(t, t0.Add(time.Millisecond), m.Started, "the earliest start")
	assert.Equal(t, t0.Add(11*time.Second), m.End, "the latest end")
	assert.Equal(t, t0.Add(2*time.Second+5*time.Millisecond), m.MeasuredFrom, "the latest")
	assert.EqualValues(t, 610, m.Sent)
	assert.EqualValues(t, 605, m.Completed)
	assert.EqualValues(t, 598, m.OK)
	assert.EqualValues(t, 9, m.Errors)
	assert.EqualValues(t, 4, m.Dropped)
	assert.Equal(t, map[string]int64{"200": 508, "201": 90, "500": 6, "503": 1, "timeout": 2, "error": 1}, m.ByStatus)
	assert.Equal(t, []string{"list", "create", "delete"}, m.Templates)
	assert.InDelta(t, 87.5, m.TargetRate, 1e-12)
	assert.InDelta(t, 86.75, m.AchievedRate, 1e-12)
	assert.Equal(t, []Second{
		{T: 1, TargetRate: 26, Rate: 26},
		{T: 2, TargetRate: 27, Rate: 26, Errors: 1, Dropped: 1},
		{T: 3, TargetRate: 40.5, Rate: 38.5, Errors: 4, Dropped: 2},
		{T: 4, TargetRate: 4, Rate: 4},
	}, m.Timeline)

	assert.EqualValues(t, 15, m.Latency.TotalCount())
	assert.EqualValues(t, 12, m.SendLag.TotalCount())
	list := m.ByTemplate["list"]
	assert.EqualValues(t, 507, list.Count)
	assert.EqualValues(t, 5, list.Errors)
	assert.EqualValues(t, 7, list.Latency.TotalCount())
	assert.True(t, list.Latency.ValuesAreEquivalent(5000, list.Latency.Max()), "b's slow request is in")
	create := m.ByTemplate["create"]
	assert.EqualValues(t, 99, create.Count)
	assert.Nil(t, create.Latency.Histogram, "a latency of some shards only would not be the template's")
	assert.EqualValues(t, 2, m.ByTemplate["delete"].Latency.TotalCount(), "a template only one shard sent")
	assert.EqualValues(t, 2, m.ByTemplate["delete"].Count)
}

func TestMergeProblems(t *testing.T) {
	late := func(r Result, d time.Duration) Result { r.Started = r.StartAt.Add(d); return r }
	tests := []struct {
		name      string
		results   []Result
		count     int
		tolerance time.Duration

		reason             string // "" when complete
		missing, duplicate []int
		shards             []int
		late               []Late
		sent               int64
	}{
		{
			name:    "every shard on time is complete",
			results: []Result{sample(0, 3), sample(1, 3), sample(2, 3)}, count: 3, tolerance: DefaultTolerance,
			shards: []int{0, 1, 2}, sent: 900,
		},
		{
			name:    "a killed shard makes the run incomplete",
			results: []Result{sample(0, 3), sample(2, 3)}, count: 3, tolerance: DefaultTolerance,
			reason: "no result from shard 1/3", missing: []int{1}, shards: []int{0, 2}, sent: 600,
		},
		{
			name:    "two shards missing",
			results: []Result{sample(1, 3)}, count: 3, tolerance: DefaultTolerance,
			reason: "no result from shards 0/3, 2/3", missing: []int{0, 2}, shards: []int{1}, sent: 300,
		},
		{
			name:    "twelve of thirteen missing are named up to ten",
			results: []Result{sample(12, 13)}, count: 13, tolerance: DefaultTolerance,
			reason:  "no result from shards 0/13, 1/13, 2/13, 3/13, 4/13, 5/13, 6/13, 7/13, 8/13, 9/13, … (12 in all)",
			missing: []int{0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11}, shards: []int{12}, sent: 300,
		},
		{
			name:    "no shard at all",
			results: nil, count: 2, tolerance: DefaultTolerance,
			reason: "no shard has a result", missing: []int{0, 1},
		},
		{
			name:    "a shard twice, in place of another, is counted once",
			results: []Result{sample(0, 3), sample(2, 3), sample(2, 3)}, count: 3, tolerance: DefaultTolerance,
			reason:  "no result from shard 1/3; more than one result from shard 2/3 (the first was merged)",
			missing: []int{1}, duplicate: []int{2}, shards: []int{0, 2}, sent: 600,
		},
		{
			name:    "a shard that started 250 ms late is flagged",
			results: []Result{sample(0, 2), late(sample(1, 2), 250*time.Millisecond)}, count: 2, tolerance: DefaultTolerance,
			shards: []int{0, 1}, late: []Late{{Shard: Plan{1, 2}, Delay: 250 * time.Millisecond}}, sent: 600,
		},
		{
			name:    "a shard exactly the tolerance late is not",
			results: []Result{late(sample(0, 2), 100*time.Millisecond), sample(1, 2)}, count: 2, tolerance: 100 * time.Millisecond,
			shards: []int{0, 1}, sent: 600,
		},
		{
			name:    "the tolerance is the caller's",
			results: []Result{late(sample(0, 2), 250*time.Millisecond), late(sample(1, 2), 2*time.Second)}, count: 2, tolerance: time.Second,
			shards: []int{0, 1}, late: []Late{{Shard: Plan{1, 2}, Delay: 2 * time.Second}}, sent: 600,
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			m, err := Merge(tt.results, tt.count, tt.tolerance)
			require.NoError(t, err)
			assert.Equal(t, tt.reason != "", m.Incomplete)
			assert.Equal(t, tt.reason, m.Reason)
			assert.Equal(t, tt.missing, m.Missing)
			assert.Equal(t, tt.duplicate, m.Duplicate)
			assert.Equal(t, tt.shards, m.Shards)
			assert.Equal(t, tt.late, m.Late)
			assert.Equal(t, tt.sent, m.Sent)
		})
	}
}

func TestMergeErrors(t *testing.T) {
	otherStart := sample(1, 2)
	otherStart.StartAt = t0.Add(time.Minute)
	otherStart.Started, otherStart.End = otherStart.StartAt, otherStart.StartAt.Add(10*time.Second)
	coarse := sample(1, 2)
	coarse.SendLag = Histogram{Histogram: hdrhistogram.New(1, int64(time.Hour/time.Microsecond), 2)}
	bad := sample(1, 2)
	bad.Dropped = -3
	otherSpec := sample(1, 2)
	otherSpec.Spec = "60303ae22b998861bce3b28f33eec1be758a213c86c93c076dbe9f558c11c752"

	tests := []struct {
		name      string
		results   []Result
		count     int
		tolerance time.Duration
		err       string
	}{
		{
			name:    "a shard planned for another count",
			results: []Result{sample(0, 2), sample(1, 3)}, count: 2,
			err: "merge: shard 1/3 was planned for 3 shards, the run for 2",
		},
		{
			name:    "a shard of another run",
			results: []Result{sample(0, 2), otherStart}, count: 2,
			err: "merge: shard 1/2 was told to start at 2026-12-02T15:01:00Z, shard 0/2 at 2026-12-02T15:00:00Z: they are not of one run",
		},
		{
			name:    "a shard of another spec",
			results: []Result{sample(0, 2), otherSpec}, count: 2,
			err: "merge: shard 1/2 ran the spec with SHA-256 60303ae22b99…, shard 0/2 the one with 9f86d081884c…: they are not of one run",
		},
		{
			name:    "histograms of another precision",
			results: []Result{sample(0, 2), coarse}, count: 2,
			err: "merge: shard 1/2: send_lag histogram covers 1 to 3600000000 at 2 significant figures, " +
				"shard 0/2's covers 1 to 3600000000 at 3 significant figures: every shard must record alike",
		},
		{
			name:    "an invalid result",
			results: []Result{sample(0, 2), bad}, count: 2,
			err: "merge: shard result 1/2: dropped: -3 is negative",
		},
		{
			name: "no count", count: 0,
			err: "merge: count 0: must be at least 1",
		},
		{
			name: "a count of 2^62, before anything is sized by it", count: 1 << 62,
			err: "merge: count 4611686018427387904: must be at most 10000",
		},
		{
			name: "a negative tolerance", count: 1, tolerance: -time.Millisecond,
			err: "merge: tolerance -1ms: must not be negative",
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := Merge(tt.results, tt.count, tt.tolerance)
			require.EqualError(t, err, tt.err)
		})
	}
}

func ExampleMerge() {
	start := time.Date(2026, 12, 2, 15, 0, 0, 0, time.UTC)
	shard := func(i int, startedAfter time.Duration) Result {
		return Result{
			Shard: Plan{Index: i, Count: 3}, StartAt: start, Started: start.Add(startedAfter),
			End: start.Add(10 * time.Second), MeasuredFrom: start.Add(2 * time.Second),
			Spec:   "9f86d081884c7d659a2feaa0c55ad015a3bf4f1b2b0b822cd15d6c15b0f00a08",
			Totals: Totals{Sent: 100, Latency: Histogram{Histogram: newHist()}, SendLag: Histogram{Histogram: newHist()}},
		}
	}
	// Shard 1 was killed; shard 2 started 300 ms late.
	m, err := Merge([]Result{shard(0, time.Millisecond), shard(2, 300*time.Millisecond)}, 3, DefaultTolerance)
	if err != nil {
		panic(err)
	}
	fmt.Println(m.Sent, "sent; incomplete:", m.Incomplete, "-", m.Reason)
	for _, l := range m.Late {
		fmt.Println(l)
	}
	// Output:
	// 200 sent; incomplete: true - no result from shard 1/3
	// shard 2/3 started 300ms after the agreed start
}
