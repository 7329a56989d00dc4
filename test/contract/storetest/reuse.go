package storetest

import (
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/codecheck/codecheck/domain"
	"github.com/codecheck/codecheck/ports"
)

// reuseTests are the contract of ReusableSection and of the job's reuse
// flag: the section comes from another job of the same jurisdiction (the
// identity its saved jurisdiction section gives) and provider, the newest
// that domain.CheckReuse allows.
var reuseTests = map[string]func(*testing.T, Harness){
	"ReuseFlagRoundTrip":             testReuseFlagRoundTrip,
	"ReusableFromSameJurisdiction":   testReusableFromSameJurisdiction,
	"ReusableNeverFromOtherPlace":    testReusableNeverFromOtherPlace,
	"ReusableNeedsKnownPlace":        testReusableNeedsKnownPlace,
	"ReusableNewestThatPasses":       testReusableNewestThatPasses,
	"ReusableSameProviderAndModel":   testReusableSameProviderAndModel,
	"ReusableCopyCountsFromOrigin":   testReusableCopyCountsFromOrigin,
	"ReusableFollowsNewJurisdiction": testReusableFollowsNewJurisdiction,
	"ReusableSameProject":            testReusableSameProject,
}

const (
	reuseProvider = "perplexity"
	reuseModel    = "perplexity/sonar"
)

var (
	sanJose      = &domain.Jurisdiction{City: "San Jose", County: "Santa Clara", State: "CA", OfficialDomains: []string{"sanjoseca.gov"}}
	sanJoseAgain = &domain.Jurisdiction{City: "City of San Jose", County: "Santa Clara County", State: "California",
		OfficialDomains: []string{"https://www.sanjoseca.gov/"}}
	santaClara = &domain.Jurisdiction{City: "Santa Clara", County: "Santa Clara", State: "CA", OfficialDomains: []string{"santaclaraca.gov"}}
)

// placed creates and claims a job of provider whose jurisdiction section
// found j (nil: saved without one), and returns its lease.
func (f fixture) placed(provider string, j *domain.Jurisdiction) ports.Lease {
	f.t.Helper()
	return f.placedFor(provider, j, nil)
}

// placedFor is placed for a job researched for project.
func (f fixture) placedFor(provider string, j *domain.Jurisdiction, project *domain.Project) ports.Lease {
	f.t.Helper()
	job := newJob()
	job.Provider, job.Reuse, job.Project = provider, true, project
	_, _, err := f.h.Store.Create(ctx(f.t), job)
	require.NoError(f.t, err)
	l := leaseOf(f.claim(job.ID))
	juris := section(domain.JurisdictionKey, domain.SectionCompleted)
	juris.Jurisdiction = j
	require.NoError(f.t, f.h.worker().SaveSection(ctx(f.t), l, juris))
	return l
}

// researched saves under l a reusable section key made with model,
// finished now by the store's clock, changed by edit when given.
func (f fixture) researched(l ports.Lease, key, provider, model string, edit func(*domain.SectionResult)) domain.SectionResult {
	f.t.Helper()
	s := section(key, domain.SectionCompleted)
	at := usec(f.h.Clock.Now())
	s.Provider, s.Model, s.Grounded = provider, model, true
	s.Sources = []domain.Source{{ID: 1, URL: "https://www.sanjoseca.gov/codes", Title: "Adopted codes", Official: true}}
	s.Findings = []domain.Finding{{Label: "Edition", Value: "2025 California codes", SourceIDs: []int{1}, Supported: true}}
	s.StartedAt, s.FinishedAt = &at, &at
	if edit != nil {
		edit(&s)
	}
	require.NoError(f.t, f.h.worker().SaveSection(ctx(f.t), l, s))
	return s
}

// reusable asks the worker's store for key on behalf of l's job, with
// research allowed back to notBefore.
func (f fixture) reusable(l ports.Lease, key, model string, notBefore time.Time) (ports.Reusable, error) {
	return f.h.worker().ReusableSection(ctx(f.t), ports.ReuseQuery{JobID: l.JobID, Key: key, Model: model, NotBefore: notBefore})
}

// requireReused asserts that asking for key on l's behalf finds want, saved
// by job from.
func (f fixture) requireReused(l ports.Lease, key string, from ports.Lease, want domain.SectionResult) {
	f.t.Helper()
	got, err := f.reusable(l, key, reuseModel, f.h.Clock.Now().Add(-time.Hour))
	require.NoError(f.t, err)
	require.Equal(f.t, from.JobID, got.JobID)
	require.Equal(f.t, want.Key, got.Section.Key)
	require.Equal(f.t, want.Summary, got.Section.Summary)
	require.Equal(f.t, want.Findings, got.Section.Findings)
	requireTime(f.t, *want.FinishedAt, got.Section.FinishedAt, "finished_at")
}

// requireNoReuse asserts that nothing is found for key on l's behalf.
func (f fixture) requireNoReuse(l ports.Lease, key, model string, notBefore time.Time, msg string) {
	f.t.Helper()
	_, err := f.reusable(l, key, model, notBefore)
	require.ErrorIs(f.t, err, domain.ErrNotFound, msg)
}

func testReuseFlagRoundTrip(t *testing.T, h Harness) {
	f := newFixture(t, h)
	for _, reuse := range []bool{true, false} {
		job := newJob()
		job.Reuse = reuse
		saved, _, err := h.Store.Create(ctx(t), job)
		require.NoError(t, err)
		require.Equal(t, reuse, saved.Reuse, "Create returns the job's reuse flag")
		require.Equal(t, reuse, f.get(job.ID).Reuse, "Get")
		got, err := h.worker().Get(ctx(t), job.ID)
		require.NoError(t, err)
		require.Equal(t, reuse, got.Reuse, "the worker's Get")
		require.Equal(t, reuse, f.claim(job.ID).Reuse, "Claim")
	}
}

func testReusableFromSameJurisdiction(t *testing.T, h Harness) {
	f := newFixture(t, h)
	a := f.placed(reuseProvider, sanJose)
	want := f.researched(a, "adopted_codes", reuseProvider, reuseModel, nil)
	h.Clock.Advance(time.Minute)
	// Spelled differently, the same jurisdiction.
	b := f.placed(reuseProvider, sanJoseAgain)
	f.requireReused(b, "adopted_codes", a, want)
	f.requireNoReuse(b, "energy_code", reuseModel, h.Clock.Now().Add(-time.Hour), "no job researched energy_code")
	f.requireNoReuse(a, "adopted_codes", reuseModel, h.Clock.Now().Add(-time.Hour), "never a job's own section")
}

func testReusableNeverFromOtherPlace(t *testing.T, h Harness) {
	f := newFixture(t, h)
	a := f.placed(reuseProvider, sanJose)
	f.researched(a, "adopted_codes", reuseProvider, reuseModel, nil)
	b := f.placed(reuseProvider, santaClara)
	f.requireNoReuse(b, "adopted_codes", reuseModel, h.Clock.Now().Add(-time.Hour), "another city of the same county")
}

func testReusableNeedsKnownPlace(t *testing.T, h Harness) {
	f := newFixture(t, h)
	a := f.placed(reuseProvider, sanJose)
	f.researched(a, "adopted_codes", reuseProvider, reuseModel, nil)
	since := h.Clock.Now().Add(-time.Hour)
	unknown := f.placed(reuseProvider, nil)
	f.requireNoReuse(unknown, "adopted_codes", reuseModel, since, "a job whose jurisdiction section found none")
	vague := f.placed(reuseProvider, &domain.Jurisdiction{State: "CA"})
	f.requireNoReuse(vague, "adopted_codes", reuseModel, since, "a jurisdiction too vague to have an identity")

	job := newJob()
	job.Provider = reuseProvider
	_, _, err := h.Store.Create(ctx(t), job)
	require.NoError(t, err)
	f.requireNoReuse(ports.Lease{JobID: job.ID}, "adopted_codes", reuseModel, since, "a job not researched yet")
	f.requireNoReuse(ports.Lease{JobID: newJob().ID}, "adopted_codes", reuseModel, since, "an unknown job")
}

func testReusableNewestThatPasses(t *testing.T, h Harness) {
	f := newFixture(t, h)
	old := f.placed(reuseProvider, sanJose)
	f.researched(old, "energy_code", reuseProvider, reuseModel, nil)
	h.Clock.Advance(time.Minute)
	newer := f.placed(reuseProvider, sanJose)
	want := f.researched(newer, "energy_code", reuseProvider, reuseModel, func(s *domain.SectionResult) { s.Summary = "newer" })
	h.Clock.Advance(time.Minute)
	asker := f.placed(reuseProvider, sanJose)
	f.requireReused(asker, "energy_code", newer, want)

	// Newer still, but not fit to reuse: each is passed over for the
	// newest that is.
	unfit := map[string]func(*domain.SectionResult){
		"unsupported finding": func(s *domain.SectionResult) { s.Findings[0].Supported = false },
		"ungrounded":          func(s *domain.SectionResult) { s.Grounded, s.Sources = false, nil },
		"nothing found":       func(s *domain.SectionResult) { s.Outcome = domain.OutcomeNotFound },
		"simulated":           func(s *domain.SectionResult) { s.Summary = "[SIMULATED] not research" },
	}
	for _, edit := range unfit {
		h.Clock.Advance(time.Minute)
		l := f.placed(reuseProvider, sanJose)
		f.researched(l, "energy_code", reuseProvider, reuseModel, edit)
		f.requireReused(asker, "energy_code", newer, want)
	}
	h.Clock.Advance(time.Minute)
	failed := f.placed(reuseProvider, sanJose)
	f.save(failed, "energy_code", domain.SectionFailed)
	f.requireReused(asker, "energy_code", newer, want)

	// Too old for the asker's TTL.
	f.requireNoReuse(asker, "energy_code", reuseModel, h.Clock.Now().Add(time.Second), "research older than not_before")
	// A section that depends on the parcel is never reused.
	f.researched(newer, "zoning_use", reuseProvider, reuseModel, nil)
	f.requireNoReuse(asker, "zoning_use", reuseModel, h.Clock.Now().Add(-time.Hour), "zoning_use depends on the parcel")
}

func testReusableSameProviderAndModel(t *testing.T, h Harness) {
	f := newFixture(t, h)
	since := h.Clock.Now().Add(-time.Hour)
	a := f.placed(reuseProvider, sanJose)
	f.researched(a, "accessibility", reuseProvider, reuseModel, nil)
	openai := f.placed("openai", sanJose)
	f.requireNoReuse(openai, "accessibility", reuseModel, since, "another provider's research")
	b := f.placed(reuseProvider, sanJose)
	f.requireNoReuse(b, "accessibility", "sonar-pro", since, "another model's research")

	// Simulated research goes into simulated jobs only.
	sim := f.placed("fake", sanJose)
	want := f.researched(sim, "accessibility", "fake", domain.SimulatedModel, func(s *domain.SectionResult) {
		s.Summary, s.Outcome, s.Grounded = "[SIMULATED] Accessibility.", domain.OutcomeNotFound, false
	})
	h.Clock.Advance(time.Minute)
	sim2 := f.placed("fake", sanJose)
	got, err := f.reusable(sim2, "accessibility", domain.SimulatedModel, since)
	require.NoError(t, err)
	require.Equal(t, sim.JobID, got.JobID)
	require.Equal(t, want.Summary, got.Section.Summary)
	f.requireNoReuse(sim2, "accessibility", "gpt-5-mini", since, "simulated research into a real model")
}

func testReusableCopyCountsFromOrigin(t *testing.T, h Harness) {
	f := newFixture(t, h)
	a := f.placed(reuseProvider, sanJose)
	orig := f.researched(a, "permitting_process", reuseProvider, reuseModel, nil)
	researchedAt := *orig.FinishedAt
	h.Clock.Advance(10 * 24 * time.Hour)
	b := f.placed(reuseProvider, sanJose)
	found, err := f.reusable(b, "permitting_process", reuseModel, researchedAt)
	require.NoError(t, err)
	copied := domain.Reused(found.Section, found.JobID, usec(h.Clock.Now()))
	require.NoError(t, h.worker().SaveSection(ctx(t), b, copied))

	h.Clock.Advance(time.Minute)
	c := f.placed(reuseProvider, sanJose)
	got, err := f.reusable(c, "permitting_process", reuseModel, researchedAt)
	require.NoError(t, err)
	require.Equal(t, b.JobID, got.JobID, "the newest saved copy")
	require.Equal(t, a.JobID, got.Section.ReusedFrom, "still names the job that did the research")
	requireTime(t, researchedAt, got.Section.LastVerified, "last_verified")
	f.requireNoReuse(c, "permitting_process", reuseModel, researchedAt.Add(time.Hour),
		"a copy saved recently of research older than not_before")
}

func testReusableFollowsNewJurisdiction(t *testing.T, h Harness) {
	f := newFixture(t, h)
	a := f.placed(reuseProvider, sanJose)
	f.researched(a, "adopted_codes", reuseProvider, reuseModel, nil)
	// The jurisdiction section saved again (a later answer) moves the job.
	juris := section(domain.JurisdictionKey, domain.SectionCompleted)
	juris.Jurisdiction = santaClara
	require.NoError(t, h.worker().SaveSection(ctx(t), a, juris))
	b := f.placed(reuseProvider, sanJose)
	f.requireNoReuse(b, "adopted_codes", reuseModel, h.Clock.Now().Add(-time.Hour), "a job now of another city")
	c := f.placed(reuseProvider, santaClara)
	_, err := f.reusable(c, "adopted_codes", reuseModel, h.Clock.Now().Add(-time.Hour))
	require.NoError(t, err)
}

func testReusableSameProject(t *testing.T, h Harness) {
	f := newFixture(t, h)
	adu := &domain.Project{Use: "accessory dwelling unit", Scope: domain.ScopeADU}
	a := f.placedFor(reuseProvider, sanJose, adu)
	want := f.researched(a, "permitting_process", reuseProvider, reuseModel, nil)
	h.Clock.Advance(time.Minute)
	since := h.Clock.Now().Add(-time.Hour)
	f.requireNoReuse(f.placed(reuseProvider, sanJose), "permitting_process", reuseModel, since,
		"research for a project, into a job without one")
	office := &domain.Project{Use: "office", Scope: domain.ScopeTenantImprovement}
	f.requireNoReuse(f.placedFor(reuseProvider, sanJose, office), "permitting_process", reuseModel, since,
		"research for another project")
	same := &domain.Project{Use: "accessory dwelling unit", Scope: domain.ScopeADU}
	f.requireReused(f.placedFor(reuseProvider, sanJose, same), "permitting_process", a, want)
}
