// Package policy holds the decisions every store adapter must make the same
// way: what Create requires, when a job may be claimed, list limits, and when
// an expired job is out of attempts. It contains no SQL; the adapters do the
// storing.
package policy

import (
	"fmt"
	"time"

	"github.com/codecheck/codecheck/domain"
)

// List page sizes.
const (
	DefaultListLimit = 20
	MaxListLimit     = 100
	// DefaultDispatchLimit bounds Dispatchable when the caller gives no limit.
	DefaultDispatchLimit = 100
)

// CheckNew validates a job before Create stores it.
func CheckNew(j domain.Job) error {
	switch {
	case j.ID == "":
		return domain.Invalid("id", "is required")
	case j.Address == "":
		return domain.Invalid("address", "is required")
	case j.Provider == "":
		return domain.Invalid("llm_provider", "is required")
	case len(j.Sections) == 0:
		return domain.Invalid("sections", "must name at least one section")
	}
	return nil
}

// CheckClaim reports whether job may be claimed by id at now: pending jobs
// and processing jobs whose lease expired may; a live lease is
// domain.ErrLeaseHeld and a terminal status domain.ErrConflict.
func CheckClaim(j domain.Job, now time.Time) error {
	switch j.Status {
	case domain.JobPending:
		return nil
	case domain.JobProcessing:
		if j.LeaseExpiresAt != nil && j.LeaseExpiresAt.After(now) {
			return fmt.Errorf("job %s attempt %d until %s: %w", j.ID, j.Attempt, j.LeaseExpiresAt.Format(time.RFC3339), domain.ErrLeaseHeld)
		}
		return nil
	default:
		return fmt.Errorf("job %s is %s and will not run again: %w", j.ID, j.Status, domain.ErrConflict)
	}
}

// CheckLease validates a lease duration.
func CheckLease(d time.Duration) error {
	if d <= 0 {
		return domain.Invalid("lease", "must be positive")
	}
	return nil
}

// CheckFinish validates the status a worker finishes a job with.
func CheckFinish(s domain.JobStatus) error {
	if s != domain.JobCompleted && s != domain.JobFailed {
		return domain.Invalid("status", fmt.Sprintf("a job finishes completed or failed, not %q", s))
	}
	return nil
}

// CheckSection validates a section result before it is saved for job.
// It returns the section's position in the job's sections.
func CheckSection(j domain.Job, s domain.SectionResult) (ordinal int, err error) {
	switch s.Status {
	case domain.SectionPending, domain.SectionRunning, domain.SectionCompleted, domain.SectionFailed:
	default:
		return 0, domain.Invalid("status", fmt.Sprintf("unknown section status %q", s.Status))
	}
	for i, k := range j.Sections {
		if k == s.Key {
			return i + 1, nil
		}
	}
	return 0, domain.Invalid("key", fmt.Sprintf("job %s does not include section %q", j.ID, s.Key))
}

// CheckCancel reports whether a job in status s may be canceled.
func CheckCancel(id string, s domain.JobStatus) error {
	if s != domain.JobPending && s != domain.JobProcessing {
		return fmt.Errorf("job %s is %s and cannot be canceled: %w", id, s, domain.ErrConflict)
	}
	return nil
}

// CheckRetry reports whether a job in status s may be retried.
func CheckRetry(id string, s domain.JobStatus) error {
	if s != domain.JobFailed {
		return fmt.Errorf("job %s is %s; only failed jobs can be retried: %w", id, s, domain.ErrConflict)
	}
	return nil
}

// CheckStatusFilter validates a list filter's status.
func CheckStatusFilter(s domain.JobStatus) error {
	if s != "" && !s.Valid() {
		return domain.Invalid("status", fmt.Sprintf("unknown job status %q", s))
	}
	return nil
}

// ListLimit applies the port's page-size rules: <= 0 means the default, and
// no page exceeds MaxListLimit.
func ListLimit(n int) int {
	switch {
	case n <= 0:
		return DefaultListLimit
	case n > MaxListLimit:
		return MaxListLimit
	}
	return n
}

// DispatchLimit applies the default to Dispatchable's limit.
func DispatchLimit(n int) int {
	if n <= 0 {
		return DefaultDispatchLimit
	}
	return n
}

// MaxAttempts clamps a configured maximum to at least one attempt.
func MaxAttempts(n int) int { return max(n, 1) }

// OutOfAttempts reports whether a job whose lease expired has used up its
// attempts. used counts attempts since the job was created or last retried.
func OutOfAttempts(used, maxAttempts int) bool { return used >= MaxAttempts(maxAttempts) }

// ExhaustedError is the job error of a job that ran out of attempts.
func ExhaustedError(attempt, maxAttempts int) string {
	return fmt.Sprintf("worker lost: the lease of attempt %d expired and all %d attempts ran out; retry the job to run it again",
		attempt, MaxAttempts(maxAttempts))
}

// RequeueReason is the event error of a job requeued after its lease expired.
const RequeueReason = "worker lost: lease expired; requeued for another attempt"

// Now reads clock and rounds to the microsecond precision every store keeps,
// in UTC, so a stored time reads back equal to the one written.
func Now(clock func() time.Time) time.Time {
	return clock().UTC().Truncate(time.Microsecond)
}

// StaleHandoffError explains a hand-off made again because no worker claimed
// the job within olderThan.
func StaleHandoffError(olderThan time.Duration) string {
	return fmt.Sprintf("no worker claimed the job within %s of its hand-off to the executor; handing it off again", olderThan)
}
