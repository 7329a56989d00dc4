package postgres

import (
	"context"
	"fmt"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/codecheck/codecheck/adapters/store/internal/policy"
	"github.com/codecheck/codecheck/domain"
	"github.com/codecheck/codecheck/ports"
)

// Cancel implements ports.JobStore.
func (s *Store) Cancel(ctx context.Context, id string) (domain.Job, error) {
	var job domain.Job
	err := s.write(ctx, func(ctx context.Context, x *txn) error {
		cur, err := lockJob(ctx, x, id)
		if err != nil {
			return err
		}
		if err := policy.CheckCancel(id, cur.Status); err != nil {
			return err
		}
		_, err = x.tx.Exec(ctx, `UPDATE jobs SET status = 'canceled', lease_expires_at = NULL,
			finished_at = $2, updated_at = $2 WHERE id = $1`, id, x.now)
		if err != nil {
			return fmt.Errorf("postgres: cancel %s: %w", id, err)
		}
		if job, err = getJob(ctx, x.tx, id); err != nil {
			return err
		}
		return x.jobEvent(ctx, job, job.Error)
	})
	return job, err
}

// Retry implements ports.JobStore. attempt_floor remembers the attempt the
// retry started from, so RescueExpired counts attempts afresh while the
// attempt number, the fencing token, keeps increasing.
func (s *Store) Retry(ctx context.Context, id string) (domain.Job, error) {
	var job domain.Job
	err := s.write(ctx, func(ctx context.Context, x *txn) error {
		cur, err := lockJob(ctx, x, id)
		if err != nil {
			return err
		}
		if err := policy.CheckRetry(id, cur.Status); err != nil {
			return err
		}
		_, err = x.tx.Exec(ctx, `UPDATE jobs SET status = 'pending', error = '', attempt_floor = attempt,
			lease_expires_at = NULL, finished_at = NULL, dispatch_error = '', updated_at = $2 WHERE id = $1`, id, x.now)
		if err != nil {
			return fmt.Errorf("postgres: retry %s: %w", id, err)
		}
		// Sections that did not complete run again: back to pending,
		// without the previous run's error and times.
		_, err = x.tx.Exec(ctx, `UPDATE sections SET status = 'pending',
			result = (result || '{"status": "pending"}'::jsonb) - 'error' - 'started_at' - 'finished_at',
			updated_at = $2 WHERE job_id = $1 AND status <> 'completed'`, id, x.now)
		if err != nil {
			return fmt.Errorf("postgres: retry %s: reset sections: %w", id, err)
		}
		if job, err = getJob(ctx, x.tx, id); err != nil {
			return err
		}
		return x.jobEvent(ctx, job, "")
	})
	return job, err
}

// Dispatchable implements ports.JobStore.
func (s *Store) Dispatchable(ctx context.Context, limit int) ([]domain.Job, error) {
	return queryJobs(ctx, s.pool, selectJob+` WHERE j.status = 'pending' AND j.dispatched_attempt <= j.attempt
		ORDER BY j.created_at, j.id LIMIT $1`, policy.DispatchLimit(limit))
}

// MarkDispatched implements ports.JobStore.
func (s *Store) MarkDispatched(ctx context.Context, jobID string, attempt int, executor, ref string) error {
	return s.write(ctx, func(ctx context.Context, x *txn) error {
		tag, err := x.tx.Exec(ctx, `UPDATE jobs SET dispatched_attempt = $2, executor = $3, executor_ref = $4,
			dispatch_error = '', dispatched_at = $5, updated_at = $5
			WHERE id = $1 AND dispatched_attempt < $2
			AND ((status = 'pending' AND attempt + 1 = $2) OR (status = 'processing' AND attempt = $2))`,
			jobID, attempt, executor, ref, x.now)
		if err != nil {
			return fmt.Errorf("postgres: mark %s dispatched: %w", jobID, err)
		}
		if tag.RowsAffected() == 1 {
			x.touch(jobID)
			return nil
		}
		cur, err := getJob(ctx, x.tx, jobID)
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
		jobs = nil
		rows, err := x.tx.Query(ctx, `UPDATE jobs SET dispatched_attempt = attempt, dispatch_error = $1, updated_at = $2
			WHERE status = 'pending' AND dispatched_attempt > attempt AND dispatched_at <= $3
			RETURNING id`, policy.StaleHandoffError(olderThan), x.now, x.now.Add(-olderThan))
		if err != nil {
			return fmt.Errorf("postgres: stale hand-offs: %w", err)
		}
		ids, err := pgx.CollectRows(rows, pgx.RowTo[string])
		if err != nil {
			return fmt.Errorf("postgres: stale hand-offs: %w", err)
		}
		for _, id := range ids {
			job, err := getJob(ctx, x.tx, id)
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
		tag, err := x.tx.Exec(ctx, `UPDATE jobs SET dispatch_error = $2, updated_at = $3 WHERE id = $1`,
			jobID, reason, x.now)
		if err != nil {
			return fmt.Errorf("postgres: dispatch error of %s: %w", jobID, err)
		}
		if tag.RowsAffected() == 0 {
			return policy.NotFound(jobID)
		}
		x.touch(jobID)
		return nil
	})
}

// RescueExpired implements ports.JobStore. Rows another transaction holds
// (a worker heartbeating right now, another dispatcher rescuing) are
// skipped and left for the next pass.
func (s *Store) RescueExpired(ctx context.Context, maxAttempts int) (ports.Rescue, error) {
	var r ports.Rescue
	err := s.write(ctx, func(ctx context.Context, x *txn) error {
		r = ports.Rescue{}
		expired, err := x.expired(ctx)
		if err != nil {
			return err
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

func (x *txn) expired(ctx context.Context) ([]expiredJob, error) {
	rows, err := x.tx.Query(ctx, `SELECT id, attempt, attempt - attempt_floor FROM jobs
		WHERE status = 'processing' AND lease_expires_at <= $1
		ORDER BY lease_expires_at, id FOR UPDATE SKIP LOCKED`, x.now)
	if err != nil {
		return nil, fmt.Errorf("postgres: expired leases: %w", err)
	}
	out, err := pgx.CollectRows(rows, func(r pgx.CollectableRow) (expiredJob, error) {
		var e expiredJob
		return e, r.Scan(&e.id, &e.attempt, &e.used)
	})
	if err != nil {
		return nil, fmt.Errorf("postgres: expired leases: %w", err)
	}
	return out, nil
}

// rescue requeues or fails one expired job and records its event.
func (x *txn) rescue(ctx context.Context, e expiredJob, maxAttempts int) (domain.Job, error) {
	var err error
	reason := policy.RequeueReason
	if policy.OutOfAttempts(e.used, maxAttempts) {
		reason = policy.ExhaustedError(e.attempt, maxAttempts)
		_, err = x.tx.Exec(ctx, `UPDATE jobs SET status = 'failed', error = $2, lease_expires_at = NULL,
			finished_at = $3, updated_at = $3 WHERE id = $1`, e.id, reason, x.now)
	} else {
		_, err = x.tx.Exec(ctx, `UPDATE jobs SET status = 'pending', lease_expires_at = NULL, worker = '',
			updated_at = $2 WHERE id = $1`, e.id, x.now)
	}
	if err != nil {
		return domain.Job{}, fmt.Errorf("postgres: rescue %s: %w", e.id, err)
	}
	job, err := getJob(ctx, x.tx, e.id)
	if err != nil {
		return domain.Job{}, err
	}
	return job, x.jobEvent(ctx, job, reason)
}
