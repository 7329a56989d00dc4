package storetest

import (
	"fmt"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/codecheck/codecheck/domain"
	"github.com/codecheck/codecheck/ports"
)

var dispatchTests = map[string]func(*testing.T, Harness){
	"ReserveHandoffs":               testReserveHandoffs,
	"ReservationsAreExclusive":      testReservationsExclusive,
	"ConcurrentReserversNeverShare": testConcurrentReservers,
	"MarkDispatchedOnce":            testMarkDispatchedOnce,
	"RetryHandsOffAgain":            testRetryHandsOffAgain,
	"DispatchAfterRescue":           testDispatchAfterRescue,
	"HandoffFailedHoldsUntilRetry":  testHandoffFailed,
	"RedispatchStale":               testRedispatchStale,
	"StaleHandoffsRunOut":           testStaleHandoffsRunOut,
	"RescueRequeuesThenFails":       testRescueRequeuesThenFails,
	"RescueCountsAfterRetry":        testRescueCountsAfterRetry,
	"RescueLeavesLiveLeases":        testRescueLeavesLiveLeases,
}

// hold is how long the suite's hand-off reservations last.
const hold = time.Minute

// reserve reserves up to limit hand-offs for owner.
func reserve(t *testing.T, h Harness, owner string, limit int) []domain.Job {
	t.Helper()
	jobs, err := h.Store.ReserveHandoffs(ctx(t), ports.ReserveHandoffs{Owner: owner, Hold: hold, Limit: limit})
	require.NoError(t, err)
	return jobs
}

func testReserveHandoffs(t *testing.T, h Harness) {
	f := newFixture(t, h)
	older := f.create()
	h.Clock.Advance(time.Second)
	newer := f.create()
	h.Clock.Advance(time.Second)
	f.claim(f.create().ID) // processing: not dispatchable

	require.Equal(t, []string{older.ID}, ids(reserve(t, h, "a", 1)), "oldest first")
	h.Clock.Advance(time.Second)
	newest := f.create()
	require.Equal(t, []string{newer.ID, newest.ID}, ids(reserve(t, h, "a", 10)),
		"pending only, not reserved already, oldest first")

	_, err := h.Store.ReserveHandoffs(ctx(t), ports.ReserveHandoffs{Hold: hold})
	require.ErrorIs(t, err, domain.ErrInvalid, "an owner is required")
	_, err = h.Store.ReserveHandoffs(ctx(t), ports.ReserveHandoffs{Owner: "a"})
	require.ErrorIs(t, err, domain.ErrInvalid, "a hold is required")
}

// One replica's reservation keeps the others away until it lapses (its
// owner died) or the hand-off is marked.
func testReservationsExclusive(t *testing.T, h Harness) {
	f := newFixture(t, h)
	job := f.create()
	require.Equal(t, []string{job.ID}, ids(reserve(t, h, "replica-1", 10)))
	require.Empty(t, reserve(t, h, "replica-2", 10), "reserved by replica-1")
	h.Clock.Advance(hold)
	require.Equal(t, []string{job.ID}, ids(reserve(t, h, "replica-2", 10)), "a lapsed reservation is taken over")
	require.Empty(t, reserve(t, h, "replica-1", 10))
	require.NoError(t, h.Store.MarkDispatched(ctx(t), job.ID, 1, "modal", "fc-1"))
	h.Clock.Advance(2 * hold)
	require.Empty(t, reserve(t, h, "replica-1", 10), "a marked hand-off is not reserved again")
}

func testConcurrentReservers(t *testing.T, h Harness) {
	f := newFixture(t, h)
	const jobs = 20
	for range jobs {
		f.create()
	}
	requireEachOnce(t, jobs, func(taker int) ([]string, error) {
		js, err := h.Store.ReserveHandoffs(ctx(t), ports.ReserveHandoffs{Owner: fmt.Sprint("replica-", taker), Hold: hold, Limit: 3})
		return ids(js), err
	})
}

// requireEachOnce runs four takers side by side, each calling take until it
// gets nothing, and requires that they got want distinct ids between them,
// each exactly once.
func requireEachOnce(t *testing.T, want int, take func(taker int) ([]string, error)) {
	t.Helper()
	var (
		mu  sync.Mutex
		got = map[string]int{}
		wg  sync.WaitGroup
	)
	for i := range 4 {
		wg.Go(func() {
			for {
				ids, err := take(i)
				if err != nil {
					t.Errorf("take: %v", err)
					return
				}
				if len(ids) == 0 {
					return
				}
				mu.Lock()
				for _, id := range ids {
					got[id]++
				}
				mu.Unlock()
			}
		})
	}
	wg.Wait()
	require.Len(t, got, want)
	for id, n := range got {
		require.Equal(t, 1, n, "%s taken once", id)
	}
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

	require.Equal(t, []string{other.ID}, ids(reserve(t, h, "a", 10)))

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

	require.Equal(t, []string{job.ID}, ids(reserve(t, h, "a", 10)), "a requeued job is dispatched again")
	require.NoError(t, h.Store.MarkDispatched(ctx(t), job.ID, 2, "local", "w2"))
	require.Equal(t, 2, f.get(job.ID).DispatchedAttempt)
	require.Empty(t, reserve(t, h, "a", 10))
}

func testHandoffFailed(t *testing.T, h Harness) {
	f := newFixture(t, h)
	job := f.create()
	require.Len(t, reserve(t, h, "a", 10), 1)
	retryAt := h.Clock.Now().Add(30 * time.Second)
	require.NoError(t, h.Store.HandoffFailed(ctx(t), job.ID, "modal: function not found", retryAt))
	got := f.get(job.ID)
	require.Equal(t, "modal: function not found", got.DispatchError)
	require.Equal(t, domain.JobPending, got.Status)

	require.Empty(t, reserve(t, h, "a", 10), "held until the retry time, from its own dispatcher too")
	require.Empty(t, reserve(t, h, "b", 10), "and from every other")
	h.Clock.Advance(30 * time.Second)
	require.Len(t, reserve(t, h, "b", 10), 1)
	require.NoError(t, h.Store.MarkDispatched(ctx(t), job.ID, 1, "modal", "fc-1"))
	require.Empty(t, f.get(job.ID).DispatchError, "a hand-off clears the error")
	require.ErrorIs(t, h.Store.HandoffFailed(ctx(t), newJob().ID, "x", retryAt), domain.ErrNotFound)
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

	_, err := h.Store.Retry(ctx(t), job.ID, domain.RetryOptions{})
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

// stale asks for hand-offs older than 5 minutes, for owner "a".
var stale = ports.StaleHandoffs{Owner: "a", OlderThan: 5 * time.Minute, MaxHandoffs: 3, Hold: hold}

// A hand-off that no worker claimed within the timeout is made again, for
// the same attempt, by the dispatcher that found it; claimed or fresh
// hand-offs are left alone.
func testRedispatchStale(t *testing.T, h Harness) {
	f := newFixture(t, h)
	old, claimed, fresh := f.create(), f.create(), f.create()
	require.NoError(t, h.Store.MarkDispatched(ctx(t), old.ID, 1, "modal", "fc-1"))
	require.NoError(t, h.Store.MarkDispatched(ctx(t), claimed.ID, 1, "modal", "fc-2"))
	f.claim(claimed.ID)
	h.Clock.Advance(10 * time.Minute)
	require.NoError(t, h.Store.MarkDispatched(ctx(t), fresh.ID, 1, "modal", "fc-3"))
	h.Clock.Advance(time.Minute)

	watch, err := h.Changes.Watch(ctx(t), old.ID)
	require.NoError(t, err)
	r, err := h.Store.RedispatchStale(ctx(t), stale)
	require.NoError(t, err)
	require.Equal(t, []string{old.ID}, ids(r.Again))
	require.Empty(t, r.Failed)
	require.Equal(t, "fc-1", r.Again[0].ExecutorRef, "the old call, to cancel")
	RequireNotified(t, watch, "a re-dispatched job notifies its watchers")
	got := f.get(old.ID)
	require.Equal(t, domain.JobPending, got.Status)
	require.Equal(t, 0, got.DispatchedAttempt)
	require.Contains(t, got.DispatchError, "no worker claimed the job within 5m0s")

	require.Empty(t, reserve(t, h, "b", 10), "reserved for the dispatcher that cancels the old call and hands it off")
	require.NoError(t, h.Store.MarkDispatched(ctx(t), old.ID, 1, "modal", "fc-4"), "the same attempt is handed off again")
	require.Equal(t, "fc-4", f.get(old.ID).ExecutorRef)
	require.Empty(t, f.get(old.ID).DispatchError)

	r, err = h.Store.RedispatchStale(ctx(t), stale)
	require.NoError(t, err)
	require.Empty(t, r.Again, "nothing else is stale yet")
}

// Hand-offs no worker claims are bounded: past the limit the job fails with
// an error naming the executor and the last call. A claim resets the count.
func testStaleHandoffsRunOut(t *testing.T, h Harness) {
	f := newFixture(t, h)
	job, lucky := f.create(), f.create()
	handOff := func(id, ref string) {
		t.Helper()
		require.NoError(t, h.Store.MarkDispatched(ctx(t), id, f.get(id).Attempt+1, "modal", ref))
		h.Clock.Advance(stale.OlderThan)
	}
	for i := 1; i <= stale.MaxHandoffs; i++ {
		handOff(job.ID, fmt.Sprint("fc-", i))
		if i < 3 {
			handOff(lucky.ID, fmt.Sprint("fl-", i))
		}
		r, err := h.Store.RedispatchStale(ctx(t), stale)
		require.NoError(t, err)
		if i < stale.MaxHandoffs {
			require.Empty(t, r.Failed)
			continue
		}
		require.Equal(t, []string{job.ID}, ids(r.Failed))
		require.Equal(t, domain.JobFailed, r.Failed[0].Status)
		require.Contains(t, r.Failed[0].Error, "after 3 hand-offs to the modal executor")
		require.Contains(t, r.Failed[0].Error, "fc-3")
		require.Equal(t, r.Failed[0], f.get(job.ID))
	}
	// lucky was handed off twice, then claimed: its count starts again.
	claimed := f.claim(lucky.ID)
	h.Clock.Advance(lease + time.Second)
	_, err := h.Store.RescueExpired(ctx(t), 5)
	require.NoError(t, err)
	for range stale.MaxHandoffs - 1 {
		require.NoError(t, h.Store.MarkDispatched(ctx(t), lucky.ID, claimed.Attempt+1, "modal", "x"))
		h.Clock.Advance(stale.OlderThan)
		r, err := h.Store.RedispatchStale(ctx(t), stale)
		require.NoError(t, err)
		require.Empty(t, r.Failed)
	}
}

// A job canceled after its hand-off, before any worker claimed it, had its
// call canceled with it: once retried it is handed off again at once.
func testRetryHandsOffAgain(t *testing.T, h Harness) {
	f := newFixture(t, h)
	job := f.create()
	require.Equal(t, []string{job.ID}, ids(reserve(t, h, "a", 10)))
	require.NoError(t, h.Store.MarkDispatched(ctx(t), job.ID, 1, "modal", "fc-1"))
	_, err := h.Store.Cancel(ctx(t), job.ID)
	require.NoError(t, err)
	_, err = h.Store.Retry(ctx(t), job.ID, domain.RetryOptions{})
	require.NoError(t, err)
	require.Equal(t, []string{job.ID}, ids(reserve(t, h, "a", 10)), "dispatchable again without waiting for the hand-off timeout")
}
