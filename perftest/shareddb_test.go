package perftest

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/perfgate/perfgate/perftest/internal/stack"
)

// startStack builds the images and starts two replicas and Prometheus, torn
// down when the test ends.
func startStack(t *testing.T) *stack.Stack {
	t.Helper()
	ctx := t.Context()
	svc, err := stack.BuildServiceImage(ctx, moduleRoot(t), io.Discard)
	require.NoError(t, err)
	prom, err := stack.PrometheusImage(ctx, settings.Prometheus, io.Discard)
	require.NoError(t, err)
	st, err := stack.Start(ctx, stack.Config{ServiceImage: svc.Tag, PrometheusImage: prom.Tag})
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
		defer cancel()
		assert.NoError(t, st.Close(ctx))
		n, err := stack.Leftovers(ctx, stack.LabelRun, st.RunID)
		assert.NoError(t, err)
		assert.Zero(t, n, "leftovers of run %s", st.RunID)
	})
	require.NoError(t, err)
	return st
}

// call sends one JSON request and returns the status and decoded body.
func call(c *http.Client, method, url string, body any) (int, map[string]any, error) {
	var r io.Reader
	if body != nil {
		b, _ := json.Marshal(body)
		r = bytes.NewReader(b)
	}
	req, err := http.NewRequest(method, url, r)
	if err != nil {
		return 0, nil, err
	}
	req.Header.Set("Content-Type", "application/json")
	resp, err := c.Do(req)
	if err != nil {
		return 0, nil, err
	}
	defer resp.Body.Close()
	var out map[string]any
	_ = json.NewDecoder(resp.Body).Decode(&out)
	return resp.StatusCode, out, nil
}

// TestSharedDatabaseUnderConcurrentWrites checks the replicas run unprivileged
// and are published on loopback only, then sends 10,000 creates over both
// replicas at once, then races updates and deletes of the same ids through
// different replicas: no 5xx, no lost or duplicated row, no lost update
// reported as a success.
func TestSharedDatabaseUnderConcurrentWrites(t *testing.T) {
	requireDocker(t)
	st := startStack(t)
	exposures, err := st.Exposures(t.Context())
	require.NoError(t, err)
	for _, e := range exposures {
		require.NotEmpty(t, e.HostIPs, "%s publishes no port", e.Name)
		for _, ip := range e.HostIPs {
			assert.Equal(t, "127.0.0.1", ip, "%s is published beyond loopback", e.Name)
		}
		if !strings.HasSuffix(e.Name, "-prometheus") {
			assert.Equal(t, "65532:65532", e.User, "%s must run as the unprivileged user; its writes below prove the volume is writable", e.Name)
		} else {
			assert.Equal(t, "65534:65534", e.User, "%s must not run as root", e.Name)
		}
		assert.Equal(t, []string{"ALL"}, e.CapDrop, "%s keeps capabilities", e.Name)
		assert.Contains(t, e.SecurityOpt, "no-new-privileges:true", "%s may gain privileges", e.Name)
		assert.True(t, e.ReadOnly, "%s has a writable root filesystem", e.Name)
		assert.Positive(t, e.Memory, "%s has no memory limit", e.Name)
		assert.Positive(t, e.PidsLimit, "%s has no pids limit", e.Name)
	}
	client := &http.Client{Timeout: 30 * time.Second, Transport: &http.Transport{MaxIdleConnsPerHost: 64}}
	urls := []string{st.Replicas[0].URL, st.Replicas[1].URL}

	const creates, workers = 10000, 64
	var created, fiveXX, other atomic.Int64
	ids := make([]int64, creates)
	var wg sync.WaitGroup
	next := atomic.Int64{}
	for w := range workers {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for {
				i := next.Add(1) - 1
				if i >= creates {
					return
				}
				code, body, err := call(client, "POST", urls[(int(i)+w)%2]+"/tasks", map[string]string{"task": fmt.Sprintf("create %d", i)})
				switch {
				case err != nil:
					other.Add(1)
				case code == http.StatusCreated:
					created.Add(1)
					ids[i] = int64(body["id"].(float64))
				case code >= 500:
					fiveXX.Add(1)
				default:
					other.Add(1)
				}
			}
		}()
	}
	wg.Wait()
	assert.Zero(t, fiveXX.Load(), "5xx answers to creates")
	assert.Zero(t, other.Load(), "creates that were neither 201 nor 5xx")

	// Count the rows through the other replica, page by page.
	var rows []int64
	after := int64(0)
	for range creates/1000 + 2 {
		code, body, err := call(client, "GET", fmt.Sprintf("%s/tasks?limit=1000&after=%d", urls[1], after), nil)
		require.NoError(t, err)
		require.Equal(t, http.StatusOK, code)
		for _, x := range body["tasks"].([]any) {
			rows = append(rows, int64(x.(map[string]any)["id"].(float64)))
		}
		n, ok := body["next"].(float64)
		if !ok {
			break
		}
		after = int64(n)
	}
	assert.Equal(t, int(created.Load()), len(rows), "rows must equal the 201s")
	slices.Sort(ids)
	assert.Equal(t, ids, rows, "every id a 201 returned is a row, once")

	// Race two updates and a delete per id, each through another replica.
	const racing = 500
	type outcome struct{ put1, put2, del int }
	results := make([]outcome, racing)
	for i := range racing {
		wg.Add(3)
		id := rows[i]
		go func() {
			defer wg.Done()
			results[i].put1, _, _ = call(client, "PUT", fmt.Sprintf("%s/tasks/%d", urls[0], id), map[string]string{"task": "from replica-1"})
		}()
		go func() {
			defer wg.Done()
			results[i].put2, _, _ = call(client, "PUT", fmt.Sprintf("%s/tasks/%d", urls[1], id), map[string]string{"task": "from replica-2"})
		}()
		go func() {
			defer wg.Done()
			if i%2 == 0 { // half the ids are deleted while they are updated
				results[i].del, _, _ = call(client, "DELETE", fmt.Sprintf("%s/tasks/%d", urls[i%2], id), nil)
			}
		}()
		if i%50 == 49 {
			wg.Wait() // bounded concurrency: 150 requests in flight at most
		}
	}
	wg.Wait()
	for i, r := range results {
		id := rows[i]
		for _, code := range []int{r.put1, r.put2, r.del} {
			assert.Less(t, code, 500, "id %d: a 5xx under contention", id)
		}
		code, body, err := call(client, "GET", fmt.Sprintf("%s/tasks/%d", urls[i%2], id), nil)
		require.NoError(t, err)
		if i%2 == 0 {
			assert.Equal(t, http.StatusNoContent, r.del, "id %d: the only delete must succeed", id)
			assert.Equal(t, http.StatusNotFound, code, "id %d: deleted, yet found", id)
			continue
		}
		require.Equal(t, http.StatusOK, code, "id %d", id)
		assert.Equal(t, http.StatusOK, r.put1, "id %d", id)
		assert.Equal(t, http.StatusOK, r.put2, "id %d", id)
		assert.Contains(t, []any{"from replica-1", "from replica-2"}, body["task"], "id %d: the stored text is neither update", id)
	}
}
