// The worker API's wire format (api/openapi.yaml, tag worker) and its problem answers turned back into domain errors.

package workerapi

import (
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"time"

	"github.com/codecheck/codecheck/domain"
)

// Problem types the API uses to tell errors that share 409 apart.
const (
	problemLeaseLost = "urn:codecheck:problem:lease-lost"
	problemLeaseHeld = "urn:codecheck:problem:lease-held"
)

// job is WorkerJob.
type job struct {
	ID             string           `json:"id"`
	Address        string           `json:"address"`
	LLMProvider    string           `json:"llm_provider"`
	Status         domain.JobStatus `json:"status"`
	Attempt        int              `json:"attempt"`
	Sections       []string         `json:"sections"`
	Project        *domain.Project  `json:"project,omitempty"`
	MaxCostUSD     *float64         `json:"max_cost_usd,omitempty"`
	CostCapped     bool             `json:"cost_capped,omitempty"`
	Done           int              `json:"done"`
	Executor       string           `json:"executor,omitempty"`
	ExecutorRef    string           `json:"executor_ref,omitempty"`
	Error          string           `json:"error,omitempty"`
	LeaseExpiresAt *time.Time       `json:"lease_expires_at,omitempty"`
	CreatedAt      time.Time        `json:"created_at"`
	UpdatedAt      time.Time        `json:"updated_at"`
	StartedAt      *time.Time       `json:"started_at,omitempty"`
	FinishedAt     *time.Time       `json:"finished_at,omitempty"`
	Reuse          bool             `json:"reuse"`
	Verify         bool             `json:"verify,omitempty"`
}

func (j job) domain() domain.Job {
	return domain.Job{ID: j.ID, Address: j.Address, Provider: j.LLMProvider, Status: j.Status, Attempt: j.Attempt,
		Sections: j.Sections, Project: j.Project, MaxCostUSD: j.MaxCostUSD, CostCapped: j.CostCapped, Done: j.Done, Executor: j.Executor, ExecutorRef: j.ExecutorRef, Error: j.Error,
		LeaseExpiresAt: j.LeaseExpiresAt, CreatedAt: j.CreatedAt, UpdatedAt: j.UpdatedAt, StartedAt: j.StartedAt,
		FinishedAt: j.FinishedAt, Reuse: j.Reuse, Verify: j.Verify}
}

// claimBody is ClaimBody.
type claimBody struct {
	Worker   string `json:"worker,omitempty"`
	Executor string `json:"executor,omitempty"`
	LeaseMS  int64  `json:"lease_ms"`
}

// heartbeatBody is HeartbeatBody.
type heartbeatBody struct {
	Attempt int   `json:"attempt"`
	LeaseMS int64 `json:"lease_ms"`
}

// saveSectionBody is SaveSectionBody; a section result's JSON is the
// domain's, as in the report.
type saveSectionBody struct {
	Attempt int                    `json:"attempt"`
	Section domain.SectionResult   `json:"section"`
	More    []domain.SectionResult `json:"more,omitempty"`
}

// sectionList is SectionList.
type sectionList struct {
	Sections []domain.SectionResult `json:"sections"`
}

// finishBody is FinishBody.
type finishBody struct {
	Attempt int              `json:"attempt"`
	Status  domain.JobStatus `json:"status"`
	Error   string           `json:"error,omitempty"`
}

// releaseBody is ReleaseBody.
type releaseBody struct {
	Attempt int    `json:"attempt"`
	Reason  string `json:"reason,omitempty"`
}

// problem is an RFC 9457 problem document.
type problem struct {
	Type   string `json:"type"`
	Detail string `json:"detail"`
}

// ms is d in whole milliseconds, at least 1 for a positive d (the API's
// unit); zero and negative durations go as they are, for the server to
// refuse.
func ms(d time.Duration) int64 {
	if d > 0 && d < time.Millisecond {
		return 1
	}
	return d.Milliseconds()
}

// statusError is an answer the API gave that is not a success.
type statusError struct {
	op     string
	status int
	detail string
	kind   error // the domain error it stands for; nil when none
}

func (e *statusError) Error() string {
	msg := fmt.Sprintf("worker API %s: %d %s", e.op, e.status, http.StatusText(e.status))
	if e.detail != "" {
		msg += ": " + e.detail
	}
	return msg
}

func (e *statusError) Unwrap() error { return e.kind }

// answerError turns a failed answer into an error wrapping the domain
// error it stands for.
func answerError(op string, status int, body []byte) error {
	var p problem
	_ = json.Unmarshal(body, &p) // a non-problem body (a proxy's page) leaves p empty
	return &statusError{op: op, status: status, detail: p.Detail, kind: domainError(status, p.Type)}
}

func domainError(status int, problemType string) error {
	switch {
	case status == http.StatusConflict && problemType == problemLeaseLost:
		return domain.ErrLeaseLost
	case status == http.StatusConflict && problemType == problemLeaseHeld:
		return domain.ErrLeaseHeld
	case status == http.StatusConflict:
		return domain.ErrConflict
	case status == http.StatusNotFound:
		return domain.ErrNotFound
	case status == http.StatusUnauthorized:
		return domain.ErrUnauthenticated
	case status == http.StatusForbidden:
		return domain.ErrForbidden
	case status == http.StatusBadRequest, status == http.StatusRequestEntityTooLarge,
		status == http.StatusUnprocessableEntity:
		return domain.ErrInvalid
	}
	return nil
}

// isLeaseLost reports whether err is a refused fenced write.
func isLeaseLost(err error) bool { return errors.Is(err, domain.ErrLeaseLost) }
