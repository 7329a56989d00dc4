package sqlite_test

import (
	"database/sql"
	"path/filepath"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/codecheck/codecheck/adapters/store/sqlite"
	"github.com/codecheck/codecheck/ports"
	"github.com/codecheck/codecheck/test/contract/storetest"
)

// Migration 0008 numbers the events a database already holds per job, in
// the order they were recorded, as if they had been recorded with it.
func TestMigrationNumbersExistingEventsPerJob(t *testing.T) {
	path := filepath.Join(t.TempDir(), "db.sqlite")
	s, err := sqlite.Open(t.Context(), path)
	require.NoError(t, err)
	ids := interleavedEvents(t, s)
	require.NoError(t, s.Close())

	// Back to the schema before 0008: one global sequence.
	db, err := sql.Open("sqlite", path)
	require.NoError(t, err)
	for _, stmt := range []string{`DROP INDEX events_by_job_seq`, `ALTER TABLE events DROP COLUMN job_seq`,
		`DELETE FROM schema_migrations WHERE version = '0008_event_job_seq'`} {
		_, err := db.Exec(stmt)
		require.NoError(t, err, stmt)
	}
	require.NoError(t, db.Close())

	s, err = sqlite.Open(t.Context(), path)
	require.NoError(t, err)
	defer s.Close()
	requirePerJobSeq(t, s, ids)
}

// interleavedEvents records events of two jobs alternately and returns the
// jobs' ids.
func interleavedEvents(t *testing.T, s ports.JobStore) []string {
	t.Helper()
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
	return []string{a.ID, b.ID}
}

func requirePerJobSeq(t *testing.T, s ports.JobStore, ids []string) {
	t.Helper()
	for _, id := range ids {
		evs, err := s.Events(t.Context(), id, 0, 0)
		require.NoError(t, err)
		require.Len(t, evs, 16, "created, claimed, 13 sections canceled, canceled")
		for i, e := range evs {
			require.Equal(t, int64(i+1), e.Seq, "job %s event %d", id, i)
		}
		require.Equal(t, "pending", evs[0].Status)
		require.Equal(t, "canceled", evs[15].Status)
	}
}
