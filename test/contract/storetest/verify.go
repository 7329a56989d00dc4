package storetest

import (
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/codecheck/codecheck/domain"
)

var verifyTests = map[string]func(*testing.T, Harness){
	"VerifyKept":             testVerifyKept,
	"VerifiedCountAndEvents": testVerifiedCountAndEvents,
}

// testVerifyKept: a job's verify flag is stored and reaches its worker
// through the claim; off unless asked for.
func testVerifyKept(t *testing.T, h Harness) {
	job := newJob("zoning_use")
	job.Verify = true
	created, _, err := h.Store.Create(ctx(t), job)
	require.NoError(t, err)
	require.True(t, created.Verify)
	f := newFixture(t, h)
	require.True(t, f.claim(job.ID).Verify, "the worker sees verify")
	require.False(t, f.create().Verify, "off unless asked for")
}

// testVerifiedCountAndEvents: a completed section saved again with
// verified_at counts as verified (a failed one never does), its section
// event says it was a verification, and the events of a job with verify on
// carry its verified progress.
func testVerifiedCountAndEvents(t *testing.T, h Harness) {
	job := newJob("zoning_use")
	job.Verify = true
	_, _, err := h.Store.Create(ctx(t), job)
	require.NoError(t, err)
	f := newFixture(t, h)
	claimed := f.claim(job.ID)
	f.save(leaseOf(claimed), domain.JurisdictionKey, domain.SectionCompleted)
	f.save(leaseOf(claimed), "zoning_use", domain.SectionFailed)
	got := f.get(job.ID)
	require.Equal(t, 0, got.Verified)
	before, err := h.Store.Events(ctx(t), job.ID, 0, 0)
	require.NoError(t, err)

	verified := section(domain.JurisdictionKey, domain.SectionCompleted)
	verified.Findings = []domain.Finding{{Label: "City", Value: "Washington", SourceIDs: []int{1}, Supported: true}}
	domain.ApplyVerdicts(&verified, []domain.FindingVerdict{{Verdict: domain.VerdictVerified}}, Start)
	require.NoError(t, h.worker().SaveSection(ctx(t), leaseOf(claimed), verified))
	got = f.get(job.ID)
	require.Equal(t, 1, got.Verified)
	require.Equal(t, "1/2", got.VerifiedProgress())
	require.Equal(t, "1/2", got.Progress(), "verifying changes no progress")

	after, err := h.Store.Events(ctx(t), job.ID, before[len(before)-1].Seq, 0)
	require.NoError(t, err)
	require.Len(t, after, 1, "one section event, no job event: progress did not move")
	e := after[0]
	require.Equal(t, domain.EventSection, e.Type)
	require.Equal(t, domain.JurisdictionKey, e.Section)
	require.True(t, e.Verified)
	require.Equal(t, "1/2", e.VerifiedProgress)
	for _, e := range before {
		require.False(t, e.Verified, "event %d recorded no verification", e.Seq)
		require.NotEmpty(t, e.VerifiedProgress, "event %d of a verify job carries its verified progress", e.Seq)
	}
	sections, err := h.Store.Sections(ctx(t), job.ID)
	require.NoError(t, err)
	require.NotNil(t, sections[0].VerifiedAt)
	require.Equal(t, domain.VerdictVerified, sections[0].Findings[0].Verdict)
}
