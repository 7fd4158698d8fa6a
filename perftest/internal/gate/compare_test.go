package gate

import (
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/perfgate/perfgate/perftest/internal/verdict"
	"github.com/perfgate/perfgate/thresholds"
)

func TestRoundsInterleaveABBA(t *testing.T) {
	assert.Equal(t, []string{Baseline, Candidate, Candidate, Baseline, Baseline, Candidate}, roundOrder(3))
	order := roundOrder(6)
	var a, b int
	for _, v := range order {
		if v == Baseline {
			a++
		} else {
			b++
		}
	}
	assert.Equal(t, 6, a)
	assert.Equal(t, 6, b)
}

func TestSamplesGatherEachVariantsRoundsInOrder(t *testing.T) {
	rounds := []Round{
		{Variant: Baseline, Values: map[string]float64{thresholds.CompareP95: 1, thresholds.ComparePeakRSS: 10}},
		{Variant: Candidate, Values: map[string]float64{thresholds.CompareP95: 2}},
		{Variant: Candidate, Values: map[string]float64{thresholds.CompareP95: 3, thresholds.ComparePeakRSS: 30}},
		{Variant: Baseline, Values: map[string]float64{thresholds.CompareP95: 4, thresholds.ComparePeakRSS: 40}},
	}
	s := Samples(rounds, []thresholds.Budget{{Metric: thresholds.CompareP95}, {Metric: thresholds.ComparePeakRSS}})
	require.Len(t, s, 2)
	assert.Equal(t, []float64{1, 4}, s[0].Baseline)
	assert.Equal(t, []float64{2, 3}, s[0].Candidate)
	assert.Equal(t, verdict.UnitSeconds, s[0].Unit)
	assert.Equal(t, []float64{30}, s[1].Candidate, "a round without the figure is left out, so too few rounds read inconclusive")
	assert.Equal(t, verdict.UnitBytes, s[1].Unit)
}

func TestSplitBaselinePitsOddRoundsAgainstEven(t *testing.T) {
	s := SplitBaseline(Samples([]Round{
		{Variant: Baseline, Values: map[string]float64{"p50_latency": 1}},
		{Variant: Candidate, Values: map[string]float64{"p50_latency": 9}},
		{Variant: Baseline, Values: map[string]float64{"p50_latency": 2}},
		{Variant: Baseline, Values: map[string]float64{"p50_latency": 3}},
	}, []thresholds.Budget{{Metric: "p50_latency"}}))
	assert.Equal(t, []float64{1, 3}, s[0].Baseline)
	assert.Equal(t, []float64{2}, s[0].Candidate, "the candidate's rounds play no part in the noise")
}
