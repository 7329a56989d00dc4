// Package core is the job store written once: the control flow of every
// ports.JobStore operation, its SQL (with $1-style parameters), the schema
// and its migrations, above the narrow per-engine query layer in
// adapters/store/internal/driver. The engines (adapters/store/sqlite and
// adapters/store/postgres) only connect, convert column types and name the
// few SQL fragments that differ; the lifecycle rules themselves live in
// domain. The package never holds a transaction across anything but its own
// statements.
package core

import (
	"context"
	"fmt"
	"slices"
	"time"

	"github.com/codecheck/codecheck/adapters/store/internal/broadcast"
	"github.com/codecheck/codecheck/adapters/store/internal/driver"
	"github.com/codecheck/codecheck/ports"
)

var (
	_ ports.JobStore       = (*Store)(nil)
	_ ports.Changes        = (*Store)(nil)
	_ ports.WebhookOutbox  = (*Store)(nil)
	_ ports.ProviderBudget = (*Store)(nil)
)

// Store is a ports.JobStore, ports.WebhookOutbox and ports.Changes over one
// engine. Its change feed reaches watchers in this process; an engine that
// hears of other processes' changes feeds the same Broadcaster.
type Store struct {
	db      driver.Driver
	sql     dialect
	clock   func() time.Time
	changes *broadcast.Broadcaster
}

// New returns a store over db that reads time from clock (time.Now when
// nil) and announces committed changes on changes.
func New(db driver.Driver, clock func() time.Time, changes *broadcast.Broadcaster) *Store {
	if clock == nil {
		clock = time.Now
	}
	d := db.Dialect()
	if d.Schema != "" {
		db = qualify(db, d.Schema)
	}
	return &Store{db: db, sql: dialect{d}, clock: clock, changes: changes}
}

// Close closes every watcher's channel and the engine.
func (s *Store) Close() error {
	s.changes.Close()
	return s.db.Close()
}

// Ping implements ports.JobStore.
func (s *Store) Ping(ctx context.Context) error {
	if err := s.db.Ping(ctx); err != nil {
		return s.sql.wrap(err, "ping")
	}
	return nil
}

// Watch implements ports.Changes.
func (s *Store) Watch(ctx context.Context, jobID string) (<-chan struct{}, error) {
	return s.changes.Watch(ctx, jobID)
}

// WatchState implements ports.Changes.
func (s *Store) WatchState(ctx context.Context, jobID string) (<-chan struct{}, error) {
	return s.changes.WatchState(ctx, jobID)
}

// now reads the clock at the microsecond precision every engine keeps, in
// UTC, so a stored time reads back equal to the one written.
func (s *Store) now() time.Time { return s.clock().UTC().Truncate(time.Microsecond) }

// txn is one write transaction: its statements, its time, and the jobs it
// changed.
type txn struct {
	db      driver.DB
	sql     dialect
	now     time.Time
	changed []string
	// progress says the changes are the jobs' progress only (a save of
	// their sections), not their state: see ports.Changes.WatchState.
	progress bool
}

func (x *txn) touch(jobID string) { x.changed = append(x.changed, jobID) }

// write runs fn in one write transaction and, once it committed, announces
// the jobs it changed.
func (s *Store) write(ctx context.Context, fn func(context.Context, *txn) error) error {
	var done *txn
	err := s.db.Write(ctx, func(tx driver.DB) error {
		x := &txn{db: tx, sql: s.sql, now: s.now()}
		if err := fn(ctx, x); err != nil {
			return err
		}
		done = x
		return nil
	})
	if err != nil {
		return err
	}
	s.publish(done)
	return nil
}

// publish announces what the committed x changed.
func (s *Store) publish(x *txn) { s.tell(x.progress, x.changed) }

// writeOne runs fn, whose one write is a single statement (reads that
// explain a refusal may follow it), outside an explicit transaction where
// the engine allows it (driver.Dialect.OneStatement): a single statement
// commits on its own, so BEGIN and COMMIT would be two round trips for
// nothing. Elsewhere it is write. Either way the jobs fn touched are
// announced once it is done.
func (s *Store) writeOne(ctx context.Context, fn func(context.Context, *txn) error) error {
	if !s.sql.OneStatement {
		return s.write(ctx, fn)
	}
	x := &txn{db: s.db, sql: s.sql, now: s.now()}
	if err := fn(ctx, x); err != nil {
		return err
	}
	s.publish(x)
	return nil
}

// announce tells that the state of the jobs ids changed.
func (s *Store) announce(ids ...string) { s.tell(false, ids) }

// announceProgress tells of a save of the job's sections, which changes
// nothing of its state (ports.Changes.WatchState).
func (s *Store) announceProgress(id string) { s.tell(true, []string{id}) }

// tell tells this process's watchers, then other processes, that the jobs
// ids changed (progress: only their sections), after the commit that
// changed them: this process's watchers need not wait for a notification
// to reach the others.
func (s *Store) tell(progress bool, ids []string) {
	if len(ids) == 0 {
		return
	}
	slices.Sort(ids)
	ids = slices.Compact(ids)
	for _, id := range ids {
		if progress {
			s.changes.NotifyProgress(id)
		} else {
			s.changes.Notify(id)
		}
	}
	s.db.Announce(ids, progress)
}

// dialect adds the core's error wrapping to the engine's Dialect.
type dialect struct{ driver.Dialect }

// wrap prefixes an engine error with the engine and what was being done.
func (d dialect) wrap(err error, format string, args ...any) error {
	return fmt.Errorf("%s: %s: %w", d.Name, fmt.Sprintf(format, args...), err)
}

// collect runs a query on db and reads every row with scan.
func collect[T any](ctx context.Context, db driver.DB, scan func(driver.Rows) (T, error), query string, args ...any) ([]T, error) {
	rows, err := db.Query(ctx, query, args...)
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	var out []T
	for rows.Next() {
		v, err := scan(rows)
		if err != nil {
			return nil, err
		}
		out = append(out, v)
	}
	return out, rows.Err()
}

func scanString(r driver.Rows) (s string, err error) { return s, r.Scan(&s) }

func scanInt64(r driver.Rows) (n int64, err error) { return n, r.Scan(&n) }
