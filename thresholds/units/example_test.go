package units_test

import (
	"fmt"

	"github.com/perfgate/perfgate/thresholds/units"
)

func Example() {
	limit, _ := units.Seconds.Parse("250ms") // as the spec writes it
	observed := 0.2734                       // as a query returned it, in seconds

	fmt.Println(units.Seconds.Format(observed), ">", units.Seconds.Format(limit))
	fmt.Println(units.Ratio.Format(0.0125), units.Bytes.Format(81.4*(1<<20)), units.PerSecond.Format(118))
	fmt.Println(units.Seconds.Format(5400))

	// A change against a baseline: a percentage, or points for a ratio.
	fmt.Println(units.Seconds.FormatDelta(0.142), units.Ratio.FormatDelta(0.005))

	// One scale for the labels of an axis from 0 to 1.5ms.
	axis := units.CommonScale(units.Seconds, 0, 0.0015)
	fmt.Println(axis.Format(0), axis.Format(0.0005), axis.Format(0.0015))
	// Output:
	// 273ms > 250ms
	// 1.25% 81.4MiB 118/s
	// 1h30m
	// +14.2% +0.5pp
	// 0s 0.5ms 1.5ms
}

func ExampleUnit_FormatPair() {
	o, l := units.Seconds.FormatPair(0.0500001, 0.05)
	fmt.Println(o, "vs", l)
	// Output: 50.0001ms vs 50ms
}
