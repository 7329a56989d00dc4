package workerapi_test

import (
	"log/slog"
	"net/http"
	"net/http/httptest"
	"path/filepath"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
	"go.uber.org/goleak"

	httpapi "github.com/codecheck/codecheck/adapters/http"
	"github.com/codecheck/codecheck/adapters/store/postgres"
	"github.com/codecheck/codecheck/adapters/store/sqlite"
	"github.com/codecheck/codecheck/adapters/store/workerapi"
	"github.com/codecheck/codecheck/app"
	"github.com/codecheck/codecheck/ports"
	"github.com/codecheck/codecheck/test/contract/storetest"
	"github.com/codecheck/codecheck/test/pgtest"
)

func TestMain(m *testing.M) {
	goleak.VerifyTestMain(m, goleak.IgnoreTopFunction("database/sql.(*DB).connectionOpener"))
}

const secret = "a-worker-secret-of-at-least-32-characters"

var quiet = slog.New(slog.DiscardHandler)

// store is what the API serves: a SQL store.
type store interface {
	ports.JobStore
	ports.Changes
}

// api is a real worker API over st, its tokens read from clock.
type api struct {
	st     store
	tokens *app.WorkerTokens
	http   *httptest.Server
}

// serve starts the real handler over st. wrap, when set, goes in front of
// it (a flaky proxy).
func serve(t *testing.T, st store, clock *storetest.FakeClock, wrap func(http.Handler) http.Handler) *api {
	t.Helper()
	now := time.Now
	if clock != nil {
		now = clock.Now
	}
	tokens, err := app.NewWorkerTokens(secret, now)
	require.NoError(t, err)
	providers, err := app.NewProviders("", namedLLM("fake"))
	require.NoError(t, err)
	svc, err := app.NewService(app.ServiceConfig{Store: st, Changes: st, Providers: providers, Logger: quiet})
	require.NoError(t, err)
	srv, err := httpapi.New(httpapi.Config{Service: svc, WorkerTokens: tokens, WorkerStore: st, Logger: quiet})
	require.NoError(t, err)
	var h http.Handler = srv.Handler()
	if wrap != nil {
		h = wrap(h)
	}
	hs := httptest.NewServer(h)
	t.Cleanup(hs.Close)
	return &api{st: st, tokens: tokens, http: hs}
}

// client is a worker API client that mints a token per job, as the
// dispatcher does per hand-off.
func (a *api) client(t *testing.T, opts ...workerapi.Option) *workerapi.Client {
	t.Helper()
	opts = append([]workerapi.Option{workerapi.WithHTTPClient(a.http.Client())}, opts...)
	c, err := workerapi.New(a.http.URL, func(jobID string) (string, error) {
		return a.tokens.Mint(jobID, 24*time.Hour), nil
	}, opts...)
	require.NoError(t, err)
	return c
}

func harness(t *testing.T, st store, clock *storetest.FakeClock) storetest.Harness {
	c := serve(t, st, clock, nil).client(t, workerapi.WithWatchInterval(20*time.Millisecond))
	return storetest.Harness{Store: st, Changes: st, Clock: clock, Worker: c, WorkerChanges: c}
}

func openSQLite(t *testing.T, clock *storetest.FakeClock) store {
	t.Helper()
	opts := []sqlite.Option{}
	if clock != nil {
		opts = append(opts, sqlite.WithClock(clock.Now))
	}
	st, err := sqlite.Open(t.Context(), filepath.Join(t.TempDir(), "codecheck.db"), opts...)
	require.NoError(t, err)
	t.Cleanup(func() { require.NoError(t, st.Close()) })
	return st
}

func TestContractSQLite(t *testing.T) {
	storetest.ExerciseWorker(t, func(t *testing.T) storetest.Harness {
		clock := storetest.NewFakeClock(storetest.Start)
		return harness(t, openSQLite(t, clock), clock)
	})
}

func TestContractPostgres(t *testing.T) {
	t.Parallel() // each run has its own schema
	storetest.ExerciseWorker(t, func(t *testing.T) storetest.Harness {
		clock := storetest.NewFakeClock(storetest.Start)
		st, err := postgres.Open(t.Context(), pgtest.URL(t), postgres.WithClock(clock.Now))
		require.NoError(t, err)
		t.Cleanup(func() { require.NoError(t, st.Close()) })
		return harness(t, st, clock)
	})
}
