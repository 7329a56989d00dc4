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
	"sync"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/codecheck/codecheck/adapters/store/internal/broadcast"
	"github.com/codecheck/codecheck/adapters/store/internal/core"
	"github.com/codecheck/codecheck/ports"
)

var (
	_ ports.JobStore      = (*Store)(nil)
	_ ports.Changes       = (*Store)(nil)
	_ ports.WebhookOutbox = (*Store)(nil)
)

// Channel is the NOTIFY channel; each notification's payload is a job id.
const Channel = "codecheck_jobs"

// Store is a ports.JobStore, ports.WebhookOutbox and ports.Changes backed
// by Postgres.
type Store struct {
	*core.Store
	changes *broadcast.Broadcaster
	log     *slog.Logger

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
	changes := broadcast.New()
	s := &Store{Store: core.New(newEngine(pool), o.clock, changes), changes: changes, log: o.log,
		listenConfig: listenConfig, pollEvery: o.pollEvery}
	if err := s.Migrate(ctx); err != nil {
		s.Store.Close()
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
	return s.Store.Close()
}

// errClosed is returned by Watch after Close.
var errClosed = errors.New("postgres: store closed")
