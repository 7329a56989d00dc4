package postgres_test

import (
	"log/slog"
	"sync"
	"testing"
	"time"

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
