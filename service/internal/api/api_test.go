package api

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"path/filepath"
	"strings"
	"testing"
	"testing/iotest"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/perfgate/perfgate/service/internal/store"
)

func discard() *slog.Logger { return slog.New(slog.DiscardHandler) }

func noWrap(h http.Handler) http.Handler { return h }

// newMux serves the API over a fresh database holding tasks "one" to "three".
func newMux(t testing.TB) (*http.ServeMux, *store.Store) {
	t.Helper()
	s, err := store.Open(context.Background(), filepath.Join(t.TempDir(), "tasks.db"), store.DefaultOptions)
	require.NoError(t, err)
	t.Cleanup(func() { s.Close() })
	for _, text := range []string{"one", "two", "three"} {
		_, err := s.Create(context.Background(), text)
		require.NoError(t, err)
	}
	mux := http.NewServeMux()
	New(s, DefaultMaxBody, discard()).Register(mux, noWrap)
	return mux, s
}

type request struct {
	method, target, contentType string
	body                        string
}

func (rq request) do(t testing.TB, h http.Handler) *httptest.ResponseRecorder {
	t.Helper()
	req := httptest.NewRequest(rq.method, rq.target, strings.NewReader(rq.body))
	if rq.contentType != "" {
		req.Header.Set("Content-Type", rq.contentType)
	}
	rec := httptest.NewRecorder()
	h.ServeHTTP(rec, req)
	return rec
}

const jsonCT = "application/json"

func TestHandlers(t *testing.T) {
	long := strings.Repeat("é", MaxTaskLen)
	tests := []struct {
		name     string
		req      request
		code     int
		body     string // exact JSON, when not empty
		errorHas string // substring of the "error" field, when not empty
		header   map[string]string
	}{
		{name: "listing returns every task in id order",
			req: request{method: "GET", target: "/tasks"}, code: 200,
			body: `{"tasks":[{"id":1,"task":"one"},{"id":2,"task":"two"},{"id":3,"task":"three"}]}`},
		{name: "a full page points at the next one",
			req: request{method: "GET", target: "/tasks?limit=2"}, code: 200,
			body: `{"tasks":[{"id":1,"task":"one"},{"id":2,"task":"two"}],"next":2}`},
		{name: "the last page has no next",
			req: request{method: "GET", target: "/tasks?limit=2&after=2"}, code: 200,
			body: `{"tasks":[{"id":3,"task":"three"}]}`},
		{name: "a page past the end is an empty list, not null",
			req: request{method: "GET", target: "/tasks?after=99"}, code: 200, body: `{"tasks":[]}`},
		{name: "the largest limit is accepted",
			req: request{method: "GET", target: "/tasks?limit=1000"}, code: 200},
		{name: "a limit above the maximum is refused",
			req: request{method: "GET", target: "/tasks?limit=1001"}, code: 400, errorHas: "limit must be an integer from 1 to 1000"},
		{name: "a zero limit is refused",
			req: request{method: "GET", target: "/tasks?limit=0"}, code: 400, errorHas: "limit"},
		{name: "a non-numeric limit is refused",
			req: request{method: "GET", target: "/tasks?limit=ten"}, code: 400, errorHas: `got "ten"`},
		{name: "a negative after is refused",
			req: request{method: "GET", target: "/tasks?after=-1"}, code: 400, errorHas: "after must be a task id"},
		{name: "creating answers 201 with the task and its location",
			req:  request{method: "POST", target: "/tasks", contentType: jsonCT, body: `{"task":"four"}`},
			code: 201, body: `{"id":4,"task":"four"}`, header: map[string]string{"Location": "/tasks/4"}},
		{name: "a JSON content type with a charset is accepted",
			req:  request{method: "POST", target: "/tasks", contentType: "application/json; charset=utf-8", body: `{"task":"four"}`},
			code: 201},
		{name: "a task of exactly the longest length in multi-byte characters is accepted",
			req:  request{method: "POST", target: "/tasks", contentType: jsonCT, body: `{"task":"` + long + `"}`},
			code: 201},
		{name: "a task one character too long is refused",
			req:  request{method: "POST", target: "/tasks", contentType: jsonCT, body: `{"task":"` + long + `e"}`},
			code: 400, errorHas: "longer than 1000 characters"},
		{name: "a null body is refused",
			req:  request{method: "POST", target: "/tasks", contentType: jsonCT, body: `null`},
			code: 400, errorHas: "must be a JSON object"},
		{name: "an array body is refused",
			req:  request{method: "POST", target: "/tasks", contentType: jsonCT, body: `[{"task":"x"}]`},
			code: 400, errorHas: "must be a JSON object"},
		{name: "an empty object is refused",
			req:  request{method: "POST", target: "/tasks", contentType: jsonCT, body: `{}`},
			code: 400, errorHas: `"task" is missing or null`},
		{name: "a null task is refused",
			req:  request{method: "POST", target: "/tasks", contentType: jsonCT, body: `{"task":null}`},
			code: 400, errorHas: `"task" is missing or null`},
		{name: "a numeric task is refused",
			req:  request{method: "POST", target: "/tasks", contentType: jsonCT, body: `{"task":1}`},
			code: 400, errorHas: `field "task" must be a string, not number`},
		{name: "an empty task is refused",
			req:  request{method: "POST", target: "/tasks", contentType: jsonCT, body: `{"task":""}`},
			code: 400, errorHas: `"task" is empty`},
		{name: "a blank task is refused",
			req:  request{method: "POST", target: "/tasks", contentType: jsonCT, body: `{"task":" \t "}`},
			code: 400, errorHas: `"task" is empty`},
		{name: "an unknown field is refused",
			req:  request{method: "POST", target: "/tasks", contentType: jsonCT, body: `{"task":"x","done":true}`},
			code: 400, errorHas: `unknown field "done"`},
		{name: "data after the object is refused",
			req:  request{method: "POST", target: "/tasks", contentType: jsonCT, body: `{"task":"x"}{"task":"y"}`},
			code: 400, errorHas: "data after the JSON object"},
		{name: "broken JSON is refused with its position",
			req:  request{method: "POST", target: "/tasks", contentType: jsonCT, body: `{"task": x}`},
			code: 400, errorHas: "invalid JSON at byte"},
		{name: "truncated JSON is refused",
			req:  request{method: "POST", target: "/tasks", contentType: jsonCT, body: `{"task": "x"`},
			code: 400, errorHas: "invalid JSON"},
		{name: "an empty body is refused",
			req:  request{method: "POST", target: "/tasks", contentType: jsonCT},
			code: 400, errorHas: "body is empty"},
		{name: "a form content type is refused",
			req:  request{method: "POST", target: "/tasks", contentType: "application/x-www-form-urlencoded", body: `{"task":"x"}`},
			code: 415, errorHas: "Content-Type must be application/json"},
		{name: "a missing content type is refused",
			req:  request{method: "POST", target: "/tasks", body: `{"task":"x"}`},
			code: 415, errorHas: `got ""`},
		{name: "a body over the limit is refused",
			req:  request{method: "POST", target: "/tasks", contentType: jsonCT, body: `{"task":"` + strings.Repeat("x", DefaultMaxBody) + `"}`},
			code: 413, errorHas: "larger than 65536 bytes"},
		{name: "getting a task returns it",
			req: request{method: "GET", target: "/tasks/2"}, code: 200, body: `{"id":2,"task":"two"}`},
		{name: "getting a missing task is 404",
			req: request{method: "GET", target: "/tasks/99"}, code: 404, body: `{"error":"task not found"}`},
		{name: "a non-numeric id is refused",
			req: request{method: "GET", target: "/tasks/abc"}, code: 400, errorHas: `task id must be a positive integer, got "abc"`},
		{name: "a zero id is refused",
			req: request{method: "GET", target: "/tasks/0"}, code: 400, errorHas: "positive integer"},
		{name: "an id beyond int64 is refused",
			req: request{method: "GET", target: "/tasks/99999999999999999999"}, code: 400, errorHas: "positive integer"},
		{name: "updating a task returns the new text",
			req:  request{method: "PUT", target: "/tasks/1", contentType: jsonCT, body: `{"task":"uno"}`},
			code: 200, body: `{"id":1,"task":"uno"}`},
		{name: "updating a missing task is 404",
			req:  request{method: "PUT", target: "/tasks/99", contentType: jsonCT, body: `{"task":"uno"}`},
			code: 404},
		{name: "updating with a bad body is 400 even for a missing task",
			req:  request{method: "PUT", target: "/tasks/99", contentType: jsonCT, body: `[]`},
			code: 400},
		{name: "updating with a bad id is 400",
			req:  request{method: "PUT", target: "/tasks/x", contentType: jsonCT, body: `{"task":"uno"}`},
			code: 400},
		{name: "deleting a task answers 204 with no body",
			req: request{method: "DELETE", target: "/tasks/3"}, code: 204},
		{name: "deleting a missing task is 404",
			req: request{method: "DELETE", target: "/tasks/99"}, code: 404},
		{name: "an unknown path is a JSON 404",
			req: request{method: "GET", target: "/nope"}, code: 404, body: `{"error":"no route for /nope"}`},
		{name: "a trailing slash on /tasks is an unknown path",
			req: request{method: "GET", target: "/tasks/"}, code: 404},
		{name: "a wrong method on /tasks is 405 with Allow",
			req: request{method: "PATCH", target: "/tasks"}, code: 405,
			errorHas: "method PATCH not allowed", header: map[string]string{"Allow": "GET, HEAD, POST"}},
		{name: "a wrong method on a task is 405 with Allow",
			req: request{method: "POST", target: "/tasks/1"}, code: 405,
			header: map[string]string{"Allow": "GET, HEAD, PUT, DELETE"}},
		{name: "healthz says ok",
			req: request{method: "GET", target: "/healthz"}, code: 200, body: `{"status":"ok"}`},
		{name: "readyz says ready when the database answers",
			req: request{method: "GET", target: "/readyz"}, code: 200, body: `{"status":"ready"}`},
		{name: "healthz refuses POST",
			req: request{method: "POST", target: "/healthz"}, code: 405},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			mux, _ := newMux(t)
			rec := tt.req.do(t, mux)
			require.Equal(t, tt.code, rec.Code, "body: %s", rec.Body)
			if tt.code == http.StatusNoContent {
				assert.Empty(t, rec.Body.String())
			} else {
				assert.Equal(t, "application/json", rec.Header().Get("Content-Type"))
			}
			if tt.body != "" {
				assert.JSONEq(t, tt.body, rec.Body.String())
			}
			if tt.errorHas != "" {
				var e struct{ Error string }
				require.NoError(t, json.Unmarshal(rec.Body.Bytes(), &e))
				assert.Contains(t, e.Error, tt.errorHas)
			}
			if tt.code >= 400 {
				assert.Contains(t, rec.Body.String(), `"error"`)
			}
			for k, v := range tt.header {
				assert.Equal(t, v, rec.Header().Get(k), "header %s", k)
			}
		})
	}
}

func TestWritesAreVisible(t *testing.T) {
	mux, s := newMux(t)
	ctx := context.Background()

	request{method: "PUT", target: "/tasks/1", contentType: jsonCT, body: `{"task":"uno"}`}.do(t, mux)
	got, err := s.Get(ctx, 1)
	require.NoError(t, err)
	assert.Equal(t, "uno", got.Task)

	request{method: "DELETE", target: "/tasks/2"}.do(t, mux)
	_, err = s.Get(ctx, 2)
	assert.ErrorIs(t, err, store.ErrNotFound)
	assert.Equal(t, 404, request{method: "GET", target: "/tasks/2"}.do(t, mux).Code)
}

func TestChunkedBodyOverTheLimitIs413(t *testing.T) {
	mux := http.NewServeMux()
	New(failing{}, 100, discard()).Register(mux, noWrap)
	body := `{"task":"` + strings.Repeat("x", 200) + `"}`
	req := httptest.NewRequest("POST", "/tasks", io.NopCloser(strings.NewReader(body)))
	req.ContentLength = -1 // as with Transfer-Encoding: chunked
	req.Header.Set("Content-Type", jsonCT)
	rec := httptest.NewRecorder()
	mux.ServeHTTP(rec, req)
	assert.Equal(t, 413, rec.Code)
	assert.Contains(t, rec.Body.String(), "larger than 100 bytes")
}

func TestBrokenBodyReadIs400(t *testing.T) {
	mux := http.NewServeMux()
	New(failing{}, DefaultMaxBody, discard()).Register(mux, noWrap)
	req := httptest.NewRequest("POST", "/tasks", iotest.ErrReader(errors.New("connection reset")))
	req.Header.Set("Content-Type", jsonCT)
	rec := httptest.NewRecorder()
	mux.ServeHTTP(rec, req)
	assert.Equal(t, 400, rec.Code)
	assert.Contains(t, rec.Body.String(), "connection reset")
}

// failing is a Store whose every call returns err.
type failing struct{ err error }

func (f failing) List(context.Context, int64, int) (store.Page, error) { return store.Page{}, f.err }
func (f failing) Create(context.Context, string) (store.Task, error)   { return store.Task{}, f.err }
func (f failing) Get(context.Context, int64) (store.Task, error)       { return store.Task{}, f.err }
func (f failing) Update(context.Context, int64, string) (store.Task, error) {
	return store.Task{}, f.err
}
func (f failing) Delete(context.Context, int64) error { return f.err }
func (f failing) Ping(context.Context) error          { return f.err }

func TestStorageErrors(t *testing.T) {
	busy := fmt.Errorf("%w: database is locked", store.ErrBusy)
	tests := []struct {
		name     string
		err      error
		canceled bool
		code     int
		retry    string
	}{
		{"a lock held past the busy timeout is 503 with Retry-After", busy, false, 503, "1"},
		{"any other storage error is 500", errors.New("disk I/O error"), false, 500, ""},
		{"an error after the client left is 499, not a server error", errors.New("interrupted"), true, 499, ""},
	}
	reqs := []request{
		{method: "GET", target: "/tasks"},
		{method: "POST", target: "/tasks", contentType: jsonCT, body: `{"task":"x"}`},
		{method: "GET", target: "/tasks/1"},
		{method: "PUT", target: "/tasks/1", contentType: jsonCT, body: `{"task":"x"}`},
		{method: "DELETE", target: "/tasks/1"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			mux := http.NewServeMux()
			New(failing{tt.err}, DefaultMaxBody, discard()).Register(mux, noWrap)
			for _, rq := range reqs {
				req := httptest.NewRequest(rq.method, rq.target, strings.NewReader(rq.body))
				req.Header.Set("Content-Type", rq.contentType)
				if tt.canceled {
					ctx, cancel := context.WithCancel(req.Context())
					cancel()
					req = req.WithContext(ctx)
				}
				rec := httptest.NewRecorder()
				mux.ServeHTTP(rec, req)
				assert.Equal(t, tt.code, rec.Code, "%s %s", rq.method, rq.target)
				assert.Equal(t, tt.retry, rec.Header().Get("Retry-After"))
				assert.Contains(t, rec.Body.String(), `"error"`)
				assert.NotContains(t, rec.Body.String(), "disk I/O", "internal details stay in the log")
			}
		})
	}
}

func TestReadyzFailsWhenTheDatabaseDoesNotAnswer(t *testing.T) {
	mux := http.NewServeMux()
	New(failing{errors.New("unable to open database file")}, DefaultMaxBody, discard()).Register(mux, noWrap)
	rec := request{method: "GET", target: "/readyz"}.do(t, mux)
	assert.Equal(t, 503, rec.Code)
	assert.JSONEq(t, `{"error":"database not ready"}`, rec.Body.String())
	// Liveness does not depend on the database.
	assert.Equal(t, 200, request{method: "GET", target: "/healthz"}.do(t, mux).Code)
}

func TestWrapAppliesToTaskRoutesOnly(t *testing.T) {
	mux := http.NewServeMux()
	s, err := store.Open(context.Background(), filepath.Join(t.TempDir(), "tasks.db"), store.DefaultOptions)
	require.NoError(t, err)
	defer s.Close()
	teapot := func(http.Handler) http.Handler {
		return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { w.WriteHeader(http.StatusTeapot) })
	}
	New(s, DefaultMaxBody, discard()).Register(mux, teapot)
	for _, target := range []string{"/tasks", "/tasks/1"} {
		assert.Equal(t, http.StatusTeapot, request{method: "GET", target: target}.do(t, mux).Code, target)
	}
	for _, target := range []string{"/healthz", "/readyz"} {
		assert.Equal(t, http.StatusOK, request{method: "GET", target: target}.do(t, mux).Code, target)
	}
}
