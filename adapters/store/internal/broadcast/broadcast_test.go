package broadcast_test

import (
	"context"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
	"go.uber.org/goleak"

	"github.com/codecheck/codecheck/adapters/store/internal/broadcast"
)

func TestMain(m *testing.M) { goleak.VerifyTestMain(m) }

func pending(ch <-chan struct{}) int {
	select {
	case _, ok := <-ch:
		if !ok {
			return -1
		}
		return 1
	default:
		return 0
	}
}

func TestNotifyCoalescesAndFansOut(t *testing.T) {
	b := broadcast.New()
	defer b.Close()
	one, err := b.Watch(t.Context(), "a")
	require.NoError(t, err)
	other, err := b.Watch(t.Context(), "b")
	require.NoError(t, err)
	all, err := b.Watch(t.Context(), "")
	require.NoError(t, err)

	b.Notify("a")
	b.Notify("a") // coalesced, never blocks
	require.Equal(t, 1, pending(one))
	require.Equal(t, 0, pending(one), "two notifications coalesce into one")
	require.Equal(t, 0, pending(other))
	require.Equal(t, 1, pending(all))

	b.NotifyAll()
	require.Equal(t, 1, pending(one))
	require.Equal(t, 1, pending(other))
	require.Equal(t, 1, pending(all))
}

func TestProgressWakesOnlyWatchersOfProgress(t *testing.T) {
	b := broadcast.New()
	defer b.Close()
	every, err := b.Watch(t.Context(), "a")
	require.NoError(t, err)
	state, err := b.WatchState(t.Context(), "a")
	require.NoError(t, err)
	everyAll, err := b.Watch(t.Context(), "")
	require.NoError(t, err)
	stateAll, err := b.WatchState(t.Context(), "")
	require.NoError(t, err)

	b.NotifyProgress("a")
	require.Equal(t, 1, pending(every))
	require.Equal(t, 1, pending(everyAll))
	require.Equal(t, 0, pending(state), "progress must not wake a state watcher")
	require.Equal(t, 0, pending(stateAll), "progress must not wake a state watcher of all jobs")

	b.Notify("a")
	for _, ch := range []<-chan struct{}{every, state, everyAll, stateAll} {
		require.Equal(t, 1, pending(ch), "a state change wakes every watcher")
	}
	b.NotifyAll()
	for _, ch := range []<-chan struct{}{every, state, everyAll, stateAll} {
		require.Equal(t, 1, pending(ch), "NotifyAll wakes every watcher")
	}
}

func TestWatchEndsWithContext(t *testing.T) {
	b := broadcast.New()
	defer b.Close()
	ctx, cancel := context.WithCancel(t.Context())
	ch, err := b.Watch(ctx, "a")
	require.NoError(t, err)
	cancel()
	require.Eventually(t, func() bool { return pending(ch) == -1 }, notifyWait, tick)
	b.Notify("a") // must not panic on the removed channel

	_, err = b.Watch(ctx, "a")
	require.ErrorIs(t, err, context.Canceled)
}

func TestCloseClosesWatchers(t *testing.T) {
	b := broadcast.New()
	ch, err := b.Watch(t.Context(), "")
	require.NoError(t, err)
	b.Close()
	require.Equal(t, -1, pending(ch))
	_, err = b.Watch(t.Context(), "")
	require.ErrorIs(t, err, broadcast.ErrClosed)
}

const (
	notifyWait = 5 * time.Second // a deadline, not a sleep
	tick       = time.Millisecond
)
