package postgres_test

import (
	"bytes"
	"log/slog"
	"sync"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/stretchr/testify/require"

	"github.com/codecheck/codecheck/adapters/store/postgres"
	"github.com/codecheck/codecheck/domain"
	"github.com/codecheck/codecheck/ports"
	"github.com/codecheck/codecheck/test/contract/storetest"
	"github.com/codecheck/codecheck/test/pgtest"
)

func create(t *testing.T, s *postgres.Store) domain.Job {
	t.Helper()
	j, _, err := s.Create(t.Context(), storetest.NewJob())
	require.NoError(t, err)
	return j
}

// A watcher on one store hears about changes made through another store,
// as a server hears about a Modal worker's writes.
func TestChangesAcrossStores(t *testing.T) {
	url := pgtest.URL(t)
	watcher, writer := open(t, url), open(t, url)

	all, err := watcher.Watch(t.Context(), "")
	require.NoError(t, err)
	j := create(t, writer)
	storetest.RequireNotified(t, all, "Watch(\"\") after another store's Create")

	one, err := watcher.Watch(t.Context(), j.ID)
	require.NoError(t, err)
	_, err = writer.Cancel(t.Context(), j.ID)
	require.NoError(t, err)
	storetest.RequireNotified(t, one, "Watch(id) after another store's Cancel")
}

// Another store's section save reaches Watch, as progress, and not
// WatchState.
func TestProgressAcrossStores(t *testing.T) {
	url := pgtest.URL(t)
	watcher, writer := open(t, url), open(t, url)
	j := create(t, writer)
	every, err := watcher.Watch(t.Context(), j.ID)
	require.NoError(t, err)
	state, err := watcher.WatchState(t.Context(), j.ID)
	require.NoError(t, err)

	claimed, err := writer.Claim(t.Context(), ports.ClaimRequest{JobID: j.ID, Worker: "w", Lease: time.Minute})
	require.NoError(t, err)
	storetest.RequireNotified(t, state, "WatchState after another store's Claim")
	postgres.Settle(t, writer, url)  // the claim's notification is sent,
	postgres.Settle(t, watcher, url) // and the watcher has had it
	for _, ch := range []<-chan struct{}{every, state} {
		select {
		case <-ch:
		default:
		}
	}

	spec, _ := domain.LookupSection("zoning_use")
	sec := domain.NewSectionResult(spec)
	sec.Status, sec.Summary, sec.Outcome, sec.Confidence = domain.SectionCompleted, "zoned", domain.OutcomeFound, domain.ConfidenceHigh
	require.NoError(t, writer.SaveSection(t.Context(), ports.Lease{JobID: j.ID, Attempt: claimed.Attempt}, sec))
	storetest.RequireNotified(t, every, "Watch after another store's SaveSection")
	postgres.Settle(t, writer, url)
	postgres.Settle(t, watcher, url)
	require.Empty(t, state, "WatchState woken by another store's save, which is progress")
}

// A store's own write wakes its watchers once, as it commits: its
// notification, back through LISTEN, is passed over.
func TestOwnNotificationsWakeOnce(t *testing.T) {
	url := pgtest.URL(t)
	s := open(t, url)
	j := create(t, s)
	ch, err := s.Watch(t.Context(), j.ID)
	require.NoError(t, err)

	_, err = s.Cancel(t.Context(), j.ID)
	require.NoError(t, err)
	require.Len(t, ch, 1, "the watcher is told as the write returns")
	<-ch
	postgres.Settle(t, s, url)
	require.Empty(t, ch, "the store's own notification, back through LISTEN, woke the watcher again")
}

// After the LISTEN connection drops, the feed reconnects, wakes every
// watcher (it may have missed notifications) and delivers new ones.
func TestChangesReconnect(t *testing.T) {
	url := pgtest.URL(t)
	watcher, writer := open(t, url, postgres.WithLogger(quietLogger())), open(t, url)
	j := create(t, writer)
	ch, err := watcher.Watch(t.Context(), j.ID)
	require.NoError(t, err)
	var pid uint32
	require.Eventually(t, func() bool {
		pid = postgres.ListenerPID(watcher)
		return pid != 0
	}, 10*time.Second, 10*time.Millisecond, "listener connects")

	kill(t, url, pid)
	storetest.RequireNotified(t, ch, "resync after reconnect")
	require.Eventually(t, func() bool {
		p := postgres.ListenerPID(watcher)
		return p != 0 && p != pid
	}, 10*time.Second, 10*time.Millisecond, "listener reconnects")

	fresh := create(t, writer)
	after, err := watcher.Watch(t.Context(), fresh.ID)
	require.NoError(t, err)
	_, err = writer.Cancel(t.Context(), fresh.ID)
	require.NoError(t, err)
	storetest.RequireNotified(t, after, "notification over the new connection")
}

func kill(t *testing.T, url string, pid uint32) {
	t.Helper()
	conn, err := pgx.Connect(t.Context(), url)
	require.NoError(t, err)
	defer conn.Close(t.Context())
	var ok bool
	require.NoError(t, conn.QueryRow(t.Context(), `SELECT pg_terminate_backend($1)`, int32(pid)).Scan(&ok))
	require.True(t, ok, "terminate listener backend %d", pid)
}

// When LISTEN is impossible the feed says so once and wakes watchers on a
// timer, so waiters still make progress.
func TestChangesFallBackToPolling(t *testing.T) {
	url := pgtest.URL(t)
	var logs syncBuffer
	watcher := open(t, url,
		postgres.WithListenURL("postgres://postgres@127.0.0.1:1/test?sslmode=disable&connect_timeout=2"),
		postgres.WithPollInterval(20*time.Millisecond),
		postgres.WithLogger(slog.New(slog.NewTextHandler(&logs, nil))))
	writer := open(t, url)

	j := create(t, writer)
	ch, err := watcher.Watch(t.Context(), j.ID)
	require.NoError(t, err)
	require.Contains(t, logs.String(), "falling back to polling")
	_, err = writer.Cancel(t.Context(), j.ID)
	require.NoError(t, err)
	storetest.RequireNotified(t, ch, "polling wake-up")
	got, err := watcher.Get(t.Context(), j.ID)
	require.NoError(t, err)
	require.Equal(t, domain.JobCanceled, got.Status)
}

func TestWatchAfterClose(t *testing.T) {
	s, err := postgres.Open(t.Context(), pgtest.URL(t))
	require.NoError(t, err)
	require.NoError(t, s.Close())
	_, err = s.Watch(t.Context(), "")
	require.Error(t, err)
}

func quietLogger() *slog.Logger {
	return slog.New(slog.NewTextHandler(&syncBuffer{}, nil))
}

type syncBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (s *syncBuffer) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.Write(p)
}

func (s *syncBuffer) String() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.String()
}
