package storetest

import (
	"errors"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/codecheck/codecheck/domain"
	"github.com/codecheck/codecheck/ports"
)

var claimTests = map[string]func(*testing.T, Harness){
	"ClaimsOldestPending":    testClaimOldestPending,
	"ClaimNothingPending":    testClaimNothingPending,
	"ClaimIsExclusive":       testClaimExclusive,
	"ClaimByID":              testClaimByID,
	"ClaimByIDTerminal":      testClaimByIDTerminal,
	"ClaimByIDIsExclusive":   testClaimByIDExclusive,
	"ClaimRecordsExecutor":   testClaimRecordsExecutor,
	"HeartbeatExtendsLease":  testHeartbeat,
	"FencingAfterTakeover":   testFencingAfterTakeover,
	"FencingAfterCancel":     testFencingAfterCancel,
	"FencedWritesUnknownJob": testFencedWritesUnknownJob,
	"ClaimOnlyOwnProviders":  testClaimOnlyOwnProviders,
}

// A worker that has only some providers leaves the other jobs pending.
func testClaimOnlyOwnProviders(t *testing.T, h Harness) {
	create := func(provider string) domain.Job {
		j := newJob()
		j.Provider = provider
		saved, _, err := h.Store.Create(ctx(t), j)
		require.NoError(t, err)
		h.Clock.Advance(time.Second)
		return saved
	}
	other, gemini, openai := create("perplexity"), create("gemini"), create("openai")
	req := ports.ClaimRequest{Worker: "w", Lease: lease, Providers: []string{"openai", "gemini"}}
	for _, want := range []domain.Job{gemini, openai} {
		job, err := h.Store.Claim(ctx(t), req)
		require.NoError(t, err)
		require.Equal(t, want.ID, job.ID)
	}
	_, err := h.Store.Claim(ctx(t), req)
	require.ErrorIs(t, err, domain.ErrNoJob, "the perplexity job is not this worker's")
	require.Equal(t, domain.JobPending, newFixture(t, h).get(other.ID).Status)
}

func testClaimOldestPending(t *testing.T, h Harness) {
	want := createSpaced(t, h, 3, time.Second) // newest first
	now := h.Clock.Now()
	job, err := h.Store.Claim(ctx(t), ports.ClaimRequest{Worker: "w1", Lease: lease})
	require.NoError(t, err)
	require.Equal(t, want[2], job.ID)
	require.Equal(t, domain.JobProcessing, job.Status)
	require.Equal(t, 1, job.Attempt)
	requireTime(t, now.Add(lease), job.LeaseExpiresAt, "lease_expires_at")
	requireTime(t, now, job.StartedAt, "started_at")
	require.Equal(t, job, newFixture(t, h).get(job.ID))

	next, err := h.Store.Claim(ctx(t), ports.ClaimRequest{Worker: "w1", Lease: lease})
	require.NoError(t, err)
	require.Equal(t, want[1], next.ID)
}

func testClaimNothingPending(t *testing.T, h Harness) {
	_, err := h.Store.Claim(ctx(t), ports.ClaimRequest{Worker: "w", Lease: lease})
	require.ErrorIs(t, err, domain.ErrNoJob)

	f := newFixture(t, h)
	f.claim(f.create().ID)
	h.Clock.Advance(2 * lease)
	_, err = h.Store.Claim(ctx(t), ports.ClaimRequest{Worker: "w", Lease: lease})
	require.ErrorIs(t, err, domain.ErrNoJob, "a processing job is not pending, even when its lease expires")
}

func testClaimExclusive(t *testing.T, h Harness) {
	const jobs, workers = 50, 20
	created := createSpaced(t, h, jobs, time.Millisecond)
	var (
		wg      sync.WaitGroup
		mu      sync.Mutex
		claimed = map[string]int{}
	)
	for range workers {
		wg.Go(func() {
			for {
				job, err := h.Store.Claim(ctx(t), ports.ClaimRequest{Worker: "w", Lease: lease})
				if errors.Is(err, domain.ErrNoJob) {
					return
				}
				if !assertNoError(t, err) {
					return
				}
				if job.Attempt != 1 {
					t.Errorf("job %s claimed with attempt %d", job.ID, job.Attempt)
				}
				mu.Lock()
				claimed[job.ID]++
				mu.Unlock()
			}
		})
	}
	wg.Wait()
	require.Len(t, claimed, jobs)
	for _, id := range created {
		require.Equal(t, 1, claimed[id], "job %s", id)
	}
}

func testClaimByID(t *testing.T, h Harness) {
	f := newFixture(t, h)
	other := f.create()
	job := f.create()

	first := f.claim(job.ID)
	require.Equal(t, job.ID, first.ID, "claiming by id takes that job, not the oldest")
	require.Equal(t, 1, first.Attempt)
	require.Equal(t, domain.JobPending, f.get(other.ID).Status)

	h.Clock.Advance(lease - time.Second)
	_, err := h.worker().Claim(ctx(t), ports.ClaimRequest{JobID: job.ID, Worker: "w2", Lease: lease})
	require.ErrorIs(t, err, domain.ErrLeaseHeld)

	h.Clock.Advance(2 * time.Second)
	second := f.claim(job.ID)
	require.Equal(t, 2, second.Attempt)
	requireTime(t, h.Clock.Now().Add(lease), second.LeaseExpiresAt, "new lease")
	requireTime(t, *first.StartedAt, second.StartedAt, "started_at is the first start")

	_, err = h.worker().Claim(ctx(t), ports.ClaimRequest{JobID: newJob().ID, Worker: "w", Lease: lease})
	require.ErrorIs(t, err, domain.ErrNotFound)
}

func testClaimByIDTerminal(t *testing.T, h Harness) {
	f := newFixture(t, h)
	canceled := f.create()
	_, err := h.Store.Cancel(ctx(t), canceled.ID)
	require.NoError(t, err)

	completed := f.claim(f.create().ID)
	_, err = h.worker().Finish(ctx(t), leaseOf(completed), domain.JobCompleted, "")
	require.NoError(t, err)

	failed := f.claim(f.create().ID)
	_, err = h.worker().Finish(ctx(t), leaseOf(failed), domain.JobFailed, "boom")
	require.NoError(t, err)

	for _, id := range []string{canceled.ID, completed.ID, failed.ID} {
		_, err := h.worker().Claim(ctx(t), ports.ClaimRequest{JobID: id, Worker: "w", Lease: lease})
		require.ErrorIs(t, err, domain.ErrConflict)
	}
}

func testHeartbeat(t *testing.T, h Harness) {
	f := newFixture(t, h)
	job := f.claim(f.create().ID)
	claimedAt := h.Clock.Now()

	h.Clock.Advance(20 * time.Second)
	require.NoError(t, h.worker().Heartbeat(ctx(t), leaseOf(job), lease))
	requireTime(t, claimedAt.Add(50*time.Second), f.get(job.ID).LeaseExpiresAt, "extended lease")

	h.Clock.Advance(20 * time.Second) // past the first lease, within the extended one
	_, err := h.worker().Claim(ctx(t), ports.ClaimRequest{JobID: job.ID, Worker: "w2", Lease: lease})
	require.ErrorIs(t, err, domain.ErrLeaseHeld)
	rescued, err := h.Store.RescueExpired(ctx(t), 3)
	require.NoError(t, err)
	require.Empty(t, rescued.Requeued)
	require.Empty(t, rescued.Failed)
}

// requireFenced asserts that every fenced write with l is refused.
func requireFenced(t *testing.T, h Harness, l ports.Lease) {
	t.Helper()
	err := h.worker().Heartbeat(ctx(t), l, lease)
	require.ErrorIs(t, err, domain.ErrLeaseLost, "Heartbeat")
	err = h.worker().SaveSection(ctx(t), l, section(domain.JurisdictionKey, domain.SectionCompleted))
	require.ErrorIs(t, err, domain.ErrLeaseLost, "SaveSection")
	_, err = h.worker().Finish(ctx(t), l, domain.JobCompleted, "")
	require.ErrorIs(t, err, domain.ErrLeaseLost, "Finish")
	err = h.worker().Release(ctx(t), l, "shutdown")
	require.ErrorIs(t, err, domain.ErrLeaseLost, "Release")
}

func testFencingAfterTakeover(t *testing.T, h Harness) {
	f := newFixture(t, h)
	old := f.claim(f.create().ID)
	h.Clock.Advance(lease + time.Second)
	current := f.claim(old.ID)
	require.Equal(t, old.Attempt+1, current.Attempt)

	requireFenced(t, h, leaseOf(old))
	sections, err := h.worker().Sections(ctx(t), old.ID)
	require.NoError(t, err)
	require.Len(t, sections, 1)
	require.Equal(t, domain.SectionRunning, sections[0].Status, "a zombie's section must not be saved: the jurisdiction stays as the current claim started it")

	f.save(leaseOf(current), domain.JurisdictionKey, domain.SectionCompleted)
	require.NoError(t, h.worker().Heartbeat(ctx(t), leaseOf(current), lease))
	done, err := h.worker().Finish(ctx(t), leaseOf(current), domain.JobCompleted, "")
	require.NoError(t, err)
	require.Equal(t, domain.JobCompleted, done.Status)
}

func testFencingAfterCancel(t *testing.T, h Harness) {
	f := newFixture(t, h)
	job := f.claim(f.create().ID)
	_, err := h.Store.Cancel(ctx(t), job.ID)
	require.NoError(t, err)
	requireFenced(t, h, leaseOf(job))
	require.Equal(t, domain.JobCanceled, f.get(job.ID).Status)
}

func testFencedWritesUnknownJob(t *testing.T, h Harness) {
	l := ports.Lease{JobID: newJob().ID, Attempt: 1}
	require.ErrorIs(t, h.worker().Heartbeat(ctx(t), l, lease), domain.ErrNotFound)
	require.ErrorIs(t, h.worker().SaveSection(ctx(t), l, section(domain.JurisdictionKey, domain.SectionCompleted)), domain.ErrNotFound)
	_, err := h.worker().Finish(ctx(t), l, domain.JobCompleted, "")
	require.ErrorIs(t, err, domain.ErrNotFound)
	require.ErrorIs(t, h.worker().Release(ctx(t), l, "x"), domain.ErrNotFound)
}

// A claim names the executor of a job that has none yet, and keeps the one
// a hand-off recorded.
func testClaimRecordsExecutor(t *testing.T, h Harness) {
	f := newFixture(t, h)
	pulled, handed := f.create(), f.create()
	require.NoError(t, h.Store.MarkDispatched(ctx(t), handed.ID, 1, "modal", "fc-1"))
	for _, id := range []string{pulled.ID, handed.ID} {
		_, err := h.worker().Claim(ctx(t), ports.ClaimRequest{JobID: id, Worker: "w", Lease: lease, Executor: "local"})
		require.NoError(t, err)
	}
	require.Equal(t, "local", f.get(pulled.ID).Executor)
	require.Equal(t, "modal", f.get(handed.ID).Executor)
	require.Equal(t, "fc-1", f.get(handed.ID).ExecutorRef)
}

// Workers racing for one job by id: one attempt, one winner; the others
// meet its lease.
func testClaimByIDExclusive(t *testing.T, h Harness) {
	const workers = 10
	job := newFixture(t, h).create()
	var (
		wg   sync.WaitGroup
		mu   sync.Mutex
		won  []domain.Job
		held int
	)
	for range workers {
		wg.Go(func() {
			got, err := h.worker().Claim(ctx(t), ports.ClaimRequest{JobID: job.ID, Worker: "w", Lease: lease})
			mu.Lock()
			defer mu.Unlock()
			switch {
			case errors.Is(err, domain.ErrLeaseHeld):
				held++
			case assertNoError(t, err):
				won = append(won, got)
			}
		})
	}
	wg.Wait()
	require.Len(t, won, 1, "exactly one claim wins")
	require.Equal(t, workers-1, held, "the others meet its lease")
	require.Equal(t, 1, won[0].Attempt)
	require.Equal(t, 1, newFixture(t, h).get(job.ID).Attempt)
}
