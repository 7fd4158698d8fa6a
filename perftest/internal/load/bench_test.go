package load

import (
	"bufio"
	"context"
	"net"
	"net/http"
	"os"
	"os/exec"
	"runtime"
	"strconv"
	"strings"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"github.com/perfgate/perfgate/thresholds"
	vegeta "github.com/tsenart/vegeta/v12/lib"
)

// benchServerEnv turns the test binary into the benchmarks' trivial server,
// so that the generator's CPU time is the benchmark process's alone.
const benchServerEnv = "PERFGATE_LOAD_BENCH_SERVER"

func TestMain(m *testing.M) {
	if os.Getenv(benchServerEnv) == "1" {
		os.Exit(serveBench())
	}
	os.Exit(m.Run())
}

// serveBench answers the task API trivially on 127.0.0.1, prints its address
// and serves until stdin closes.
func serveBench() int {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return 1
	}
	var ids atomic.Int64
	srv := &http.Server{Handler: http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		h := w.Header()
		h["Content-Type"] = []string{"application/json"}
		switch {
		case r.URL.Path == "/tasks" && r.Method == http.MethodGet:
			_, _ = w.Write([]byte(`[{"id":1,"task":"perf 1"},{"id":2,"task":"perf 2"}]`))
		case r.URL.Path == "/tasks" && r.Method == http.MethodPost:
			id := strconv.FormatInt(ids.Add(1), 10)
			h["Location"] = []string{"/tasks/" + id}
			w.WriteHeader(http.StatusCreated)
			_, _ = w.Write([]byte(`{"id":` + id + `,"task":"perf"}`))
		case strings.HasPrefix(r.URL.Path, "/tasks/") && r.Method == http.MethodDelete:
			w.WriteHeader(http.StatusNoContent)
		case strings.HasPrefix(r.URL.Path, "/tasks/"):
			_, _ = w.Write([]byte(`{"id":1,"task":"perf 1"}`))
		default:
			http.NotFound(w, r)
		}
	})}
	go func() { _ = srv.Serve(ln) }()
	if _, err := os.Stdout.WriteString(ln.Addr().String() + "\n"); err != nil {
		return 1
	}
	_, _ = bufio.NewReader(os.Stdin).ReadString('\n') // returns when the parent closes stdin
	return 0
}

// startBenchServer runs the trivial server in a child process on one core.
func startBenchServer(b *testing.B) string {
	exe, err := os.Executable()
	if err != nil {
		b.Fatal(err)
	}
	cmd := exec.Command(exe, "-test.run=^$")
	cmd.Env = append(os.Environ(), benchServerEnv+"=1", "GOMAXPROCS=1")
	stdin, err := cmd.StdinPipe()
	if err != nil {
		b.Fatal(err)
	}
	stdout, err := cmd.StdoutPipe()
	if err != nil {
		b.Fatal(err)
	}
	if err := cmd.Start(); err != nil {
		b.Fatal(err)
	}
	b.Cleanup(func() {
		_ = stdin.Close()
		_ = cmd.Wait()
	})
	addr, err := bufio.NewReader(stdout).ReadString('\n')
	if err != nil {
		b.Fatalf("bench server: %v", err)
	}
	return "http://" + strings.TrimSpace(addr)
}

// cost is what a generator spent on a number of requests.
type cost struct {
	requests int64
	wall     time.Duration
	cpu      time.Duration
	allocs   uint64
}

func (c *cost) add(o cost) {
	c.requests += o.requests
	c.wall += o.wall
	c.cpu += o.cpu
	c.allocs += o.allocs
}

func (c cost) rate() float64      { return float64(c.requests) / c.wall.Seconds() }
func (c cost) cpuPerReq() float64 { return float64(c.cpu.Nanoseconds()) / float64(c.requests) }
func (c cost) allocsPerReq() float64 {
	return float64(c.allocs) / float64(c.requests)
}

func cpuTime() time.Duration {
	var ru syscall.Rusage
	_ = syscall.Getrusage(syscall.RUSAGE_SELF, &ru)
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}

// measure runs fn, which returns the requests it sent, and what it cost.
func measure(b *testing.B, fn func() int64) cost {
	runtime.GC()
	var before, after runtime.MemStats
	runtime.ReadMemStats(&before)
	cpu, start := cpuTime(), time.Now()
	n := fn()
	c := cost{requests: n, wall: time.Since(start), cpu: cpuTime() - cpu}
	runtime.ReadMemStats(&after)
	c.allocs = after.Mallocs - before.Mallocs
	if n == 0 {
		b.Fatal("no requests sent")
	}
	return c
}

const (
	benchConns    = 64
	benchDuration = 2 * time.Second
	// maxPace is far above what one core can send, so both generators run flat out.
	maxPace = 100_000
)

// runOurs runs this package's generator; a nil client means fasthttp.
func runOurs(b *testing.B, base string, rate float64, w []thresholds.Template, client *http.Client) cost {
	var res *Result
	c := measure(b, func() int64 {
		var err error
		res, err = Run(context.Background(), Config{
			Targets: []string{base}, Stages: steady(rate, benchDuration), Workload: w,
			MaxInFlight: benchConns, Timeout: 5 * time.Second, Seed: 1, Client: client,
		})
		if err != nil {
			b.Fatal(err)
		}
		return res.Sent
	})
	if res.Errors > 0 {
		b.Fatalf("perfgate: %d errors: %v", res.Errors, res.ByStatus)
	}
	c.wall = benchDuration // requests are due over the plan; the tail is not sending
	return c
}

func runVegeta(b *testing.B, base string, rate float64) cost {
	var m vegeta.Metrics
	c := measure(b, func() int64 {
		atk := vegeta.NewAttacker(
			vegeta.Workers(benchConns), vegeta.MaxWorkers(benchConns),
			vegeta.Connections(benchConns), vegeta.MaxConnections(benchConns),
			vegeta.KeepAlive(true), vegeta.Timeout(5*time.Second),
		)
		pacer := vegeta.ConstantPacer{Freq: int(rate), Per: time.Second}
		if rate >= maxPace {
			pacer = vegeta.ConstantPacer{} // as fast as the workers go
		}
		tr := vegeta.NewStaticTargeter(vegeta.Target{Method: http.MethodGet, URL: base + "/tasks?limit=20"})
		for r := range atk.Attack(tr, pacer, benchDuration, "bench") {
			m.Add(r)
		}
		m.Close()
		return int64(m.Requests)
	})
	if m.Success < 1 {
		b.Fatalf("vegeta: success %.3f: %v", m.Success, m.Errors)
	}
	c.wall = benchDuration
	return c
}

// BenchmarkVersusVegeta sends the same request (GET /tasks?limit=20) to the
// same server over the same number of connections with this package (its
// default fasthttp client, then net/http) and with vegeta's library,
// alternately in one run, and reports the cost per request of each and how
// many times more CPU per request vegeta spends than each of this package's
// clients. Run it with -cpu 1 for figures per core.
func BenchmarkVersusVegeta(b *testing.B) {
	base := startBenchServer(b)
	nethttp := newClient(benchConns, 1, 5*time.Second)
	defer nethttp.CloseIdleConnections()
	for _, tc := range []struct {
		name string
		rate float64
	}{{"max", maxPace}, {"rate=10000", 10_000}, {"rate=2000", 2_000}} {
		b.Run(tc.name, func(b *testing.B) {
			var fast, std, vg cost
			for range b.N {
				fast.add(runOurs(b, base, tc.rate, listOnly, nil))
				std.add(runOurs(b, base, tc.rate, listOnly, nethttp))
				vg.add(runVegeta(b, base, tc.rate))
			}
			b.ReportMetric(fast.rate(), "req/s")
			b.ReportMetric(fast.cpuPerReq(), "cpu-ns/req")
			b.ReportMetric(fast.allocsPerReq(), "allocs/req")
			b.ReportMetric(std.rate(), "nethttp-req/s")
			b.ReportMetric(std.cpuPerReq(), "nethttp-cpu-ns/req")
			b.ReportMetric(std.allocsPerReq(), "nethttp-allocs/req")
			b.ReportMetric(vg.rate(), "vegeta-req/s")
			b.ReportMetric(vg.cpuPerReq(), "vegeta-cpu-ns/req")
			b.ReportMetric(vg.allocsPerReq(), "vegeta-allocs/req")
			b.ReportMetric(vg.cpuPerReq()/fast.cpuPerReq(), "vegeta/fasthttp-cpu")
			b.ReportMetric(vg.cpuPerReq()/std.cpuPerReq(), "vegeta/nethttp-cpu")
		})
	}
}

// BenchmarkMix reports the cost per request of the committed workload over
// the whole task API.
func BenchmarkMix(b *testing.B) {
	base := startBenchServer(b)
	w := committed(b)
	var ours cost
	for range b.N {
		ours.add(runOurs(b, base, 10_000, w, nil))
	}
	b.ReportMetric(ours.rate(), "req/s")
	b.ReportMetric(ours.cpuPerReq(), "cpu-ns/req")
	b.ReportMetric(ours.allocsPerReq(), "allocs/req")
}
