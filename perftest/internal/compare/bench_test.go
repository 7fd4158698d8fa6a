package compare

import (
	"testing"

	"github.com/perfgate/perfgate/thresholds/units"
)

// BenchmarkCompareFiftyRounds is the largest comparison a spec allows: 50 rounds of
// each build, seven metrics, with a cold cache for the signed-rank distribution.
func BenchmarkCompareFiftyRounds(b *testing.B) {
	var ss []Samples
	var bs []Budget
	for i, m := range []string{"p50", "p95", "p99", "cpu", "rss", "rps", "err"} {
		base, cand := make([]float64, 50), make([]float64, 50)
		for j := range base {
			base[j] = 10 + float64((j*37+i)%50)/10
			cand[j] = 10.2 + float64((j*53+i)%50)/10
		}
		ss = append(ss, Samples{Metric: m, Unit: units.Seconds, Baseline: base, Candidate: cand})
		bs = append(bs, up(m, 0.1))
	}
	for b.Loop() {
		critCache.Clear()
		Compare(ss, bs, DefaultOptions)
	}
}
