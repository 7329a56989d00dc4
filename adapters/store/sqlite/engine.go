package sqlite

import (
	"context"
	"database/sql"
	"encoding/json"
	"errors"
	"fmt"
	"strings"
	"sync"
	"time"

	sqlite "modernc.org/sqlite"
	sqlite3 "modernc.org/sqlite/lib"

	"github.com/codecheck/codecheck/adapters/store/internal/driver"
)

// engine is the store core's driver over database/sql: one writer
// connection, a pool of readers. Reads run on the readers. Each pool keeps
// its statements prepared (stmts). A checkpointer copies the writer's log
// back into the database file.
type engine struct {
	writer *sql.DB // one connection: the only writer
	reader *sql.DB // the writer, for in-memory databases
	// writes and reads are the writer's and the reader's statements.
	writes, reads *stmts
	checkpoints   *checkpointer // nil for in-memory databases
}

func newEngine(writer, reader *sql.DB, checkpoints *checkpointer) *engine {
	e := &engine{writer: writer, reader: reader, writes: newStmts(writer), reads: newStmts(reader),
		checkpoints: checkpoints}
	if reader == writer {
		e.reads = e.writes
	}
	return e
}

func (e *engine) Dialect() driver.Dialect { return dialect }

func (e *engine) Exec(ctx context.Context, query string, args ...any) (int64, error) {
	defer e.checkpoints.committed()
	return conn{db: e.writer, stmts: e.writes}.Exec(ctx, query, args...)
}

func (e *engine) Query(ctx context.Context, query string, args ...any) (driver.Rows, error) {
	return conn{db: e.reader, stmts: e.reads}.Query(ctx, query, args...)
}

// Write runs fn in an IMMEDIATE transaction on the single writer
// connection. Other processes hear nothing: their watchers poll.
func (e *engine) Write(ctx context.Context, fn func(driver.DB) error) error {
	tx, err := e.writer.BeginTx(ctx, nil)
	if err != nil {
		return fmt.Errorf("sqlite: begin: %w", err)
	}
	defer e.writes.prepareWanted(context.WithoutCancel(ctx))
	if err := fn(conn{db: tx, tx: tx, stmts: e.writes}); err != nil {
		_ = tx.Rollback()
		return err
	}
	if err := tx.Commit(); err != nil {
		return fmt.Errorf("sqlite: commit: %w", err)
	}
	e.checkpoints.committed()
	return nil
}

// Announce implements driver.Driver: other processes poll SQLite.
func (e *engine) Announce([]string, bool) {}

// Ping checks that both pools can reach the database.
func (e *engine) Ping(ctx context.Context) error {
	return errors.Join(e.writer.PingContext(ctx), e.reader.PingContext(ctx))
}

func (e *engine) Close() error {
	e.writes.close()
	e.reads.close()
	err := e.checkpoints.close()
	if e.reader != e.writer {
		return errors.Join(err, e.reader.Close(), e.writer.Close())
	}
	return errors.Join(err, e.writer.Close())
}

// execer is what statements need from *sql.DB and *sql.Tx alike.
type execer interface {
	ExecContext(ctx context.Context, query string, args ...any) (sql.Result, error)
	QueryContext(ctx context.Context, query string, args ...any) (*sql.Rows, error)
}

// conn is a pool or a transaction (tx) as a driver.DB, with the pool's
// prepared statements.
type conn struct {
	db    execer
	tx    *sql.Tx
	stmts *stmts
}

// on is what runs query: its prepared statement (in the transaction, when
// there is one), or else the pool or the transaction itself.
func (c conn) on(ctx context.Context, query string) execer {
	st := c.stmts.get(ctx, query, c.tx != nil)
	switch {
	case st == nil:
		return c.db
	case c.tx != nil:
		return stmtExecer{c.tx.StmtContext(ctx, st)} // the writer's one connection has it prepared
	}
	return stmtExecer{st}
}

func (c conn) Exec(ctx context.Context, query string, args ...any) (int64, error) {
	return execOn(ctx, c.on(ctx, query), query, args)
}

func (c conn) Query(ctx context.Context, query string, args ...any) (driver.Rows, error) {
	r, err := c.on(ctx, query).QueryContext(ctx, query, toColumns(args)...)
	if err != nil {
		return nil, err
	}
	return rows{r}, nil
}

// stmtExecer runs a prepared statement as an execer; the query text is
// the statement's own.
type stmtExecer struct{ st *sql.Stmt }

func (s stmtExecer) ExecContext(ctx context.Context, _ string, args ...any) (sql.Result, error) {
	return s.st.ExecContext(ctx, args...)
}

func (s stmtExecer) QueryContext(ctx context.Context, _ string, args ...any) (*sql.Rows, error) {
	return s.st.QueryContext(ctx, args...)
}

func execOn(ctx context.Context, db execer, query string, args []any) (int64, error) {
	res, err := db.ExecContext(ctx, query, toColumns(args)...)
	var se *sqlite.Error
	if errors.As(err, &se) && (se.Code() == sqlite3.SQLITE_CONSTRAINT_PRIMARYKEY || se.Code() == sqlite3.SQLITE_CONSTRAINT_UNIQUE) {
		return 0, fmt.Errorf("%w: %w", driver.ErrUniqueViolation, err)
	}
	if err != nil {
		return 0, err
	}
	return res.RowsAffected()
}

// toColumns converts the core's arguments to SQLite's columns: times to
// Unix microseconds, key lists to JSON text.
func toColumns(args []any) []any {
	out := make([]any, len(args))
	for i, a := range args {
		switch v := a.(type) {
		case time.Time:
			out[i] = v.UnixMicro()
		case []string:
			b, _ := json.Marshal(v) // strings always marshal
			out[i] = string(b)
		default:
			out[i] = a
		}
	}
	return out
}

// rows converts SQLite's columns back to the core's types.
type rows struct{ *sql.Rows }

func (r rows) Close() { _ = r.Rows.Close() }

func (r rows) Scan(dest ...any) error {
	cols := make([]any, len(dest))
	for i, d := range dest {
		switch d.(type) {
		case *time.Time, **time.Time:
			cols[i] = new(sql.NullInt64)
		case *[]string:
			cols[i] = new(string)
		default:
			cols[i] = d
		}
	}
	if err := r.Rows.Scan(cols...); err != nil {
		return err
	}
	for i, d := range dest {
		switch d := d.(type) {
		case *time.Time:
			*d = time.UnixMicro(cols[i].(*sql.NullInt64).Int64).UTC()
		case **time.Time:
			*d = nil
			if v := cols[i].(*sql.NullInt64); v.Valid {
				t := time.UnixMicro(v.Int64).UTC()
				*d = &t
			}
		case *[]string:
			if err := json.Unmarshal([]byte(*cols[i].(*string)), d); err != nil {
				return fmt.Errorf("key list: %w", err)
			}
		}
	}
	return nil
}

// stmts keeps a pool's statements prepared, by their text. SQLite parses
// and plans a statement each time it is prepared, and database/sql
// prepares every query it is not given a prepared statement for: that was
// a seventh of a `check`'s CPU. The core has a few dozen statements, and a
// few hundred variants of its IN lists; past maxStmts, or for a script of
// several statements (a migration), a statement is not kept.
//
// Preparing takes one of the pool's connections. Inside a transaction on
// the writer, its one connection is the transaction's, so a statement met
// there for the first time runs unprepared and is prepared once the
// transaction has ended (prepareWanted). No lock is held while preparing.
type stmts struct {
	db     *sql.DB
	mu     sync.Mutex
	m      map[string]*sql.Stmt
	wanted map[string]bool
}

const maxStmts = 512

func newStmts(db *sql.DB) *stmts {
	return &stmts{db: db, m: map[string]*sql.Stmt{}, wanted: map[string]bool{}}
}

// get returns query prepared, or nil when it is not kept, not prepared yet
// (inTx), or does not prepare (the error then comes from running it).
func (c *stmts) get(ctx context.Context, query string, inTx bool) *sql.Stmt {
	if strings.Contains(query, ";") {
		return nil
	}
	c.mu.Lock()
	st, ok := c.m[query]
	full := len(c.m)+len(c.wanted) >= maxStmts
	if !ok && inTx && !full {
		c.wanted[query] = true
	}
	c.mu.Unlock()
	if ok || inTx || full {
		return st
	}
	return c.prepare(ctx, query)
}

// prepare prepares query on the pool and keeps it.
func (c *stmts) prepare(ctx context.Context, query string) *sql.Stmt {
	st, err := c.db.PrepareContext(ctx, query)
	if err != nil {
		return nil
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	if kept, ok := c.m[query]; ok { // prepared meanwhile by another caller
		_ = st.Close()
		return kept
	}
	c.m[query] = st
	return st
}

// prepareWanted prepares the statements transactions met unprepared; it
// runs once the writer's connection is free.
func (c *stmts) prepareWanted(ctx context.Context) {
	c.mu.Lock()
	wanted := make([]string, 0, len(c.wanted))
	for q := range c.wanted {
		wanted = append(wanted, q)
	}
	clear(c.wanted)
	c.mu.Unlock()
	for _, q := range wanted {
		c.prepare(ctx, q)
	}
}

func (c *stmts) close() {
	c.mu.Lock()
	defer c.mu.Unlock()
	for q, st := range c.m {
		_ = st.Close()
		delete(c.m, q)
	}
}
