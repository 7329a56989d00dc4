// The ports.WorkerStore operations: one request each.

package workerapi

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"net/url"
	"time"

	"github.com/codecheck/codecheck/domain"
	"github.com/codecheck/codecheck/ports"
)

// Get implements ports.WorkerStore: GET /worker/jobs/{id}.
func (c *Client) Get(ctx context.Context, id string) (domain.Job, error) {
	var out job
	if err := c.do(ctx, &request{op: "get job", method: http.MethodGet, jobID: id, out: &out}); err != nil {
		return domain.Job{}, err
	}
	j := out.domain()
	c.observe(j)
	return j, nil
}

// Claim implements ports.WorkerStore: POST /worker/jobs/{id}/claim. A
// worker token covers one job, so req.JobID is required (req.Providers
// does not apply to a claim by id). A claim retried after its answer was
// lost meets the lease it took: domain.ErrLeaseHeld, which a worker waits
// out like any other.
func (c *Client) Claim(ctx context.Context, req ports.ClaimRequest) (domain.Job, error) {
	if req.JobID == "" {
		return domain.Job{}, fmt.Errorf("worker API claim: the worker API claims a named job only: %w", domain.ErrInvalid)
	}
	var out job
	err := c.do(ctx, &request{op: "claim", method: http.MethodPost, jobID: req.JobID, path: "/claim",
		in: claimBody{Worker: req.Worker, Executor: req.Executor, LeaseMS: ms(req.Lease)}, out: &out})
	if err != nil {
		return domain.Job{}, err
	}
	j := out.domain()
	c.observe(j)
	return j, nil
}

// Heartbeat implements ports.WorkerStore: POST /worker/jobs/{id}/heartbeat.
func (c *Client) Heartbeat(ctx context.Context, l ports.Lease, d time.Duration) error {
	return c.do(ctx, &request{op: "heartbeat", method: http.MethodPost, jobID: l.JobID, path: "/heartbeat",
		in: heartbeatBody{Attempt: l.Attempt, LeaseMS: ms(d)}})
}

// SaveSection implements ports.WorkerStore: PUT
// /worker/jobs/{id}/sections/{key}, with more in the body. A save is an
// upsert, so a retry after a lost answer is harmless (its events may then
// be recorded twice).
func (c *Client) SaveSection(ctx context.Context, l ports.Lease, s domain.SectionResult, more ...domain.SectionResult) error {
	if s.Key == "" {
		return fmt.Errorf("worker API save section: %w", domain.Invalid("key", "is required"))
	}
	return c.do(ctx, &request{op: "save section " + s.Key, method: http.MethodPut, jobID: l.JobID,
		path: "/sections/" + url.PathEscape(s.Key), in: saveSectionBody{Attempt: l.Attempt, Section: s, More: more}})
}

// Sections implements ports.WorkerStore: GET /worker/jobs/{id}/sections.
func (c *Client) Sections(ctx context.Context, jobID string) ([]domain.SectionResult, error) {
	var out sectionList
	err := c.do(ctx, &request{op: "sections", method: http.MethodGet, jobID: jobID, path: "/sections", out: &out})
	return out.Sections, err
}

// Finish implements ports.WorkerStore: POST /worker/jobs/{id}/finish. When
// a retry meets a lost lease because an earlier try did finish the job (its
// answer was lost on the way), the job as that try left it is the answer.
func (c *Client) Finish(ctx context.Context, l ports.Lease, status domain.JobStatus, errMsg string) (domain.Job, error) {
	var out job
	r := &request{op: "finish", method: http.MethodPost, jobID: l.JobID, path: "/finish",
		in: finishBody{Attempt: l.Attempt, Status: status, Error: errMsg}, out: &out}
	err := c.do(ctx, r)
	if errors.Is(err, domain.ErrLeaseLost) && r.retried {
		if cur, getErr := c.Get(ctx, l.JobID); getErr == nil && cur.Attempt == l.Attempt &&
			cur.Status == status && cur.Error == errMsg {
			return cur, nil
		}
	}
	if err != nil {
		return domain.Job{}, err
	}
	j := out.domain()
	c.observe(j)
	return j, nil
}

// Release implements ports.WorkerStore: POST /worker/jobs/{id}/release.
// As with Finish, a retry that meets the release of an earlier try is a
// success.
func (c *Client) Release(ctx context.Context, l ports.Lease, reason string) error {
	r := &request{op: "release", method: http.MethodPost, jobID: l.JobID, path: "/release",
		in: releaseBody{Attempt: l.Attempt, Reason: reason}}
	err := c.do(ctx, r)
	if errors.Is(err, domain.ErrLeaseLost) && r.retried {
		if cur, getErr := c.Get(ctx, l.JobID); getErr == nil && cur.Attempt == l.Attempt && cur.Status == domain.JobPending {
			return nil
		}
	}
	return err
}
