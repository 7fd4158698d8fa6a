// Package api serves the task endpoints and health checks as JSON over a Store.
package api

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"mime"
	"net/http"
	"strconv"
	"strings"
	"unicode/utf8"

	"github.com/perfgate/perfgate/service/internal/store"
)

// Store is what the handlers need from storage.
type Store interface {
	List(ctx context.Context, after int64, limit int) (store.Page, error)
	Create(ctx context.Context, text string) (store.Task, error)
	Get(ctx context.Context, id int64) (store.Task, error)
	Update(ctx context.Context, id int64, text string) (store.Task, error)
	Delete(ctx context.Context, id int64) error
	Ping(ctx context.Context) error
}

var _ Store = (*store.Store)(nil)

// Limits of the API.
const (
	DefaultLimit   = 100     // tasks per page when ?limit is absent
	MaxLimit       = 1000    // largest ?limit accepted
	MaxTaskLen     = 1000    // characters in a task
	DefaultMaxBody = 1 << 16 // request body bytes
)

// Routes are the path patterns served, as they appear in the route label.
const (
	RouteTasks   = "/tasks"
	RouteTask    = "/tasks/{id}"
	RouteHealthz = "/healthz"
	RouteReadyz  = "/readyz"
)

// API holds the handlers' dependencies.
type API struct {
	store   Store
	maxBody int64
	log     *slog.Logger
}

// New returns the API over s. maxBody bounds request bodies in bytes; log
// receives storage errors.
func New(s Store, maxBody int64, log *slog.Logger) *API {
	return &API{store: s, maxBody: maxBody, log: log}
}

// Register adds the routes to mux. wrap decorates the task handlers (not the
// health checks), for fault injection. Wrong methods on a known path get 405
// from a handler registered on the path, so they keep the path's route label.
func (a *API) Register(mux *http.ServeMux, wrap func(http.Handler) http.Handler) {
	task := func(f http.HandlerFunc) http.Handler { return wrap(f) }
	mux.Handle("GET "+RouteTasks, task(a.list))
	mux.Handle("POST "+RouteTasks, task(a.create))
	mux.Handle(RouteTasks, MethodNotAllowed("GET, HEAD, POST"))
	mux.Handle("GET "+RouteTask, task(a.get))
	mux.Handle("PUT "+RouteTask, task(a.update))
	mux.Handle("DELETE "+RouteTask, task(a.delete))
	mux.Handle(RouteTask, MethodNotAllowed("GET, HEAD, PUT, DELETE"))
	mux.HandleFunc("GET "+RouteHealthz, a.healthz)
	mux.Handle(RouteHealthz, MethodNotAllowed("GET, HEAD"))
	mux.HandleFunc("GET "+RouteReadyz, a.readyz)
	mux.Handle(RouteReadyz, MethodNotAllowed("GET, HEAD"))
	mux.Handle("/", http.HandlerFunc(NotFound))
}

// NotFound answers 404 in the API's error format.
func NotFound(w http.ResponseWriter, r *http.Request) {
	writeError(w, http.StatusNotFound, "no route for "+r.URL.Path)
}

// MethodNotAllowed answers 405 listing the allowed methods.
func MethodNotAllowed(allow string) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Allow", allow)
		writeError(w, http.StatusMethodNotAllowed, fmt.Sprintf("method %s not allowed, use %s", r.Method, allow))
	})
}

type listResponse struct {
	Tasks []store.Task `json:"tasks"`
	Next  int64        `json:"next,omitempty"`
}

func (a *API) list(w http.ResponseWriter, r *http.Request) {
	q := r.URL.Query()
	limit := DefaultLimit
	if s := q.Get("limit"); s != "" {
		n, err := strconv.Atoi(s)
		if err != nil || n < 1 || n > MaxLimit {
			writeError(w, http.StatusBadRequest, fmt.Sprintf("limit must be an integer from 1 to %d, got %q", MaxLimit, s))
			return
		}
		limit = n
	}
	var after int64
	if s := q.Get("after"); s != "" {
		n, err := strconv.ParseInt(s, 10, 64)
		if err != nil || n < 0 {
			writeError(w, http.StatusBadRequest, fmt.Sprintf("after must be a task id (integer >= 0), got %q", s))
			return
		}
		after = n
	}
	p, err := a.store.List(r.Context(), after, limit)
	if err != nil {
		a.storeError(w, r, err)
		return
	}
	writeJSON(w, http.StatusOK, listResponse{Tasks: p.Tasks, Next: p.Next})
}

func (a *API) create(w http.ResponseWriter, r *http.Request) {
	text, ok := a.decodeTask(w, r)
	if !ok {
		return
	}
	t, err := a.store.Create(r.Context(), text)
	if err != nil {
		a.storeError(w, r, err)
		return
	}
	w.Header().Set("Location", "/tasks/"+strconv.FormatInt(t.ID, 10))
	writeJSON(w, http.StatusCreated, t)
}

func (a *API) get(w http.ResponseWriter, r *http.Request) {
	id, ok := pathID(w, r)
	if !ok {
		return
	}
	t, err := a.store.Get(r.Context(), id)
	if err != nil {
		a.storeError(w, r, err)
		return
	}
	writeJSON(w, http.StatusOK, t)
}

func (a *API) update(w http.ResponseWriter, r *http.Request) {
	id, ok := pathID(w, r)
	if !ok {
		return
	}
	text, ok := a.decodeTask(w, r)
	if !ok {
		return
	}
	t, err := a.store.Update(r.Context(), id, text)
	if err != nil {
		a.storeError(w, r, err)
		return
	}
	writeJSON(w, http.StatusOK, t)
}

func (a *API) delete(w http.ResponseWriter, r *http.Request) {
	id, ok := pathID(w, r)
	if !ok {
		return
	}
	if err := a.store.Delete(r.Context(), id); err != nil {
		a.storeError(w, r, err)
		return
	}
	w.WriteHeader(http.StatusNoContent)
}

func (a *API) healthz(w http.ResponseWriter, r *http.Request) {
	writeJSON(w, http.StatusOK, map[string]string{"status": "ok"})
}

func (a *API) readyz(w http.ResponseWriter, r *http.Request) {
	if err := a.store.Ping(r.Context()); err != nil {
		a.log.LogAttrs(r.Context(), slog.LevelWarn, "database not ready", slog.String("error", err.Error()))
		writeError(w, http.StatusServiceUnavailable, "database not ready")
		return
	}
	writeJSON(w, http.StatusOK, map[string]string{"status": "ready"})
}

func pathID(w http.ResponseWriter, r *http.Request) (int64, bool) {
	s := r.PathValue("id")
	id, err := strconv.ParseInt(s, 10, 64)
	if err != nil || id < 1 {
		writeError(w, http.StatusBadRequest, fmt.Sprintf("task id must be a positive integer, got %q", s))
		return 0, false
	}
	return id, true
}

// decodeTask reads a body of exactly {"task": "<non-empty string>"}. Every
// way it can be wrong is the client's fault and answered 4xx.
func (a *API) decodeTask(w http.ResponseWriter, r *http.Request) (string, bool) {
	ct := r.Header.Get("Content-Type")
	if mt, _, err := mime.ParseMediaType(ct); err != nil || mt != "application/json" {
		writeError(w, http.StatusUnsupportedMediaType, fmt.Sprintf("Content-Type must be application/json, got %q", ct))
		return "", false
	}
	if r.ContentLength > a.maxBody {
		writeError(w, http.StatusRequestEntityTooLarge, fmt.Sprintf("body is larger than %d bytes", a.maxBody))
		return "", false
	}
	body, err := io.ReadAll(http.MaxBytesReader(w, r.Body, a.maxBody))
	if err != nil {
		if _, ok := errors.AsType[*http.MaxBytesError](err); ok {
			writeError(w, http.StatusRequestEntityTooLarge, fmt.Sprintf("body is larger than %d bytes", a.maxBody))
		} else {
			writeError(w, http.StatusBadRequest, "reading body: "+err.Error())
		}
		return "", false
	}
	text, msg := parseTask(body)
	if msg != "" {
		writeError(w, http.StatusBadRequest, msg)
		return "", false
	}
	return text, true
}

// parseTask returns the task text of body, or a message saying what is wrong.
func parseTask(body []byte) (string, string) {
	trimmed := bytes.TrimLeft(body, " \t\r\n")
	if len(trimmed) == 0 {
		return "", `body is empty, want {"task": "..."}`
	}
	if trimmed[0] != '{' {
		return "", `body must be a JSON object {"task": "..."}`
	}
	var in struct {
		Task *string `json:"task"`
	}
	dec := json.NewDecoder(bytes.NewReader(body))
	dec.DisallowUnknownFields()
	if err := dec.Decode(&in); err != nil {
		return "", jsonMessage(err)
	}
	if _, err := dec.Token(); err != io.EOF {
		return "", "body has data after the JSON object"
	}
	switch {
	case in.Task == nil:
		return "", `field "task" is missing or null`
	case strings.TrimSpace(*in.Task) == "":
		return "", `field "task" is empty`
	case utf8.RuneCountInString(*in.Task) > MaxTaskLen:
		return "", fmt.Sprintf(`field "task" is longer than %d characters`, MaxTaskLen)
	}
	return *in.Task, ""
}

func jsonMessage(err error) string {
	if se, ok := errors.AsType[*json.SyntaxError](err); ok {
		return fmt.Sprintf("invalid JSON at byte %d: %s", se.Offset, se.Error())
	}
	if te, ok := errors.AsType[*json.UnmarshalTypeError](err); ok {
		if te.Field == "" {
			return fmt.Sprintf("body must be a JSON object, not %s", te.Value)
		}
		return fmt.Sprintf("field %q must be a string, not %s", te.Field, te.Value)
	}
	if errors.Is(err, io.ErrUnexpectedEOF) {
		return "invalid JSON: body ends early"
	}
	// Unknown fields and other decoder complaints.
	return "invalid JSON: " + strings.TrimPrefix(err.Error(), "json: ")
}

// storeError answers a storage error: 404 for a missing task, 503 when the
// database stayed locked, 499 when the client left, 500 otherwise.
func (a *API) storeError(w http.ResponseWriter, r *http.Request, err error) {
	switch {
	case errors.Is(err, store.ErrNotFound):
		writeError(w, http.StatusNotFound, "task not found")
		return
	case r.Context().Err() != nil:
		// Nobody reads this answer; 499 keeps abandoned requests out of the
		// server error count.
		writeError(w, StatusClientClosedRequest, "client closed request")
		return
	case errors.Is(err, store.ErrBusy):
		w.Header().Set("Retry-After", "1")
		writeError(w, http.StatusServiceUnavailable, "database busy, retry later")
	default:
		writeError(w, http.StatusInternalServerError, "internal error")
	}
	a.log.LogAttrs(r.Context(), slog.LevelError, "storage error",
		slog.String("method", r.Method), slog.String("path", r.URL.Path), slog.String("error", err.Error()))
}

// StatusClientClosedRequest is nginx's status for a request whose client
// disconnected before the answer.
const StatusClientClosedRequest = 499

func writeJSON(w http.ResponseWriter, code int, v any) {
	b, err := json.Marshal(v)
	if err != nil {
		writeError(w, http.StatusInternalServerError, "encoding response")
		return
	}
	b = append(b, '\n')
	h := w.Header()
	h.Set("Content-Type", "application/json")
	h.Set("Content-Length", strconv.Itoa(len(b)))
	w.WriteHeader(code)
	w.Write(b)
}

func writeError(w http.ResponseWriter, code int, msg string) {
	b, _ := json.Marshal(map[string]string{"error": msg}) // a string map always encodes
	b = append(b, '\n')
	h := w.Header()
	h.Set("Content-Type", "application/json")
	h.Set("Content-Length", strconv.Itoa(len(b)))
	h.Set("X-Content-Type-Options", "nosniff")
	w.WriteHeader(code)
	w.Write(b)
}
