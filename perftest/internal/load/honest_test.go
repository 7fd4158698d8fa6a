package load

import (
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/perfgate/perfgate/thresholds"
)

// createsAs is a task API whose POST answers 201 with the id under field.
func createsAs(t *testing.T, field string) string {
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.Method == http.MethodPost {
			w.WriteHeader(http.StatusCreated)
			_, _ = w.Write([]byte(`{"` + field + `": "t1"}`))
		}
	}))
	t.Cleanup(srv.Close)
	return srv.URL
}

var getAfterCreate = []thresholds.Template{
	{Name: "get", Weight: 3, Method: "GET", Path: "/tasks/${task}", Fallback: "create"},
	{Name: "create", Weight: 1, Method: "POST", Path: "/tasks", Expect: []int{201}, Capture: []thresholds.Capture{{Pool: "task", JSON: "id"}}},
}

// TestAWorkloadThatDidNotRunAsWrittenCannotVouch: the service names the id
// "code", so create's capture never matches, and every get goes as create.
// The run says so, naming the template and the capture, and cannot vouch.
func TestAWorkloadThatDidNotRunAsWrittenCannotVouch(t *testing.T) {
	res := run(t, Config{Targets: []string{createsAs(t, "code")}, Stages: steady(100, 1500*time.Millisecond), WarmUp: 300 * time.Millisecond,
		Workload: getAfterCreate, MaxInFlight: 16, Timeout: 2 * s, Seed: 5})
	get := res.ByTemplate["get"]
	require.Greater(t, get.Planned, int64(minPlanned))
	assert.Equal(t, get.Planned, get.FellBack)
	assert.Zero(t, get.Count)
	require.Len(t, res.NotAsWritten(), 1)
	why := res.NotAsWritten()[0]
	assert.True(t, strings.HasPrefix(why, "template get ran as written for 0 of the "), why)
	assert.Contains(t, why, "pool task is empty (create's capture task: {json: id} got a value from 0 of ")
	assert.Contains(t, res.Unsound, why)
}

// Its twin: the same workload against a service that names the id "id".
func TestAWorkloadThatRanAsWrittenCanVouch(t *testing.T) {
	res := run(t, Config{Targets: []string{createsAs(t, "id")}, Stages: steady(100, 1500*time.Millisecond), WarmUp: 300 * time.Millisecond,
		Workload: getAfterCreate, MaxInFlight: 16, Timeout: 2 * s, Seed: 5})
	assert.Empty(t, res.NotAsWritten())
	assert.Empty(t, res.Unsound)
	assert.Positive(t, res.ByTemplate["get"].Count)
}
