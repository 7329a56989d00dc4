package storetest

import (
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/codecheck/codecheck/domain"
)

var dispatchTests = map[string]func(*testing.T, Harness){
	"Dispatchable":            testDispatchable,
	"MarkDispatchedOnce":      testMarkDispatchedOnce,
	"DispatchAfterRescue":     testDispatchAfterRescue,
	"SetDispatchError":        testSetDispatchError,
	"RedispatchStale":         testRedispatchStale,
	"RescueRequeuesThenFails": testRescueRequeuesThenFails,
	"RescueCountsAfterRetry":  testRescueCountsAfterRetry,
	"RescueLeavesLiveLeases":  testRescueLeavesLiveLeases,
}

func testDispatchable(t *testing.T, h Harness) {
	f := newFixture(t, h)
	older := f.create()
	h.Clock.Advance(time.Second)
	newer := f.create()
	h.Clock.Advance(time.Second)
	f.claim(f.create().ID) // processing: not dispatchable

	jobs, err := h.Store.Dispatchable(ctx(t), 10)
	require.NoError(t, err)
	require.Equal(t, []string{older.ID, newer.ID}, ids(jobs), "oldest first, pending only")

	jobs, err = h.Store.Dispatchable(ctx(t), 1)
	require.NoError(t, err)
	require.Equal(t, []string{older.ID}, ids(jobs))
}

func testMarkDispatchedOnce(t *testing.T, h Harness) {
	f := newFixture(t, h)
	job, other := f.create(), f.create()

	require.ErrorIs(t, h.Store.MarkDispatched(ctx(t), job.ID, 2, "local", "x"), domain.ErrConflict, "wrong attempt")
	require.NoError(t, h.Store.MarkDispatched(ctx(t), job.ID, 1, "modal", "fc-123"))
	require.ErrorIs(t, h.Store.MarkDispatched(ctx(t), job.ID, 1, "modal", "fc-456"), domain.ErrConflict, "second hand-off of one attempt")
	require.ErrorIs(t, h.Store.MarkDispatched(ctx(t), newJob().ID, 1, "modal", "x"), domain.ErrNotFound)

	got := f.get(job.ID)
	require.Equal(t, "modal", got.Executor)
	require.Equal(t, "fc-123", got.ExecutorRef)
	require.Equal(t, 1, got.DispatchedAttempt)
	require.Equal(t, domain.JobPending, got.Status)

	jobs, err := h.Store.Dispatchable(ctx(t), 10)
	require.NoError(t, err)
	require.Equal(t, []string{other.ID}, ids(jobs))

	// The worker may claim the attempt before its dispatch is recorded: the
	// record still lands, once.
	claimed := f.claim(other.ID)
	require.ErrorIs(t, h.Store.MarkDispatched(ctx(t), claimed.ID, 2, "modal", "x"), domain.ErrConflict, "not that attempt")
	require.NoError(t, h.Store.MarkDispatched(ctx(t), claimed.ID, 1, "modal", "fc-789"))
	got = f.get(other.ID)
	require.Equal(t, "fc-789", got.ExecutorRef)
	require.Equal(t, domain.JobProcessing, got.Status)
	require.ErrorIs(t, h.Store.MarkDispatched(ctx(t), claimed.ID, 1, "modal", "fc-000"), domain.ErrConflict, "second hand-off of one attempt")
}

func testDispatchAfterRescue(t *testing.T, h Harness) {
	f := newFixture(t, h)
	job := f.create()
	require.NoError(t, h.Store.MarkDispatched(ctx(t), job.ID, 1, "local", "w1"))
	f.claim(job.ID)
	h.Clock.Advance(lease + time.Second)
	rescued, err := h.Store.RescueExpired(ctx(t), 3)
	require.NoError(t, err)
	require.Equal(t, []string{job.ID}, ids(rescued.Requeued))

	jobs, err := h.Store.Dispatchable(ctx(t), 10)
	require.NoError(t, err)
	require.Equal(t, []string{job.ID}, ids(jobs), "a requeued job is dispatched again")
	require.NoError(t, h.Store.MarkDispatched(ctx(t), job.ID, 2, "local", "w2"))
	require.Equal(t, 2, f.get(job.ID).DispatchedAttempt)
	jobs, err = h.Store.Dispatchable(ctx(t), 10)
	require.NoError(t, err)
	require.Empty(t, jobs)
}

func testSetDispatchError(t *testing.T, h Harness) {
	f := newFixture(t, h)
	job := f.create()
	require.NoError(t, h.Store.SetDispatchError(ctx(t), job.ID, "modal: function not found"))
	got := f.get(job.ID)
	require.Equal(t, "modal: function not found", got.DispatchError)
	require.Equal(t, domain.JobPending, got.Status)

	require.NoError(t, h.Store.SetDispatchError(ctx(t), job.ID, ""))
	require.Empty(t, f.get(job.ID).DispatchError)
	require.ErrorIs(t, h.Store.SetDispatchError(ctx(t), newJob().ID, "x"), domain.ErrNotFound)
}

// expire claims job id, lets its lease run out and rescues it.
func expire(t *testing.T, h Harness, id string, maxAttempts int) (domain.Job, []domain.Job, []domain.Job) {
	t.Helper()
	claimed := newFixture(t, h).claim(id)
	h.Clock.Advance(lease + time.Second)
	r, err := h.Store.RescueExpired(ctx(t), maxAttempts)
	require.NoError(t, err)
	return claimed, r.Requeued, r.Failed
}

func testRescueRequeuesThenFails(t *testing.T, h Harness) {
	f := newFixture(t, h)
	job := f.create()
	for attempt := 1; attempt < 3; attempt++ {
		claimed, requeued, failed := expire(t, h, job.ID, 3)
		require.Equal(t, attempt, claimed.Attempt)
		require.Empty(t, failed)
		require.Len(t, requeued, 1)
		require.Equal(t, domain.JobPending, requeued[0].Status)
		require.Equal(t, attempt, requeued[0].Attempt)
		require.Nil(t, requeued[0].LeaseExpiresAt)
		require.Equal(t, requeued[0], f.get(job.ID))
	}
	_, requeued, failed := expire(t, h, job.ID, 3)
	require.Empty(t, requeued)
	require.Len(t, failed, 1)
	got := f.get(job.ID)
	require.Equal(t, failed[0], got)
	require.Equal(t, domain.JobFailed, got.Status)
	require.Equal(t, 3, got.Attempt)
	require.NotNil(t, got.FinishedAt)
	require.Contains(t, strings.ToLower(got.Error), "attempts", "the error says the attempts ran out")

	again, err := h.Store.RescueExpired(ctx(t), 3)
	require.NoError(t, err)
	require.Empty(t, again.Requeued)
	require.Empty(t, again.Failed)
}

func testRescueCountsAfterRetry(t *testing.T, h Harness) {
	f := newFixture(t, h)
	job := f.create()
	expire(t, h, job.ID, 2)
	_, _, failed := expire(t, h, job.ID, 2)
	require.Len(t, failed, 1)

	_, err := h.Store.Retry(ctx(t), job.ID)
	require.NoError(t, err)
	claimed, requeued, failed := expire(t, h, job.ID, 2)
	require.Equal(t, 3, claimed.Attempt)
	require.Empty(t, failed, "a retry starts the count of attempts again")
	require.Len(t, requeued, 1)
	_, _, failed = expire(t, h, job.ID, 2)
	require.Len(t, failed, 1)
	require.Equal(t, 4, failed[0].Attempt)
}

func testRescueLeavesLiveLeases(t *testing.T, h Harness) {
	f := newFixture(t, h)
	expired := f.claim(f.create().ID)
	h.Clock.Advance(lease - time.Second)
	live := f.claim(f.create().ID)
	pending := f.create()
	h.Clock.Advance(2 * time.Second)

	r, err := h.Store.RescueExpired(ctx(t), 3)
	require.NoError(t, err)
	require.Equal(t, []string{expired.ID}, ids(r.Requeued))
	require.Empty(t, r.Failed)
	require.Equal(t, domain.JobProcessing, f.get(live.ID).Status)
	require.Equal(t, domain.JobPending, f.get(pending.ID).Status)
}

// A hand-off that no worker claimed within the timeout is made again, for
// the same attempt; claimed or fresh hand-offs are left alone.
func testRedispatchStale(t *testing.T, h Harness) {
	f := newFixture(t, h)
	stale, claimed, fresh := f.create(), f.create(), f.create()
	require.NoError(t, h.Store.MarkDispatched(ctx(t), stale.ID, 1, "modal", "fc-1"))
	require.NoError(t, h.Store.MarkDispatched(ctx(t), claimed.ID, 1, "modal", "fc-2"))
	f.claim(claimed.ID)
	h.Clock.Advance(10 * time.Minute)
	require.NoError(t, h.Store.MarkDispatched(ctx(t), fresh.ID, 1, "modal", "fc-3"))
	h.Clock.Advance(time.Minute)

	watch, err := h.Changes.Watch(ctx(t), stale.ID)
	require.NoError(t, err)
	jobs, err := h.Store.RedispatchStale(ctx(t), 5*time.Minute)
	require.NoError(t, err)
	require.Equal(t, []string{stale.ID}, ids(jobs))
	RequireNotified(t, watch, "a re-dispatched job notifies its watchers")
	got := f.get(stale.ID)
	require.Equal(t, domain.JobPending, got.Status)
	require.Equal(t, 0, got.DispatchedAttempt)
	require.Contains(t, got.DispatchError, "no worker claimed the job within 5m0s")

	pending, err := h.Store.Dispatchable(ctx(t), 10)
	require.NoError(t, err)
	require.Equal(t, []string{stale.ID}, ids(pending))
	require.NoError(t, h.Store.MarkDispatched(ctx(t), stale.ID, 1, "modal", "fc-4"), "the same attempt is handed off again")
	require.Equal(t, "fc-4", f.get(stale.ID).ExecutorRef)
	require.Empty(t, f.get(stale.ID).DispatchError)

	jobs, err = h.Store.RedispatchStale(ctx(t), 5*time.Minute)
	require.NoError(t, err)
	require.Empty(t, jobs, "nothing else is stale yet")
}
