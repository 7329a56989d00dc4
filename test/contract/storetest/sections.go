package storetest

import (
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/codecheck/codecheck/domain"
	"github.com/codecheck/codecheck/ports"
)

var sectionTests = map[string]func(*testing.T, Harness){
	"RoundTrip":          testSectionRoundTrip,
	"Upsert":             testSectionUpsert,
	"ReportOrder":        testSectionReportOrder,
	"UnknownKey":         testSectionUnknownKey,
	"DoneCountsComplete": testDoneCountsCompleted,
	"UnknownJob":         testSectionsUnknownJob,
	"ClaimStartsFirst":   testClaimStartsFirstSection,
	"ClaimKeepsSpend":    testClaimStartsFirstKeepsSpend,
	"SaveStartsOthers":   testSaveStartsOthers,
	"StartedRefused":     testStartedRefused,
	"CountersFollow":     testCountersFollowResaves,
}

// fullSection is a result with every field set.
func fullSection(clock *FakeClock) domain.SectionResult {
	cost := 0.0125
	started := usec(clock.Now())
	finished := started.Add(1234 * time.Millisecond)
	return domain.SectionResult{
		Key: "zoning_use", Title: "Zoning district and permitted use", Ordinal: 3,
		Status:  domain.SectionCompleted,
		Summary: "R-1 single-family; ADUs allowed by right under state law.",
		Findings: []domain.Finding{
			{Label: "District", Value: "R-1", CodeReference: "Municipal Code §17.20.010", SourceIDs: []int{1, 2}},
			{Label: "ADU", Value: "permitted by right", SourceIDs: []int{2}},
		},
		Sources: []domain.Source{
			{ID: 1, URL: "https://library.municode.com/x", Title: "Zoning", Snippet: "R-1 district…", Official: true},
			{ID: 2, URL: "https://hcd.ca.gov/adu", Title: "ADU handbook", Official: true},
		},
		Outcome:           domain.OutcomeFound,
		Confidence:        domain.ConfidenceMedium,
		ConfidenceReason:  "parcel viewer and code agree",
		NeedsVerification: true,
		VerifyWith:        "City Planning Division",
		Grounded:          true,
		Provider:          "perplexity",
		Model:             "perplexity/sonar",
		Usage:             domain.Usage{InputTokens: 1200, OutputTokens: 640, CostUSD: &cost},
		LatencyMS:         1234,
		Attempts:          2,
		StartedAt:         &started,
		FinishedAt:        &finished,
	}
}

func testSectionRoundTrip(t *testing.T, h Harness) {
	f := newFixture(t, h)
	job := f.claim(f.create().ID)
	want := fullSection(h.Clock)
	require.NoError(t, h.worker().SaveSection(ctx(t), leaseOf(job), want))

	got, err := h.worker().Sections(ctx(t), job.ID)
	require.NoError(t, err)
	require.Len(t, got, 2) // the jurisdiction the claim started, and want
	got = got[1:]
	requireTime(t, *want.StartedAt, got[0].StartedAt, "started_at")
	requireTime(t, *want.FinishedAt, got[0].FinishedAt, "finished_at")
	got[0].StartedAt, got[0].FinishedAt = want.StartedAt, want.FinishedAt
	require.Equal(t, want, got[0])
}

func testSectionUpsert(t *testing.T, h Harness) {
	f := newFixture(t, h)
	job := f.claim(f.create().ID)
	f.save(leaseOf(job), "zoning_use", domain.SectionRunning)
	f.save(leaseOf(job), "zoning_use", domain.SectionFailed)
	want := fullSection(h.Clock)
	require.NoError(t, h.worker().SaveSection(ctx(t), leaseOf(job), want))

	got, err := h.worker().Sections(ctx(t), job.ID)
	require.NoError(t, err)
	require.Len(t, got, 2) // the jurisdiction the claim started, and want
	got = got[1:]
	require.Equal(t, domain.SectionCompleted, got[0].Status)
	require.Empty(t, got[0].Error)
	require.Equal(t, want.Findings, got[0].Findings)
}

func testSectionReportOrder(t *testing.T, h Harness) {
	f := newFixture(t, h)
	job := f.claim(f.create().ID)
	keys := job.Sections
	for i := len(keys) - 1; i >= 0; i -= 3 {
		f.save(leaseOf(job), keys[i], domain.SectionCompleted)
	}
	got, err := h.worker().Sections(ctx(t), job.ID)
	require.NoError(t, err)
	var want []string
	for i := len(keys) - 1; i >= 0; i -= 3 {
		want = append([]string{keys[i]}, want...)
	}
	var gotKeys []string
	for _, s := range got {
		gotKeys = append(gotKeys, s.Key)
	}
	require.Equal(t, want, gotKeys)
}

func testSectionUnknownKey(t *testing.T, h Harness) {
	f := newFixture(t, h)
	job := f.claim(f.create("zoning_use").ID)
	err := h.worker().SaveSection(ctx(t), leaseOf(job), section("energy_code", domain.SectionCompleted))
	require.ErrorIs(t, err, domain.ErrInvalid, "the job did not ask for this section")
	err = h.worker().SaveSection(ctx(t), leaseOf(job), domain.SectionResult{Key: "zoning_use", Status: "exploded"})
	require.ErrorIs(t, err, domain.ErrInvalid, "unknown section status")
}

func testDoneCountsCompleted(t *testing.T, h Harness) {
	f := newFixture(t, h)
	job := f.claim(f.create().ID)
	keys := job.Sections
	f.save(leaseOf(job), keys[0], domain.SectionCompleted)
	na := section(keys[1], domain.SectionCompleted)
	na.Outcome = domain.OutcomeNotApplicable
	require.NoError(t, h.worker().SaveSection(ctx(t), leaseOf(job), na))
	f.save(leaseOf(job), keys[2], domain.SectionFailed)
	f.save(leaseOf(job), keys[3], domain.SectionRunning)
	f.save(leaseOf(job), keys[0], domain.SectionCompleted) // saved twice, counted once

	got := f.get(job.ID)
	require.Equal(t, 2, got.Done)
	require.Equal(t, "2/13", got.Progress())

	page, err := h.Store.List(ctx(t), ports.ListFilter{})
	require.NoError(t, err)
	require.Len(t, page.Jobs, 1)
	require.Equal(t, 2, page.Jobs[0].Done)

	claimed, err := h.worker().Finish(ctx(t), leaseOf(job), domain.JobFailed, "sections failed")
	require.NoError(t, err)
	require.Equal(t, 2, claimed.Done)
}

func testSectionsUnknownJob(t *testing.T, h Harness) {
	_, err := h.worker().Sections(ctx(t), newJob().ID)
	require.ErrorIs(t, err, domain.ErrNotFound)

	f := newFixture(t, h)
	got, err := h.worker().Sections(ctx(t), f.create().ID)
	require.NoError(t, err)
	require.Empty(t, got)
}

// The claim records the job's first section, the jurisdiction, running
// with its event; a later claim, with it completed, leaves it alone.
func testClaimStartsFirstSection(t *testing.T, h Harness) {
	f := newFixture(t, h)
	job := f.claim(f.create("zoning_use").ID)
	got, err := h.worker().Sections(ctx(t), job.ID)
	require.NoError(t, err)
	require.Len(t, got, 1)
	require.Equal(t, domain.JurisdictionKey, got[0].Key)
	require.Equal(t, domain.SectionRunning, got[0].Status)
	requireTime(t, usec(h.Clock.Now()), got[0].StartedAt, "started_at")
	require.Equal(t, ev{domain.EventSection, "running", "0/2", 1, domain.JurisdictionKey, ""}, summarize(events(t, h, job.ID))[2])

	f.save(leaseOf(job), domain.JurisdictionKey, domain.SectionCompleted)
	require.NoError(t, h.worker().Release(ctx(t), leaseOf(job), "shutdown"))
	again := f.claim(job.ID)
	got, err = h.worker().Sections(ctx(t), again.ID)
	require.NoError(t, err)
	require.Equal(t, domain.SectionCompleted, got[0].Status, "a completed first section is not started again")
}

// A claim that starts a first section an earlier attempt failed keeps what
// that section spent (domain.StartSection): its usage and attempts, so the
// cost cap and the retry count go on from there.
func testClaimStartsFirstKeepsSpend(t *testing.T, h Harness) {
	f := newFixture(t, h)
	job := f.claim(f.create("zoning_use").ID)
	cost := 0.0125
	prev := section(domain.JurisdictionKey, domain.SectionFailed)
	prev.Usage = domain.Usage{InputTokens: 900, OutputTokens: 120, CostUSD: &cost}
	prev.Attempts, prev.Provider, prev.Model = 3, job.Provider, "some-model"
	require.NoError(t, h.worker().SaveSection(ctx(t), leaseOf(job), prev))
	require.NoError(t, h.worker().Release(ctx(t), leaseOf(job), "shutdown"))

	h.Clock.Advance(time.Second)
	again := f.claim(job.ID)
	got, err := h.worker().Sections(ctx(t), again.ID)
	require.NoError(t, err)
	spec, _ := domain.LookupSection(domain.JurisdictionKey)
	want := domain.StartSection(spec, prev, job.Provider, "", usec(h.Clock.Now()))
	want.Ordinal = got[0].Ordinal
	require.Equal(t, want.Status, got[0].Status)
	require.Equal(t, want.Usage.InputTokens, got[0].Usage.InputTokens)
	require.Equal(t, want.Usage.OutputTokens, got[0].Usage.OutputTokens)
	require.NotNil(t, got[0].Usage.CostUSD)
	require.InDelta(t, cost, *got[0].Usage.CostUSD, 1e-12)
	require.Equal(t, 3, got[0].Attempts)
	require.Equal(t, job.Provider, got[0].Provider)
	require.Empty(t, got[0].Model, "the worker names the model when it saves the result")
	require.Empty(t, got[0].Error, "the earlier attempt's error is gone")
	requireTime(t, *want.StartedAt, got[0].StartedAt, "started_at")
	require.Equal(t, ev{domain.EventSection, "running", "0/2", 2, domain.JurisdictionKey, ""}, summarize(events(t, h, job.ID))[len(events(t, h, job.ID))-1])
}

// A save records the sections the worker starts with it in the same
// write: each running, with its event, numbered after the saved one's and
// before the job's progress event.
func testSaveStartsOthers(t *testing.T, h Harness) {
	f := newFixture(t, h)
	job := f.claim(f.create("zoning_use", "energy_code").ID)
	before := len(events(t, h, job.ID))
	err := h.worker().SaveSection(ctx(t), leaseOf(job), section(domain.JurisdictionKey, domain.SectionCompleted),
		section("zoning_use", domain.SectionRunning), section("energy_code", domain.SectionRunning))
	require.NoError(t, err)

	got, err := h.worker().Sections(ctx(t), job.ID)
	require.NoError(t, err)
	var statuses []domain.SectionStatus
	for _, s := range got {
		statuses = append(statuses, s.Status)
	}
	require.Equal(t, []domain.SectionStatus{domain.SectionCompleted, domain.SectionRunning, domain.SectionRunning}, statuses)
	evs := events(t, h, job.ID)
	require.Equal(t, []ev{
		{domain.EventSection, "completed", "1/3", 1, domain.JurisdictionKey, ""},
		{domain.EventSection, "running", "1/3", 1, "zoning_use", ""},
		{domain.EventSection, "running", "1/3", 1, "energy_code", ""},
		{domain.EventJob, "processing", "1/3", 1, "", ""},
	}, summarize(evs[before:]))
	for i, e := range evs {
		require.Equal(t, int64(i+1), e.Seq, "a job's events are numbered 1, 2, 3...")
	}
	require.Equal(t, 1, f.get(job.ID).Done)
}

// A save whose further results have an unknown status, repeat a section,
// or are not the job's is refused whole: nothing of it is saved.
func testStartedRefused(t *testing.T, h Harness) {
	f := newFixture(t, h)
	job := f.claim(f.create("zoning_use").ID)
	l := leaseOf(job)
	done := section(domain.JurisdictionKey, domain.SectionCompleted)
	for name, started := range map[string][]domain.SectionResult{
		"unknown status": {section("zoning_use", domain.SectionCompleted), {Key: "energy_code", Status: "exploded"}},
		"twice":          {section("zoning_use", domain.SectionRunning), section("zoning_use", domain.SectionRunning)},
		"not the job's":  {section("zoning_use", domain.SectionRunning), section("energy_code", domain.SectionRunning)},
	} {
		err := h.worker().SaveSection(ctx(t), l, done, started...)
		require.ErrorIs(t, err, domain.ErrInvalid, name)
	}
	got, err := h.worker().Sections(ctx(t), job.ID)
	require.NoError(t, err)
	require.Len(t, got, 1)
	require.Equal(t, domain.SectionRunning, got[0].Status, "the refused saves changed nothing")
	require.Equal(t, 0, f.get(job.ID).Done)
	require.Len(t, events(t, h, job.ID), 3, "and recorded no event")
}

// The job's counters follow every save: up when a section completes or is
// verified, down when a completed section is saved otherwise.
func testCountersFollowResaves(t *testing.T, h Harness) {
	f := newFixture(t, h)
	fresh := newJob("zoning_use", "energy_code")
	fresh.Verify = true
	created, _, err := h.Store.Create(ctx(t), fresh)
	require.NoError(t, err)
	job := f.claim(created.ID)
	l := leaseOf(job)
	f.save(l, domain.JurisdictionKey, domain.SectionCompleted)
	f.save(l, "zoning_use", domain.SectionCompleted)
	got := f.get(job.ID)
	require.Equal(t, [2]int{2, 0}, [2]int{got.Done, got.Verified})

	verified := section("zoning_use", domain.SectionCompleted)
	at := usec(h.Clock.Now())
	verified.VerifiedAt = &at
	require.NoError(t, h.worker().SaveSection(ctx(t), l, verified))
	got = f.get(job.ID)
	require.Equal(t, [2]int{2, 1}, [2]int{got.Done, got.Verified})
	require.Equal(t, "1/3", got.VerifiedProgress())

	f.save(l, "zoning_use", domain.SectionFailed)
	got = f.get(job.ID)
	require.Equal(t, [2]int{1, 0}, [2]int{got.Done, got.Verified})
	last := events(t, h, job.ID)
	require.Equal(t, ev{domain.EventJob, "processing", "1/3", 1, "", ""}, summarize(last)[len(last)-1],
		"progress going down is a job event too")
}
