// Package units is perfgate's one vocabulary for the values an SLO limits: the
// unit a value is measured in, how the spec writes it, and how reports show it.
//
// It follows golang.org/x/perf's benchunit: values are kept in a base unit
// (seconds, a ratio, bytes, per second, or a plain number) and only parsing
// and formatting know about milliseconds, percentages and mebibytes.
//
//   - [Unit.Parse] reads a value as a spec writes it: 250ms, 1.5%, 96MiB, 80/s.
//   - [Unit.Format] shows it with [Digits] significant digits, in the largest
//     scale that keeps an integer part: 73.2ms, 1.25%, 81.4MiB, 118/s.
//   - [Unit.FormatPair] shows a value beside its limit with as many digits as it
//     takes to tell them apart.
//   - [Unit.FormatDelta] shows a change: a percentage of the baseline, or
//     percentage points for a ratio.
//   - [CommonScale] picks one scale for a set of values, such as an axis.
package units

// Unit is the base unit of a value. Its string is the spelling an SLO spec's
// unit field uses.
type Unit string

// The units a value may be in.
const (
	Seconds   Unit = "s"     // a duration, written like a Go duration: 250ms
	Ratio     Unit = "ratio" // a share, written as a percentage: 1% is 0.01
	Bytes     Unit = "bytes" // a size, written with a suffix: 96MiB, 1GB
	PerSecond Unit = "1/s"   // a rate, written N/s
	None      Unit = "none"  // a plain number

	// Growth units: how much of something a service keeps for every 1,000
	// requests it serves. A value may be negative (the heap shrank).
	BytesPer1k Unit = "bytes/1k" // retained bytes, written as a size: 64KiB
	Per1k      Unit = "1/1k"     // retained things (goroutines), a plain number

	// Waited is the time a request spent waiting for a lock or a pooled
	// connection, written like a duration: 20µs. It is near 0 until
	// requests contend, so a change in it is a difference, not a ratio.
	Waited Unit = "s waited"
)

// All lists the units in the order messages name them.
var All = []Unit{Seconds, Ratio, Bytes, PerSecond, None}

// Absolute reports whether a change in u is told as a difference rather
// than as a percentage of the baseline: a ratio (an error rate going from 1%
// to 2%) is +1pp, not +100%; a growth from 0 to 300 goroutines per 1,000
// requests is +300/1k; a wait from 0 to 20µs is +20µs.
func (u Unit) Absolute() bool { return u == Ratio || u.Difference() }

// Difference reports whether a change in u is told in u itself (+12KiB/1k,
// +20µs), not in percentage points or as a percentage of the baseline.
func (u Unit) Difference() bool { return u.Growth() || u == Waited }

// Growth reports whether u is a growth per 1,000 requests served, whose
// values may be negative.
func (u Unit) Growth() bool { return u == BytesPer1k || u == Per1k }
