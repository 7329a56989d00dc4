package sqlite_test

import (
	"database/sql"
	"path/filepath"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/codecheck/codecheck/adapters/store/sqlite"
	"github.com/codecheck/codecheck/domain"
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
	s = reopenAfter(t, path, `DROP INDEX events_by_job_seq`, `ALTER TABLE events DROP COLUMN job_seq`,
		`DELETE FROM schema_migrations WHERE version = '0008_event_job_seq'`)
	defer s.Close()
	requirePerJobSeq(t, s, ids)
}

// reopenAfter runs stmts on the closed database at path, taking it back
// to an earlier schema, and opens the store on it again, which migrates it.
func reopenAfter(t *testing.T, path string, stmts ...string) *sqlite.Store {
	t.Helper()
	db, err := sql.Open("sqlite", path)
	require.NoError(t, err)
	for _, stmt := range stmts {
		_, err := db.Exec(stmt)
		require.NoError(t, err, stmt)
	}
	require.NoError(t, db.Close())
	s, err := sqlite.Open(t.Context(), path)
	require.NoError(t, err)
	return s
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
		require.Len(t, evs, 17, "created, claimed, jurisdiction started by the claim, 13 sections canceled, canceled")
		for i, e := range evs {
			require.Equal(t, int64(i+1), e.Seq, "job %s event %d", id, i)
		}
		require.Equal(t, "pending", evs[0].Status)
		require.Equal(t, "canceled", evs[16].Status)
	}
}

// Migration 0012 fills the job row's counters from a database an earlier
// version wrote: done and verified_done from the sections, event_seq from
// the events, so that the next event follows the last.
func TestMigrationCountsExistingJobs(t *testing.T) {
	path := filepath.Join(t.TempDir(), "db.sqlite")
	s, err := sqlite.Open(t.Context(), path)
	require.NoError(t, err)
	created, _, err := s.Create(t.Context(), storetest.NewJob("zoning_use"))
	require.NoError(t, err)
	job, err := s.Claim(t.Context(), ports.ClaimRequest{JobID: created.ID, Worker: "w", Lease: time.Minute})
	require.NoError(t, err)
	l := ports.Lease{JobID: job.ID, Attempt: job.Attempt}
	done := domain.SectionResult{Key: domain.JurisdictionKey, Status: domain.SectionCompleted, Outcome: domain.OutcomeFound}
	require.NoError(t, s.SaveSection(t.Context(), l, done))
	require.NoError(t, s.Close())

	s = reopenAfter(t, path, `ALTER TABLE jobs DROP COLUMN done`, `ALTER TABLE jobs DROP COLUMN verified_done`,
		`ALTER TABLE jobs DROP COLUMN event_seq`, `DELETE FROM schema_migrations WHERE version = '0012_job_counters'`)
	defer s.Close()
	got, err := s.Get(t.Context(), job.ID)
	require.NoError(t, err)
	require.Equal(t, "1/2", got.Progress())
	_, err = s.Cancel(t.Context(), job.ID)
	require.NoError(t, err)
	evs, err := s.Events(t.Context(), job.ID, 0, 0)
	require.NoError(t, err)
	for i, e := range evs {
		require.Equal(t, int64(i+1), e.Seq, "event %d follows the migrated ones", i)
	}
}
