// Package sqlite is the embedded JobStore: jobs, section results, events and
// webhook deliveries in one SQLite file through modernc.org/sqlite (pure Go,
// no cgo), with an in-process change feed. The lifecycle itself is the
// store core's (adapters/store/internal/core); this package connects,
// converts column types and names SQLite's SQL fragments.
//
// SQLite allows one writer at a time, so every write goes through a pool of
// exactly one connection whose transactions begin IMMEDIATE; that makes
// claims and fenced writes serial and correct without retries. Reads use a
// separate pool and see the last committed state (WAL mode). The change feed
// only reaches watchers in this process: processes sharing a database file
// need Postgres.
package sqlite

import (
	"context"
	"database/sql"
	_ "embed"
	"errors"
	"fmt"
	"net/url"
	"time"

	_ "modernc.org/sqlite" // registers the "sqlite" driver

	"github.com/codecheck/codecheck/adapters/store/internal/broadcast"
	"github.com/codecheck/codecheck/adapters/store/internal/core"
	"github.com/codecheck/codecheck/adapters/store/internal/driver"
	"github.com/codecheck/codecheck/ports"
)

var _ ports.JobStore = (*Store)(nil) // and Changes, WebhookOutbox, ProviderBudget: see core

// Store is a ports.JobStore, ports.WebhookOutbox and ports.Changes backed
// by SQLite.
type Store struct{ *core.Store }

// Option configures Open.
type Option func(*options)

type options struct{ clock func() time.Time }

// How long a statement waits for another process's write lock before
// failing, and the size of the read pool.
const (
	busyTimeout = 10 * time.Second
	readConns   = 4
)

// WithClock makes the store read time from now instead of time.Now; tests
// use it to expire leases without sleeping.
func WithClock(now func() time.Time) Option { return func(o *options) { o.clock = now } }

// Open opens (creating if needed) the database file at path, applies the
// migrations and returns the store. path ":memory:" gives a private
// in-memory database, useful for one-shot commands; tests should prefer a
// file under t.TempDir().
func Open(ctx context.Context, path string, opts ...Option) (*Store, error) {
	o := options{clock: time.Now}
	for _, opt := range opts {
		opt(&o)
	}
	if path == "" {
		return nil, errors.New("sqlite: empty database path")
	}
	e, err := openEngine(path)
	if err != nil {
		return nil, err
	}
	s := &Store{core.New(e, o.clock, broadcast.New())}
	if err := s.Migrate(ctx); err != nil {
		s.Close()
		return nil, err
	}
	return s, nil
}

// openEngine opens the writer, the readers and the checkpointer of the
// database at path; an in-memory database has only the writer.
func openEngine(path string) (*engine, error) {
	writer, err := openPool(path, writerConn)
	if err != nil {
		return nil, err
	}
	writer.SetMaxOpenConns(1)
	if path == ":memory:" {
		return newEngine(writer, writer, nil), nil
	}
	reader, err := openPool(path, readerConn)
	if err != nil {
		writer.Close()
		return nil, err
	}
	reader.SetMaxOpenConns(readConns)
	cp, err := openPool(path, checkpointConn)
	if err != nil {
		writer.Close()
		reader.Close()
		return nil, err
	}
	cp.SetMaxOpenConns(1)
	return newEngine(writer, reader, newCheckpointer(cp)), nil
}

// role is what a pool's connections are for.
type role int

const (
	writerConn role = iota
	readerConn
	checkpointConn
)

func openPool(path string, r role) (*sql.DB, error) {
	q := url.Values{}
	q.Add("_pragma", fmt.Sprintf("busy_timeout(%d)", busyTimeout.Milliseconds()))
	q.Add("_pragma", "foreign_keys(1)")
	q.Add("_pragma", "synchronous(NORMAL)")
	if path != ":memory:" {
		q.Add("_pragma", "journal_mode(WAL)")
	}
	switch r {
	case readerConn:
		q.Add("_pragma", "query_only(1)")
	case writerConn:
		q.Set("_txlock", "immediate") // take the write lock at BEGIN, not at the first write
		if path != ":memory:" {
			q.Add("_pragma", "wal_autocheckpoint(0)") // the checkpointer's work, not a commit's
		}
	}
	db, err := sql.Open("sqlite", "file:"+path+"?"+q.Encode())
	if err != nil {
		return nil, fmt.Errorf("sqlite: open %s: %w", path, err)
	}
	db.SetConnMaxIdleTime(0) // an in-memory database lives only as long as its connection
	return db, nil
}

// baseline is the schema every migration leaves, which a new database gets
// in one step: replaying the migrations' ALTERs made SQLite re-read its
// whole schema each time: about 12 ms of a first `check`. The
// migrations stay the truth: TestBaselineIsTheMigrationsSchema proves the
// two equal, and `go test ./adapters/store/sqlite -run Baseline -update`
// writes this file anew after a migration is added.
//
//go:embed baseline.sql
var baseline string

// dialect is where SQLite's SQL differs: one writer needs no row locks,
// JSON and key lists are text, times are Unix microseconds.
var dialect = driver.Dialect{
	Name:     "sqlite",
	Baseline: baseline,
	AnyTable: `SELECT name FROM sqlite_master WHERE type = 'table' LIMIT 1`,
	Types: map[string]string{
		"{{time}}": "integer", "{{json}}": "text", "{{keys}}": "text",
		"{{serial}}": "integer PRIMARY KEY AUTOINCREMENT", "{{postgres}}": "-- ",
	},
}
