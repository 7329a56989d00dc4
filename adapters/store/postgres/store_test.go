package postgres_test

import (
	"log/slog"
	"testing"

	"github.com/stretchr/testify/require"
	"go.uber.org/goleak"

	"github.com/codecheck/codecheck/adapters/store/postgres"
	"github.com/codecheck/codecheck/test/contract/storetest"
	"github.com/codecheck/codecheck/test/pgtest"
)

func TestMain(m *testing.M) { goleak.VerifyTestMain(m) }

// open returns a store on url, closed at cleanup.
func open(t *testing.T, url string, opts ...postgres.Option) *postgres.Store {
	t.Helper()
	s, err := postgres.Open(t.Context(), url, opts...)
	require.NoError(t, err)
	t.Cleanup(func() { require.NoError(t, s.Close()) })
	return s
}

func harness(mode string) func(t *testing.T) storetest.Harness {
	return func(t *testing.T) storetest.Harness {
		url := pgtest.URL(t)
		if mode != "" {
			url = pgtest.WithParam(t, url, "default_query_exec_mode", mode)
		}
		clock := storetest.NewFakeClock(storetest.Start)
		s := open(t, url, postgres.WithClock(clock.Now))
		return storetest.Harness{Store: s, Changes: s, Webhooks: s, Clock: clock,
			Settle: func(t testing.TB) { postgres.Settle(t, s, url) }}
	}
}

func TestContract(t *testing.T) {
	t.Parallel() // each run has its own schema
	storetest.Exercise(t, harness(""))
}

// Transaction-mode poolers (PgBouncer, Supavisor) need the simple protocol.
func TestContractSimpleProtocol(t *testing.T) {
	t.Parallel() // each run has its own schema
	storetest.Exercise(t, harness("simple_protocol"))
}

func TestContractExecMode(t *testing.T) {
	t.Parallel() // each run has its own schema
	storetest.Exercise(t, harness("exec"))
}

func BenchmarkClaimSaveSection(b *testing.B) {
	for _, parallel := range []bool{false, true} {
		name := map[bool]string{false: "serial", true: "parallel"}[parallel]
		b.Run(name, func(b *testing.B) {
			s, err := postgres.Open(b.Context(), pgtest.URL(b), postgres.WithLogger(slog.New(slog.DiscardHandler)))
			if err != nil {
				b.Fatal(err)
			}
			defer s.Close()
			storetest.BenchClaimSave(b, s, parallel)
		})
	}
}
