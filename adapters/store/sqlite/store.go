// Package sqlite is the embedded JobStore: jobs, section results and events
// in one SQLite file through modernc.org/sqlite (pure Go, no cgo), with an
// in-process change feed.
//
// SQLite allows one writer at a time, so every write goes through a pool of
// exactly one connection whose transactions begin IMMEDIATE; that makes
// claims and fenced writes serial and correct without retries. Reads use a
// separate pool and see the last committed state (WAL mode). The change feed
// only reaches watchers in this process: processes sharing a database file
// need Postgres. The package never holds a transaction across anything but
// its own statements.
package sqlite

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"net/url"
	"time"

	_ "modernc.org/sqlite" // registers the "sqlite" driver

	"github.com/codecheck/codecheck/adapters/store/internal/broadcast"
	"github.com/codecheck/codecheck/adapters/store/internal/policy"
	"github.com/codecheck/codecheck/ports"
)

var (
	_ ports.JobStore = (*Store)(nil)
	_ ports.Changes  = (*Store)(nil)
)

// Store is a ports.JobStore and ports.Changes backed by SQLite.
type Store struct {
	writer  *sql.DB // one connection: the only writer
	reader  *sql.DB // may be the writer, for in-memory databases
	clock   func() time.Time
	changes *broadcast.Broadcaster
}

// Option configures Open.
type Option func(*options)

type options struct {
	clock       func() time.Time
	busyTimeout time.Duration
	readConns   int
}

// WithClock makes the store read time from now instead of time.Now; tests
// use it to expire leases without sleeping.
func WithClock(now func() time.Time) Option { return func(o *options) { o.clock = now } }

// WithBusyTimeout sets how long a statement waits for another process's
// write lock before failing (default 10s).
func WithBusyTimeout(d time.Duration) Option { return func(o *options) { o.busyTimeout = d } }

// WithReadConns sets the size of the read pool (default 4).
func WithReadConns(n int) Option { return func(o *options) { o.readConns = n } }

// Open opens (creating if needed) the database file at path, applies the
// migrations and returns the store. path ":memory:" gives a private
// in-memory database, useful for one-shot commands; tests should prefer a
// file under t.TempDir().
func Open(ctx context.Context, path string, opts ...Option) (*Store, error) {
	o := options{clock: time.Now, busyTimeout: 10 * time.Second, readConns: 4}
	for _, opt := range opts {
		opt(&o)
	}
	if path == "" {
		return nil, errors.New("sqlite: empty database path")
	}
	s := &Store{clock: o.clock, changes: broadcast.New()}
	var err error
	if s.writer, err = openPool(path, o, false); err != nil {
		return nil, err
	}
	s.writer.SetMaxOpenConns(1)
	s.reader = s.writer
	if path != ":memory:" {
		if s.reader, err = openPool(path, o, true); err != nil {
			s.writer.Close()
			return nil, err
		}
		s.reader.SetMaxOpenConns(o.readConns)
	}
	if err := migrate(ctx, s.writer); err != nil {
		s.Close()
		return nil, err
	}
	return s, nil
}

func openPool(path string, o options, readOnly bool) (*sql.DB, error) {
	q := url.Values{}
	q.Add("_pragma", fmt.Sprintf("busy_timeout(%d)", o.busyTimeout.Milliseconds()))
	q.Add("_pragma", "foreign_keys(1)")
	q.Add("_pragma", "synchronous(NORMAL)")
	if path != ":memory:" {
		q.Add("_pragma", "journal_mode(WAL)")
	}
	if readOnly {
		q.Add("_pragma", "query_only(1)")
	} else {
		q.Set("_txlock", "immediate") // take the write lock at BEGIN, not at the first write
	}
	db, err := sql.Open("sqlite", "file:"+path+"?"+q.Encode())
	if err != nil {
		return nil, fmt.Errorf("sqlite: open %s: %w", path, err)
	}
	db.SetConnMaxIdleTime(0) // an in-memory database lives only as long as its connection
	return db, nil
}

// Close closes every watcher's channel and the database.
func (s *Store) Close() error {
	s.changes.Close()
	var errs []error
	if s.reader != s.writer {
		errs = append(errs, s.reader.Close())
	}
	errs = append(errs, s.writer.Close())
	return errors.Join(errs...)
}

// Ping checks that both pools can reach the database.
func (s *Store) Ping(ctx context.Context) error {
	if err := s.writer.PingContext(ctx); err != nil {
		return fmt.Errorf("sqlite: ping: %w", err)
	}
	if err := s.reader.PingContext(ctx); err != nil {
		return fmt.Errorf("sqlite: ping: %w", err)
	}
	return nil
}

// Watch implements ports.Changes. Notifications are sent after commit, from
// this process only.
func (s *Store) Watch(ctx context.Context, jobID string) (<-chan struct{}, error) {
	return s.changes.Watch(ctx, jobID)
}

// querier is what reads need from *sql.DB and *sql.Tx alike.
type querier interface {
	QueryContext(ctx context.Context, query string, args ...any) (*sql.Rows, error)
	QueryRowContext(ctx context.Context, query string, args ...any) *sql.Row
	ExecContext(ctx context.Context, query string, args ...any) (sql.Result, error)
}

// txn is one write transaction: its time, and the jobs it changed, which
// are announced after commit.
type txn struct {
	tx      *sql.Tx
	now     time.Time
	changed []string
}

// write runs fn in an IMMEDIATE transaction on the single writer connection
// and notifies watchers of the changed jobs once it committed.
func (s *Store) write(ctx context.Context, fn func(context.Context, *txn) error) error {
	tx, err := s.writer.BeginTx(ctx, nil)
	if err != nil {
		return fmt.Errorf("sqlite: begin: %w", err)
	}
	x := &txn{tx: tx, now: policy.Now(s.clock)}
	if err := fn(ctx, x); err != nil {
		_ = tx.Rollback()
		return err
	}
	if err := tx.Commit(); err != nil {
		return fmt.Errorf("sqlite: commit: %w", err)
	}
	for _, id := range x.changed {
		s.changes.Notify(id)
	}
	return nil
}

func (x *txn) touch(jobID string) { x.changed = append(x.changed, jobID) }

func (x *txn) micros() int64 { return x.now.UnixMicro() }
