// Package driver is the narrow query layer between the store core and each
// database engine, as River's riverdriver is between River and pgx or
// database/sql. The core (adapters/store/internal/core) writes every
// statement once, with $1-style parameters, and decides everything; an
// engine only runs statements, converts its column types, and says in a
// Dialect where its SQL differs. Only the core and the engine adapters
// import this package.
package driver

import (
	"context"
	"errors"
)

// ErrUniqueViolation wraps an engine's unique-constraint error, so that the
// core can tell "this row exists" from a failure.
var ErrUniqueViolation = errors.New("unique constraint violated")

// DB runs statements: the engine's pool for reads, or one transaction.
//
// Arguments and scan targets use Go types the core chooses: string, int,
// int64, time.Time (always UTC, microseconds), *time.Time for nullable times,
// []string and nil. An engine converts them to and from its column types.
type DB interface {
	// Exec runs a statement and returns the number of rows it changed. A
	// unique-constraint violation wraps ErrUniqueViolation.
	Exec(ctx context.Context, sql string, args ...any) (int64, error)
	// Query runs a statement that returns rows. The caller closes them
	// before it runs the next statement on the same DB.
	Query(ctx context.Context, sql string, args ...any) (Rows, error)
}

// Rows is the result of a Query.
type Rows interface {
	Next() bool
	Scan(dest ...any) error
	Err() error
	Close()
}

// Driver is one engine's connection handling.
type Driver interface {
	// DB reads outside any transaction.
	DB
	// Write runs fn in one write transaction and commits it.
	Write(ctx context.Context, fn func(tx DB) error) error
	// Announce tells other processes that the jobs ids changed, their
	// state or (progress) only their sections (ports.Changes.WatchState);
	// the core calls it after the commit that changed them (Postgres:
	// NOTIFY, outside the data transactions, batched). A no-op where other
	// processes poll.
	Announce(ids []string, progress bool)
	// Dialect says where the engine's SQL differs.
	Dialect() Dialect
	Ping(ctx context.Context) error
	Close() error
}

// Dialect holds the SQL fragments that differ between engines. Everything
// not here is written once, in the core.
type Dialect struct {
	// Name prefixes the engine's errors ("sqlite", "postgres").
	Name string
	// OneStatement says that the engine runs each hot write of the
	// lifecycle (create, claim, section save, finish, and the single
	// UPDATEs: heartbeat, hand-off marks) as one statement outside an
	// explicit transaction, so one round trip and one commit: Postgres,
	// with data-modifying CTEs. Elsewhere (SQLite's one writer) they are
	// transactions of several statements.
	OneStatement bool
	// LockJob ends a SELECT of one job row (alias j) and locks the row
	// until commit; empty where the write transaction locks everything.
	LockJob string
	// SkipLocked ends a SELECT ... FOR UPDATE that passes over rows other
	// transactions hold; empty where writes are serial.
	SkipLocked string
	// JSONParam follows a parameter that carries JSON text into a JSON
	// column ("::jsonb"), empty where JSON is stored as text.
	JSONParam string
	// MigrationLock is the statement that opens the migration transaction
	// and keeps other processes from migrating at the same time; empty
	// where the transaction itself is exclusive.
	MigrationLock string
	// Schema, when set, is the schema the tables live in: the core
	// qualifies every table it names with it, so no search_path is needed
	// (a transaction pooler cannot carry one).
	Schema string
	// PrepareSchema runs first in the migration transaction when Schema is
	// set: it creates the schema and moves tables an earlier version made
	// in the connection's default schema into it. {{schema}} is the
	// schema's quoted name, {{name}} its name as a string literal's body.
	PrepareSchema string
	// Baseline, where set, is the schema every migration leaves, as one
	// script: a new database gets it in one step (and every migration
	// recorded as applied) instead of replaying each migration's ALTERs,
	// which SQLite pays for by re-reading the whole schema each time. The
	// engine's tests prove it equal to the migrations' schema.
	Baseline string
	// AnyTable, set with Baseline, is a query that returns the name of a
	// table when the database has one: only a database without any gets
	// the baseline.
	AnyTable string
	// Types maps the schema's placeholders to the engine's text: the
	// column types {{time}}, {{json}}, {{keys}} and {{serial}}, and
	// {{postgres}}, which starts Postgres-only lines ("" there, a comment
	// elsewhere).
	Types map[string]string
}
