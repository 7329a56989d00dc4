package postgres

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"
	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/codecheck/codecheck/adapters/store/internal/driver"
)

// dialect is where Postgres's SQL differs: row locks, SKIP LOCKED for
// concurrent claimers, jsonb, native times and arrays, and an advisory lock
// around migrations.
var dialect = driver.Dialect{
	Name:          "postgres",
	OneStatement:  true,
	LockJob:       " FOR UPDATE OF j",
	SkipLocked:    " FOR UPDATE SKIP LOCKED",
	JSONParam:     "::jsonb", // JSON goes as text: under the simple protocol a []byte would be sent as bytea
	MigrationLock: fmt.Sprintf("SELECT pg_advisory_xact_lock(%d)", migrationLock),
	PrepareSchema: prepareSchema,
	Types: map[string]string{
		"{{time}}": "timestamptz", "{{json}}": "jsonb", "{{keys}}": "text[]", "{{serial}}": "bigserial PRIMARY KEY",
		"{{postgres}}": "",
	},
}

// prepareSchema creates the store's schema and, for a database an earlier
// version set up in the connection's default schema (public, usually),
// moves its tables there, data and all.
const prepareSchema = `CREATE SCHEMA IF NOT EXISTS {{schema}};
DO $$
DECLARE
	t   text;
	src text := current_schema();
BEGIN
	IF src IS NOT NULL AND src <> '{{name}}'
		AND to_regclass(quote_ident('{{name}}') || '.schema_migrations') IS NULL
		AND to_regclass(quote_ident(src) || '.schema_migrations') IS NOT NULL
		AND to_regclass(quote_ident(src) || '.jobs') IS NOT NULL THEN
		FOREACH t IN ARRAY ARRAY['schema_migrations', 'jobs', 'sections', 'events', 'webhook_deliveries', 'provider_limits'] LOOP
			IF to_regclass(quote_ident(src) || '.' || quote_ident(t)) IS NOT NULL THEN
				EXECUTE format('ALTER TABLE %I.%I SET SCHEMA %I', src, t, '{{name}}');
			END IF;
		END LOOP;
	END IF;
END $$`

// migrationLock is the advisory lock that keeps two starting processes from
// migrating at once.
const migrationLock int64 = 0x636f6465636865 // "codeche"

// engine is the store core's driver over a pgx pool. pgx converts the
// core's Go types itself, under every query exec mode.
type engine struct {
	conn
	pool     *pgxpool.Pool
	schema   string
	notifier *notifier
}

func newEngine(pool *pgxpool.Pool, schema string) engine {
	return engine{conn{pool}, pool, schema, newNotifier(pool)}
}

func (e engine) Dialect() driver.Dialect {
	d := dialect
	d.Schema = e.schema
	return d
}

// Write runs fn in a transaction.
func (e engine) Write(ctx context.Context, fn func(driver.DB) error) error {
	return pgx.BeginFunc(ctx, e.pool, func(tx pgx.Tx) error { return fn(conn{tx}) })
}

// Announce implements driver.Driver: NOTIFY on Channel, or on
// ProgressChannel for progress, one notification per job.
func (e engine) Announce(ids []string, progress bool) { e.notifier.announce(ids, progress) }

// notifier sends the store's notifications outside its data transactions,
// on a goroutine of its own, so that no write waits for them: a request
// that created a job is answered without the extra round trip. A
// transaction that notifies holds Postgres's one notification lock from its
// commit's start to its end, disk flush included, so notifying write
// transactions commit one at a time; a transaction that only notifies
// writes nothing to flush and holds it for a moment. Notifications that
// arrive while one batch is on its way go together in the next. A process
// that dies between a commit and its notification leaves other processes
// to see the change at their next poll.
type notifier struct {
	pool *pgxpool.Pool
	mu   sync.Mutex
	// pending holds the ids to announce on Channel (state) and on
	// ProgressChannel (progress).
	pending, progress []string
	wake              chan struct{} // holds a wake-up while notifications are pending
	flushes           chan chan struct{}
	stop              chan struct{} // closed by close
	stopped           sync.Once
	done              chan struct{} // closed when the sender has returned
}

// notifyTimeout bounds one batch of notifications.
const notifyTimeout = 5 * time.Second

func newNotifier(pool *pgxpool.Pool) *notifier {
	n := &notifier{pool: pool, wake: make(chan struct{}, 1), flushes: make(chan chan struct{}),
		stop: make(chan struct{}), done: make(chan struct{})}
	go n.run()
	return n
}

func (n *notifier) announce(ids []string, progress bool) {
	if len(ids) == 0 {
		return
	}
	n.mu.Lock()
	if progress {
		n.progress = append(n.progress, ids...)
	} else {
		n.pending = append(n.pending, ids...)
	}
	n.mu.Unlock()
	select {
	case n.wake <- struct{}{}:
	default: // a wake-up is waiting already
	}
}

func (n *notifier) run() {
	defer close(n.done)
	for {
		select {
		case <-n.wake:
			n.send()
		case sent := <-n.flushes:
			n.send()
			close(sent)
		case <-n.stop:
			n.send() // what was announced before close
			return
		}
	}
}

// send sends what is pending, batch after batch, until nothing is.
func (n *notifier) send() {
	for {
		n.mu.Lock()
		state, progress := n.pending, n.progress
		n.pending, n.progress = nil, nil
		n.mu.Unlock()
		if len(state) == 0 && len(progress) == 0 {
			return
		}
		ctx, cancel := context.WithTimeout(context.Background(), notifyTimeout)
		// Lost notifications cost watchers a poll interval, no more.
		_, _ = n.pool.Exec(ctx, `SELECT pg_notify($1, id) FROM (SELECT DISTINCT unnest($2::text[]) AS id) ids
			UNION ALL SELECT pg_notify($3, id) FROM (SELECT DISTINCT unnest($4::text[]) AS id) ids`,
			Channel, state, ProgressChannel, progress)
		cancel()
	}
}

// flush returns once what was announced before it has been sent (or the
// notifier has stopped).
func (n *notifier) flush() {
	sent := make(chan struct{})
	select {
	case n.flushes <- sent:
		<-sent
	case <-n.done:
	}
}

// close sends what was announced and stops the sender.
func (n *notifier) close() {
	n.stopped.Do(func() { close(n.stop) })
	<-n.done
}

func (e engine) Ping(ctx context.Context) error { return e.pool.Ping(ctx) }

func (e engine) Close() error {
	e.notifier.close()
	e.pool.Close()
	return nil
}

// execer is what statements need from the pool and a transaction alike.
type execer interface {
	Exec(ctx context.Context, sql string, args ...any) (pgconn.CommandTag, error)
	Query(ctx context.Context, sql string, args ...any) (pgx.Rows, error)
}

// conn is the pool or a transaction as a driver.DB.
type conn struct{ db execer }

func (c conn) Exec(ctx context.Context, sql string, args ...any) (int64, error) {
	tag, err := c.db.Exec(ctx, sql, args...)
	if err != nil {
		return 0, uniqueViolation(err)
	}
	return tag.RowsAffected(), nil
}

// Query runs a statement that returns rows; a write among them (a
// data-modifying CTE) reports a unique-constraint violation as Exec does.
func (c conn) Query(ctx context.Context, sql string, args ...any) (driver.Rows, error) {
	r, err := c.db.Query(ctx, sql, args...)
	if err != nil {
		return nil, uniqueViolation(err)
	}
	return rows{r}, nil
}

// rows are pgx's, with their error as uniqueViolation tells it.
type rows struct{ pgx.Rows }

func (r rows) Err() error { return uniqueViolation(r.Rows.Err()) }

// uniqueViolation wraps a unique-constraint error (SQLSTATE 23505) with
// driver.ErrUniqueViolation, and returns any other error as it is.
func uniqueViolation(err error) error {
	if pgErr := (*pgconn.PgError)(nil); errors.As(err, &pgErr) && pgErr.Code == "23505" {
		return fmt.Errorf("%w: %w", driver.ErrUniqueViolation, err)
	}
	return err
}
