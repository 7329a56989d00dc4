package storetest

import (
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/codecheck/codecheck/domain"
)

var costCapTests = map[string]func(*testing.T, Harness){
	"CostCapKept":               testCostCapKept,
	"SkippedSectionsFlagTheJob": testSkippedSectionsFlagTheJob,
}

// testCostCapKept: a job's cap is stored, reaches its worker through the
// claim, and a retry replaces it only when it gives one.
func testCostCapKept(t *testing.T, h Harness) {
	job := newJob("zoning_use")
	limit := 0.25
	job.MaxCostUSD = &limit
	created, _, err := h.Store.Create(ctx(t), job)
	require.NoError(t, err)
	require.NotNil(t, created.MaxCostUSD)
	require.InDelta(t, limit, *created.MaxCostUSD, 1e-12)

	f := newFixture(t, h)
	claimed := f.claim(job.ID)
	require.NotNil(t, claimed.MaxCostUSD, "the worker sees the cap")
	require.InDelta(t, limit, *claimed.MaxCostUSD, 1e-12)
	_, err = h.worker().Finish(ctx(t), leaseOf(claimed), domain.JobFailed, "sections failed")
	require.NoError(t, err)

	retried, err := h.Store.Retry(ctx(t), job.ID, domain.RetryOptions{})
	require.NoError(t, err)
	require.InDelta(t, limit, *retried.MaxCostUSD, 1e-12, "a retry without a cap keeps the job's")
	claimed = f.claim(job.ID)
	_, err = h.worker().Finish(ctx(t), leaseOf(claimed), domain.JobFailed, "sections failed")
	require.NoError(t, err)
	higher := 2.5
	retried, err = h.Store.Retry(ctx(t), job.ID, domain.RetryOptions{MaxCostUSD: &higher})
	require.NoError(t, err)
	require.InDelta(t, higher, *retried.MaxCostUSD, 1e-12)
	require.Nil(t, f.create().MaxCostUSD, "no cap unless given")
}

// testSkippedSectionsFlagTheJob: a job that completes with a section
// skipped at its cap is flagged cost_capped, which lets a retry run the
// skipped section; a completed job without one cannot be retried.
func testSkippedSectionsFlagTheJob(t *testing.T, h Harness) {
	f := newFixture(t, h)
	job := f.claim(f.create("zoning_use", "energy_code").ID)
	f.save(leaseOf(job), domain.JurisdictionKey, domain.SectionCompleted)
	f.save(leaseOf(job), "zoning_use", domain.SectionCompleted)
	skipped := section("energy_code", domain.SectionSkipped)
	skipped.Error = domain.CostCapReached
	require.NoError(t, h.worker().SaveSection(ctx(t), leaseOf(job), skipped))
	done, err := h.worker().Finish(ctx(t), leaseOf(job), domain.JobCompleted, "")
	require.NoError(t, err)
	require.True(t, done.CostCapped)
	require.True(t, f.get(job.ID).CostCapped)

	retried, err := h.Store.Retry(ctx(t), job.ID, domain.RetryOptions{})
	require.NoError(t, err)
	require.Equal(t, domain.JobPending, retried.Status)
	require.False(t, retried.CostCapped)
	status := sectionStatuses(t, h, job.ID)
	require.Equal(t, domain.SectionCompleted, status["zoning_use"])
	require.Equal(t, domain.SectionPending, status["energy_code"], "the skipped section runs again")

	full := f.claim(f.create("zoning_use").ID)
	f.save(leaseOf(full), domain.JurisdictionKey, domain.SectionCompleted)
	f.save(leaseOf(full), "zoning_use", domain.SectionCompleted)
	done, err = h.worker().Finish(ctx(t), leaseOf(full), domain.JobCompleted, "")
	require.NoError(t, err)
	require.False(t, done.CostCapped)
	_, err = h.Store.Retry(ctx(t), full.ID, domain.RetryOptions{})
	require.ErrorIs(t, err, domain.ErrConflict)
}
