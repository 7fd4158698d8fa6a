package compose

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// The dashboard is checked against what the real service exports, so a
// renamed metric breaks this test instead of leaving an empty panel.
func TestDashboardQueriesAgainstService(t *testing.T) {
	if testing.Short() {
		t.Skip("-short: not building and running service/cmd/tasksvc to learn the metrics it exports")
	}
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Minute)
	defer cancel()

	s, err := loadStack(".")
	require.NoError(t, err)
	targets, err := s.prometheus.targets()
	require.NoError(t, err)
	labels := map[string][]string{}
	for _, tg := range targets {
		labels["job"] = append(labels["job"], tg.job)
		labels["instance"] = append(labels["instance"], tg.instance)
	}

	exposition := scrapeService(ctx, t)
	cat, err := newCatalog(bytes.NewReader(exposition), labels)
	require.NoError(t, err)

	for file, d := range s.dashboards {
		qs, err := d.queries()
		require.NoError(t, err)
		assert.Empty(t, sortedErrors(checkQueries(qs, d.variables(), cat)), file)

		// Every family of the service's own metrics has a panel.
		used := usedFamilies(qs, d.variables(), cat)
		for name, info := range cat.series {
			if strings.HasPrefix(info.family, "tasksvc_") && !used[info.family] {
				t.Errorf("%s: no panel shows %s", file, name)
			}
		}

		// The twin: one misspelled metric in the real dashboard is reported.
		broken := slices.Clone(qs)
		i := slices.IndexFunc(broken, func(q query) bool { return strings.Contains(q.expr, "tasksvc_http_requests_total") })
		require.GreaterOrEqual(t, i, 0, "%s: no query of tasksvc_http_requests_total", file)
		broken[i].expr = strings.ReplaceAll(broken[i].expr, "tasksvc_http_requests_total", "tasksvc_http_request_total")
		assert.Equal(t,
			broken[i].where+`: metric "tasksvc_http_request_total" is not exported by the service (did you mean "tasksvc_http_requests_total"?)`,
			sortedErrors(checkQueries(broken, d.variables(), cat)))
	}
}

// scrapeService builds and starts the service on a loopback port with a
// throw-away database, sends one request of every kind so labelled series
// exist, and returns its /metrics body.
func scrapeService(ctx context.Context, t *testing.T) []byte {
	t.Helper()
	root, err := filepath.Abs("..")
	require.NoError(t, err)
	bin := filepath.Join(t.TempDir(), "tasksvc")
	build := exec.CommandContext(ctx, "go", "build", "-o", bin, "./service/cmd/tasksvc")
	build.Dir = root
	build.Env = append(os.Environ(), "CGO_ENABLED=1")
	out, err := build.CombinedOutput()
	require.NoError(t, err, "building the service (needs gcc for SQLite): %s", out)

	cmd := exec.CommandContext(ctx, bin,
		"-addr=127.0.0.1:0", "-db="+filepath.Join(t.TempDir(), "tasks.db"), "-instance=compose-test")
	stdout, err := cmd.StdoutPipe()
	require.NoError(t, err)
	var stderr bytes.Buffer
	cmd.Stderr = &stderr
	require.NoError(t, cmd.Start())
	exited := make(chan struct{})
	var logs logTail
	addr := make(chan string, 1)
	go func() {
		// Keep reading after the address, so a full pipe never blocks the service.
		sc := bufio.NewScanner(stdout)
		for sc.Scan() {
			logs.add(sc.Text())
			var line struct{ Msg, Addr string }
			if json.Unmarshal(sc.Bytes(), &line) == nil && line.Msg == "listening" && line.Addr != "" {
				addr <- line.Addr
			}
		}
		_ = cmd.Wait()
		close(exited)
	}()
	t.Cleanup(func() {
		_ = cmd.Process.Signal(os.Interrupt)
		select {
		case <-exited:
		case <-time.After(10 * time.Second):
			_ = cmd.Process.Kill()
			<-exited
		}
	})

	var base string
	select {
	case a := <-addr:
		base = "http://" + a
	case <-exited:
		t.Fatalf("the service exited before listening:\n%s%s", logs.String(), stderr.String())
	case <-time.After(30 * time.Second):
		t.Fatalf("the service did not log a listening address within 30s:\n%s", logs.String())
	}

	client := &http.Client{Timeout: 5 * time.Second}
	do := func(method, path, body string) (int, []byte) {
		t.Helper()
		req, err := http.NewRequestWithContext(ctx, method, base+path, strings.NewReader(body))
		require.NoError(t, err)
		if body != "" {
			req.Header.Set("Content-Type", "application/json")
		}
		resp, err := client.Do(req)
		require.NoError(t, err, "%s %s", method, path)
		defer resp.Body.Close()
		b, err := io.ReadAll(resp.Body)
		require.NoError(t, err)
		return resp.StatusCode, b
	}

	code, body := do(http.MethodPost, "/tasks", `{"task":"dashboard check"}`)
	require.Equal(t, http.StatusCreated, code, "POST /tasks: %s", body)
	var created struct{ ID json.Number }
	require.NoError(t, json.Unmarshal(body, &created), "POST /tasks: %s", body)
	task := fmt.Sprintf("/tasks/%s", created.ID)
	for _, r := range []struct{ method, path, body string }{
		{http.MethodGet, "/tasks", ""},
		{http.MethodGet, task, ""},
		{http.MethodPut, task, `{"task":"checked"}`},
		{http.MethodDelete, task, ""},
		{http.MethodGet, task, ""}, // 404 now
		{http.MethodGet, "/healthz", ""},
		{http.MethodGet, "/readyz", ""},
		{http.MethodGet, "/no-such-route", ""},
		{http.MethodGet, "/metrics", ""}, // so the next scrape counts one
	} {
		do(r.method, r.path, r.body)
	}
	// Some series appear only after the service's first 1 s sample, so scrape
	// until the set of families has stopped growing for a while.
	var last []byte
	seen, stableSince, deadline := 0, time.Now(), time.Now().Add(15*time.Second)
	for time.Since(stableSince) < 2*time.Second && time.Now().Before(deadline) {
		code, body = do(http.MethodGet, "/metrics", "")
		require.Equal(t, http.StatusOK, code, "GET /metrics: %s", body)
		if n := bytes.Count(body, []byte("\n# TYPE ")); n > seen {
			seen, stableSince = n, time.Now()
		}
		last = body
		time.Sleep(250 * time.Millisecond)
	}
	return last
}

// logTail keeps the service's last log lines for failure messages.
type logTail struct {
	mu    sync.Mutex
	lines []string
}

func (l *logTail) add(line string) {
	l.mu.Lock()
	defer l.mu.Unlock()
	if l.lines = append(l.lines, line); len(l.lines) > 20 {
		l.lines = l.lines[1:]
	}
}

func (l *logTail) String() string {
	l.mu.Lock()
	defer l.mu.Unlock()
	return strings.Join(l.lines, "\n") + "\n"
}
