package load

import (
	"bufio"
	"context"
	"fmt"
	"net"
	"net/http"
	"os"
	"os/exec"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/perfgate/perfgate/thresholds"
)

// TestGeneratorStalls counts how often the generator stalls: rounds of the
// comparison's shape (1 s + 4 s at 400/s) against a small server in a
// process of its own, and each round whose p99 send lag exceeds 50 ms, the
// gate's bound. It is the experiment behind the standard noisy neighbour:
// run it beside a candidate neighbour, e.g.
//
//	PERF_STALLS=40 go test -run '^TestGeneratorStalls$' -v ./perftest/internal/load/
//
// PERF_NICE=-5 runs the generator at that priority (see Prioritize).
// It prints one line per round and the stalls per 100 rounds.
func TestGeneratorStalls(t *testing.T) {
	n, _ := strconv.Atoi(os.Getenv("PERF_STALLS"))
	if n <= 0 {
		t.Skip("an experiment: PERF_STALLS=N rounds")
	}
	url := stallServer(t)
	if nice, err := strconv.Atoi(os.Getenv("PERF_NICE")); err == nil {
		require.NoError(t, Prioritize(nice))
	}
	w := []thresholds.Template{{Name: "get", Weight: 1, Method: "GET", Path: "/work"}}
	stalls := 0
	worst := time.Duration(0)
	for i := range n {
		res, err := Run(t.Context(), Config{Targets: []string{url}, WarmUp: time.Second, MaxInFlight: 128, Timeout: 2 * time.Second,
			Stages: []Stage{{Duration: time.Second, Target: 400}, {Duration: 4 * time.Second, Target: 400}}, Workload: w, Seed: uint64(i)})
		require.NoError(t, err)
		lag := time.Duration(res.SendLag.ValueAtQuantile(99)) * time.Microsecond
		max := time.Duration(res.SendLag.Max()) * time.Microsecond
		worst = maxDur(worst, max)
		mark := ""
		if lag > 50*time.Millisecond {
			stalls++
			mark = "  STALL"
		}
		fmt.Printf("round %3d: send lag p99 %8s max %8s sent %d%s\n", i+1, lag.Round(time.Microsecond), max.Round(time.Microsecond), res.Sent, mark)
		time.Sleep(500 * time.Millisecond)
	}
	fmt.Printf("stalls: %d of %d rounds (%.1f per 100); worst send lag %s; neighbour: %s; generator nice %s\n",
		stalls, n, 100*float64(stalls)/float64(n), worst.Round(time.Millisecond), os.Getenv("PERF_NOISE"), os.Getenv("PERF_NICE"))
}

func maxDur(a, b time.Duration) time.Duration {
	if a > b {
		return a
	}
	return b
}

// stallServer starts this test binary again as a small HTTP server, so its
// work and its garbage collector are not the generator's, and returns its URL.
func stallServer(t *testing.T) string {
	cmd := exec.Command(os.Args[0], "-test.run=^TestStallServerProcess$")
	cmd.Env = append(os.Environ(), "PERF_STALL_SERVER=1")
	out, err := cmd.StdoutPipe()
	require.NoError(t, err)
	require.NoError(t, cmd.Start())
	t.Cleanup(func() { _ = cmd.Process.Kill(); _ = cmd.Wait() })
	sc := bufio.NewScanner(out)
	for sc.Scan() {
		if addr, ok := strings.CutPrefix(sc.Text(), "listening "); ok {
			go func() {
				for sc.Scan() {
				}
			}()
			return "http://" + addr
		}
	}
	t.Fatal("the server process did not start")
	return ""
}

// TestStallServerProcess is the server of TestGeneratorStalls, in its own process.
func TestStallServerProcess(t *testing.T) {
	if os.Getenv("PERF_STALL_SERVER") != "1" {
		t.Skip("started by TestGeneratorStalls")
	}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	require.NoError(t, err)
	fmt.Println("listening " + ln.Addr().String())
	ctx, cancel := context.WithTimeout(context.Background(), time.Hour)
	defer cancel()
	srv := &http.Server{Handler: http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		b := make([]byte, 2048) // a little work and garbage, like a small handler
		for i := range b {
			b[i] = byte(i)
		}
		w.Header().Set("Content-Type", "application/json")
		fmt.Fprintf(w, `{"ok":true,"n":%d}`, len(b))
	})}
	go func() { <-ctx.Done(); srv.Close() }()
	_ = srv.Serve(ln)
}
