package e2e

import (
	"context"
	"net/http"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/codecheck/codecheck/adapters/apiclient"
	"github.com/codecheck/codecheck/adapters/apiclient/gen"
	"github.com/codecheck/codecheck/domain"
)

// The client generated from the spec drives a real serve: submit, get,
// list, report, cancel and retry, and every refusal arrives as the typed
// problem document of its status.
func TestGeneratedClientDrivesServe(t *testing.T) {
	const key = "gen-client-key-1"
	srv := launchServe(t, "127.0.0.1", sqliteEnv(t, "CODECHECK_FAKE_LLM=1", "CODECHECK_FAKE_LLM_LATENCY=300ms",
		"CODECHECK_API_KEYS="+key))
	bearer := func(_ context.Context, req *http.Request) error {
		req.Header.Set("Authorization", "Bearer "+key)
		return nil
	}
	c, err := gen.NewClientWithResponses(srv.base, gen.WithRequestEditorFn(bearer))
	require.NoError(t, err)
	ctx := t.Context()
	fake := gen.Fake

	// Submit, twice with the same Idempotency-Key: the same job.
	sections := []gen.SubmitJobBodySections{gen.SubmitJobBodySectionsZoningUse}
	body := gen.SubmitJobBody{Address: testAddress, LlmProvider: &fake, Sections: &sections}
	idem := "gen-client-1"
	sub, err := c.SubmitJobWithResponse(ctx, &gen.SubmitJobParams{IdempotencyKey: &idem}, body)
	require.NoError(t, err)
	require.Equal(t, http.StatusAccepted, sub.StatusCode(), string(sub.Body))
	job := sub.JSON202
	require.Equal(t, gen.JobViewStatusPending, job.Status)
	require.Equal(t, "/jobs/"+job.Id, sub.HTTPResponse.Header.Get("Location"))
	again, err := c.SubmitJobWithResponse(ctx, &gen.SubmitJobParams{IdempotencyKey: &idem}, body)
	require.NoError(t, err)
	require.Equal(t, job.Id, again.JSON202.Id)

	// Get, until it completes.
	var got *gen.JobView
	waitFor(t, "the job to complete", time.Minute, func() bool {
		r, err := c.GetJobWithResponse(ctx, job.Id)
		require.NoError(t, err)
		require.Equal(t, http.StatusOK, r.StatusCode(), string(r.Body))
		got = r.JSON200
		return got.Status == gen.JobViewStatusCompleted
	})
	require.Equal(t, "2/2", got.Progress)
	require.Len(t, *got.Sections, 2)

	// List, filtered.
	status := gen.ListJobsParamsStatusCompleted
	limit := int64(5)
	list, err := c.ListJobsWithResponse(ctx, &gen.ListJobsParams{Status: &status, Limit: &limit})
	require.NoError(t, err)
	require.Equal(t, http.StatusOK, list.StatusCode(), string(list.Body))
	require.True(t, slices.ContainsFunc(*list.JSON200.Jobs, func(j gen.JobSummary) bool { return j.Id == job.Id }))

	// The report, as JSON and as Markdown.
	rep, err := c.GetReportWithResponse(ctx, job.Id, nil)
	require.NoError(t, err)
	require.Equal(t, http.StatusOK, rep.StatusCode(), string(rep.Body))
	require.Equal(t, job.Id, rep.JSON200.Job.Id)
	require.Len(t, *rep.JSON200.Sections, 2)
	require.True(t, rep.JSON200.Summary.Simulated)
	md := "text/markdown"
	repMD, err := c.GetReportWithResponse(ctx, job.Id, &gen.GetReportParams{Accept: &md})
	require.NoError(t, err)
	require.Equal(t, http.StatusOK, repMD.StatusCode())
	require.True(t, strings.HasPrefix(string(repMD.Body), "# "), "%.80s", repMD.Body)

	// Cancel a running job, then retry it.
	full, err := c.SubmitJobWithResponse(ctx, nil, gen.SubmitJobBody{Address: testAddress, LlmProvider: &fake})
	require.NoError(t, err)
	require.Equal(t, http.StatusAccepted, full.StatusCode(), string(full.Body))
	canceled, err := c.CancelJobWithResponse(ctx, full.JSON202.Id)
	require.NoError(t, err)
	require.Equal(t, http.StatusOK, canceled.StatusCode(), string(canceled.Body))
	require.Equal(t, gen.JobViewStatusCanceled, canceled.JSON200.Status)
	retried, err := c.RetryJobWithResponse(ctx, full.JSON202.Id, gen.RetryJobBody{})
	require.NoError(t, err)
	require.Equal(t, http.StatusAccepted, retried.StatusCode(), string(retried.Body))
	require.Contains(t, []gen.JobViewStatus{gen.JobViewStatusPending, gen.JobViewStatusProcessing}, retried.JSON202.Status)

	// Refusals are typed problem documents.
	conflict, err := c.CancelJobWithResponse(ctx, job.Id)
	require.NoError(t, err)
	require.NotNil(t, conflict.ApplicationproblemJSON409, "%d %s", conflict.StatusCode(), conflict.Body)
	require.Equal(t, "conflict", conflict.ApplicationproblemJSON409.Code)
	require.Equal(t, "urn:codecheck:problem:conflict", conflict.ApplicationproblemJSON409.Type)
	require.NotEmpty(t, *conflict.ApplicationproblemJSON409.RequestId)

	notRetryable, err := c.RetryJobWithResponse(ctx, job.Id, gen.RetryJobBody{})
	require.NoError(t, err)
	require.NotNil(t, notRetryable.ApplicationproblemJSON409, "%d %s", notRetryable.StatusCode(), notRetryable.Body)

	missing, err := c.GetJobWithResponse(ctx, "0190c6e2-0000-7000-8000-000000000000")
	require.NoError(t, err)
	require.NotNil(t, missing.ApplicationproblemJSON404, "%d %s", missing.StatusCode(), missing.Body)
	require.Equal(t, "not-found", missing.ApplicationproblemJSON404.Code)

	bad, err := c.SubmitJobWithResponse(ctx, nil, gen.SubmitJobBody{Address: "abc", LlmProvider: &fake})
	require.NoError(t, err)
	require.NotNil(t, bad.ApplicationproblemJSON422, "%d %s", bad.StatusCode(), bad.Body)
	require.Equal(t, "validation-failed", bad.ApplicationproblemJSON422.Code)
	require.Equal(t, "body.address", *(*bad.ApplicationproblemJSON422.Errors)[0].Location)

	anonymous, err := gen.NewClientWithResponses(srv.base)
	require.NoError(t, err)
	denied, err := anonymous.ListJobsWithResponse(ctx, nil)
	require.NoError(t, err)
	require.NotNil(t, denied.ApplicationproblemJSON401, "%d %s", denied.StatusCode(), denied.Body)
	require.Equal(t, "unauthenticated", denied.ApplicationproblemJSON401.Code)

	// The command line's layer over it turns them into errors that match
	// the domain's.
	cli, err := apiclient.New(srv.base, apiclient.WithAPIKey(key))
	require.NoError(t, err)
	_, err = cli.Cancel(ctx, job.Id)
	require.ErrorIs(t, err, domain.ErrConflict)
	var p *apiclient.Problem
	require.ErrorAs(t, err, &p)
	require.Equal(t, int64(http.StatusConflict), p.Status)
	require.Equal(t, "conflict", p.Code)
	_, err = cli.Job(ctx, "0190c6e2-0000-7000-8000-000000000000")
	require.ErrorIs(t, err, domain.ErrNotFound)
}
