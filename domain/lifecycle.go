package domain

import (
	"fmt"
	"time"
)

// The lifecycle rules every store applies the same way: what a new job
// needs, who may claim a job, what a worker may finish it with, when a job
// is out of attempts, and what a reused idempotency key must match. The
// stores only store; these decide.

// CheckNew validates a job before it is stored.
func (j Job) CheckNew() error {
	switch {
	case j.ID == "":
		return Invalid("id", "is required")
	case j.Address == "":
		return Invalid("address", "is required")
	case j.Provider == "":
		return Invalid("llm_provider", "is required")
	case len(j.Sections) == 0:
		return Invalid("sections", "must name at least one section")
	}
	return nil
}

// CheckReplay compares the job an idempotency key created with a new
// request under the same key: the same request replays the job; another
// one is ErrIdempotencyMismatch.
func (j Job) CheckReplay(req Job) error {
	if j.RequestHash != req.RequestHash {
		return fmt.Errorf("job %s: %w", j.ID, ErrIdempotencyMismatch)
	}
	return nil
}

// CheckClaim reports whether the job may be claimed at now: a pending job
// may, and so may a processing one whose lease expired (its worker is
// gone). A live lease is ErrLeaseHeld; a terminal status ErrConflict.
func (j Job) CheckClaim(now time.Time) error {
	switch {
	case j.Status == JobPending:
		return nil
	case j.Status == JobProcessing && !j.LeaseLive(now):
		return nil
	case j.Status == JobProcessing:
		return fmt.Errorf("job %s attempt %d until %s: %w", j.ID, j.Attempt, j.LeaseExpiresAt.Format(time.RFC3339), ErrLeaseHeld)
	}
	return fmt.Errorf("job %s is %s and will not run again: %w", j.ID, j.Status, ErrConflict)
}

// LeaseLive reports whether the job's lease still holds at now.
func (j Job) LeaseLive(now time.Time) bool {
	return j.LeaseExpiresAt != nil && j.LeaseExpiresAt.After(now)
}

// LeaseUntil is when a lease of d taken or renewed at now expires.
func LeaseUntil(now time.Time, d time.Duration) (time.Time, error) {
	if d <= 0 {
		return time.Time{}, Invalid("lease", "must be positive")
	}
	return now.Add(d), nil
}

// CheckFinish validates the status a worker ends a job with.
func CheckFinish(s JobStatus) error {
	if s != JobCompleted && s != JobFailed {
		return Invalid("status", fmt.Sprintf("a job finishes completed or failed, not %q", s))
	}
	return nil
}

// CheckCancel reports whether the job may be canceled: pending and
// processing jobs may.
func (j Job) CheckCancel() error {
	if err := j.Status.CheckTransition(JobCanceled); err != nil {
		return fmt.Errorf("job %s cannot be canceled: %w", j.ID, err)
	}
	return nil
}

// CheckRetry reports whether the job may be retried: a failed or canceled
// job, or a completed one whose cost cap skipped sections, may go back to
// pending through a retry, which runs only its sections that are not
// completed.
func (j Job) CheckRetry() error {
	if j.Status != JobFailed && j.Status != JobCanceled && !(j.Status == JobCompleted && j.CostCapped) {
		return fmt.Errorf("job %s is %s; only failed or canceled jobs can be retried: %w", j.ID, j.Status, ErrConflict)
	}
	return nil
}

// RetryOptions change a job as it is retried.
type RetryOptions struct {
	// MaxCostUSD, when set, replaces the job's cost cap.
	MaxCostUSD *float64
}

// MaxCostLimit bounds a job's cost cap.
const MaxCostLimit = 10000.0

// CheckMaxCost validates a cost cap: nil, or more than 0 and at most
// MaxCostLimit dollars.
func CheckMaxCost(field string, v *float64) error {
	if v == nil {
		return nil
	}
	if !(*v > 0) || *v > MaxCostLimit {
		return Invalid(field, fmt.Sprintf("must be more than 0 and at most %g (US dollars)", MaxCostLimit))
	}
	return nil
}

// SectionOrdinal validates a section result a worker saves for the job and
// returns its position (from 1) in the job's sections. A worker never saves
// a section canceled: only a cancel of the job does.
func (j Job) SectionOrdinal(s SectionResult) (int, error) {
	if err := checkSavedStatus(s); err != nil {
		return 0, err
	}
	if n := j.sectionPosition(s.Key); n > 0 {
		return n, nil
	}
	return 0, Invalid("key", fmt.Sprintf("job %s does not include section %q", j.ID, s.Key))
}

func checkSavedStatus(s SectionResult) error {
	switch s.Status {
	case SectionPending, SectionRunning, SectionCompleted, SectionFailed, SectionSkipped:
		return nil
	}
	return Invalid("status", fmt.Sprintf("a worker saves a section pending, running, completed, failed or skipped, not %q", s.Status))
}

// CheckSave validates what a worker saves in one write, before the job is
// read: the section result s and more results, each with a status a worker
// saves, no section twice. Whether the job includes them is
// SectionOrdinal's to say.
func CheckSave(s SectionResult, more []SectionResult) error {
	if err := checkSavedStatus(s); err != nil {
		return err
	}
	seen := map[string]bool{s.Key: true}
	for _, m := range more {
		if err := checkSavedStatus(m); err != nil {
			return err
		}
		if seen[m.Key] {
			return Invalid("more", fmt.Sprintf("section %q is saved twice in one write", m.Key))
		}
		seen[m.Key] = true
	}
	return nil
}

// FirstSection is the section a worker starts a job with, the
// jurisdiction, when the job includes it: its claim records it running.
func (j Job) FirstSection() (SectionSpec, bool) {
	if j.sectionPosition(JurisdictionKey) == 0 {
		return SectionSpec{}, false
	}
	return LookupSection(JurisdictionKey)
}

// sectionPosition is key's position (from 1) in the job's sections, or 0.
func (j Job) sectionPosition(key string) int {
	for i, k := range j.Sections {
		if k == key {
			return i + 1
		}
	}
	return 0
}

// ClosedSection is a section result a job's end changes, and its position
// (from 1) in the job's sections.
type ClosedSection struct {
	Ordinal int
	Result  SectionResult
}

// CloseSections returns the sections that must change when the job (as it
// is now) has just ended at `at`, so that none of them still looks alive: a
// canceled job's unfinished sections, saved (pending, running) or never
// started, become canceled; a failed job's running sections become failed,
// since their worker is gone. saved are the job's stored results.
func (j Job) CloseSections(saved []SectionResult, at time.Time) []ClosedSection {
	if !j.Status.ClosesSections() {
		return nil
	}
	byKey := make(map[string]SectionResult, len(saved))
	for _, s := range saved {
		byKey[s.Key] = s
	}
	var out []ClosedSection
	for i, key := range j.Sections {
		s, ok := byKey[key]
		if !ok {
			spec, _ := LookupSection(key)
			s = NewSectionResult(spec)
		}
		switch {
		case j.Status == JobCanceled && !s.Status.Finished():
			s.Status, s.Error = SectionCanceled, "the job was canceled before the section finished"
		case j.Status == JobFailed && s.Status == SectionRunning:
			s.Status, s.Error = SectionFailed, "the job ended before the section finished"
		default:
			continue
		}
		if s.StartedAt != nil {
			s.FinishedAt = &at
		}
		out = append(out, ClosedSection{Ordinal: i + 1, Result: s})
	}
	return out
}

// ClosesSections says whether a job's end in status s can close sections
// (Job.CloseSections): only a cancel or a failure does, so a store need
// not read a completed job's sections as it ends.
func (s JobStatus) ClosesSections() bool { return s == JobCanceled || s == JobFailed }

// ResetForRetry is the section as a retry of its job runs it again: pending,
// without the previous run's error and times.
func (s SectionResult) ResetForRetry() SectionResult {
	s.Status, s.Error, s.StartedAt, s.FinishedAt = SectionPending, "", nil, nil
	return s
}

// OutOfAttempts reports whether a job whose lease expired has used up its
// attempts. used counts attempts since the job was created or last retried;
// maxAttempts below one counts as one.
func OutOfAttempts(used, maxAttempts int) bool { return used >= max(maxAttempts, 1) }

// ExhaustedError is the error of a job that ran out of attempts.
func ExhaustedError(attempt, maxAttempts int) string {
	return fmt.Sprintf("worker lost: the lease of attempt %d expired and all %d attempts ran out; retry the job to run it again",
		attempt, max(maxAttempts, 1))
}

// RequeueReason is the event error of a job requeued after its lease expired.
const RequeueReason = "worker lost: lease expired; requeued for another attempt"

// HandoffsExhaustedError is the error of a job that no worker claimed after
// n hand-offs to executor, each given olderThan; ref is the last call.
func HandoffsExhaustedError(n int, olderThan time.Duration, executor, ref string) string {
	return fmt.Sprintf("no worker claimed the job after %d hand-offs to the %s executor, each given %s (last call %q); "+
		"check that the executor's workers start and can reach the job (for Modal: the app is deployed, its containers "+
		"start, and the function's logs show codecheck work running); retry the job once fixed", n, executor, olderThan, ref)
}

// StaleHandoffError explains a hand-off made again because no worker claimed
// the job within olderThan.
func StaleHandoffError(olderThan time.Duration) string {
	return fmt.Sprintf("no worker claimed the job within %s of its hand-off to the executor; handing it off again", olderThan)
}
