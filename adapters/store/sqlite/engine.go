package sqlite

import (
	"context"
	"database/sql"
	"encoding/json"
	"errors"
	"fmt"
	"time"

	sqlite "modernc.org/sqlite"
	sqlite3 "modernc.org/sqlite/lib"

	"github.com/codecheck/codecheck/adapters/store/internal/driver"
)

// engine is the store core's driver over database/sql: one writer
// connection, a pool of readers. Reads run on the readers.
type engine struct {
	writer *sql.DB // one connection: the only writer
	reader *sql.DB // the writer, for in-memory databases
}

func (e *engine) Dialect() driver.Dialect { return dialect }

func (e *engine) Exec(ctx context.Context, query string, args ...any) (int64, error) {
	return execOn(ctx, e.writer, query, args)
}

func (e *engine) Query(ctx context.Context, query string, args ...any) (driver.Rows, error) {
	return conn{e.reader}.Query(ctx, query, args...)
}

// Write runs fn in an IMMEDIATE transaction on the single writer
// connection. Other processes hear nothing: their watchers poll.
func (e *engine) Write(ctx context.Context, fn func(driver.DB) ([]string, error)) error {
	tx, err := e.writer.BeginTx(ctx, nil)
	if err != nil {
		return fmt.Errorf("sqlite: begin: %w", err)
	}
	if _, err := fn(conn{tx}); err != nil {
		_ = tx.Rollback()
		return err
	}
	if err := tx.Commit(); err != nil {
		return fmt.Errorf("sqlite: commit: %w", err)
	}
	return nil
}

// Announce implements driver.Driver: other processes poll SQLite.
func (e *engine) Announce([]string) {}

// Ping checks that both pools can reach the database.
func (e *engine) Ping(ctx context.Context) error {
	return errors.Join(e.writer.PingContext(ctx), e.reader.PingContext(ctx))
}

func (e *engine) Close() error {
	if e.reader != e.writer {
		return errors.Join(e.reader.Close(), e.writer.Close())
	}
	return e.writer.Close()
}

// execer is what statements need from *sql.DB and *sql.Tx alike.
type execer interface {
	ExecContext(ctx context.Context, query string, args ...any) (sql.Result, error)
	QueryContext(ctx context.Context, query string, args ...any) (*sql.Rows, error)
}

// conn is a pool or a transaction as a driver.DB.
type conn struct{ db execer }

func (c conn) Exec(ctx context.Context, query string, args ...any) (int64, error) {
	return execOn(ctx, c.db, query, args)
}

func (c conn) Query(ctx context.Context, query string, args ...any) (driver.Rows, error) {
	r, err := c.db.QueryContext(ctx, query, toColumns(args)...)
	if err != nil {
		return nil, err
	}
	return rows{r}, nil
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
