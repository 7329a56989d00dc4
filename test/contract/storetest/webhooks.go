package storetest

import (
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/codecheck/codecheck/domain"
	"github.com/codecheck/codecheck/ports"
)

var webhookTests = map[string]func(*testing.T, Harness){
	"OwedOnEveryTerminalStatus":  testWebhookOwed,
	"NoneWithoutURL":             testWebhookNoneWithoutURL,
	"HoldThenDueAgain":           testWebhookHold,
	"DeliveredNotOfferedAgain":   testWebhookDelivered,
	"FailedRetriesThenGivesUp":   testWebhookFailed,
	"TakeOneJob":                 testWebhookTakeOneJob,
	"ConcurrentTakersNeverShare": testWebhookConcurrentTakers,
	"UnknownID":                  testWebhookUnknown,
	"CanceledAgainAfterRetry":    testWebhookCanceledAgain,
}

const webhookHold = time.Minute

func take(t *testing.T, h Harness, jobID string, limit int) []ports.WebhookDelivery {
	t.Helper()
	got, err := h.Webhooks.TakeWebhooks(ctx(t), ports.TakeWebhooks{JobID: jobID, Limit: limit, Hold: webhookHold})
	require.NoError(t, err)
	return got
}

// finish runs a fresh job with a webhook to status (completed, failed or
// canceled) and returns it.
func (f fixture) finish(status domain.JobStatus) domain.Job {
	f.t.Helper()
	job := f.claim(f.create().ID)
	if status == domain.JobCanceled {
		done, err := f.h.Store.Cancel(ctx(f.t), job.ID)
		require.NoError(f.t, err)
		return done
	}
	done, err := f.h.Store.Finish(ctx(f.t), leaseOf(job), status, "")
	require.NoError(f.t, err)
	return done
}

func testWebhookOwed(t *testing.T, h Harness) {
	f := newFixture(t, h)
	want := map[string]domain.Job{}
	for _, s := range []domain.JobStatus{domain.JobCompleted, domain.JobFailed, domain.JobCanceled} {
		j := f.finish(s)
		want[j.ID] = j
	}
	// A job rescued out of attempts has failed too.
	lost := f.claim(f.create().ID)
	h.Clock.Advance(2 * lease)
	r, err := h.Store.RescueExpired(ctx(t), 1)
	require.NoError(t, err)
	require.Len(t, r.Failed, 1)
	want[lost.ID] = r.Failed[0]

	got := take(t, h, "", 10)
	require.Len(t, got, len(want))
	ids := map[string]bool{}
	for _, d := range got {
		j, ok := want[d.JobID]
		require.True(t, ok, "delivery for an unexpected job %s", d.JobID)
		require.Equal(t, j.WebhookURL, d.URL)
		require.Equal(t, 1, d.Attempt)
		require.NotEmpty(t, d.ID)
		require.False(t, ids[d.ID], "delivery ids are unique")
		ids[d.ID] = true
	}
	require.Empty(t, take(t, h, "", 10), "taken deliveries are held")
}

func testWebhookNoneWithoutURL(t *testing.T, h Harness) {
	j := newJob()
	j.WebhookURL = ""
	saved, _, err := h.Store.Create(ctx(t), j)
	require.NoError(t, err)
	_, err = h.Store.Cancel(ctx(t), saved.ID)
	require.NoError(t, err)
	require.Empty(t, take(t, h, "", 10))
}

func testWebhookHold(t *testing.T, h Harness) {
	f := newFixture(t, h)
	f.finish(domain.JobCompleted)
	first := take(t, h, "", 1)
	require.Len(t, first, 1)
	h.Clock.Advance(webhookHold - time.Second)
	require.Empty(t, take(t, h, "", 1), "held until the hold ends")
	h.Clock.Advance(time.Second)
	again := take(t, h, "", 1)
	require.Len(t, again, 1, "a taker that never reported (it crashed) gives the delivery back at the end of the hold")
	require.Equal(t, first[0].ID, again[0].ID, "the same message id on every attempt")
	require.Equal(t, 2, again[0].Attempt)
}

func testWebhookDelivered(t *testing.T, h Harness) {
	f := newFixture(t, h)
	f.finish(domain.JobCompleted)
	d := take(t, h, "", 1)
	require.Len(t, d, 1)
	require.NoError(t, h.Webhooks.WebhookDelivered(ctx(t), d[0].ID))
	h.Clock.Advance(24 * time.Hour)
	require.Empty(t, take(t, h, "", 1))
}

func testWebhookFailed(t *testing.T, h Harness) {
	f := newFixture(t, h)
	f.finish(domain.JobFailed)
	d := take(t, h, "", 1)
	require.Len(t, d, 1)
	retryAt := h.Clock.Now().Add(10 * time.Second)
	require.NoError(t, h.Webhooks.WebhookFailed(ctx(t), d[0].ID, "503 from receiver", retryAt))
	h.Clock.Advance(9 * time.Second)
	require.Empty(t, take(t, h, "", 1), "not due before retryAt")
	h.Clock.Advance(time.Second)
	d = take(t, h, "", 1)
	require.Len(t, d, 1)
	require.Equal(t, 2, d[0].Attempt)

	require.NoError(t, h.Webhooks.WebhookFailed(ctx(t), d[0].ID, "still 503", time.Time{}))
	h.Clock.Advance(24 * time.Hour)
	require.Empty(t, take(t, h, "", 1), "given up")
}

func testWebhookTakeOneJob(t *testing.T, h Harness) {
	f := newFixture(t, h)
	a, b := f.finish(domain.JobCompleted), f.finish(domain.JobCompleted)
	got := take(t, h, b.ID, 10)
	require.Len(t, got, 1)
	require.Equal(t, b.ID, got[0].JobID)
	got = take(t, h, "", 10)
	require.Len(t, got, 1)
	require.Equal(t, a.ID, got[0].JobID)
}

func testWebhookConcurrentTakers(t *testing.T, h Harness) {
	f := newFixture(t, h)
	const jobs = 12
	for range jobs {
		f.finish(domain.JobCompleted)
	}
	requireEachOnce(t, jobs, func(int) ([]string, error) {
		got, err := h.Webhooks.TakeWebhooks(ctx(t), ports.TakeWebhooks{Limit: 2, Hold: webhookHold})
		ids := make([]string, len(got))
		for i, d := range got {
			ids[i] = d.ID
		}
		return ids, err
	})
}

func testWebhookUnknown(t *testing.T, h Harness) {
	require.ErrorIs(t, h.Webhooks.WebhookDelivered(ctx(t), "msg_nope"), domain.ErrNotFound)
	require.ErrorIs(t, h.Webhooks.WebhookFailed(ctx(t), "msg_nope", "x", time.Time{}), domain.ErrNotFound)
	_, err := h.Webhooks.TakeWebhooks(ctx(t), ports.TakeWebhooks{Limit: 1})
	require.ErrorIs(t, err, domain.ErrInvalid, "a hold is required")
}

// A job canceled, retried and canceled again before any worker claimed it
// ends canceled twice in the same attempt: both ends are delivered, under
// different ids.
func testWebhookCanceledAgain(t *testing.T, h Harness) {
	f := newFixture(t, h)
	job := f.create()
	for range 2 {
		_, err := h.Store.Cancel(ctx(t), job.ID)
		require.NoError(t, err)
		_, err = h.Store.Retry(ctx(t), job.ID, domain.RetryOptions{})
		require.NoError(t, err)
	}
	_, err := h.Store.Cancel(ctx(t), job.ID)
	require.NoError(t, err)
	got := take(t, h, job.ID, 10)
	require.Len(t, got, 3, "one delivery per end")
	ids := map[string]bool{}
	for _, d := range got {
		require.True(t, strings.HasSuffix(d.ID, "_canceled"), "the id still ends in the status: %s", d.ID)
		ids[d.ID] = true
	}
	require.Len(t, ids, 3)
}
