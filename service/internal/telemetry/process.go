package telemetry

import (
	"context"
	"fmt"
	"math"
	"os"
	"sync"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/shirou/gopsutil/v3/process"
)

// Process exports this process's CPU time, CPU utilisation and resident
// memory: memory as gopsutil sees it, CPU time from getrusage where the OS
// has it (to the microsecond; gopsutil's clock ticks otherwise). Unlike
// host-wide figures they differ between two replicas on one machine. CPU
// time and memory are read at scrape time; utilisation is sampled by Run.
type Process struct {
	cpuTimes func() (float64, error)
	rss      func() (uint64, error)

	cpuDesc, utilDesc, rssDesc *prometheus.Desc

	mu       sync.Mutex
	prevCPU  float64
	prevAt   time.Time
	util     float64
	haveUtil bool
}

// NewProcess returns a collector for the calling process.
func NewProcess() (*Process, error) {
	proc, err := process.NewProcess(int32(os.Getpid()))
	if err != nil {
		return nil, fmt.Errorf("telemetry: inspect own process: %w", err)
	}
	return newProcess(
		func() (float64, error) {
			if cpu, ok := selfCPU(); ok {
				return cpu, nil
			}
			t, err := proc.Times()
			if err != nil {
				return 0, err
			}
			return t.User + t.System, nil
		},
		func() (uint64, error) {
			m, err := proc.MemoryInfo()
			if err != nil {
				return 0, err
			}
			return m.RSS, nil
		},
	), nil
}

func newProcess(cpuTimes func() (float64, error), rss func() (uint64, error)) *Process {
	return &Process{
		cpuTimes: cpuTimes,
		rss:      rss,
		cpuDesc: prometheus.NewDesc("tasksvc_process_cpu_seconds_total",
			"User plus system CPU time of this process, in seconds.", nil, nil),
		utilDesc: prometheus.NewDesc("tasksvc_process_cpu_utilization_ratio",
			"CPU used by this process over the last sample interval (1 s); 1.0 is one core fully busy.", nil, nil),
		rssDesc: prometheus.NewDesc("tasksvc_process_resident_memory_bytes",
			"Resident set size of this process, in bytes.", nil, nil),
	}
}

// Describe implements prometheus.Collector.
func (p *Process) Describe(ch chan<- *prometheus.Desc) {
	ch <- p.cpuDesc
	ch <- p.utilDesc
	ch <- p.rssDesc
}

// Collect implements prometheus.Collector. A value that cannot be read is
// reported as an error, never as zero; utilisation is left out until two
// samples exist.
func (p *Process) Collect(ch chan<- prometheus.Metric) {
	if cpu, err := p.cpuTimes(); err != nil {
		ch <- prometheus.NewInvalidMetric(p.cpuDesc, err)
	} else {
		ch <- prometheus.MustNewConstMetric(p.cpuDesc, prometheus.CounterValue, cpu)
	}
	if rss, err := p.rss(); err != nil {
		ch <- prometheus.NewInvalidMetric(p.rssDesc, err)
	} else {
		ch <- prometheus.MustNewConstMetric(p.rssDesc, prometheus.GaugeValue, float64(rss))
	}
	p.mu.Lock()
	util, ok := p.util, p.haveUtil
	p.mu.Unlock()
	if ok {
		ch <- prometheus.MustNewConstMetric(p.utilDesc, prometheus.GaugeValue, util)
	}
}

// Run samples utilisation every interval until ctx is done.
func (p *Process) Run(ctx context.Context, interval time.Duration) {
	p.sample(time.Now())
	t := time.NewTicker(interval)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-t.C:
			// The tick's own time can be stale when the process is busy;
			// the window must end when the CPU time is read.
			p.sample(time.Now())
		}
	}
}

// sample records CPU time at now and, given an earlier sample, the share of
// one core used since then.
func (p *Process) sample(now time.Time) {
	cpu, err := p.cpuTimes()
	if err != nil {
		return // the scrape reports the error through the CPU counter
	}
	p.mu.Lock()
	defer p.mu.Unlock()
	if !p.prevAt.IsZero() {
		if elapsed := now.Sub(p.prevAt).Seconds(); elapsed > 0 {
			p.util = math.Max(0, (cpu-p.prevCPU)/elapsed)
			p.haveUtil = true
		}
	}
	p.prevCPU, p.prevAt = cpu, now
}
