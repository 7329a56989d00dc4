package postgres

import (
	"crypto/rand"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"
)

// ListenerPID returns the backend pid of s's LISTEN connection, or 0 while
// it has none, so tests can kill it.
func ListenerPID(s *Store) uint32 {
	s.mu.Lock()
	l := s.listener
	s.mu.Unlock()
	if l == nil {
		return 0
	}
	return l.pid.Load()
}

// PoolMaxConns returns the size of s's pool.
func PoolMaxConns(s *Store) int32 { return s.pool.Config().MaxConns }

// Settle returns once every notification s has sent came back through its
// change feed and was passed on, or passed over: it sends what s has
// pending, then a notification from a connection of its own (url), and
// waits for that one. Postgres delivers notifications to a listener in the
// order their transactions committed. The fence goes on ProgressChannel,
// so it wakes no watcher of state (WatchState), but it does wake the
// store's Watch("") watchers.
func Settle(t testing.TB, s *Store, url string) {
	t.Helper()
	s.notifier.flush()
	fence := "settle-" + rand.Text()
	ch, err := s.Watch(t.Context(), fence)
	if err != nil {
		t.Fatalf("settle: watch: %v", err)
	}
	conn, err := pgx.Connect(t.Context(), url)
	if err != nil {
		t.Fatalf("settle: connect: %v", err)
	}
	defer closeConn(conn)
	if _, err := conn.Exec(t.Context(), "SELECT pg_notify($1, $2)", ProgressChannel, fence); err != nil {
		t.Fatalf("settle: notify: %v", err)
	}
	select {
	case <-ch:
	case <-time.After(notifyTimeout):
		t.Fatalf("settle: the fence's notification did not come back within %s", notifyTimeout)
	}
}
