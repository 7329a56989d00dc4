// Package postgres is the JobStore for production and scale-out: jobs,
// section results and events in Postgres through pgx v5 (pgxpool), with a
// change feed over LISTEN/NOTIFY that reaches every process sharing the
// database.
//
// Claims use FOR UPDATE SKIP LOCKED, so any number of workers in any number
// of processes can claim concurrently. Every worker write is fenced in the
// UPDATE's WHERE clause (id, attempt, status 'processing'). Statements work
// under pgx's default_query_exec_mode=simple_protocol, which transaction-mode
// poolers (PgBouncer, Supavisor) require; LISTEN needs a session connection,
// configurable separately with WithListenURL. The package never holds a
// transaction across anything but its own statements.
package postgres

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"slices"
	"sync"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/codecheck/codecheck/adapters/store/internal/broadcast"
	"github.com/codecheck/codecheck/adapters/store/internal/policy"
	"github.com/codecheck/codecheck/ports"
)

var (
	_ ports.JobStore = (*Store)(nil)
	_ ports.Changes  = (*Store)(nil)
)

// Channel is the NOTIFY channel; each notification's payload is a job id.
const Channel = "codecheck_jobs"

// Store is a ports.JobStore and ports.Changes backed by Postgres.
type Store struct {
	pool    *pgxpool.Pool
	clock   func() time.Time
	log     *slog.Logger
	changes *broadcast.Broadcaster

	listenConfig *pgx.ConnConfig
	pollEvery    time.Duration

	mu       sync.Mutex
	closed   bool
	listener *listener // started by the first Watch
}

// Option configures Open.
type Option func(*options)

type options struct {
	clock     func() time.Time
	log       *slog.Logger
	listenURL string
	pollEvery time.Duration
	maxConns  int32
}

// WithClock makes the store read time from now instead of time.Now; tests
// use it to expire leases without sleeping.
func WithClock(now func() time.Time) Option { return func(o *options) { o.clock = now } }

// WithLogger sets the logger for the change feed's connection state.
func WithLogger(l *slog.Logger) Option { return func(o *options) { o.log = l } }

// WithListenURL sets a separate database URL for the LISTEN connection
// (CODECHECK_LISTEN_DATABASE_URL): a direct session connection when the main
// URL goes through a transaction-mode pooler, where LISTEN does not work.
func WithListenURL(url string) Option { return func(o *options) { o.listenURL = url } }

// WithPollInterval sets how often watchers are woken while LISTEN is
// unavailable (default 2s).
func WithPollInterval(d time.Duration) Option { return func(o *options) { o.pollEvery = d } }

// WithMaxConns caps the connection pool (pgxpool's default otherwise); a
// short-lived `codecheck work` process needs only a few.
func WithMaxConns(n int32) Option { return func(o *options) { o.maxConns = n } }

// Open connects to databaseURL (any URL pgx accepts, including
// default_query_exec_mode=simple_protocol), applies the migrations and
// returns the store. The change feed connects on the first Watch.
func Open(ctx context.Context, databaseURL string, opts ...Option) (*Store, error) {
	o := options{clock: time.Now, log: slog.Default(), pollEvery: 2 * time.Second}
	for _, opt := range opts {
		opt(&o)
	}
	cfg, err := pgxpool.ParseConfig(databaseURL)
	if err != nil {
		return nil, fmt.Errorf("postgres: database URL: %w", err)
	}
	if o.maxConns > 0 {
		cfg.MaxConns = o.maxConns
	}
	listenConfig := cfg.ConnConfig.Copy()
	if o.listenURL != "" {
		if listenConfig, err = pgx.ParseConfig(o.listenURL); err != nil {
			return nil, fmt.Errorf("postgres: listen URL: %w", err)
		}
	}
	pool, err := pgxpool.NewWithConfig(ctx, cfg)
	if err != nil {
		return nil, fmt.Errorf("postgres: %w", err)
	}
	s := &Store{pool: pool, clock: o.clock, log: o.log, changes: broadcast.New(),
		listenConfig: listenConfig, pollEvery: o.pollEvery}
	if err := migrate(ctx, pool); err != nil {
		pool.Close()
		return nil, err
	}
	return s, nil
}

// Close stops the change feed, closes every watcher's channel and the pool.
func (s *Store) Close() error {
	s.mu.Lock()
	s.closed = true
	l := s.listener
	s.mu.Unlock()
	if l != nil {
		l.stop()
	}
	s.changes.Close()
	s.pool.Close()
	return nil
}

// Ping implements ports.JobStore.
func (s *Store) Ping(ctx context.Context) error {
	if err := s.pool.Ping(ctx); err != nil {
		return fmt.Errorf("postgres: ping: %w", err)
	}
	return nil
}

// querier is what reads need from the pool and a transaction alike.
type querier interface {
	Query(ctx context.Context, sql string, args ...any) (pgx.Rows, error)
	QueryRow(ctx context.Context, sql string, args ...any) pgx.Row
}

// txn is one write transaction: its time, and the jobs it changed, which
// are NOTIFYed inside it and so announced exactly when it commits.
type txn struct {
	tx      pgx.Tx
	now     time.Time
	changed []string
}

func (x *txn) touch(jobID string) { x.changed = append(x.changed, jobID) }

// write runs fn in a transaction, sends pg_notify for every changed job
// before commit, and wakes this process's watchers after it.
func (s *Store) write(ctx context.Context, fn func(context.Context, *txn) error) error {
	tx, err := s.pool.Begin(ctx)
	if err != nil {
		return fmt.Errorf("postgres: begin: %w", err)
	}
	x := &txn{tx: tx, now: policy.Now(s.clock)}
	if err := fn(ctx, x); err != nil {
		_ = tx.Rollback(context.WithoutCancel(ctx))
		return err
	}
	slices.Sort(x.changed)
	x.changed = slices.Compact(x.changed)
	for _, id := range x.changed {
		if _, err := tx.Exec(ctx, `SELECT pg_notify($1, $2)`, Channel, id); err != nil {
			_ = tx.Rollback(context.WithoutCancel(ctx))
			return fmt.Errorf("postgres: notify: %w", err)
		}
	}
	if err := tx.Commit(ctx); err != nil {
		return fmt.Errorf("postgres: commit: %w", err)
	}
	for _, id := range x.changed {
		s.changes.Notify(id)
	}
	return nil
}

// errClosed is returned by Watch after Close.
var errClosed = errors.New("postgres: store closed")
