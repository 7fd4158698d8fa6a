package shard

import (
	"fmt"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

func TestParsePlan(t *testing.T) {
	tests := []struct {
		name, in string
		want     Plan
		err      string
	}{
		{name: "the first of three", in: "0/3", want: Plan{0, 3}},
		{name: "the last of three", in: "2/3", want: Plan{2, 3}},
		{name: "a run not split", in: "0/1", want: Whole},
		{name: "an index equal to the count", in: "2/2", err: `shard "2/2": index 2: must be below the count 2 (indices run from 0 to 1)`},
		{name: "a negative index", in: "-1/3", err: `shard "-1/3": index -1: must not be negative`},
		{name: "no count", in: "0/0", err: `shard "0/0": count 0: must be at least 1`},
		{name: "a negative count", in: "0/-2", err: `shard "0/-2": count -2: must be at least 1`},
		{name: "a count past the cap", in: "0/4611686018427387904", err: `shard "0/4611686018427387904": count 4611686018427387904: must be at most 10000`},
		{name: "letters", in: "a/b", err: `shard "a/b": index and count must be whole numbers, as in 0/3`},
		{name: "a fraction", in: "0.5/3", err: `shard "0.5/3": index and count must be whole numbers, as in 0/3`},
		{name: "no slash", in: "3", err: `shard "3": want index/count, as in 0/3`},
		{name: "nothing", in: "", err: `shard "": want index/count, as in 0/3`},
		{name: "a count but no index", in: "/3", err: `shard "/3": index and count must be whole numbers, as in 0/3`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			p, err := ParsePlan(tt.in)
			if tt.err != "" {
				require.EqualError(t, err, tt.err)
				assert.Zero(t, p)
				return
			}
			require.NoError(t, err)
			assert.Equal(t, tt.want, p)
			assert.Equal(t, tt.in, p.String(), "String reads back")
		})
	}
}

// The k mod N rule gives each shard floor or ceil of total/N arrivals, as
// Share says, and every arrival to exactly one shard.
func TestPlanSplitsEveryArrivalOnce(t *testing.T) {
	for _, count := range []int{1, 2, 3, 7, 16} {
		for _, total := range []uint64{0, 1, 2, 6, 7, 100, 1001, 30_000} {
			t.Run(fmt.Sprintf("%d arrivals over %d shards", total, count), func(t *testing.T) {
				got := make([]uint64, count)
				for k := range total {
					owners := 0
					for i := range count {
						if (Plan{Index: i, Count: count}).Owns(k) {
							owners++
							got[i]++
						}
					}
					require.Equal(t, 1, owners, "arrival %d", k)
				}
				floor := total / uint64(count)
				var sum uint64
				for i, n := range got {
					assert.True(t, n == floor || n == floor+1, "shard %d/%d has %d arrivals, want %d or %d", i, count, n, floor, floor+1)
					assert.Equal(t, (Plan{Index: i, Count: count}).Share(total), n, "Share of shard %d/%d", i, count)
					sum += n
				}
				assert.Equal(t, total, sum)
			})
		}
	}
}

func ExampleParsePlan() {
	p, _ := ParsePlan("1/3")
	for k := range uint64(7) {
		if p.Owns(k) {
			fmt.Print(k, " ")
		}
	}
	fmt.Println("of 7:", p.Share(7))
	_, err := ParsePlan("3/3")
	fmt.Println(err)
	// Output:
	// 1 4 of 7: 2
	// shard "3/3": index 3: must be below the count 3 (indices run from 0 to 2)
}
