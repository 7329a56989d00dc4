package apiclient

import (
	"context"
	"fmt"
	"time"

	"github.com/codecheck/codecheck/adapters/apiclient/gen"
)

// Job is a job as GET /jobs/{id} shows it (the fields the command line
// uses).
type Job struct {
	ID          string         `json:"id"`
	Address     string         `json:"address"`
	LLMProvider string         `json:"llm_provider"`
	Status      string         `json:"status"`
	Progress    string         `json:"progress"`
	Error       string         `json:"error,omitempty"`
	Attempt     int            `json:"attempt"`
	CreatedAt   time.Time      `json:"created_at"`
	StartedAt   *time.Time     `json:"started_at,omitempty"`
	FinishedAt  *time.Time     `json:"finished_at,omitempty"`
	Sections    []SectionState `json:"sections,omitempty"`
	// Verify is the job's verification pass; Verified ("9/13") counts
	// the sections verified, when it is on.
	Verify   bool   `json:"verify,omitempty"`
	Verified string `json:"verified,omitempty"`
}

// SectionState is one requested section's status.
type SectionState struct {
	Key    string `json:"key"`
	Title  string `json:"title"`
	Status string `json:"status"`
	Error  string `json:"error,omitempty"`
}

// JobList is one page of GET /jobs.
type JobList struct {
	Jobs       []Job  `json:"jobs"`
	NextCursor string `json:"next_cursor,omitempty"`
}

// ListOptions filter GET /jobs; zero values are the server's defaults.
type ListOptions struct {
	Status string
	Limit  int
	Cursor string
}

// List returns a page of jobs, newest first.
func (c *Client) List(ctx context.Context, o ListOptions) (JobList, error) {
	resp, err := c.api.ListJobsWithResponse(ctx, o.params())
	if err != nil {
		return JobList{}, c.transportError(ctx, "GET /jobs", err)
	}
	if err := problemOf(resp.StatusCode(), resp.Body); err != nil {
		return JobList{}, err
	}
	if resp.JSON200 == nil {
		return JobList{}, fmt.Errorf("GET /jobs: HTTP %d without a JSON page", resp.StatusCode())
	}
	l := JobList{NextCursor: deref(resp.JSON200.NextCursor)}
	for _, j := range deref(resp.JSON200.Jobs) {
		l.Jobs = append(l.Jobs, jobFromSummary(j))
	}
	return l, nil
}

// ListDocument returns the page of jobs as the server wrote it (JSON).
func (c *Client) ListDocument(ctx context.Context, o ListOptions) ([]byte, error) {
	resp, err := c.api.ListJobsWithResponse(ctx, o.params())
	if err != nil {
		return nil, c.transportError(ctx, "GET /jobs", err)
	}
	if err := problemOf(resp.StatusCode(), resp.Body); err != nil {
		return nil, err
	}
	return resp.Body, nil
}

func (o ListOptions) params() *gen.ListJobsParams {
	p := &gen.ListJobsParams{}
	if o.Status != "" {
		s := gen.ListJobsParamsStatus(o.Status)
		p.Status = &s
	}
	if o.Limit > 0 {
		l := int64(o.Limit)
		p.Limit = &l
	}
	if o.Cursor != "" {
		p.Cursor = &o.Cursor
	}
	return p
}

// Job returns the job with its per-section status.
func (c *Client) Job(ctx context.Context, id string) (Job, error) {
	resp, err := c.api.GetJobWithResponse(ctx, id)
	if err != nil {
		return Job{}, c.transportError(ctx, "GET /jobs/{id}", err)
	}
	return jobAnswer(resp.StatusCode(), resp.Body, resp.JSON200)
}

// Cancel cancels a pending or processing job (domain.ErrConflict when it
// has ended) and returns it.
func (c *Client) Cancel(ctx context.Context, id string) (Job, error) {
	resp, err := c.api.CancelJobWithResponse(ctx, id)
	if err != nil {
		return Job{}, c.transportError(ctx, "POST /jobs/{id}/cancel", err)
	}
	return jobAnswer(resp.StatusCode(), resp.Body, resp.JSON200)
}

// Retry puts a job back to pending to run its unfinished sections
// (domain.ErrConflict when it cannot be retried) and returns it.
// maxCostUSD, when set, becomes the job's cost cap.
func (c *Client) Retry(ctx context.Context, id string, maxCostUSD *float64) (Job, error) {
	resp, err := c.api.RetryJobWithResponse(ctx, id, gen.RetryJobBody{MaxCostUsd: maxCostUSD})
	if err != nil {
		return Job{}, c.transportError(ctx, "POST /jobs/{id}/retry", err)
	}
	return jobAnswer(resp.StatusCode(), resp.Body, resp.JSON202)
}

// Report returns GET /jobs/{id}/report as the server wrote it: the JSON
// document, or with markdown the Markdown rendering.
func (c *Client) Report(ctx context.Context, id string, markdown bool) ([]byte, error) {
	accept := "application/json"
	if markdown {
		accept = "text/markdown"
	}
	resp, err := c.api.GetReportWithResponse(ctx, id, &gen.GetReportParams{Accept: &accept})
	if err != nil {
		return nil, c.transportError(ctx, "GET /jobs/{id}/report", err)
	}
	if err := problemOf(resp.StatusCode(), resp.Body); err != nil {
		return nil, err
	}
	return resp.Body, nil
}

// jobAnswer is the job of an answer, or its problem.
func jobAnswer(status int, body []byte, j *gen.JobView) (Job, error) {
	if err := problemOf(status, body); err != nil {
		return Job{}, err
	}
	if j == nil {
		return Job{}, fmt.Errorf("HTTP %d without a JSON job", status)
	}
	out := Job{
		ID: j.Id, Address: j.Address, LLMProvider: j.LlmProvider, Status: string(j.Status), Progress: j.Progress,
		Error: deref(j.Error), Attempt: int(j.Attempt), CreatedAt: j.CreatedAt, StartedAt: j.StartedAt,
		FinishedAt: j.FinishedAt, Verify: j.Verify, Verified: deref(j.Verified),
	}
	for _, s := range deref(j.Sections) {
		out.Sections = append(out.Sections, SectionState{Key: string(s.Key), Title: s.Title,
			Status: string(s.Status), Error: deref(s.Error)})
	}
	return out, nil
}

// jobFromSummary is a job of a list, which has no sections.
func jobFromSummary(j gen.JobSummary) Job {
	return Job{
		ID: j.Id, Address: j.Address, LLMProvider: j.LlmProvider, Status: string(j.Status), Progress: j.Progress,
		Error: deref(j.Error), Attempt: int(j.Attempt), CreatedAt: j.CreatedAt, StartedAt: j.StartedAt,
		FinishedAt: j.FinishedAt, Verify: j.Verify, Verified: deref(j.Verified),
	}
}
