package compare

import (
	"fmt"
	"math"
)

// FormatP renders a p-value the way benchstat does, "p=0.002", but never rounds a
// tiny one to zero: "p<0.001".
func FormatP(p float64) string {
	switch {
	case math.IsNaN(p):
		return "p=n/a"
	case p < 0.001:
		return "p<0.001"
	}
	return fmt.Sprintf("p=%.3f", p)
}
