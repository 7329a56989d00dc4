package storetest

import (
	"context"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/codecheck/codecheck/domain"
	"github.com/codecheck/codecheck/ports"
)

// notifyTimeout bounds how long the suite waits for a notification. It is a
// deadline, not a synchronisation sleep: a working store notifies in
// milliseconds.
const notifyTimeout = 5 * time.Second

var changeTests = map[string]func(*testing.T, Harness){
	"WatchJob":                testWatchJob,
	"WatchStateSkipsProgress": testWatchStateSkipsProgress,
	"WatchAllOnCreate":        testWatchAllOnCreate,
	"WatchClosesWithContext":  testWatchCloses,
	"NotifyNeverBlocks":       testNotifyNeverBlocks,
	"WorkerSeesCancel":        testWorkerSeesCancel,
	"WorkerSeesTakeover":      testWorkerSeesTakeover,
}

// RequireNotified waits until ch receives a value or notifyTimeout passes.
func RequireNotified(t testing.TB, ch <-chan struct{}, msg string) {
	t.Helper()
	select {
	case _, ok := <-ch:
		require.True(t, ok, "%s: channel closed instead of notifying", msg)
	case <-time.After(notifyTimeout):
		t.Fatalf("%s: no notification within %s", msg, notifyTimeout)
	}
}

// drain empties a coalesced notification, if any, so the next receive
// observes a new change.
func drain(ch <-chan struct{}) {
	select {
	case <-ch:
	default:
	}
}

func testWatchJob(t *testing.T, h Harness) {
	f := newFixture(t, h)
	job := f.create()
	ch, err := h.Changes.Watch(ctx(t), job.ID)
	require.NoError(t, err)
	drain(ch)

	claimed := f.claim(job.ID)
	RequireNotified(t, ch, "after Claim")
	drain(ch)
	f.save(leaseOf(claimed), "zoning_use", "completed")
	RequireNotified(t, ch, "after SaveSection")
	drain(ch)
	_, err = h.Store.Cancel(ctx(t), job.ID)
	require.NoError(t, err)
	RequireNotified(t, ch, "after Cancel")
}

// A save is the job's progress: Watch hears of it, WatchState does not;
// both hear of the job's state changing.
func testWatchStateSkipsProgress(t *testing.T, h Harness) {
	f := newFixture(t, h)
	job := f.create()
	every, err := h.Changes.Watch(ctx(t), job.ID)
	require.NoError(t, err)
	state, err := h.Changes.WatchState(ctx(t), job.ID)
	require.NoError(t, err)
	stateAll, err := h.Changes.WatchState(ctx(t), "")
	require.NoError(t, err)

	claimed := f.claim(job.ID)
	RequireNotified(t, state, "WatchState after Claim")
	RequireNotified(t, stateAll, "WatchState(\"\") after Claim")
	if h.Settle != nil {
		h.Settle(t)
	}
	drain(every)
	drain(state)
	drain(stateAll)

	f.save(leaseOf(claimed), "zoning_use", "completed")
	RequireNotified(t, every, "Watch after SaveSection")
	if h.Settle != nil {
		h.Settle(t)
		require.Equal(t, 0, len(state), "WatchState woken by a save, which is progress")
		require.Equal(t, 0, len(stateAll), "WatchState(\"\") woken by a save, which is progress")
	}

	_, err = h.Store.Cancel(ctx(t), job.ID)
	require.NoError(t, err)
	RequireNotified(t, state, "WatchState after Cancel")
	RequireNotified(t, stateAll, "WatchState(\"\") after Cancel")
}

func testWatchAllOnCreate(t *testing.T, h Harness) {
	ch, err := h.Changes.Watch(ctx(t), "")
	require.NoError(t, err)
	drain(ch)
	newFixture(t, h).create()
	RequireNotified(t, ch, "Watch(\"\") after Create")
}

func testWatchCloses(t *testing.T, h Harness) {
	c, cancel := context.WithCancel(ctx(t))
	ch, err := h.Changes.Watch(c, "")
	require.NoError(t, err)
	cancel()
	deadline := time.After(notifyTimeout)
	for {
		select {
		case _, ok := <-ch:
			if !ok {
				return
			}
		case <-deadline:
			t.Fatal("watch channel not closed after its context was canceled")
		}
	}
}

func testNotifyNeverBlocks(t *testing.T, h Harness) {
	f := newFixture(t, h)
	job := f.create()
	ch, err := h.Changes.Watch(ctx(t), job.ID)
	require.NoError(t, err)
	claimed := f.claim(job.ID)
	for _, key := range claimed.Sections { // many changes, nobody reading
		f.save(leaseOf(claimed), key, "completed")
	}
	RequireNotified(t, ch, "coalesced notification")
	require.Equal(t, len(claimed.Sections), f.get(job.ID).Done)
}

// A worker watching its job learns of a cancel without writing, reads it,
// and is fenced off.
func testWorkerSeesCancel(t *testing.T, h Harness) {
	f := newFixture(t, h)
	job := f.claim(f.create().ID)
	ch, err := h.workerChanges().Watch(ctx(t), job.ID)
	require.NoError(t, err)
	drain(ch)

	_, err = h.Store.Cancel(ctx(t), job.ID)
	require.NoError(t, err)
	RequireNotified(t, ch, "the worker's watch after Cancel")
	got, err := h.worker().Get(ctx(t), job.ID)
	require.NoError(t, err)
	require.Equal(t, domain.JobCanceled, got.Status)
	require.ErrorIs(t, h.worker().Heartbeat(ctx(t), leaseOf(job), lease), domain.ErrLeaseLost)
}

// A worker whose lease expired learns that another attempt took over.
func testWorkerSeesTakeover(t *testing.T, h Harness) {
	f := newFixture(t, h)
	job := f.claim(f.create().ID)
	ch, err := h.workerChanges().Watch(ctx(t), job.ID)
	require.NoError(t, err)
	drain(ch)

	h.Clock.Advance(lease + time.Second)
	other, err := h.Store.Claim(ctx(t), ports.ClaimRequest{JobID: job.ID, Worker: "other", Lease: lease})
	require.NoError(t, err)
	RequireNotified(t, ch, "the worker's watch after another attempt's Claim")
	got, err := h.worker().Get(ctx(t), job.ID)
	require.NoError(t, err)
	require.Equal(t, other.Attempt, got.Attempt)
	require.ErrorIs(t, h.worker().SaveSection(ctx(t), leaseOf(job), section(domain.JurisdictionKey, domain.SectionCompleted)),
		domain.ErrLeaseLost)
}
