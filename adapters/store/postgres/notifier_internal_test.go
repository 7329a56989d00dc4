package postgres

import (
	"context"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"
	"github.com/stretchr/testify/require"

	"github.com/codecheck/codecheck/test/pgtest"
)

// A write never waits for its notification: announce returns while the
// pool has no connection to send it on, and the notification goes out once
// one is free. Sent on the writer's goroutine, as before, announce waited
// for a connection until notifyTimeout and then dropped the notification.
func TestAnnounceDoesNotWaitForTheNotification(t *testing.T) {
	url := pgtest.URL(t)
	ctx := t.Context()
	listen := listenOn(t, url)

	cfg, err := pgxpool.ParseConfig(url)
	require.NoError(t, err)
	cfg.MaxConns = 1
	pool, err := pgxpool.NewWithConfig(ctx, cfg)
	require.NoError(t, err)
	t.Cleanup(pool.Close)
	n := newNotifier(pool)
	t.Cleanup(n.close)

	held, err := pool.Acquire(ctx) // the pool's only connection
	require.NoError(t, err)
	n.announce([]string{"job-1"}, false) // returns with the connection still held
	held.Release()

	waitCtx, cancel := context.WithTimeout(ctx, notifyTimeout)
	defer cancel()
	got, err := listen.WaitForNotification(waitCtx)
	require.NoError(t, err, "the notification once the connection was free")
	require.Equal(t, "job-1", got.Payload)
}

// Closing sends what was announced before it.
func TestNotifierCloseSendsWhatIsPending(t *testing.T) {
	url := pgtest.URL(t)
	ctx := t.Context()
	listen := listenOn(t, url)
	pool, err := pgxpool.New(ctx, url)
	require.NoError(t, err)
	t.Cleanup(pool.Close)

	n := newNotifier(pool)
	n.announce([]string{"job-2", "job-3"}, false)
	n.announce([]string{"job-4"}, true)
	n.close()
	n.close() // twice is harmless

	got := map[string]string{}
	for len(got) < 3 {
		waitCtx, cancel := context.WithTimeout(ctx, 10*time.Second)
		m, err := listen.WaitForNotification(waitCtx)
		cancel()
		require.NoError(t, err)
		got[m.Payload] = m.Channel
	}
	require.Equal(t, map[string]string{"job-2": Channel, "job-3": Channel, "job-4": ProgressChannel}, got,
		"state on Channel, progress on ProgressChannel")
}

// listenOn returns a connection that LISTENs on Channel and
// ProgressChannel, closed with the test.
func listenOn(t *testing.T, url string) *pgx.Conn {
	t.Helper()
	conn, err := pgx.Connect(t.Context(), url)
	require.NoError(t, err)
	t.Cleanup(func() { closeConn(conn) })
	for _, channel := range []string{Channel, ProgressChannel} {
		_, err = conn.Exec(t.Context(), "LISTEN "+channel)
		require.NoError(t, err)
	}
	return conn
}
