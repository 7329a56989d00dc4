package postgres_test

import (
	"context"
	"log/slog"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/google/uuid"
	"github.com/jackc/pgx/v5"
	"github.com/stretchr/testify/require"

	"github.com/codecheck/codecheck/adapters/store/internal/core"
	"github.com/codecheck/codecheck/adapters/store/postgres"
	"github.com/codecheck/codecheck/test/contract/storetest"
	"github.com/codecheck/codecheck/test/pgtest"
)

// The whole contract through a real PgBouncer in transaction mode, with
// nothing in the URL but what a user would give: the store picks the
// protocol and polls instead of LISTENing.
func TestContractThroughPgBouncerTransactionMode(t *testing.T) {
	t.Parallel()
	pgtest.ThroughPgBouncer(t, pgtest.BaseURL()) // skip early when it is not there
	storetest.Exercise(t, func(t *testing.T) storetest.Harness {
		url := pgtest.ThroughPgBouncer(t, pgtest.Database(t))
		clock := storetest.NewFakeClock(storetest.Start)
		s := open(t, url, postgres.WithClock(clock.Now), postgres.WithPooler(postgres.PoolerTransaction),
			postgres.WithPollInterval(20*time.Millisecond), postgres.WithLogger(slog.New(slog.DiscardHandler)))
		return storetest.Harness{Store: s, Changes: s, Webhooks: s, Clock: clock}
	})
}

func TestDetectPooler(t *testing.T) {
	for url, want := range map[string]postgres.Pooler{
		"postgres://u@db.example.com:5432/db":                        postgres.PoolerNone,
		"postgres://u@db.example.com:6543/db":                        postgres.PoolerTransaction,
		"postgres://u@aws-0-eu-west-1.pooler.supabase.com:5432/db":   postgres.PoolerTransaction,
		"postgres://u@aws-0-eu-west-1.POOLER.supabase.com:6543/db":   postgres.PoolerTransaction,
		"postgres://u@db.abcdefghijklmnop.supabase.co:5432/postgres": postgres.PoolerNone,
	} {
		cfg, err := pgx.ParseConfig(url)
		require.NoError(t, err)
		require.Equal(t, want, postgres.DetectPooler(cfg), url)
	}
	_, err := postgres.ParsePooler("statement")
	require.Error(t, err)
}

// Five processes starting together on an empty database apply the
// migrations exactly once (the advisory lock), and all open.
func TestFiveStartingTogetherMigrateOnce(t *testing.T) {
	url := pgtest.URL(t)
	var wg sync.WaitGroup
	errs := make([]error, 5)
	for i := range errs {
		wg.Go(func() {
			s, err := postgres.Open(t.Context(), url)
			if err == nil {
				s.Close()
			}
			errs[i] = err
		})
	}
	wg.Wait()
	for _, err := range errs {
		require.NoError(t, err)
	}
	conn, err := pgx.Connect(t.Context(), url)
	require.NoError(t, err)
	defer conn.Close(t.Context())
	var rows, distinct int
	require.NoError(t, conn.QueryRow(t.Context(), `SELECT count(*), count(DISTINCT version) FROM schema_migrations`).Scan(&rows, &distinct))
	require.Equal(t, len(core.Migrations()), rows)
	require.Equal(t, rows, distinct)
}

// A process that does not own the schema checks it instead of migrating.
func TestWithoutMigrationsChecksTheSchema(t *testing.T) {
	url := pgtest.URL(t)
	_, err := postgres.Open(t.Context(), url, postgres.WithoutMigrations())
	require.ErrorContains(t, err, "codecheck migrate")
	open(t, url) // migrates
	s := open(t, url, postgres.WithoutMigrations())
	require.NoError(t, s.Ping(t.Context()))

	conn, err := pgx.Connect(t.Context(), url)
	require.NoError(t, err)
	defer conn.Close(t.Context())
	_, err = conn.Exec(t.Context(), `DELETE FROM schema_migrations WHERE version = $1`, core.Migrations()[len(core.Migrations())-1])
	require.NoError(t, err)
	_, err = postgres.Open(t.Context(), url, postgres.WithoutMigrations())
	require.ErrorContains(t, err, "missing migrations")
}

// WithMaxConns wins over the URL; a command's default does not.
func TestPoolSize(t *testing.T) {
	url := pgtest.WithParam(t, pgtest.URL(t), "pool_max_conns", "3")
	s := open(t, url, postgres.WithDefaultMaxConns(1))
	require.EqualValues(t, 3, postgres.PoolMaxConns(s))
	s = open(t, url, postgres.WithMaxConns(5), postgres.WithDefaultMaxConns(1))
	require.EqualValues(t, 5, postgres.PoolMaxConns(s))
}

// Every table has row-level security on and no policy: a role that is not
// the tables' owner, like Supabase's anon role behind its Data API, sees no
// row even when granted SELECT.
func TestRowLevelSecurityHidesEverything(t *testing.T) {
	url := pgtest.URL(t)
	s := open(t, url)
	create(t, s)
	conn, err := pgx.Connect(t.Context(), url)
	require.NoError(t, err)
	defer conn.Close(t.Context())
	rows, err := conn.Query(t.Context(), `SELECT c.relname, c.relrowsecurity FROM pg_class c
		JOIN pg_namespace n ON n.oid = c.relnamespace
		WHERE n.nspname = current_schema() AND c.relkind = 'r'`)
	require.NoError(t, err)
	tables := map[string]bool{}
	for rows.Next() {
		var name string
		var rls bool
		require.NoError(t, rows.Scan(&name, &rls))
		tables[name] = rls
	}
	require.NoError(t, rows.Err())
	require.NotEmpty(t, tables)
	for name, rls := range tables {
		require.True(t, rls, "row-level security on %s", name)
	}

	role := "anon_" + strings.ReplaceAll(uuid.NewString()[:8], "-", "")
	_, err = conn.Exec(t.Context(), `CREATE ROLE `+role+` NOLOGIN`)
	require.NoError(t, err)
	t.Cleanup(func() { _, _ = conn.Exec(context.Background(), `DROP OWNED BY `+role+`; DROP ROLE `+role) })
	_, err = conn.Exec(t.Context(), `GRANT USAGE ON SCHEMA `+pgx.Identifier{currentSchema(t, conn)}.Sanitize()+` TO `+role+
		`; GRANT SELECT ON jobs TO `+role)
	require.NoError(t, err)
	tx, err := conn.Begin(t.Context())
	require.NoError(t, err)
	defer tx.Rollback(t.Context())
	_, err = tx.Exec(t.Context(), `SET LOCAL ROLE `+role)
	require.NoError(t, err)
	var visible int
	require.NoError(t, tx.QueryRow(t.Context(), `SELECT count(*) FROM jobs`).Scan(&visible))
	require.Zero(t, visible, "a job exists, but not for this role")
}

func currentSchema(t *testing.T, conn *pgx.Conn) string {
	var s string
	require.NoError(t, conn.QueryRow(t.Context(), `SELECT current_schema()`).Scan(&s))
	return s
}

// tablesIn lists the tables of schema in the database at url.
func tablesIn(t *testing.T, url, schema string) []string {
	t.Helper()
	conn, err := pgx.Connect(t.Context(), url)
	require.NoError(t, err)
	defer conn.Close(t.Context())
	rows, err := conn.Query(t.Context(), `SELECT tablename FROM pg_tables WHERE schemaname = $1 ORDER BY tablename`, schema)
	require.NoError(t, err)
	names, err := pgx.CollectRows(rows, pgx.RowTo[string])
	require.NoError(t, err)
	return names
}

// Without a schema in the URL the tables live in their own schema, not in
// public, which Supabase's Data API exposes.
func TestTablesLiveInTheirOwnSchema(t *testing.T) {
	url := pgtest.Database(t)
	s := open(t, url)
	create(t, s)
	require.Contains(t, tablesIn(t, url, postgres.DefaultSchema), "jobs")
	require.Empty(t, tablesIn(t, url, "public"))
}

// A database an earlier version set up in public has its tables moved,
// rows and all, into the schema.
func TestExistingTablesMoveIntoTheSchema(t *testing.T) {
	url := pgtest.Database(t)
	old, err := postgres.Open(t.Context(), url, postgres.WithSchema("public"))
	require.NoError(t, err)
	j := create(t, old)
	require.NoError(t, old.Close())
	require.Contains(t, tablesIn(t, url, "public"), "jobs")

	s := open(t, url)
	got, err := s.Get(t.Context(), j.ID)
	require.NoError(t, err)
	require.Equal(t, j.ID, got.ID)
	require.Empty(t, tablesIn(t, url, "public"), "every table moved")
	require.Subset(t, tablesIn(t, url, postgres.DefaultSchema), []string{"events", "jobs", "schema_migrations", "sections"})
	create(t, s) // and the events sequence moved with its table
}
