package postgres_test

import (
	"context"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/stretchr/testify/require"

	"github.com/codecheck/codecheck/adapters/store/postgres"
	"github.com/codecheck/codecheck/ports"
	"github.com/codecheck/codecheck/test/contract/storetest"
	"github.com/codecheck/codecheck/test/pgtest"
)

// Migration 0008 numbers the events a database already holds per job, in
// the order they were recorded, as if they had been recorded with it.
func TestMigrationNumbersExistingEventsPerJob(t *testing.T) {
	url := pgtest.URL(t)
	s := open(t, url)
	a, _, err := s.Create(t.Context(), storetest.NewJob())
	require.NoError(t, err)
	b, _, err := s.Create(t.Context(), storetest.NewJob())
	require.NoError(t, err)
	for _, id := range []string{a.ID, b.ID} {
		_, err := s.Claim(t.Context(), ports.ClaimRequest{JobID: id, Worker: "w", Lease: time.Minute})
		require.NoError(t, err)
	}
	for _, id := range []string{b.ID, a.ID} {
		_, err := s.Cancel(t.Context(), id)
		require.NoError(t, err)
	}

	// Back to the schema before 0008: one global sequence.
	conn, err := pgx.Connect(t.Context(), url)
	require.NoError(t, err)
	defer conn.Close(t.Context())
	for _, stmt := range []string{`DROP INDEX events_by_job_seq`, `ALTER TABLE events DROP COLUMN job_seq`,
		`DELETE FROM schema_migrations WHERE version = '0008_event_job_seq'`} {
		_, err := conn.Exec(t.Context(), stmt)
		require.NoError(t, err, stmt)
	}

	again := open(t, url)
	for _, id := range []string{a.ID, b.ID} {
		evs, err := again.Events(t.Context(), id, 0, 0)
		require.NoError(t, err)
		require.Len(t, evs, 17, "created, claimed, jurisdiction started by the claim, 13 sections canceled, canceled")
		for i, e := range evs {
			require.Equal(t, int64(i+1), e.Seq, "job %s event %d", id, i)
		}
		require.Equal(t, "pending", evs[0].Status)
		require.Equal(t, "canceled", evs[16].Status)
	}
}

// Migration 0013 drops events_by_job, which no query uses, in the store's
// own schema, also when that schema is not on the connection's search_path
// (an index's name is not qualified by the core's table rewriting).
func TestMigrationDropsUnusedEventIndexInItsSchema(t *testing.T) {
	url := pgtest.URL(t)
	schema := "store_" + time.Now().Format("150405.000000000")
	conn, err := pgx.Connect(t.Context(), url)
	require.NoError(t, err)
	t.Cleanup(func() {
		_, err := conn.Exec(context.Background(), `DROP SCHEMA IF EXISTS `+pgx.Identifier{schema}.Sanitize()+` CASCADE`)
		require.NoError(t, err)
		require.NoError(t, conn.Close(context.Background()))
	})
	open(t, url, postgres.WithSchema(schema))

	var unused, used int
	require.NoError(t, conn.QueryRow(t.Context(), `SELECT
		count(*) FILTER (WHERE indexname = 'events_by_job'), count(*) FILTER (WHERE indexname = 'events_by_job_seq')
		FROM pg_indexes WHERE schemaname = $1`, schema).Scan(&unused, &used))
	require.Zero(t, unused, "events_by_job is still in %s", schema)
	require.Equal(t, 1, used, "events_by_job_seq, which reads events, is gone")
}
