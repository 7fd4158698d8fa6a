package app

import (
	"bufio"
	"bytes"
	"context"
	"database/sql"
	"encoding/json"
	"fmt"
	"io"
	"log/slog"
	"math/rand/v2"
	"net"
	"net/http"
	"net/http/httptest"
	"os"
	"os/exec"
	"os/signal"
	"path/filepath"
	"runtime/pprof"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"github.com/shirou/gopsutil/v3/process"

	"github.com/perfgate/perfgate/service/internal/api"
	"github.com/perfgate/perfgate/service/internal/fault"
	"github.com/perfgate/perfgate/service/internal/store"
	"github.com/perfgate/perfgate/service/internal/telemetry"
)

// The benchmark server runs in a child process so its CPU time can be told
// apart from the load generator's.
const (
	envBenchServer = "APP_BENCH_SERVER" // "bare", "metrics" or "instrumented"
	envBenchDB     = "APP_BENCH_DB"
)

// preloaded is how many tasks the benchmarks' database starts with.
const preloaded = 1000

func TestMain(m *testing.M) {
	if mode := os.Getenv(envBenchServer); mode != "" {
		if err := benchServe(mode, os.Getenv(envBenchDB)); err != nil {
			fmt.Fprintln(os.Stderr, err)
			os.Exit(1)
		}
		os.Exit(0)
	}
	os.Exit(m.Run())
}

// bare is the baseline: plain net/http and go-sqlite3 in WAL mode, one
// connection, prepared statements, no metrics, logs or input checks beyond
// what keeps it correct.
type bare struct {
	db                *sql.DB
	get, insert, list *sql.Stmt
}

func newBare(path string) (*bare, error) {
	db, err := sql.Open("sqlite3", path+"?_journal_mode=WAL&_busy_timeout=5000")
	if err != nil {
		return nil, err
	}
	db.SetMaxOpenConns(1)
	if _, err := db.Exec(`CREATE TABLE IF NOT EXISTS tasks (id INTEGER PRIMARY KEY AUTOINCREMENT, task TEXT NOT NULL)`); err != nil {
		return nil, err
	}
	b := &bare{db: db}
	for _, p := range []struct {
		st **sql.Stmt
		q  string
	}{
		{&b.get, `SELECT task FROM tasks WHERE id = ?`},
		{&b.insert, `INSERT INTO tasks (task) VALUES (?)`},
		{&b.list, `SELECT id, task FROM tasks WHERE id > ? ORDER BY id LIMIT ?`},
	} {
		if *p.st, err = db.Prepare(p.q); err != nil {
			return nil, err
		}
	}
	return b, nil
}

func (b *bare) handler() http.Handler {
	mux := http.NewServeMux()
	mux.HandleFunc("GET /tasks/{id}", func(w http.ResponseWriter, r *http.Request) {
		id, err := strconv.ParseInt(r.PathValue("id"), 10, 64)
		if err != nil {
			http.Error(w, "bad id", 400)
			return
		}
		t := store.Task{ID: id}
		if err := b.get.QueryRowContext(r.Context(), id).Scan(&t.Task); err == sql.ErrNoRows {
			http.Error(w, "not found", 404)
			return
		} else if err != nil {
			http.Error(w, err.Error(), 500)
			return
		}
		w.Header().Set("Content-Type", "application/json")
		json.NewEncoder(w).Encode(t)
	})
	mux.HandleFunc("POST /tasks", func(w http.ResponseWriter, r *http.Request) {
		var in struct{ Task string }
		if err := json.NewDecoder(r.Body).Decode(&in); err != nil || in.Task == "" {
			http.Error(w, "bad body", 400)
			return
		}
		res, err := b.insert.ExecContext(r.Context(), in.Task)
		if err != nil {
			http.Error(w, err.Error(), 500)
			return
		}
		id, _ := res.LastInsertId()
		w.Header().Set("Content-Type", "application/json")
		w.WriteHeader(201)
		json.NewEncoder(w).Encode(store.Task{ID: id, Task: in.Task})
	})
	mux.HandleFunc("GET /tasks", func(w http.ResponseWriter, r *http.Request) {
		limit, err := strconv.Atoi(r.URL.Query().Get("limit"))
		if err != nil {
			limit = 100
		}
		rows, err := b.list.QueryContext(r.Context(), 0, limit)
		if err != nil {
			http.Error(w, err.Error(), 500)
			return
		}
		defer rows.Close()
		tasks := []store.Task{}
		for rows.Next() {
			var t store.Task
			rows.Scan(&t.ID, &t.Task)
			tasks = append(tasks, t)
		}
		w.Header().Set("Content-Type", "application/json")
		json.NewEncoder(w).Encode(map[string]any{"tasks": tasks})
	})
	return mux
}

func preload(tb testing.TB, path string) {
	s, err := store.Open(context.Background(), path, store.DefaultOptions)
	if err != nil {
		tb.Fatal(err)
	}
	defer s.Close()
	for i := range preloaded {
		if _, err := s.Create(context.Background(), fmt.Sprintf("preloaded task %d", i)); err != nil {
			tb.Fatal(err)
		}
	}
}

// handlers returns the handler variants compared, all over one file each.
func handlers(b *testing.B) map[string]http.Handler {
	out := map[string]http.Handler{}
	for _, name := range []string{"bare", "plain", "metrics", "instrumented"} {
		path := filepath.Join(b.TempDir(), "tasks.db")
		preload(b, path)
		if name == "bare" {
			br, err := newBare(path)
			if err != nil {
				b.Fatal(err)
			}
			b.Cleanup(func() { br.db.Close() })
			out[name] = br.handler()
			continue
		}
		s, err := store.Open(context.Background(), path, store.DefaultOptions)
		if err != nil {
			b.Fatal(err)
		}
		b.Cleanup(func() { s.Close() })
		switch name {
		case "plain":
			mux := http.NewServeMux()
			api.New(s, api.DefaultMaxBody, slog.New(slog.DiscardHandler)).Register(mux, func(h http.Handler) http.Handler { return h })
			out[name] = mux
		case "metrics", "instrumented":
			level := slog.LevelWarn // no access lines
			if name == "instrumented" {
				level = slog.LevelInfo
			}
			log := slog.New(slog.NewJSONHandler(io.Discard, &slog.HandlerOptions{Level: level})).With("instance", "bench")
			faults, _ := fault.New(fault.Config{})
			out[name] = Handler(s, telemetry.NewRegistry(telemetry.ReadBuildInfo("", "")), log, api.DefaultMaxBody, faults)
		}
	}
	return out
}

// BenchmarkHandler measures one request through each handler variant
// in-process: bare (no metrics, no logs), plain (the API, no telemetry),
// metrics (the full chain, access log off) and instrumented (the full chain,
// access log formatted to io.Discard).
func BenchmarkHandler(b *testing.B) {
	hs := handlers(b)
	ops := []struct {
		name string
		req  func(i int) *http.Request
		want int
	}{
		{"get", func(i int) *http.Request {
			return httptest.NewRequest("GET", "/tasks/"+strconv.Itoa(1+i%preloaded), nil)
		}, 200},
		{"post", func(i int) *http.Request {
			r := httptest.NewRequest("POST", "/tasks", strings.NewReader(`{"task":"benchmark task"}`))
			r.Header.Set("Content-Type", "application/json")
			return r
		}, 201},
		{"list10", func(i int) *http.Request { return httptest.NewRequest("GET", "/tasks?limit=10", nil) }, 200},
	}
	for _, op := range ops {
		for _, name := range []string{"bare", "plain", "metrics", "instrumented"} {
			h := hs[name]
			b.Run("op="+op.name+"/cfg="+name, func(b *testing.B) {
				b.ReportAllocs()
				cpu := ownCPU()
				for i := 0; b.Loop(); i++ {
					rec := httptest.NewRecorder()
					h.ServeHTTP(rec, op.req(i))
					if rec.Code != op.want {
						b.Fatalf("status %d: %s", rec.Code, rec.Body)
					}
				}
				// CPU time resists the machine's other tenants better than
				// wall time does.
				b.ReportMetric((ownCPU()-cpu)/float64(b.N)*1e9, "cpu-ns/op")
			})
		}
	}
}

// benchServe is the child process: it serves mode on 127.0.0.1 until SIGTERM
// and writes its address to stderr.
func benchServe(mode, path string) error {
	ctx, stop := signal.NotifyContext(context.Background(), syscall.SIGTERM)
	defer stop()
	// APP_BENCH_CPUPROFILE=path profiles each server into path.<mode>.
	if prof := os.Getenv("APP_BENCH_CPUPROFILE"); prof != "" {
		f, err := os.Create(prof + "." + mode)
		if err != nil {
			return err
		}
		pprof.StartCPUProfile(f)
		defer pprof.StopCPUProfile()
	}
	ready := func(a net.Addr) { fmt.Fprintf(os.Stderr, "ADDR %s\n", a) }
	if mode == "bare" {
		br, err := newBare(path)
		if err != nil {
			return err
		}
		defer br.db.Close()
		ln, err := net.Listen("tcp", "127.0.0.1:0")
		if err != nil {
			return err
		}
		srv := &http.Server{Handler: br.handler(), ReadHeaderTimeout: ReadHeaderTimeout}
		go srv.Serve(ln)
		ready(ln.Addr())
		<-ctx.Done()
		return srv.Shutdown(context.Background())
	}
	level := slog.LevelInfo
	if mode == "metrics" {
		level = slog.LevelWarn
	}
	// Access lines go to stdout, a pipe the parent drains, as with a
	// container's log driver, batched as tasksvc does by default.
	out := telemetry.NewLogWriter(os.Stdout, 100*time.Millisecond)
	defer out.Close()
	log := slog.New(slog.NewJSONHandler(out, &slog.HandlerOptions{Level: level})).With("instance", "bench")
	return Run(ctx, Config{
		Addr: "127.0.0.1:0", DB: path, Instance: "bench", MaxBody: api.DefaultMaxBody,
		BusyTimeout: 5 * time.Second, ShutdownTimeout: 5 * time.Second,
		Build: telemetry.ReadBuildInfo("", ""),
	}, log, ready)
}

type child struct {
	cmd  *exec.Cmd
	proc *process.Process
	base string
}

func startChild(b *testing.B, mode string, procs int) *child {
	path := filepath.Join(b.TempDir(), "tasks.db")
	preload(b, path)
	cmd := exec.Command(os.Args[0], "-test.run=^$")
	cmd.Env = append(os.Environ(), envBenchServer+"="+mode, envBenchDB+"="+path, "GOMAXPROCS="+strconv.Itoa(procs))
	stdout, err := cmd.StdoutPipe()
	if err != nil {
		b.Fatal(err)
	}
	stderr, err := cmd.StderrPipe()
	if err != nil {
		b.Fatal(err)
	}
	if err := cmd.Start(); err != nil {
		b.Fatal(err)
	}
	go io.Copy(io.Discard, stdout)
	sc := bufio.NewScanner(stderr)
	c := &child{cmd: cmd}
	b.Cleanup(func() {
		cmd.Process.Signal(syscall.SIGTERM)
		cmd.Wait()
	})
	for sc.Scan() {
		if addr, ok := strings.CutPrefix(sc.Text(), "ADDR "); ok {
			c.base = "http://" + addr
			break
		}
		b.Log(sc.Text())
	}
	if c.base == "" {
		b.Fatalf("%s server did not start", mode)
	}
	go io.Copy(io.Discard, stderr)
	if c.proc, err = process.NewProcess(int32(cmd.Process.Pid)); err != nil {
		b.Fatal(err)
	}
	return c
}

func (c *child) cpu(b *testing.B) float64 {
	t, err := c.proc.Times()
	if err != nil {
		b.Fatal(err)
	}
	return t.User + t.System
}

func ownCPU() float64 {
	var ru syscall.Rusage
	syscall.Getrusage(syscall.RUSAGE_SELF, &ru)
	return float64(ru.Utime.Nano()+ru.Stime.Nano()) / 1e9
}

// drive sends n requests to base over conns keep-alive connections, a mix
// of 3 GETs of a random preloaded task to 1 POST.
func drive(client *http.Client, base string, n, conns int) error {
	var (
		next atomic.Int64
		wg   sync.WaitGroup
		errs = make(chan error, conns)
	)
	post := []byte(`{"task":"benchmark task"}`)
	for range conns {
		wg.Add(1)
		go func() {
			defer wg.Done()
			rnd := rand.New(rand.NewPCG(rand.Uint64(), 0))
			for next.Add(1) <= int64(n) {
				var req *http.Request
				want := 200
				if rnd.IntN(4) == 0 {
					req, _ = http.NewRequest("POST", base+"/tasks", bytes.NewReader(post))
					req.Header.Set("Content-Type", "application/json")
					want = 201
				} else {
					req, _ = http.NewRequest("GET", base+"/tasks/"+strconv.Itoa(1+rnd.IntN(preloaded)), nil)
				}
				resp, err := client.Do(req)
				if err != nil {
					errs <- err
					return
				}
				io.Copy(io.Discard, resp.Body)
				resp.Body.Close()
				if resp.StatusCode != want {
					errs <- fmt.Errorf("%s %s: status %d", req.Method, req.URL.Path, resp.StatusCode)
					return
				}
			}
		}()
	}
	wg.Wait()
	close(errs)
	return <-errs
}

// BenchmarkServer drives real servers over loopback with 64 keep-alive
// connections and a mix of 3 GETs of a task by id to 1 POST: the bare
// baseline, the service with metrics but no access log, and the service as
// deployed (metrics and batched access log). Each server is its own process
// with GOMAXPROCS=1, so its CPU time is told apart from the generator's.
// The three take turns in slices of 2,000 requests, so the machine's other
// load falls on all of them alike; b.N requests go to each.
//
// Reported per server: req/s (wall, generator included), cpu-us/req (server
// CPU only) and req/s/core (1e6 / cpu-us/req); and the CPU cost of each
// instrumented variant relative to bare.
func BenchmarkServer(b *testing.B) {
	const conns, slice = 64, 2000
	modes := []string{"bare", "metrics", "instrumented"}
	children := map[string]*child{}
	for _, m := range modes {
		children[m] = startChild(b, m, 1)
	}
	client := &http.Client{Transport: &http.Transport{
		MaxIdleConnsPerHost: conns, MaxConnsPerHost: conns, DisableCompression: true,
	}}
	defer client.CloseIdleConnections()
	for _, m := range modes { // warm connections, caches and statements
		if err := drive(client, children[m].base, slice, conns); err != nil {
			b.Fatal(err)
		}
	}

	type tally struct{ cpu, wall float64 }
	got := map[string]*tally{}
	for _, m := range modes {
		got[m] = &tally{}
	}
	clientCPU := ownCPU()
	b.ResetTimer()
	for done := 0; done < b.N; done += slice {
		n := min(slice, b.N-done)
		for _, m := range modes {
			c := children[m]
			cpu, start := c.cpu(b), time.Now()
			if err := drive(client, c.base, n, conns); err != nil {
				b.Fatal(err)
			}
			got[m].wall += time.Since(start).Seconds()
			got[m].cpu += c.cpu(b) - cpu
		}
	}
	b.StopTimer()
	n := float64(b.N)
	for _, m := range modes {
		b.ReportMetric(n/got[m].wall, m+"-req/s")
		b.ReportMetric(got[m].cpu/n*1e6, m+"-cpu-us/req")
		b.ReportMetric(n/got[m].cpu, m+"-req/s/core")
	}
	b.ReportMetric(got["metrics"].cpu/got["bare"].cpu, "metrics/bare-cpu")
	b.ReportMetric(got["instrumented"].cpu/got["bare"].cpu, "instrumented/bare-cpu")
	b.ReportMetric((ownCPU()-clientCPU)/(3*n)*1e6, "client-cpu-us/req")
}
