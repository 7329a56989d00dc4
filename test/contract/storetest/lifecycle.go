package storetest

import (
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/codecheck/codecheck/domain"
	"github.com/codecheck/codecheck/ports"
)

var lifecycleTests = map[string]func(*testing.T, Harness){
	"FinishCompleted":      testFinishCompleted,
	"FinishFailed":         testFinishFailed,
	"FinishRejectsStatus":  testFinishRejectsStatus,
	"ReleaseKeepsSections": testRelease,
	"Cancel":               testCancel,
	"CancelTerminal":       testCancelTerminal,
	"Retry":                testRetry,
	"RetryOnlyFailed":      testRetryOnlyFailed,
}

func testFinishCompleted(t *testing.T, h Harness) {
	f := newFixture(t, h)
	job := f.claim(f.create().ID)
	h.Clock.Advance(time.Minute)
	done, err := h.worker().Finish(ctx(t), leaseOf(job), domain.JobCompleted, "")
	require.NoError(t, err)
	require.Equal(t, domain.JobCompleted, done.Status)
	require.Empty(t, done.Error)
	require.Nil(t, done.LeaseExpiresAt)
	requireTime(t, h.Clock.Now(), done.FinishedAt, "finished_at")
	require.True(t, usec(h.Clock.Now()).Equal(done.UpdatedAt))
	requireSameJob(t, h, f.get(job.ID), done)

	_, err = h.worker().Finish(ctx(t), leaseOf(job), domain.JobFailed, "again")
	require.ErrorIs(t, err, domain.ErrLeaseLost, "a finished job has no live lease")
}

func testFinishFailed(t *testing.T, h Harness) {
	f := newFixture(t, h)
	job := f.claim(f.create().ID)
	done, err := h.worker().Finish(ctx(t), leaseOf(job), domain.JobFailed, "sections failed: zoning_use")
	require.NoError(t, err)
	require.Equal(t, domain.JobFailed, done.Status)
	require.Equal(t, "sections failed: zoning_use", done.Error)
	require.NotNil(t, done.FinishedAt)
}

func testFinishRejectsStatus(t *testing.T, h Harness) {
	f := newFixture(t, h)
	job := f.claim(f.create().ID)
	for _, s := range []domain.JobStatus{domain.JobPending, domain.JobProcessing, domain.JobCanceled, "bogus"} {
		_, err := h.worker().Finish(ctx(t), leaseOf(job), s, "")
		require.ErrorIs(t, err, domain.ErrInvalid, s)
	}
	require.Equal(t, domain.JobProcessing, f.get(job.ID).Status)
}

func testRelease(t *testing.T, h Harness) {
	f := newFixture(t, h)
	job := f.claim(f.create().ID)
	f.save(leaseOf(job), domain.JurisdictionKey, domain.SectionCompleted)
	require.NoError(t, h.worker().Release(ctx(t), leaseOf(job), "worker shutting down"))

	got := f.get(job.ID)
	require.Equal(t, domain.JobPending, got.Status)
	require.Equal(t, 1, got.Attempt, "release keeps the attempt count")
	require.Nil(t, got.LeaseExpiresAt)
	require.Equal(t, 1, got.Done)
	sections, err := h.worker().Sections(ctx(t), job.ID)
	require.NoError(t, err)
	require.Len(t, sections, 1)

	again, err := h.Store.Claim(ctx(t), ports.ClaimRequest{Worker: "w2", Lease: lease})
	require.NoError(t, err)
	require.Equal(t, job.ID, again.ID)
	require.Equal(t, 2, again.Attempt)
	require.Equal(t, 1, again.Done)
	requireFenced(t, h, leaseOf(job))
}

func testCancel(t *testing.T, h Harness) {
	f := newFixture(t, h)
	pending := f.create()
	processing := f.claim(f.create().ID)
	h.Clock.Advance(time.Second)
	for _, id := range []string{pending.ID, processing.ID} {
		got, err := h.Store.Cancel(ctx(t), id)
		require.NoError(t, err)
		require.Equal(t, domain.JobCanceled, got.Status)
		require.Nil(t, got.LeaseExpiresAt)
		requireTime(t, h.Clock.Now(), got.FinishedAt, "finished_at")
		require.Equal(t, got, f.get(id))
	}
	_, err := h.Store.Cancel(ctx(t), newJob().ID)
	require.ErrorIs(t, err, domain.ErrNotFound)
}

func testCancelTerminal(t *testing.T, h Harness) {
	f := newFixture(t, h)
	job := f.claim(f.create().ID)
	_, err := h.Store.Finish(ctx(t), leaseOf(job), domain.JobCompleted, "")
	require.NoError(t, err)
	_, err = h.Store.Cancel(ctx(t), job.ID)
	require.ErrorIs(t, err, domain.ErrConflict)
	require.Equal(t, domain.JobCompleted, f.get(job.ID).Status)

	canceled := f.create()
	_, err = h.Store.Cancel(ctx(t), canceled.ID)
	require.NoError(t, err)
	_, err = h.Store.Cancel(ctx(t), canceled.ID)
	require.ErrorIs(t, err, domain.ErrConflict)
}

func testRetry(t *testing.T, h Harness) {
	f := newFixture(t, h)
	job := f.claim(f.create("zoning_use", "energy_code").ID)
	kept := fullSection(h.Clock)
	require.NoError(t, h.worker().SaveSection(ctx(t), leaseOf(job), kept))
	f.save(leaseOf(job), "energy_code", domain.SectionFailed)
	f.save(leaseOf(job), domain.JurisdictionKey, domain.SectionRunning)
	_, err := h.worker().Finish(ctx(t), leaseOf(job), domain.JobFailed, "sections failed: energy_code")
	require.NoError(t, err)

	h.Clock.Advance(time.Minute)
	retried, err := h.Store.Retry(ctx(t), job.ID)
	require.NoError(t, err)
	require.Equal(t, domain.JobPending, retried.Status)
	require.Empty(t, retried.Error)
	require.Nil(t, retried.FinishedAt)
	require.Equal(t, 1, retried.Attempt, "the attempt number is not reset")
	require.Equal(t, 1, retried.Done)
	require.Equal(t, retried, f.get(job.ID))

	sections, err := h.worker().Sections(ctx(t), job.ID)
	require.NoError(t, err)
	status := map[string]domain.SectionStatus{}
	for _, s := range sections {
		status[s.Key] = s.Status
		if s.Key == kept.Key {
			require.Equal(t, kept.Findings, s.Findings, "completed sections are kept whole")
		} else {
			require.Empty(t, s.Error, "%s: a reset section carries no error", s.Key)
		}
	}
	require.Equal(t, domain.SectionCompleted, status["zoning_use"])
	require.Equal(t, domain.SectionPending, status["energy_code"])
	require.Contains(t, []domain.SectionStatus{domain.SectionPending, ""}, status[domain.JurisdictionKey])

	next := f.claim(job.ID)
	require.Equal(t, 2, next.Attempt, "attempt numbers keep increasing across a retry")
	requireFenced(t, h, leaseOf(job))
}

func testRetryOnlyFailed(t *testing.T, h Harness) {
	f := newFixture(t, h)
	pending := f.create()
	processing := f.claim(f.create().ID)
	completed := f.claim(f.create().ID)
	_, err := h.Store.Finish(ctx(t), leaseOf(completed), domain.JobCompleted, "")
	require.NoError(t, err)
	canceled := f.create()
	_, err = h.Store.Cancel(ctx(t), canceled.ID)
	require.NoError(t, err)

	for _, id := range []string{pending.ID, processing.ID, completed.ID, canceled.ID} {
		_, err := h.Store.Retry(ctx(t), id)
		require.ErrorIs(t, err, domain.ErrConflict)
	}
	_, err = h.Store.Retry(ctx(t), newJob().ID)
	require.ErrorIs(t, err, domain.ErrNotFound)
}
