//go:build linux || darwin || freebsd

package telemetry

import "syscall"

// selfCPU is this process's user plus system CPU time from getrusage, which
// the kernel keeps to the microsecond. /proc/<pid>/stat, which gopsutil
// reads, counts in clock ticks of 10 ms: a whole tenth of what a replica
// spends in a short comparison round, so per-request CPU would be mostly
// rounding.
func selfCPU() (float64, bool) {
	var ru syscall.Rusage
	if err := syscall.Getrusage(syscall.RUSAGE_SELF, &ru); err != nil {
		return 0, false
	}
	tv := func(t syscall.Timeval) float64 { return float64(t.Sec) + float64(t.Usec)/1e6 }
	return tv(ru.Utime) + tv(ru.Stime), true
}
