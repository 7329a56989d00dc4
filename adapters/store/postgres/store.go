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
	"strings"
	"sync"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/codecheck/codecheck/adapters/store/internal/broadcast"
	"github.com/codecheck/codecheck/adapters/store/internal/core"
	"github.com/codecheck/codecheck/ports"
)

var _ ports.JobStore = (*Store)(nil) // and Changes, WebhookOutbox, ProviderBudget: see core

// The NOTIFY channels; each notification's payload is a job id.
const (
	// Channel tells of changes to a job's state: created, claimed, handed
	// off, canceled, retried, finished.
	Channel = "codecheck_jobs"
	// ProgressChannel tells of a job's progress: a section of its running
	// attempt started or saved (ports.Changes.WatchState).
	ProgressChannel = "codecheck_progress"
)

// Store is a ports.JobStore, ports.WebhookOutbox and ports.Changes backed
// by Postgres.
type Store struct {
	*core.Store
	pool     *pgxpool.Pool
	notifier *notifier
	changes  *broadcast.Broadcaster
	log      *slog.Logger

	listenConfig *pgx.ConnConfig
	pollEvery    time.Duration

	// own holds the backend pids of the pool's connections, so that the
	// change feed can pass over the store's own notifications: its
	// watchers heard of those changes when they were committed.
	own *backends

	mu       sync.Mutex
	closed   bool
	listener *listener // started by the first Watch
}

// Option configures Open.
type Option func(*options)

type options struct {
	clock           func() time.Time
	log             *slog.Logger
	listenURL       string
	pollEvery       time.Duration
	maxConns        int32
	defaultMaxConns int32
	pooler          Pooler
	noListen        bool
	checkOnly       bool
	schema          string
}

// Pooler is what sits between codecheck and Postgres.
type Pooler string

// Poolers. A transaction pooler (PgBouncer or Supavisor in transaction
// mode, Supabase's port 6543) hands each transaction to any server
// connection: the store then uses the simple protocol (no prepared
// statements) and never LISTENs through it.
const (
	PoolerNone        Pooler = "none"
	PoolerSession     Pooler = "session"
	PoolerTransaction Pooler = "transaction"
)

// ParsePooler parses a pooler name; "" is "detect from the URL".
func ParsePooler(s string) (Pooler, error) {
	switch p := Pooler(s); p {
	case "", PoolerNone, PoolerSession, PoolerTransaction:
		return p, nil
	}
	return "", fmt.Errorf("unknown pooler %q: want transaction, session or none", s)
}

// DetectPooler tells a transaction pooler from a connection's host and
// port: Supabase's pooler hosts (*.pooler.supabase.com) and port 6543
// (Supavisor's transaction port) are taken for one; anything else is none.
func DetectPooler(cfg *pgx.ConnConfig) Pooler {
	if cfg.Port == 6543 || strings.HasSuffix(strings.ToLower(cfg.Host), ".pooler.supabase.com") {
		return PoolerTransaction
	}
	return PoolerNone
}

// IdleInTransactionTimeout is how long Postgres lets one of the store's
// connections sit inside a transaction without a statement before it ends
// the session. The store's transactions send their statements back to back,
// so only a frozen or cut-off process (a stall, a partition: a zombie)
// reaches it; without it, such a process would keep its job's row locked,
// out of reach of the lease's rescue, for as long as its connection stayed
// open (TestIdleInTransactionTimeout).
const IdleInTransactionTimeout = "5s"

// boundIdleTransactions sets idle_in_transaction_session_timeout to
// IdleInTransactionTimeout on each new connection, unless the URL sets it.
// It is a SET after connecting, not a start-up parameter, which PgBouncer
// refuses; behind a transaction pooler, where a SET would reach other
// clients' sessions, it is left to the database or role (ALTER ROLE ...
// SET).
func boundIdleTransactions(cfg *pgxpool.Config, pooler Pooler) {
	const name = "idle_in_transaction_session_timeout"
	if _, set := cfg.ConnConfig.RuntimeParams[name]; set || pooler == PoolerTransaction {
		return
	}
	next := cfg.AfterConnect
	cfg.AfterConnect = func(ctx context.Context, conn *pgx.Conn) error {
		if _, err := conn.Exec(ctx, "SET "+name+" = '"+IdleInTransactionTimeout+"'"); err != nil {
			return fmt.Errorf("postgres: set %s: %w", name, err)
		}
		if next != nil {
			return next(ctx, conn)
		}
		return nil
	}
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

// WithMaxConns sets the connection pool's size, whatever the URL says
// (CODECHECK_DB_MAX_CONNS).
func WithMaxConns(n int32) Option { return func(o *options) { o.maxConns = n } }

// WithDefaultMaxConns sets the pool's size unless the URL sets
// pool_max_conns: a command's own small default.
func WithDefaultMaxConns(n int32) Option { return func(o *options) { o.defaultMaxConns = n } }

// WithPooler says what sits in front of Postgres; without it (or with "")
// DetectPooler decides from the URL.
func WithPooler(p Pooler) Option { return func(o *options) { o.pooler = p } }

// WithoutListen keeps the store from opening a LISTEN connection at all:
// watchers poll. A short-lived process that wants one connection less uses
// it.
func WithoutListen() Option { return func(o *options) { o.noListen = true } }

// WithSchema sets the schema the tables live in (CODECHECK_DB_SCHEMA).
// Without it: the first schema of the URL's search_path when it sets one,
// else DefaultSchema.
func WithSchema(name string) Option { return func(o *options) { o.schema = name } }

// DefaultSchema is the tables' schema when neither WithSchema nor the URL
// names one: not public, which Supabase's Data API exposes.
const DefaultSchema = "codecheck"

// WithoutMigrations makes Open check that the schema is at this binary's
// version instead of migrating it: only `serve` and `migrate` change
// schema.
func WithoutMigrations() Option { return func(o *options) { o.checkOnly = true } }

// Open connects to databaseURL (any URL pgx accepts), applies the
// migrations (or only checks them, WithoutMigrations) and returns the store.
// Behind a transaction pooler it uses the simple protocol and LISTENs only
// on a separate listen URL, else watchers poll. It logs once which mode it
// chose. The change feed connects on the first Watch.
func Open(ctx context.Context, databaseURL string, opts ...Option) (*Store, error) {
	o := options{clock: time.Now, log: slog.Default(), pollEvery: 2 * time.Second}
	for _, opt := range opts {
		opt(&o)
	}
	cfg, err := pgxpool.ParseConfig(databaseURL)
	if err != nil {
		return nil, fmt.Errorf("postgres: database URL: %w", err)
	}
	switch {
	case o.maxConns > 0:
		cfg.MaxConns = o.maxConns
	case o.defaultMaxConns > 0 && !strings.Contains(databaseURL, "pool_max_conns"):
		cfg.MaxConns = o.defaultMaxConns
	}
	if o.schema == "" {
		o.schema = DefaultSchema
		if sp := strings.Trim(strings.TrimSpace(strings.Split(cfg.ConnConfig.RuntimeParams["search_path"], ",")[0]), `"`); sp != "" && sp != "$user" {
			o.schema = sp
		}
	}
	if o.pooler == "" {
		o.pooler = DetectPooler(cfg.ConnConfig)
	}
	boundIdleTransactions(cfg, o.pooler)
	listenConfig, feed := cfg.ConnConfig.Copy(), "LISTEN on the database URL"
	if o.pooler == PoolerTransaction {
		// No prepared statements survive a transaction pooler, and LISTEN
		// through it would hear nothing.
		cfg.ConnConfig.DefaultQueryExecMode = pgx.QueryExecModeSimpleProtocol
		listenConfig, feed = nil, "polling: a transaction pooler cannot LISTEN"
	}
	if o.listenURL != "" {
		if listenConfig, err = pgx.ParseConfig(o.listenURL); err != nil {
			return nil, fmt.Errorf("postgres: listen URL: %w", err)
		}
		feed = "LISTEN on the listen URL"
	}
	if o.noListen {
		listenConfig, feed = nil, "polling: this process does not LISTEN"
	}
	own := &backends{pids: map[uint32]struct{}{}}
	if o.pooler == PoolerNone && listenConfig != nil { // only a listener hears them come back
		own.track(cfg)
	}
	pool, err := pgxpool.NewWithConfig(ctx, cfg)
	if err != nil {
		return nil, fmt.Errorf("postgres: %w", err)
	}
	changes, engine := broadcast.New(), newEngine(pool, o.schema)
	s := &Store{Store: core.New(engine, o.clock, changes), pool: pool, notifier: engine.notifier, changes: changes,
		log: o.log, listenConfig: listenConfig, pollEvery: o.pollEvery, own: own}
	migrate := s.Migrate
	if o.checkOnly {
		migrate = s.CheckSchema
	}
	if err := migrate(ctx); err != nil {
		s.Store.Close()
		return nil, err
	}
	o.log.Info("postgres store ready", "schema", o.schema, "pooler", o.pooler, "query_exec_mode", cfg.ConnConfig.DefaultQueryExecMode.String(),
		"max_conns", cfg.MaxConns, "change_feed", feed, "poll_interval", o.pollEvery)
	return s, nil
}

// Listens reports whether the store hears other processes' writes through
// LISTEN; false when its watchers poll.
func (s *Store) Listens() bool { return s.listenConfig != nil }

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

// backends is the set of backend pids of a pool's open connections.
type backends struct {
	mu   sync.Mutex
	pids map[uint32]struct{}
}

// track makes the pool record each connection's backend pid while the
// connection is open. Only a connection whose backend is the one it
// started with is recorded (pg_backend_pid() is the pid its start-up
// reported): through a pooler the start-up pid is the pooler's own, and
// the backend behind it may serve other clients too. The pid is recorded
// last, once every other set-up step has succeeded, so that every pid
// recorded is removed when its connection closes.
func (b *backends) track(cfg *pgxpool.Config) {
	next := cfg.AfterConnect
	cfg.AfterConnect = func(ctx context.Context, conn *pgx.Conn) error {
		if next != nil {
			if err := next(ctx, conn); err != nil {
				return err
			}
		}
		var pid int32
		if err := conn.QueryRow(ctx, "SELECT pg_backend_pid()").Scan(&pid); err != nil {
			return fmt.Errorf("postgres: read the backend pid: %w", err)
		}
		if uint32(pid) == conn.PgConn().PID() {
			b.mu.Lock()
			b.pids[uint32(pid)] = struct{}{}
			b.mu.Unlock()
		}
		return nil
	}
	prev := cfg.BeforeClose
	cfg.BeforeClose = func(conn *pgx.Conn) {
		b.mu.Lock()
		delete(b.pids, conn.PgConn().PID())
		b.mu.Unlock()
		if prev != nil {
			prev(conn)
		}
	}
}

// has reports whether pid is the backend of one of the pool's connections.
func (b *backends) has(pid uint32) bool {
	b.mu.Lock()
	defer b.mu.Unlock()
	_, ok := b.pids[pid]
	return ok
}
