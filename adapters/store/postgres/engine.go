package postgres

import (
	"context"
	"errors"
	"fmt"

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
	NotifyChannel: Channel,
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
	pool   *pgxpool.Pool
	schema string
}

func newEngine(pool *pgxpool.Pool, schema string) engine { return engine{conn{pool}, pool, schema} }

func (e engine) Dialect() driver.Dialect {
	d := dialect
	d.Schema = e.schema
	return d
}

// Write runs fn in a transaction and sends pg_notify for every job it
// changed before commit, so other processes hear of a change exactly when
// it becomes visible.
func (e engine) Write(ctx context.Context, fn func(driver.DB) ([]string, error)) error {
	return pgx.BeginFunc(ctx, e.pool, func(tx pgx.Tx) error {
		changed, err := fn(conn{tx})
		if err != nil {
			return err
		}
		for _, id := range changed {
			if _, err := tx.Exec(ctx, `SELECT pg_notify($1, $2)`, dialect.NotifyChannel, id); err != nil {
				return fmt.Errorf("postgres: notify: %w", err)
			}
		}
		return nil
	})
}

func (e engine) Ping(ctx context.Context) error { return e.pool.Ping(ctx) }

func (e engine) Close() error {
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
	if pgErr := (*pgconn.PgError)(nil); errors.As(err, &pgErr) && pgErr.Code == "23505" {
		return 0, fmt.Errorf("%w: %w", driver.ErrUniqueViolation, err)
	}
	return tag.RowsAffected(), err
}

func (c conn) Query(ctx context.Context, sql string, args ...any) (driver.Rows, error) {
	r, err := c.db.Query(ctx, sql, args...)
	if err != nil {
		return nil, err
	}
	return r, nil
}
