package sqlite_test

import (
	"fmt"
	"path/filepath"
	"testing"

	"github.com/stretchr/testify/require"
	"go.uber.org/goleak"

	"github.com/codecheck/codecheck/adapters/store/sqlite"
	"github.com/codecheck/codecheck/test/contract/storetest"
)

func TestMain(m *testing.M) { goleak.VerifyTestMain(m) }

func newStore(t *testing.T) storetest.Harness {
	clock := storetest.NewFakeClock(storetest.Start)
	s, err := sqlite.Open(t.Context(), filepath.Join(t.TempDir(), "codecheck.db"), sqlite.WithClock(clock.Now))
	require.NoError(t, err)
	t.Cleanup(func() { require.NoError(t, s.Close()) })
	return storetest.Harness{Store: s, Changes: s, Webhooks: s, Clock: clock,
		Settle: func(testing.TB) {}} // watchers are told as the write returns
}

func TestContract(t *testing.T) {
	storetest.Exercise(t, newStore)
}

func BenchmarkClaimSaveSection(b *testing.B) {
	for _, parallel := range []bool{false, true} {
		name := map[bool]string{false: "serial", true: "parallel"}[parallel]
		b.Run(name, func(b *testing.B) {
			s, err := sqlite.Open(b.Context(), filepath.Join(b.TempDir(), "bench.db"))
			if err != nil {
				b.Fatal(err)
			}
			defer s.Close()
			storetest.BenchClaimSave(b, s, parallel)
		})
	}
}

// BenchmarkOpen opens a store on a new file (every migration to apply) and
// on one already migrated (start-up only checks the schema): the store's
// share of a `check`'s start-up.
func BenchmarkOpen(b *testing.B) {
	b.Run("fresh", func(b *testing.B) {
		dir := b.TempDir()
		for i := 0; b.Loop(); i++ {
			s, err := sqlite.Open(b.Context(), filepath.Join(dir, fmt.Sprintf("fresh-%d.db", i)))
			if err != nil {
				b.Fatal(err)
			}
			s.Close()
		}
	})
	b.Run("migrated", func(b *testing.B) {
		path := filepath.Join(b.TempDir(), "migrated.db")
		s, err := sqlite.Open(b.Context(), path)
		if err != nil {
			b.Fatal(err)
		}
		s.Close()
		for b.Loop() {
			s, err := sqlite.Open(b.Context(), path)
			if err != nil {
				b.Fatal(err)
			}
			s.Close()
		}
	})
}
