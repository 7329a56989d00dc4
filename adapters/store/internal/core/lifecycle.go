package core

import (
	"context"
	"fmt"
	"time"

	"github.com/codecheck/codecheck/adapters/store/internal/driver"
	"github.com/codecheck/codecheck/domain"
	"github.com/codecheck/codecheck/ports"
)

// Cancel implements ports.JobStore.
func (s *Store) Cancel(ctx context.Context, id string) (domain.Job, error) {
	var job domain.Job
	err := s.write(ctx, func(ctx context.Context, x *txn) error {
		cur, err := x.lock(ctx, id)
		if err != nil {
			return err
		}
		if err := cur.CheckCancel(); err != nil {
			return err
		}
		_, err = x.db.Exec(ctx, `UPDATE jobs SET status = 'canceled', lease_expires_at = NULL,
			finished_at = $2, updated_at = $2 WHERE id = $1`, id, x.now)
		if err != nil {
			return x.sql.wrap(err, "cancel %s", id)
		}
		job, err = x.ended(ctx, id)
		return err
	})
	return job, err
}

// Retry implements ports.JobStore. attempt_floor remembers the attempt the
// retry started from, so RescueExpired counts attempts afresh while the
// attempt number, the fencing token, keeps increasing.
func (s *Store) Retry(ctx context.Context, id string) (domain.Job, error) {
	var job domain.Job
	err := s.write(ctx, func(ctx context.Context, x *txn) error {
		cur, err := x.lock(ctx, id)
		if err != nil {
			return err
		}
		if err := cur.CheckRetry(); err != nil {
			return err
		}
		_, err = x.db.Exec(ctx, `UPDATE jobs SET status = 'pending', error = '', attempt_floor = attempt,
			lease_expires_at = NULL, finished_at = NULL, dispatch_error = '', updated_at = $2 WHERE id = $1`, id, x.now)
		if err != nil {
			return x.sql.wrap(err, "retry %s", id)
		}
		unfinished, err := x.sql.sections(ctx, x.db, id, string(domain.SectionCompleted))
		if err != nil {
			return err
		}
		for _, sec := range unfinished {
			ordinal, _ := cur.SectionOrdinal(sec)
			if err := x.putSection(ctx, id, ordinal, sec.ResetForRetry()); err != nil {
				return err
			}
		}
		if job, err = x.get(ctx, id); err != nil {
			return err
		}
		return x.jobEvent(ctx, job, "")
	})
	return job, err
}

// MarkDispatched implements ports.JobStore.
func (s *Store) MarkDispatched(ctx context.Context, jobID string, attempt int, executor, ref string) error {
	return s.write(ctx, func(ctx context.Context, x *txn) error {
		n, err := x.db.Exec(ctx, `UPDATE jobs SET dispatched_attempt = $2, executor = $3, executor_ref = $4,
			dispatch_error = '', dispatched_at = $5, updated_at = $5
			WHERE id = $1 AND dispatched_attempt < $2
			AND ((status = 'pending' AND attempt + 1 = $2) OR (status = 'processing' AND attempt = $2))`,
			jobID, attempt, executor, ref, x.now)
		if err != nil {
			return x.sql.wrap(err, "mark %s dispatched", jobID)
		}
		if n == 1 {
			x.touch(jobID)
			return nil
		}
		cur, err := x.get(ctx, jobID)
		if err != nil {
			return err
		}
		return fmt.Errorf("job %s is %s at attempt %d, dispatched attempt %d; cannot dispatch attempt %d: %w",
			jobID, cur.Status, cur.Attempt, cur.DispatchedAttempt, attempt, domain.ErrConflict)
	})
}

// RedispatchStale implements ports.JobStore.
func (s *Store) RedispatchStale(ctx context.Context, olderThan time.Duration) ([]domain.Job, error) {
	var jobs []domain.Job
	err := s.write(ctx, func(ctx context.Context, x *txn) error {
		ids, err := collect(ctx, x.db, scanString, `UPDATE jobs SET dispatched_attempt = attempt, dispatch_error = $1, updated_at = $2
			WHERE status = 'pending' AND dispatched_attempt > attempt AND dispatched_at <= $3
			RETURNING id`, domain.StaleHandoffError(olderThan), x.now, x.now.Add(-olderThan))
		if err != nil {
			return x.sql.wrap(err, "stale hand-offs")
		}
		jobs = nil
		for _, id := range ids {
			job, err := x.get(ctx, id)
			if err != nil {
				return err
			}
			x.touch(id)
			jobs = append(jobs, job)
		}
		return nil
	})
	return jobs, err
}

// SetDispatchError implements ports.JobStore.
func (s *Store) SetDispatchError(ctx context.Context, jobID string, reason string) error {
	return s.write(ctx, func(ctx context.Context, x *txn) error {
		n, err := x.db.Exec(ctx, `UPDATE jobs SET dispatch_error = $2, updated_at = $3 WHERE id = $1`, jobID, reason, x.now)
		if err != nil {
			return x.sql.wrap(err, "dispatch error of %s", jobID)
		}
		if n == 0 {
			return notFound(jobID)
		}
		x.touch(jobID)
		return nil
	})
}

// RescueExpired implements ports.JobStore. Where the engine allows several
// writers, rows another transaction holds (a worker heartbeating right now,
// another process rescuing) are passed over and left for the next pass.
func (s *Store) RescueExpired(ctx context.Context, maxAttempts int) (ports.Rescue, error) {
	var r ports.Rescue
	err := s.write(ctx, func(ctx context.Context, x *txn) error {
		r = ports.Rescue{}
		expired, err := collect(ctx, x.db, scanExpired, `SELECT id, attempt, attempt - attempt_floor FROM jobs
			WHERE status = 'processing' AND lease_expires_at <= $1
			ORDER BY lease_expires_at, id`+x.sql.SkipLocked, x.now)
		if err != nil {
			return x.sql.wrap(err, "expired leases")
		}
		for _, e := range expired {
			job, err := x.rescue(ctx, e, maxAttempts)
			if err != nil {
				return err
			}
			if job.Status == domain.JobFailed {
				r.Failed = append(r.Failed, job)
			} else {
				r.Requeued = append(r.Requeued, job)
			}
		}
		return nil
	})
	return r, err
}

// expiredJob is a processing job whose lease ran out, and how many attempts
// it used since it was created or last retried.
type expiredJob struct {
	id            string
	attempt, used int
}

func scanExpired(r driver.Rows) (e expiredJob, err error) {
	return e, r.Scan(&e.id, &e.attempt, &e.used)
}

// rescue requeues or fails one expired job and records its event.
func (x *txn) rescue(ctx context.Context, e expiredJob, maxAttempts int) (domain.Job, error) {
	if domain.OutOfAttempts(e.used, maxAttempts) {
		_, err := x.db.Exec(ctx, `UPDATE jobs SET status = 'failed', error = $2, lease_expires_at = NULL,
			finished_at = $3, updated_at = $3 WHERE id = $1`, e.id, domain.ExhaustedError(e.attempt, maxAttempts), x.now)
		if err != nil {
			return domain.Job{}, x.sql.wrap(err, "rescue %s", e.id)
		}
		return x.ended(ctx, e.id)
	}
	_, err := x.db.Exec(ctx, `UPDATE jobs SET status = 'pending', lease_expires_at = NULL, worker = '',
		updated_at = $2 WHERE id = $1`, e.id, x.now)
	if err != nil {
		return domain.Job{}, x.sql.wrap(err, "rescue %s", e.id)
	}
	job, err := x.get(ctx, e.id)
	if err != nil {
		return domain.Job{}, err
	}
	return job, x.jobEvent(ctx, job, domain.RequeueReason)
}
