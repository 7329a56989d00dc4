package sqlite_test

import (
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
	return storetest.Harness{Store: s, Changes: s, Webhooks: s, Clock: clock}
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
