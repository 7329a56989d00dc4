package storetest

import (
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/codecheck/codecheck/domain"
)

var eventTests = map[string]func(*testing.T, Harness){
	"Lifecycle":     testEventsLifecycle,
	"Rescue":        testEventsRescue,
	"AfterSeqLimit": testEventsAfterSeqAndLimit,
	"UnknownJob":    testEventsUnknownJob,
	"PerJob":        testEventsPerJob,
	"PerJobSeq":     testEventsPerJobSeq,
}

// ev is the part of an event the suite compares.
type ev struct {
	Type     domain.EventType
	Status   string
	Progress string
	Attempt  int
	Section  string
	Error    string
}

func summarize(events []domain.Event) []ev {
	out := make([]ev, len(events))
	for i, e := range events {
		out[i] = ev{e.Type, e.Status, e.Progress, e.Attempt, e.Section, e.Error}
	}
	return out
}

func events(t *testing.T, h Harness, jobID string) []domain.Event {
	t.Helper()
	evs, err := h.Store.Events(ctx(t), jobID, 0, 0)
	require.NoError(t, err)
	return evs
}

func testEventsLifecycle(t *testing.T, h Harness) {
	f := newFixture(t, h)
	job := f.create("zoning_use", "energy_code") // 3 sections
	first := f.claim(job.ID)
	f.save(leaseOf(first), domain.JurisdictionKey, domain.SectionPending) // no event
	f.save(leaseOf(first), domain.JurisdictionKey, domain.SectionRunning)
	f.save(leaseOf(first), domain.JurisdictionKey, domain.SectionCompleted)
	f.save(leaseOf(first), "zoning_use", domain.SectionFailed)
	require.NoError(t, h.Store.Heartbeat(ctx(t), leaseOf(first), lease)) // no event
	require.NoError(t, h.Store.Release(ctx(t), leaseOf(first), "shutdown"))
	second := f.claim(job.ID)
	_, err := h.Store.Finish(ctx(t), leaseOf(second), domain.JobFailed, "sections failed: zoning_use")
	require.NoError(t, err)
	_, err = h.Store.Retry(ctx(t), job.ID, domain.RetryOptions{})
	require.NoError(t, err)
	_, err = h.Store.Cancel(ctx(t), job.ID)
	require.NoError(t, err)

	evs := events(t, h, job.ID)
	got := summarize(evs)
	require.Len(t, got, 14)
	got[7].Error = "" // the release event may carry the reason; the suite does not insist
	canceled := "the job was canceled before the section finished"
	require.Equal(t, []ev{
		{domain.EventJob, "pending", "0/3", 0, "", ""},
		{domain.EventJob, "processing", "0/3", 1, "", ""},
		// The claim starts the jurisdiction section; the second claim,
		// with it completed, starts nothing.
		{domain.EventSection, "running", "0/3", 1, domain.JurisdictionKey, ""},
		{domain.EventSection, "running", "0/3", 1, domain.JurisdictionKey, ""},
		{domain.EventSection, "completed", "1/3", 1, domain.JurisdictionKey, ""},
		{domain.EventJob, "processing", "1/3", 1, "", ""},
		{domain.EventSection, "failed", "1/3", 1, "zoning_use", "provider said no"},
		{domain.EventJob, "pending", "1/3", 1, "", ""},
		{domain.EventJob, "processing", "1/3", 2, "", ""},
		{domain.EventJob, "failed", "1/3", 2, "", "sections failed: zoning_use"},
		{domain.EventJob, "pending", "1/3", 2, "", ""},
		// The cancel closes the sections the retry reopened, then ends the job.
		{domain.EventSection, "canceled", "1/3", 2, "zoning_use", canceled},
		{domain.EventSection, "canceled", "1/3", 2, "energy_code", canceled},
		{domain.EventJob, "canceled", "1/3", 2, "", ""},
	}, got)
	for i, e := range evs {
		require.Equal(t, job.ID, e.JobID)
		require.True(t, usec(h.Clock.Now()).Equal(e.At), "event %d at %s", i, e.At)
		require.Equal(t, int64(i+1), e.Seq, "a job's events are numbered 1, 2, 3...")
	}
}

func testEventsRescue(t *testing.T, h Harness) {
	f := newFixture(t, h)
	job := f.create()
	expire(t, h, job.ID, 2)
	expire(t, h, job.ID, 2)
	evs := summarize(events(t, h, job.ID))
	require.Len(t, evs, 8) // pending, processing, running, pending, processing, running, canceled section, failed
	require.Equal(t, domain.EventJob, evs[3].Type)
	require.Equal(t, "pending", evs[3].Status, "requeue after the first lease expired")
	require.Equal(t, 1, evs[3].Attempt)
	last := evs[len(evs)-1]
	require.Equal(t, "failed", last.Status, "failed once attempts ran out")
	require.Equal(t, 2, last.Attempt)
	require.NotEmpty(t, last.Error)
}

func testEventsAfterSeqAndLimit(t *testing.T, h Harness) {
	f := newFixture(t, h)
	job := f.claim(f.create("zoning_use").ID)
	h.Clock.Advance(time.Second)
	_, err := h.Store.Cancel(ctx(t), job.ID)
	require.NoError(t, err)
	all := events(t, h, job.ID)
	require.Len(t, all, 6) // pending, processing, jurisdiction running, 2 sections canceled, canceled

	after, err := h.Store.Events(ctx(t), job.ID, all[0].Seq, 0)
	require.NoError(t, err)
	require.Equal(t, all[1:], after)

	limited, err := h.Store.Events(ctx(t), job.ID, 0, 2)
	require.NoError(t, err)
	require.Equal(t, all[:2], limited)

	none, err := h.Store.Events(ctx(t), job.ID, all[5].Seq, 10)
	require.NoError(t, err)
	require.Empty(t, none)
}

func testEventsUnknownJob(t *testing.T, h Harness) {
	_, err := h.Store.Events(ctx(t), newJob().ID, 0, 0)
	require.ErrorIs(t, err, domain.ErrNotFound)
}

func testEventsPerJob(t *testing.T, h Harness) {
	f := newFixture(t, h)
	a, b := f.create(), f.create()
	f.claim(b.ID)
	require.Len(t, events(t, h, a.ID), 1)
	evs := events(t, h, b.ID)
	require.Len(t, evs, 3) // pending, processing, jurisdiction running
	for _, e := range evs {
		require.Equal(t, b.ID, e.JobID)
	}
}

// Event ids count within their job, whatever happens to other jobs in
// between: a client's Last-Event-ID means "after the job's n-th event".
func testEventsPerJobSeq(t *testing.T, h Harness) {
	f := newFixture(t, h)
	a := f.create()
	b := f.create()
	f.claim(a.ID) // its claim starts its jurisdiction section
	lb := leaseOf(f.claim(b.ID))
	f.save(lb, domain.JurisdictionKey, domain.SectionCompleted)
	for _, id := range []string{a.ID, b.ID} {
		evs := events(t, h, id)
		for i, e := range evs {
			require.Equal(t, int64(i+1), e.Seq, "job %s event %d", id, i)
		}
	}
	after, err := h.Store.Events(ctx(t), b.ID, 2, 0)
	require.NoError(t, err)
	require.Equal(t, []ev{
		{domain.EventSection, "running", "0/13", 1, domain.JurisdictionKey, ""},
		{domain.EventSection, "completed", "1/13", 1, domain.JurisdictionKey, ""},
		{domain.EventJob, "processing", "1/13", 1, "", ""},
	}, summarize(after))
	require.Equal(t, int64(3), after[0].Seq)
	none, err := h.Store.Events(ctx(t), a.ID, 3, 0)
	require.NoError(t, err)
	require.Empty(t, none, "job a has 3 events, whatever b's count")
}
