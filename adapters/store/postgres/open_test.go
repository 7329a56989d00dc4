package postgres_test

import (
	"testing"

	"github.com/jackc/pgx/v5"
	"github.com/stretchr/testify/require"

	"github.com/codecheck/codecheck/adapters/store/internal/core"
	"github.com/codecheck/codecheck/adapters/store/postgres"
	"github.com/codecheck/codecheck/test/contract/storetest"
	"github.com/codecheck/codecheck/test/pgtest"
)

func TestReopenMigratesOnce(t *testing.T) {
	url := pgtest.URL(t)
	a := open(t, url)
	j := create(t, a)
	b := open(t, url)
	got, err := b.Get(t.Context(), j.ID)
	require.NoError(t, err)
	require.Equal(t, j, got)

	conn, err := pgx.Connect(t.Context(), url)
	require.NoError(t, err)
	defer conn.Close(t.Context())
	var versions int
	require.NoError(t, conn.QueryRow(t.Context(), `SELECT count(*) FROM schema_migrations`).Scan(&versions))
	require.Equal(t, len(core.Migrations()), versions, "each migration applied once, however often the store is opened")
}

// A one-connection pool (a short-lived `codecheck work`) never needs a
// second connection while it holds a transaction.
func TestContractOneConnection(t *testing.T) {
	t.Parallel() // each run has its own schema
	storetest.Exercise(t, func(t *testing.T) storetest.Harness {
		clock := storetest.NewFakeClock(storetest.Start)
		url := pgtest.URL(t)
		s := open(t, url, postgres.WithClock(clock.Now), postgres.WithMaxConns(1))
		return storetest.Harness{Store: s, Changes: s, Webhooks: s, Clock: clock,
			Settle: func(t testing.TB) { postgres.Settle(t, s, url) }}
	})
}

func TestOpenRejectsBadURL(t *testing.T) {
	_, err := postgres.Open(t.Context(), "postgres://u:secret@127.0.0.1:5432/db?pool_max_conns=zero")
	require.Error(t, err)
	require.NotContains(t, err.Error(), "secret")
}
