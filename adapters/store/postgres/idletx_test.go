package postgres

import (
	"context"
	"testing"

	"github.com/jackc/pgx/v5"
	"github.com/stretchr/testify/require"

	"github.com/codecheck/codecheck/test/pgtest"
)

// The store's sessions end a transaction left idle for
// IdleInTransactionTimeout (a frozen process must not keep its rows locked
// past its lease), unless the URL says otherwise; behind a session pooler
// too, but not behind a transaction pooler, where a SET would outlive the
// transaction in another client's session.
func TestIdleInTransactionTimeout(t *testing.T) {
	ctx := context.Background()
	base := pgtest.URL(t)
	show := func(t *testing.T, url string, opts ...Option) string {
		s, err := Open(ctx, url, append(opts, WithoutListen())...)
		require.NoError(t, err)
		defer s.Close()
		var v string
		require.NoError(t, s.pool.QueryRow(ctx, `SHOW idle_in_transaction_session_timeout`).Scan(&v))
		return v
	}
	serverDefault := func(t *testing.T) string {
		conn, err := pgx.Connect(ctx, base)
		require.NoError(t, err)
		defer conn.Close(ctx)
		var v string
		require.NoError(t, conn.QueryRow(ctx, `SHOW idle_in_transaction_session_timeout`).Scan(&v))
		return v
	}

	t.Run("direct", func(t *testing.T) {
		require.Equal(t, IdleInTransactionTimeout, show(t, base))
	})
	t.Run("the URL's own value", func(t *testing.T) {
		require.Equal(t, "1min", show(t, pgtest.WithParam(t, base, "idle_in_transaction_session_timeout", "60s")))
	})
	t.Run("behind a session pooler", func(t *testing.T) {
		require.Equal(t, IdleInTransactionTimeout, show(t, base, WithPooler(PoolerSession)))
	})
	t.Run("behind a transaction pooler", func(t *testing.T) {
		require.Equal(t, serverDefault(t), show(t, base, WithPooler(PoolerTransaction)))
	})
}
