package sqlite_test

import (
	"database/sql"
	"errors"
	"path/filepath"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/codecheck/codecheck/adapters/store/internal/core"
	"github.com/codecheck/codecheck/adapters/store/sqlite"
	"github.com/codecheck/codecheck/domain"
	"github.com/codecheck/codecheck/ports"
	"github.com/codecheck/codecheck/test/contract/storetest"
)

func TestReopenKeepsDataAndMigratesOnce(t *testing.T) {
	path := filepath.Join(t.TempDir(), "db.sqlite")
	s, err := sqlite.Open(t.Context(), path)
	require.NoError(t, err)
	created, _, err := s.Create(t.Context(), storetest.NewJob())
	require.NoError(t, err)
	require.NoError(t, s.Close())

	s, err = sqlite.Open(t.Context(), path)
	require.NoError(t, err)
	defer s.Close()
	got, err := s.Get(t.Context(), created.ID)
	require.NoError(t, err)
	require.Equal(t, created, got)

	db, err := sql.Open("sqlite", path)
	require.NoError(t, err)
	defer db.Close()
	var versions int
	require.NoError(t, db.QueryRow(`SELECT count(*) FROM schema_migrations`).Scan(&versions))
	require.Equal(t, len(core.Migrations()), versions, "each migration applied once, however often the store is opened")
}

func TestInMemory(t *testing.T) {
	s, err := sqlite.Open(t.Context(), ":memory:")
	require.NoError(t, err)
	defer s.Close()
	created, _, err := s.Create(t.Context(), storetest.NewJob())
	require.NoError(t, err)
	got, err := s.Get(t.Context(), created.ID)
	require.NoError(t, err)
	require.Equal(t, created.ID, got.ID)
}

// Two stores on one file stand in for two processes: claims stay exclusive
// through SQLite's own locking (BEGIN IMMEDIATE and the busy timeout).
func TestTwoStoresShareOneFile(t *testing.T) {
	path := filepath.Join(t.TempDir(), "db.sqlite")
	a, err := sqlite.Open(t.Context(), path)
	require.NoError(t, err)
	defer a.Close()
	b, err := sqlite.Open(t.Context(), path)
	require.NoError(t, err)
	defer b.Close()

	const jobs = 40
	for range jobs {
		_, _, err := a.Create(t.Context(), storetest.NewJob())
		require.NoError(t, err)
	}
	var (
		wg      sync.WaitGroup
		mu      sync.Mutex
		claimed = map[string]int{}
	)
	for i := range 8 {
		store := []*sqlite.Store{a, b}[i%2]
		wg.Go(func() {
			for {
				j, err := store.Claim(t.Context(), ports.ClaimRequest{Worker: "w", Lease: time.Minute})
				if errors.Is(err, domain.ErrNoJob) {
					return
				}
				if err != nil {
					t.Errorf("claim: %v", err)
					return
				}
				mu.Lock()
				claimed[j.ID]++
				mu.Unlock()
			}
		})
	}
	wg.Wait()
	require.Len(t, claimed, jobs)
	for id, n := range claimed {
		require.Equal(t, 1, n, id)
	}
}
