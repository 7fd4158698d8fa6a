package store

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/mattn/go-sqlite3"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// Environment of the child processes in TestTwoProcessesLoseNoWrite.
const (
	envHammerDB  = "STORE_TEST_HAMMER_DB"
	envHammerTag = "STORE_TEST_HAMMER_TAG"
)

func TestMain(m *testing.M) {
	if path := os.Getenv(envHammerDB); path != "" {
		if err := hammerProcess(path, os.Getenv(envHammerTag)); err != nil {
			fmt.Fprintln(os.Stderr, err)
			os.Exit(1)
		}
		os.Exit(0)
	}
	os.Exit(m.Run())
}

func openTemp(t testing.TB) (*Store, string) {
	t.Helper()
	path := filepath.Join(t.TempDir(), "tasks.db")
	s, err := Open(context.Background(), path, DefaultOptions)
	require.NoError(t, err)
	t.Cleanup(func() { s.Close() })
	return s, path
}

func TestCRUD(t *testing.T) {
	ctx := context.Background()
	s, _ := openTemp(t)

	a, err := s.Create(ctx, "write docs")
	require.NoError(t, err)
	assert.Equal(t, Task{ID: 1, Task: "write docs"}, a)

	got, err := s.Get(ctx, a.ID)
	require.NoError(t, err)
	assert.Equal(t, a, got)

	up, err := s.Update(ctx, a.ID, "write better docs")
	require.NoError(t, err)
	assert.Equal(t, "write better docs", up.Task)
	got, err = s.Get(ctx, a.ID)
	require.NoError(t, err)
	assert.Equal(t, "write better docs", got.Task)

	require.NoError(t, s.Delete(ctx, a.ID))
	_, err = s.Get(ctx, a.ID)
	assert.ErrorIs(t, err, ErrNotFound)
	assert.ErrorIs(t, s.Delete(ctx, a.ID), ErrNotFound)
	_, err = s.Update(ctx, a.ID, "x")
	assert.ErrorIs(t, err, ErrNotFound)

	b, err := s.Create(ctx, "next")
	require.NoError(t, err)
	assert.Greater(t, b.ID, a.ID, "ids of deleted tasks are not reused")

	require.NoError(t, s.Ping(ctx))
}

func TestListPages(t *testing.T) {
	ctx := context.Background()
	s, _ := openTemp(t)
	for i := range 7 {
		_, err := s.Create(ctx, fmt.Sprint("t", i))
		require.NoError(t, err)
	}

	tests := []struct {
		name     string
		after    int64
		limit    int
		wantIDs  []int64
		wantNext int64
	}{
		{"a first page that is not the last points at its last id", 0, 3, []int64{1, 2, 3}, 3},
		{"a middle page starts after the given id", 3, 3, []int64{4, 5, 6}, 6},
		{"the last page has no next", 6, 3, []int64{7}, 0},
		{"a page exactly filling the rest has no next", 4, 3, []int64{5, 6, 7}, 0},
		{"after the last id the page is empty", 7, 3, []int64{}, 0},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			p, err := s.List(ctx, tt.after, tt.limit)
			require.NoError(t, err)
			ids := []int64{}
			for _, task := range p.Tasks {
				ids = append(ids, task.ID)
			}
			assert.Equal(t, tt.wantIDs, ids)
			assert.Equal(t, tt.wantNext, p.Next)
		})
	}

	_, err := s.List(ctx, 0, 0)
	assert.ErrorContains(t, err, "limit must be >= 1")
}

func TestOpenRejectsBadInput(t *testing.T) {
	dir := t.TempDir()
	tests := []struct {
		name string
		path string
		opts Options
		want string
	}{
		{"an empty path", "", DefaultOptions, "database path is empty"},
		{"a path with a query", filepath.Join(dir, "a.db?mode=ro"), DefaultOptions, "must not contain"},
		{"a missing directory", filepath.Join(dir, "nope", "a.db"), DefaultOptions, "database directory"},
		{"a zero busy timeout", filepath.Join(dir, "a.db"), Options{Readers: 1}, "busy timeout must be > 0"},
		{"a negative reader count", filepath.Join(dir, "a.db"), Options{BusyTimeout: time.Second, Readers: -1}, "readers must be >= 0"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := Open(context.Background(), tt.path, tt.opts)
			require.Error(t, err)
			assert.Contains(t, err.Error(), tt.want)
		})
	}
}

func TestLockHeldTooLongIsErrBusy(t *testing.T) {
	ctx := context.Background()
	path := filepath.Join(t.TempDir(), "tasks.db")
	s, err := Open(ctx, path, Options{BusyTimeout: 50 * time.Millisecond, Readers: 1})
	require.NoError(t, err)
	defer s.Close()

	other, err := sql.Open("sqlite3", path+"?_txlock=immediate")
	require.NoError(t, err)
	defer other.Close()
	tx, err := other.BeginTx(ctx, nil)
	require.NoError(t, err)
	defer tx.Rollback()

	_, err = s.Create(ctx, "blocked")
	assert.ErrorIs(t, err, ErrBusy)

	// Readers are not blocked by a writer in WAL mode.
	require.NoError(t, s.Ping(ctx))
}

// hammer writes n tasks tagged with tag from workers goroutines, then updates
// every third and deletes every fifth of them, and returns the texts it
// expects to survive keyed by id.
func hammer(ctx context.Context, s *Store, tag string, workers, n int) (map[int64]string, error) {
	var (
		mu   sync.Mutex
		want = map[int64]string{}
		errs []error
		wg   sync.WaitGroup
	)
	for w := range workers {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := range n {
				text := fmt.Sprintf("%s-%d-%d", tag, w, i)
				task, err := s.Create(ctx, text)
				if err == nil && i%3 == 0 {
					text += "-updated"
					_, err = s.Update(ctx, task.ID, text)
				}
				deleted := false
				if err == nil && i%5 == 0 {
					err = s.Delete(ctx, task.ID)
					deleted = true
				}
				if err == nil && i%7 == 0 {
					_, err = s.List(ctx, task.ID-20, 20)
				}
				mu.Lock()
				if err != nil {
					errs = append(errs, fmt.Errorf("%s: %w", text, err))
				} else if !deleted {
					if prev, dup := want[task.ID]; dup {
						errs = append(errs, fmt.Errorf("id %d given to %q and %q", task.ID, prev, text))
					}
					want[task.ID] = text
				}
				mu.Unlock()
			}
		}()
	}
	wg.Wait()
	return want, errors.Join(errs...)
}

// all reads every task through the public paging API.
func all(t *testing.T, s *Store) map[int64]string {
	t.Helper()
	got := map[int64]string{}
	var after int64
	for {
		p, err := s.List(context.Background(), after, 1000)
		require.NoError(t, err)
		for _, task := range p.Tasks {
			require.NotContains(t, got, task.ID, "id listed twice")
			got[task.ID] = task.Task
		}
		if p.Next == 0 {
			return got
		}
		after = p.Next
	}
}

func TestTwoHandlesLoseNoWrite(t *testing.T) {
	ctx := context.Background()
	path := filepath.Join(t.TempDir(), "tasks.db")
	var stores [2]*Store
	for i := range stores {
		s, err := Open(ctx, path, DefaultOptions)
		require.NoError(t, err)
		defer s.Close()
		stores[i] = s
	}

	var (
		wg    sync.WaitGroup
		wants [2]map[int64]string
		errs  [2]error
	)
	for i, s := range stores {
		wg.Add(1)
		go func() {
			defer wg.Done()
			wants[i], errs[i] = hammer(ctx, s, fmt.Sprint("h", i), 8, 150)
		}()
	}
	wg.Wait()
	require.NoError(t, errs[0])
	require.NoError(t, errs[1])

	want := map[int64]string{}
	for _, w := range wants {
		for id, text := range w {
			require.NotContains(t, want, id, "both handles got id %d", id)
			want[id] = text
		}
	}
	// 2 handles × 8 workers × 150 creates, minus every fifth deleted.
	require.Len(t, want, 2*8*120)
	assert.Equal(t, want, all(t, stores[0]))
	assert.Equal(t, want, all(t, stores[1]))
}

func hammerProcess(path, tag string) error {
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	s, err := Open(ctx, path, DefaultOptions)
	if err != nil {
		return err
	}
	defer s.Close()
	want, err := hammer(ctx, s, tag, 8, 150)
	if err != nil {
		return err
	}
	// The parent checks what each child believes it wrote.
	for id, text := range want {
		fmt.Printf("%d %s\n", id, text)
	}
	return nil
}

func TestTwoProcessesLoseNoWrite(t *testing.T) {
	path := filepath.Join(t.TempDir(), "tasks.db")

	type result struct {
		out []byte
		err error
	}
	results := make(chan result, 2)
	// Both children open the fresh file at once, so they also race to create
	// the schema and switch it to WAL.
	for _, tag := range []string{"p1", "p2"} {
		cmd := exec.Command(os.Args[0], "-test.run=^$")
		cmd.Env = append(os.Environ(), envHammerDB+"="+path, envHammerTag+"="+tag)
		var stderr strings.Builder
		cmd.Stderr = &stderr
		go func() {
			out, err := cmd.Output()
			if err != nil {
				err = fmt.Errorf("child %s: %w: %s", tag, err, stderr.String())
			}
			results <- result{out, err}
		}()
	}

	want := map[int64]string{}
	for range 2 {
		r := <-results
		require.NoError(t, r.err)
		for line := range strings.Lines(string(r.out)) {
			var id int64
			var text string
			_, err := fmt.Sscanf(line, "%d %s", &id, &text)
			require.NoError(t, err, "child output %q", line)
			require.NotContains(t, want, id, "both processes got id %d", id)
			want[id] = text
		}
	}
	require.Len(t, want, 2*8*120)

	s, err := Open(context.Background(), path, DefaultOptions)
	require.NoError(t, err)
	defer s.Close()
	assert.Equal(t, want, all(t, s))
}

// TestQueriesCountsEveryStatement: each call runs one statement, whether a
// prepared one, one run on a pool, or one inside a transaction, as a change
// that adds a query would write it.
func TestQueriesCountsEveryStatement(t *testing.T) {
	ctx := context.Background()
	s, _ := openTemp(t)
	n := s.Queries()
	step := func(what string, want uint64, run func() error) {
		t.Helper()
		require.NoError(t, run(), what)
		assert.Equal(t, want, s.Queries()-n, what)
		n = s.Queries()
	}
	var a Task
	step("create", 1, func() (err error) { a, err = s.Create(ctx, "write docs"); return err })
	step("get", 1, func() error { _, err := s.Get(ctx, a.ID); return err })
	step("list", 1, func() error { _, err := s.List(ctx, 0, 10); return err })
	step("ping", 1, func() error { return s.Ping(ctx) })
	w, r := s.Pools()
	step("a query on the reader pool", 1, func() error { return r.QueryRowContext(ctx, `SELECT count(*) FROM tasks`).Scan(new(int)) })
	step("two statements in a transaction", 2, func() error {
		tx, err := w.BeginTx(ctx, nil)
		if err != nil {
			return err
		}
		defer tx.Rollback()
		if _, err := tx.ExecContext(ctx, `UPDATE tasks SET task = ? WHERE id = ?`, "x", a.ID); err != nil {
			return err
		}
		if err := tx.QueryRowContext(ctx, `SELECT task FROM tasks WHERE id = ?`, a.ID).Scan(new(string)); err != nil {
			return err
		}
		return tx.Commit()
	})
}

type closer struct{ closed bool }

func (c *closer) Close() error { c.closed = true; return nil }

// TestAsRefusesWhatTheDriverDoesNotDocument: a driver that hands out another
// type gets its value closed and an error, never a panic.
func TestAsRefusesWhatTheDriverDoesNotDocument(t *testing.T) {
	c := &closer{}
	_, err := as[*sqlite3.SQLiteConn](c, nil)
	require.EqualError(t, err, "store: the SQLite driver gave a *store.closer, not a *sqlite3.SQLiteConn")
	assert.True(t, c.closed)
	_, err = as[*sqlite3.SQLiteConn](nil, errors.New("no such file"))
	assert.EqualError(t, err, "no such file")
}
