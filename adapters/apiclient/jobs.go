package apiclient

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"strconv"
	"time"
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
	var l JobList
	body, err := c.ListDocument(ctx, o)
	if err != nil {
		return l, err
	}
	if err := json.Unmarshal(body, &l); err != nil {
		return l, fmt.Errorf("GET /jobs: reading the answer: %w", err)
	}
	return l, nil
}

// ListDocument returns the page of jobs as the server wrote it (JSON).
func (c *Client) ListDocument(ctx context.Context, o ListOptions) ([]byte, error) {
	q := url.Values{}
	if o.Status != "" {
		q.Set("status", o.Status)
	}
	if o.Limit > 0 {
		q.Set("limit", strconv.Itoa(o.Limit))
	}
	if o.Cursor != "" {
		q.Set("cursor", o.Cursor)
	}
	path := "/jobs"
	if len(q) > 0 {
		path += "?" + q.Encode()
	}
	return c.read(ctx, path, "application/json")
}

// Job returns the job with its per-section status.
func (c *Client) Job(ctx context.Context, id string) (Job, error) {
	var j Job
	return j, c.do(ctx, http.MethodGet, jobPath(id), &j)
}

// Cancel cancels a pending or processing job (domain.ErrConflict when it
// has ended) and returns it.
func (c *Client) Cancel(ctx context.Context, id string) (Job, error) {
	var j Job
	return j, c.do(ctx, http.MethodPost, jobPath(id)+"/cancel", &j)
}

// Retry puts a job back to pending to run its unfinished sections
// (domain.ErrConflict when it cannot be retried) and returns it.
// maxCostUSD, when set, becomes the job's cost cap.
func (c *Client) Retry(ctx context.Context, id string, maxCostUSD *float64) (Job, error) {
	var j Job
	var body any
	if maxCostUSD != nil {
		body = map[string]float64{"max_cost_usd": *maxCostUSD}
	}
	return j, c.doBody(ctx, http.MethodPost, jobPath(id)+"/retry", body, &j)
}

// Report returns GET /jobs/{id}/report as the server wrote it: the JSON
// document, or with markdown the Markdown rendering.
func (c *Client) Report(ctx context.Context, id string, markdown bool) ([]byte, error) {
	accept := "application/json"
	if markdown {
		accept = "text/markdown"
	}
	return c.read(ctx, jobPath(id)+"/report", accept)
}

// read returns the body of a GET as the server wrote it.
func (c *Client) read(ctx context.Context, path, accept string) ([]byte, error) {
	resp, err := c.send(ctx, http.MethodGet, path, http.Header{"Accept": {accept}})
	if err != nil {
		return nil, err
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(io.LimitReader(resp.Body, maxAnswer))
	if err != nil {
		return nil, fmt.Errorf("GET %s: reading the answer: %w", path, err)
	}
	return b, nil
}

func jobPath(id string) string { return "/jobs/" + url.PathEscape(id) }
