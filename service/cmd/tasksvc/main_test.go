package main

import (
	"bufio"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"os"
	"os/exec"
	"os/signal"
	"path/filepath"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// envServe makes the test binary act as tasksvc, for the two-process test.
const envServe = "TASKSVC_TEST_SERVE"

func TestMain(m *testing.M) {
	if os.Getenv(envServe) != "" {
		ctx, stop := signal.NotifyContext(context.Background(), syscall.SIGTERM, os.Interrupt)
		err := run(ctx, nil, os.Getenv, os.Stdout, os.Stderr)
		stop()
		if err != nil {
			fmt.Fprintln(os.Stderr, err)
			os.Exit(1)
		}
		os.Exit(0)
	}
	os.Exit(m.Run())
}

func env(kv map[string]string) func(string) string {
	return func(k string) string { return kv[k] }
}

func TestParseConfig(t *testing.T) {
	t.Run("defaults follow the contract", func(t *testing.T) {
		cfg, opts, err := parseConfig(nil, env(nil), io.Discard)
		require.NoError(t, err)
		assert.Equal(t, ":8080", cfg.Addr)
		assert.Equal(t, "tasks.db", cfg.DB)
		assert.Equal(t, int64(65536), cfg.MaxBody)
		assert.Equal(t, "INFO", opts.level.String())
		assert.Equal(t, 100*time.Millisecond, opts.logFlush)
		assert.Equal(t, 5*time.Second, cfg.BusyTimeout)
		assert.Zero(t, cfg.Readers, "one reader per core")
		assert.False(t, cfg.Fault.Enabled())
		host, _ := os.Hostname()
		assert.Equal(t, host, cfg.Instance)
	})
	t.Run("environment variables set every flag", func(t *testing.T) {
		cfg, opts, err := parseConfig(nil, env(map[string]string{
			"TASKSVC_ADDR": ":9", "TASKSVC_DB": "/data/x.db", "TASKSVC_INSTANCE": "replica-2",
			"TASKSVC_MAX_BODY": "100", "TASKSVC_LOG_LEVEL": "warn",
			"TASKSVC_FAULT_LATENCY": "5ms", "TASKSVC_FAULT_JITTER": "1ms", "TASKSVC_FAULT_CPU": "2ms",
			"TASKSVC_FAULT_ERROR_RATIO": "0.25", "TASKSVC_FAULT_LEAK": "4096",
			"TASKSVC_DB_READERS": "2", "TASKSVC_LOG_FLUSH": "0s", "TASKSVC_DB_BUSY_TIMEOUT": "7s", "TASKSVC_SHUTDOWN_TIMEOUT": "3s",
		}), io.Discard)
		require.NoError(t, err)
		assert.Equal(t, ":9", cfg.Addr)
		assert.Equal(t, "/data/x.db", cfg.DB)
		assert.Equal(t, "replica-2", cfg.Instance)
		assert.Equal(t, int64(100), cfg.MaxBody)
		assert.Equal(t, "WARN", opts.level.String())
		assert.Zero(t, opts.logFlush)
		assert.Equal(t, 5*time.Millisecond, cfg.Fault.Latency)
		assert.Equal(t, time.Millisecond, cfg.Fault.Jitter)
		assert.Equal(t, 2*time.Millisecond, cfg.Fault.CPU)
		assert.Equal(t, 0.25, cfg.Fault.ErrorRatio)
		assert.Equal(t, int64(4096), cfg.Fault.Leak)
		assert.Equal(t, 2, cfg.Readers)
		assert.Equal(t, 7*time.Second, cfg.BusyTimeout)
		assert.Equal(t, 3*time.Second, cfg.ShutdownTimeout)
	})
	t.Run("flags win over the environment", func(t *testing.T) {
		cfg, _, err := parseConfig([]string{"-db=flag.db", "-fault-error-ratio=1"},
			env(map[string]string{"TASKSVC_DB": "env.db", "TASKSVC_FAULT_ERROR_RATIO": "0.5"}), io.Discard)
		require.NoError(t, err)
		assert.Equal(t, "flag.db", cfg.DB)
		assert.Equal(t, 1.0, cfg.Fault.ErrorRatio)
	})

	bad := []struct {
		name string
		args []string
		env  map[string]string
		want []string
	}{
		{"an unparsable environment value names the variable", nil,
			map[string]string{"TASKSVC_MAX_BODY": "lots"}, []string{`TASKSVC_MAX_BODY="lots"`}},
		{"every invalid value is reported at once",
			[]string{"-max-body=0", "-fault-error-ratio=2", "-fault-latency=-1s", "-instance=", "-db-readers=-1", "-log-flush=-1s"}, nil,
			[]string{"-max-body must be >= 1 byte, got 0", "fault error ratio must be within 0..1, got 2",
				"fault latency must be >= 0, got -1s", "-instance must not be empty", "-db-readers must be >= 0, got -1", "-log-flush must be >= 0, got -1s"}},
		{"stray arguments are refused", []string{"tasks.db"}, nil, []string{`unexpected arguments ["tasks.db"]`}},
		{"an unknown flag is refused", []string{"-port=1"}, nil, []string{"flag provided but not defined: -port"}},
		{"an unknown log level is refused", []string{"-log-level=loud"}, nil, []string{"loud"}},
	}
	for _, tt := range bad {
		t.Run(tt.name, func(t *testing.T) {
			_, _, err := parseConfig(tt.args, env(tt.env), io.Discard)
			require.Error(t, err)
			for _, w := range tt.want {
				assert.Contains(t, err.Error(), w)
			}
		})
	}
}

func TestUsageNamesTheEnvironmentVariables(t *testing.T) {
	var stderr strings.Builder
	err := run(context.Background(), []string{"-h"}, env(nil), io.Discard, &stderr)
	require.Error(t, err)
	for _, v := range []string{"TASKSVC_ADDR", "TASKSVC_DB", "TASKSVC_FAULT_ERROR_RATIO", "TASKSVC_MAX_BODY"} {
		assert.Contains(t, stderr.String(), "$"+v)
	}
}

func TestVersion(t *testing.T) {
	var stdout strings.Builder
	require.NoError(t, run(context.Background(), []string{"-version"}, env(nil), &stdout, io.Discard))
	assert.Regexp(t, `^tasksvc \S+ \S+ go1\.\d+`, stdout.String())
}

// logLines collects JSON log lines from r and hands over the listening address.
type logLines struct {
	mu    sync.Mutex
	lines []map[string]any
	raw   strings.Builder
	done  chan struct{}
}

func readLogs(t *testing.T, r io.Reader) (*logLines, <-chan string) {
	l := &logLines{done: make(chan struct{})}
	addr := make(chan string, 1)
	go func() {
		defer close(l.done)
		sc := bufio.NewScanner(r)
		for sc.Scan() {
			var v map[string]any
			err := json.Unmarshal(sc.Bytes(), &v)
			l.mu.Lock()
			l.raw.WriteString(sc.Text() + "\n")
			if err == nil {
				l.lines = append(l.lines, v)
			} else {
				l.lines = append(l.lines, map[string]any{"not_json": sc.Text()})
			}
			l.mu.Unlock()
			if v["msg"] == "listening" {
				addr <- v["addr"].(string)
			}
		}
	}()
	return l, addr
}

func (l *logLines) all() []map[string]any {
	<-l.done
	return l.lines
}

func TestRunServesUntilCanceled(t *testing.T) {
	db := filepath.Join(t.TempDir(), "tasks.db")
	pr, pw := io.Pipe()
	logs, addrc := readLogs(t, pr)
	ctx, cancel := context.WithCancel(context.Background())
	ran := make(chan error, 1)
	go func() {
		ran <- run(ctx, []string{"-addr=127.0.0.1:0", "-db=" + db, "-instance=test-1"}, env(nil), pw, io.Discard)
		pw.Close()
	}()
	var base string
	select {
	case a := <-addrc:
		base = "http://" + a
	case err := <-ran:
		t.Fatalf("run returned early: %v", err)
	case <-time.After(10 * time.Second):
		t.Fatal("no listening line")
	}

	resp, err := http.Post(base+"/tasks", "application/json", strings.NewReader(`{"task":"from the test"}`))
	require.NoError(t, err)
	body, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	assert.Equal(t, 201, resp.StatusCode)
	assert.JSONEq(t, `{"id":1,"task":"from the test"}`, string(body))
	assert.Equal(t, "/tasks/1", resp.Header.Get("Location"))

	for target, code := range map[string]int{"/tasks/1": 200, "/healthz": 200, "/readyz": 200, "/metrics": 200, "/nope": 404} {
		resp, err := http.Get(base + target)
		require.NoError(t, err)
		resp.Body.Close()
		assert.Equal(t, code, resp.StatusCode, target)
	}

	cancel()
	require.NoError(t, <-ran)

	lines := logs.all()
	var access []map[string]any
	for _, l := range lines {
		assert.Equal(t, "test-1", l["instance"], "every line names the instance: %v", l)
		if l["msg"] == "request" {
			access = append(access, l)
		}
	}
	require.Len(t, access, 6, "one access line per request")
	first := access[0]
	assert.Equal(t, "POST", first["method"])
	assert.Equal(t, "/tasks", first["route"])
	assert.Equal(t, "/tasks", first["path"])
	assert.Equal(t, 201.0, first["status"])
	assert.Greater(t, first["bytes"], 0.0)
	assert.Contains(t, logs.raw.String(), `"msg":"database closed"`)
}

func TestRunRefusesBadConfiguration(t *testing.T) {
	err := run(context.Background(), []string{"-db=" + t.TempDir() + "/missing/tasks.db", "-addr=127.0.0.1:0"},
		env(nil), io.Discard, io.Discard)
	require.Error(t, err)
	assert.Contains(t, err.Error(), "missing")
}

// replica is a tasksvc process started from the test binary.
type replica struct {
	cmd  *exec.Cmd
	base string
	logs *logLines
}

func startReplica(t *testing.T, name, db string) *replica {
	t.Helper()
	cmd := exec.Command(os.Args[0], "-test.run=^$")
	cmd.Env = append(os.Environ(), envServe+"=1",
		"TASKSVC_ADDR=127.0.0.1:0", "TASKSVC_DB="+db, "TASKSVC_INSTANCE="+name)
	out, err := cmd.StdoutPipe()
	require.NoError(t, err)
	var stderr strings.Builder
	cmd.Stderr = &stderr
	require.NoError(t, cmd.Start())
	t.Cleanup(func() {
		if cmd.ProcessState == nil {
			cmd.Process.Kill()
			cmd.Wait()
		}
	})
	logs, addrc := readLogs(t, out)
	select {
	case a := <-addrc:
		return &replica{cmd: cmd, base: "http://" + a, logs: logs}
	case <-time.After(20 * time.Second):
		t.Fatalf("replica %s did not start: %s", name, stderr.String())
		return nil
	}
}

func (r *replica) stop(t *testing.T) {
	t.Helper()
	require.NoError(t, r.cmd.Process.Signal(syscall.SIGTERM))
	<-r.logs.done
	require.NoError(t, r.cmd.Wait(), "exit status")
	assert.Contains(t, r.logs.raw.String(), `"msg":"database closed"`)
}

func TestTwoProcessesShareOneDatabase(t *testing.T) {
	db := filepath.Join(t.TempDir(), "tasks.db")
	replicas := []*replica{startReplica(t, "replica-1", db), startReplica(t, "replica-2", db)}

	client := &http.Client{Timeout: 30 * time.Second, Transport: &http.Transport{MaxIdleConnsPerHost: 16}}
	const workers, perWorker = 8, 100
	var (
		mu     sync.Mutex
		want   = map[int64]string{}
		status = map[int]int{}
		errs   []error
		wg     sync.WaitGroup
	)
	for w := range workers {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := range perWorker {
				rep := replicas[(w+i)%2]
				text := fmt.Sprintf("w%d-%d", w, i)
				resp, err := client.Post(rep.base+"/tasks", "application/json", strings.NewReader(`{"task":"`+text+`"}`))
				if err != nil {
					mu.Lock()
					errs = append(errs, err)
					mu.Unlock()
					continue
				}
				var got struct {
					ID   int64
					Task string
				}
				json.NewDecoder(resp.Body).Decode(&got)
				resp.Body.Close()
				// Read it back through the other replica.
				other := replicas[(w+i+1)%2]
				resp2, err := client.Get(fmt.Sprintf("%s/tasks/%d", other.base, got.ID))
				code2 := 0
				if err == nil {
					code2 = resp2.StatusCode
					resp2.Body.Close()
				}
				mu.Lock()
				status[resp.StatusCode]++
				status[code2]++
				if resp.StatusCode == 201 {
					if prev, dup := want[got.ID]; dup {
						errs = append(errs, fmt.Errorf("id %d given to %q and %q", got.ID, prev, text))
					}
					want[got.ID] = text
				}
				mu.Unlock()
			}
		}()
	}
	wg.Wait()
	require.Empty(t, errs)
	assert.Equal(t, map[int]int{201: workers * perWorker, 200: workers * perWorker}, status,
		"every write created, every read found it, no 5xx")

	for _, rep := range replicas {
		got := map[int64]string{}
		after := int64(0)
		for {
			resp, err := client.Get(fmt.Sprintf("%s/tasks?limit=1000&after=%d", rep.base, after))
			require.NoError(t, err)
			var page struct {
				Tasks []struct {
					ID   int64
					Task string
				}
				Next int64
			}
			require.NoError(t, json.NewDecoder(resp.Body).Decode(&page))
			resp.Body.Close()
			for _, task := range page.Tasks {
				got[task.ID] = task.Task
			}
			if page.Next == 0 {
				break
			}
			after = page.Next
		}
		assert.Equal(t, want, got, "%s lists exactly the tasks written through both", rep.base)
	}

	// Each process reports its own CPU and memory.
	for _, rep := range replicas {
		resp, err := client.Get(rep.base + "/metrics")
		require.NoError(t, err)
		b, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		assert.Contains(t, string(b), `tasksvc_http_requests_total{code="201",method="POST",route="/tasks"} 400`)
		assert.NotContains(t, string(b), `code="5`)
	}

	for _, rep := range replicas {
		rep.stop(t)
	}
}
