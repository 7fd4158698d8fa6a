package load

import (
	"bytes"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"
)

// fakeTasks is an in-memory task API that counts what it is asked.
type fakeTasks struct {
	// Faults, set before the server starts.
	delay     func(n int64) time.Duration // per request, by arrival number from 1
	failEvery int64                       // answer 500 to every failEvery-th request

	received atomic.Int64

	mu       sync.Mutex
	next     int
	tasks    map[int]string
	issued   map[int]bool
	ops      map[string]int // list, get, create, update, delete
	statuses map[int]int
	unknown  int // requests naming an id this server never issued
	bad      int // requests the API would refuse
}

func newFake() *fakeTasks {
	return &fakeTasks{tasks: map[int]string{}, issued: map[int]bool{}, ops: map[string]int{}, statuses: map[int]int{}}
}

// start serves f on 127.0.0.1 and returns its base URL.
func (f *fakeTasks) start(t testing.TB) string {
	mux := http.NewServeMux()
	mux.HandleFunc("GET /tasks", f.list)
	mux.HandleFunc("POST /tasks", f.create)
	mux.HandleFunc("GET /tasks/{id}", f.byID("get"))
	mux.HandleFunc("PUT /tasks/{id}", f.byID("update"))
	mux.HandleFunc("DELETE /tasks/{id}", f.byID("delete"))
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		n := f.received.Add(1)
		if f.delay != nil {
			// Read the body first: the server notices a client that gave up
			// only once the body is consumed.
			body, _ := io.ReadAll(r.Body)
			r.Body = io.NopCloser(bytes.NewReader(body))
			select {
			case <-time.After(f.delay(n)):
			case <-r.Context().Done():
				return
			}
		}
		if f.failEvery > 0 && n%f.failEvery == 0 {
			f.count("", http.StatusInternalServerError)
			http.Error(w, "injected", http.StatusInternalServerError)
			return
		}
		mux.ServeHTTP(w, r)
	}))
	t.Cleanup(srv.Close)
	return srv.URL
}

func (f *fakeTasks) count(op string, status int) {
	f.mu.Lock()
	defer f.mu.Unlock()
	if op != "" {
		f.ops[op]++
	}
	f.statuses[status]++
}

func (f *fakeTasks) opCounts() map[string]int {
	f.mu.Lock()
	defer f.mu.Unlock()
	out := map[string]int{}
	for k, v := range f.ops {
		out[k] = v
	}
	return out
}

func (f *fakeTasks) list(w http.ResponseWriter, r *http.Request) {
	q := r.URL.Query()
	f.mu.Lock()
	if q.Get("limit") != "20" {
		f.bad++
	}
	if after := q.Get("after"); after != "" {
		if id, err := strconv.Atoi(after); err != nil || !f.issued[id] {
			f.unknown++
		}
	}
	f.mu.Unlock()
	f.count("list", http.StatusOK)
	w.Header().Set("Content-Type", "application/json")
	_, _ = w.Write([]byte(`[{"id":1,"task":"perf 1"},{"id":2,"task":"perf 2"}]`))
}

func (f *fakeTasks) decode(r *http.Request) (string, bool) {
	var body struct {
		Task string `json:"task"`
	}
	dec := json.NewDecoder(r.Body)
	dec.DisallowUnknownFields()
	if r.Header.Get("Content-Type") != "application/json" || dec.Decode(&body) != nil || !strings.HasPrefix(body.Task, "perf ") {
		f.mu.Lock()
		f.bad++
		f.mu.Unlock()
		return "", false
	}
	return body.Task, true
}

func (f *fakeTasks) create(w http.ResponseWriter, r *http.Request) {
	task, ok := f.decode(r)
	if !ok {
		f.count("create", http.StatusBadRequest)
		http.Error(w, "bad task", http.StatusBadRequest)
		return
	}
	f.mu.Lock()
	f.next++
	id := f.next
	f.tasks[id], f.issued[id] = task, true
	f.mu.Unlock()
	f.count("create", http.StatusCreated)
	w.Header().Set("Content-Type", "application/json")
	w.Header().Set("Location", fmt.Sprintf("/tasks/%d", id))
	w.WriteHeader(http.StatusCreated)
	_ = json.NewEncoder(w).Encode(map[string]any{"id": id, "task": task})
}

func (f *fakeTasks) byID(op string) http.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) {
		var task string
		if op == "update" {
			var ok bool
			if task, ok = f.decode(r); !ok {
				f.count(op, http.StatusBadRequest)
				http.Error(w, "bad task", http.StatusBadRequest)
				return
			}
		}
		id, err := strconv.Atoi(r.PathValue("id"))
		f.mu.Lock()
		if err != nil || !f.issued[id] {
			f.unknown++
		}
		_, exists := f.tasks[id]
		switch {
		case !exists:
		case op == "update":
			f.tasks[id] = task
		case op == "delete":
			delete(f.tasks, id)
		}
		f.mu.Unlock()
		status := http.StatusOK
		switch {
		case !exists:
			status = http.StatusNotFound
		case op == "delete":
			status = http.StatusNoContent
		}
		f.count(op, status)
		if status == http.StatusNotFound {
			http.Error(w, "no such task", status)
			return
		}
		w.WriteHeader(status)
		if status == http.StatusOK {
			_, _ = fmt.Fprintf(w, `{"id":%d,"task":%q}`, id, task)
		}
	}
}
