package store

import (
	"context"
	"database/sql/driver"
	"fmt"
	"io"
	"sync/atomic"

	"github.com/mattn/go-sqlite3"
)

// counter is a connector to one SQLite database that counts the statements
// its connections run, prepared or not, inside a transaction or out. In a
// process that embeds its database a query costs microseconds, so an N+1
// (a query per item where one would do) hides in CPU and latency; the
// count per request shows it, as it would for any service.
type counter struct {
	dsn string
	n   *atomic.Uint64
	d   sqlite3.SQLiteDriver
}

func (c *counter) Connect(context.Context) (driver.Conn, error) {
	conn, err := as[*sqlite3.SQLiteConn](c.d.Open(c.dsn))
	if err != nil {
		return nil, err
	}
	return &countedConn{conn, c.n}, nil
}

func (c *counter) Driver() driver.Driver { return &c.d }

// as is what the driver gave, v, as the type it documents, T; else the
// driver's error, or v closed and an error saying what it was.
func as[T any](v io.Closer, err error) (T, error) {
	var t T
	if err != nil {
		return t, err
	}
	t, ok := v.(T)
	if !ok {
		v.Close()
		return t, fmt.Errorf("store: the SQLite driver gave a %T, not a %T", v, t)
	}
	return t, nil
}

// countedConn counts the statements run on it directly, and hands out
// statements that count their runs. The rest of the driver's interfaces
// (transactions, pings) pass through.
type countedConn struct {
	*sqlite3.SQLiteConn
	n *atomic.Uint64
}

func (c *countedConn) ExecContext(ctx context.Context, query string, args []driver.NamedValue) (driver.Result, error) {
	c.n.Add(1)
	return c.SQLiteConn.ExecContext(ctx, query, args)
}

func (c *countedConn) QueryContext(ctx context.Context, query string, args []driver.NamedValue) (driver.Rows, error) {
	c.n.Add(1)
	return c.SQLiteConn.QueryContext(ctx, query, args)
}

func (c *countedConn) PrepareContext(ctx context.Context, query string) (driver.Stmt, error) {
	s, err := as[*sqlite3.SQLiteStmt](c.SQLiteConn.PrepareContext(ctx, query))
	if err != nil {
		return nil, err
	}
	return &countedStmt{s, c.n}, nil
}

func (c *countedConn) Prepare(query string) (driver.Stmt, error) {
	return c.PrepareContext(context.Background(), query)
}

// countedStmt counts each run of a prepared statement.
type countedStmt struct {
	*sqlite3.SQLiteStmt
	n *atomic.Uint64
}

func (s *countedStmt) ExecContext(ctx context.Context, args []driver.NamedValue) (driver.Result, error) {
	s.n.Add(1)
	return s.SQLiteStmt.ExecContext(ctx, args)
}

func (s *countedStmt) QueryContext(ctx context.Context, args []driver.NamedValue) (driver.Rows, error) {
	s.n.Add(1)
	return s.SQLiteStmt.QueryContext(ctx, args)
}
