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
	"RetryOnlyEnded":       testRetryOnlyEnded,
	"CancelClosesSections": testCancelClosesSections,
	"RetryCanceled":        testRetryCanceled,
	"FailClosesRunning":    testFailClosesRunning,
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
	retried, err := h.Store.Retry(ctx(t), job.ID, domain.RetryOptions{})
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

func testRetryOnlyEnded(t *testing.T, h Harness) {
	f := newFixture(t, h)
	pending := f.create()
	processing := f.claim(f.create().ID)
	completed := f.claim(f.create().ID)
	_, err := h.Store.Finish(ctx(t), leaseOf(completed), domain.JobCompleted, "")
	require.NoError(t, err)
	for _, id := range []string{pending.ID, processing.ID, completed.ID} {
		_, err := h.Store.Retry(ctx(t), id, domain.RetryOptions{})
		require.ErrorIs(t, err, domain.ErrConflict)
	}
	_, err = h.Store.Retry(ctx(t), newJob().ID, domain.RetryOptions{})
	require.ErrorIs(t, err, domain.ErrNotFound)
}

// sectionStatuses reads the job's saved sections' statuses by key.
func sectionStatuses(t *testing.T, h Harness, jobID string) map[string]domain.SectionStatus {
	t.Helper()
	sections, err := h.Store.Sections(ctx(t), jobID)
	require.NoError(t, err)
	out := map[string]domain.SectionStatus{}
	for _, s := range sections {
		out[s.Key] = s.Status
	}
	return out
}

// A cancel leaves no section of the job looking alive: unfinished ones,
// saved or never started, become canceled; finished ones stay. The worker
// still running a section cannot overwrite that afterwards.
func testCancelClosesSections(t *testing.T, h Harness) {
	f := newFixture(t, h)
	job := f.claim(f.create("zoning_use", "energy_code", "accessibility").ID)
	f.save(leaseOf(job), domain.JurisdictionKey, domain.SectionCompleted)
	f.save(leaseOf(job), "zoning_use", domain.SectionRunning)
	f.save(leaseOf(job), "energy_code", domain.SectionFailed)
	h.Clock.Advance(time.Second)
	_, err := h.Store.Cancel(ctx(t), job.ID)
	require.NoError(t, err)

	want := map[string]domain.SectionStatus{
		domain.JurisdictionKey: domain.SectionCompleted,
		"zoning_use":           domain.SectionCanceled,
		"energy_code":          domain.SectionFailed,
		"accessibility":        domain.SectionCanceled,
	}
	require.Equal(t, want, sectionStatuses(t, h, job.ID))
	sections, err := h.Store.Sections(ctx(t), job.ID)
	require.NoError(t, err)
	require.Equal(t, []string{domain.JurisdictionKey, "zoning_use", "accessibility", "energy_code"},
		[]string{sections[0].Key, sections[1].Key, sections[2].Key, sections[3].Key}, "report order")
	require.NotEmpty(t, sections[1].Error, "a canceled section says why")

	// The worker finishes its section after the cancel: refused.
	err = h.worker().SaveSection(ctx(t), leaseOf(job), section("zoning_use", domain.SectionCompleted))
	require.ErrorIs(t, err, domain.ErrLeaseLost)
	require.Equal(t, want, sectionStatuses(t, h, job.ID))
	require.Equal(t, 1, f.get(job.ID).Done)

	pending := f.create("zoning_use")
	_, err = h.Store.Cancel(ctx(t), pending.ID)
	require.NoError(t, err)
	require.Equal(t, map[string]domain.SectionStatus{domain.JurisdictionKey: domain.SectionCanceled,
		"zoning_use": domain.SectionCanceled}, sectionStatuses(t, h, pending.ID), "a job canceled before it ran")
}

// A canceled job can be retried: completed sections are kept, the others
// run again under a new attempt, and the canceled attempt stays fenced.
func testRetryCanceled(t *testing.T, h Harness) {
	f := newFixture(t, h)
	job := f.claim(f.create("zoning_use").ID)
	kept := fullSection(h.Clock)
	require.NoError(t, h.worker().SaveSection(ctx(t), leaseOf(job), kept))
	f.save(leaseOf(job), domain.JurisdictionKey, domain.SectionRunning)
	_, err := h.Store.Cancel(ctx(t), job.ID)
	require.NoError(t, err)

	retried, err := h.Store.Retry(ctx(t), job.ID, domain.RetryOptions{})
	require.NoError(t, err)
	require.Equal(t, domain.JobPending, retried.Status)
	require.Nil(t, retried.FinishedAt)
	require.Equal(t, 1, retried.Done)
	require.Equal(t, map[string]domain.SectionStatus{"zoning_use": domain.SectionCompleted,
		domain.JurisdictionKey: domain.SectionPending}, sectionStatuses(t, h, job.ID))
	requireFenced(t, h, leaseOf(job))

	next := f.claim(job.ID)
	require.Equal(t, 2, next.Attempt)
	_, err = h.Store.Retry(ctx(t), job.ID, domain.RetryOptions{})
	require.ErrorIs(t, err, domain.ErrConflict, "a processing job is not retried")
}

// A job that fails leaves no section running: its worker is gone.
func testFailClosesRunning(t *testing.T, h Harness) {
	f := newFixture(t, h)
	job := f.claim(f.create("zoning_use").ID)
	f.save(leaseOf(job), domain.JurisdictionKey, domain.SectionRunning)
	h.Clock.Advance(lease + time.Second)
	r, err := h.Store.RescueExpired(ctx(t), 1)
	require.NoError(t, err)
	require.Len(t, r.Failed, 1)
	require.Equal(t, map[string]domain.SectionStatus{domain.JurisdictionKey: domain.SectionFailed},
		sectionStatuses(t, h, job.ID))
}
