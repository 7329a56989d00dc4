package sqlite

import (
	"context"
	"fmt"
	"time"

	"github.com/codecheck/codecheck/adapters/store/internal/policy"
	"github.com/codecheck/codecheck/domain"
	"github.com/codecheck/codecheck/ports"
)

// Cancel implements ports.JobStore.
func (s *Store) Cancel(ctx context.Context, id string) (domain.Job, error) {
	var job domain.Job
	err := s.write(ctx, func(ctx context.Context, x *txn) error {
		cur, err := getJob(ctx, x.tx, id)
		if err != nil {
			return err
		}
		if err := policy.CheckCancel(id, cur.Status); err != nil {
			return err
		}
		_, err = x.tx.ExecContext(ctx, `UPDATE jobs SET status = 'canceled', lease_expires_at = NULL,
			finished_at = ?, updated_at = ? WHERE id = ?`, x.micros(), x.micros(), id)
		if err != nil {
			return fmt.Errorf("sqlite: cancel %s: %w", id, err)
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
		cur, err := getJob(ctx, x.tx, id)
		if err != nil {
			return err
		}
		if err := policy.CheckRetry(id, cur.Status); err != nil {
			return err
		}
		_, err = x.tx.ExecContext(ctx, `UPDATE jobs SET status = 'pending', error = '', attempt_floor = attempt,
			lease_expires_at = NULL, finished_at = NULL, dispatch_error = '', updated_at = ? WHERE id = ?`, x.micros(), id)
		if err != nil {
			return fmt.Errorf("sqlite: retry %s: %w", id, err)
		}
		// Sections that did not complete run again: back to pending,
		// without the previous run's error and times.
		_, err = x.tx.ExecContext(ctx, `UPDATE sections SET status = 'pending',
			result = json_remove(json_set(result, '$.status', 'pending'), '$.error', '$.started_at', '$.finished_at'),
			updated_at = ? WHERE job_id = ? AND status <> 'completed'`, x.micros(), id)
		if err != nil {
			return fmt.Errorf("sqlite: retry %s: reset sections: %w", id, err)
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
	return queryJobs(ctx, s.reader, selectJob+` WHERE j.status = 'pending' AND j.dispatched_attempt <= j.attempt
		ORDER BY j.created_at, j.id LIMIT ?`, policy.DispatchLimit(limit))
}

// MarkDispatched implements ports.JobStore.
func (s *Store) MarkDispatched(ctx context.Context, jobID string, attempt int, executor, ref string) error {
	return s.write(ctx, func(ctx context.Context, x *txn) error {
		res, err := x.tx.ExecContext(ctx, `UPDATE jobs SET dispatched_attempt = ?, executor = ?, executor_ref = ?,
			dispatch_error = '', dispatched_at = ?, updated_at = ?
			WHERE id = ? AND dispatched_attempt < ?
			AND ((status = 'pending' AND attempt + 1 = ?) OR (status = 'processing' AND attempt = ?))`,
			attempt, executor, ref, x.micros(), x.micros(), jobID, attempt, attempt, attempt)
		if err != nil {
			return fmt.Errorf("sqlite: mark %s dispatched: %w", jobID, err)
		}
		if n, _ := res.RowsAffected(); n == 1 {
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
		rows, err := x.tx.QueryContext(ctx, `UPDATE jobs SET dispatched_attempt = attempt, dispatch_error = ?, updated_at = ?
			WHERE status = 'pending' AND dispatched_attempt > attempt AND dispatched_at <= ?
			RETURNING id`, policy.StaleHandoffError(olderThan), x.micros(), x.now.Add(-olderThan).UnixMicro())
		if err != nil {
			return fmt.Errorf("sqlite: stale hand-offs: %w", err)
		}
		var ids []string
		for rows.Next() {
			var id string
			if err := rows.Scan(&id); err != nil {
				rows.Close()
				return fmt.Errorf("sqlite: stale hand-offs: %w", err)
			}
			ids = append(ids, id)
		}
		if err := rows.Close(); err != nil {
			return fmt.Errorf("sqlite: stale hand-offs: %w", err)
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
		res, err := x.tx.ExecContext(ctx, `UPDATE jobs SET dispatch_error = ?, updated_at = ? WHERE id = ?`,
			reason, x.micros(), jobID)
		if err != nil {
			return fmt.Errorf("sqlite: dispatch error of %s: %w", jobID, err)
		}
		if n, _ := res.RowsAffected(); n == 0 {
			return policy.NotFound(jobID)
		}
		x.touch(jobID)
		return nil
	})
}

// RescueExpired implements ports.JobStore.
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
	rows, err := x.tx.QueryContext(ctx, `SELECT id, attempt, attempt - attempt_floor FROM jobs
		WHERE status = 'processing' AND lease_expires_at <= ? ORDER BY lease_expires_at, id`, x.micros())
	if err != nil {
		return nil, fmt.Errorf("sqlite: expired leases: %w", err)
	}
	defer rows.Close()
	var out []expiredJob
	for rows.Next() {
		var e expiredJob
		if err := rows.Scan(&e.id, &e.attempt, &e.used); err != nil {
			return nil, fmt.Errorf("sqlite: expired leases: %w", err)
		}
		out = append(out, e)
	}
	return out, rows.Err()
}

// rescue requeues or fails one expired job and records its event.
func (x *txn) rescue(ctx context.Context, e expiredJob, maxAttempts int) (domain.Job, error) {
	var err error
	reason := policy.RequeueReason
	if policy.OutOfAttempts(e.used, maxAttempts) {
		reason = policy.ExhaustedError(e.attempt, maxAttempts)
		_, err = x.tx.ExecContext(ctx, `UPDATE jobs SET status = 'failed', error = ?, lease_expires_at = NULL,
			finished_at = ?, updated_at = ? WHERE id = ?`, reason, x.micros(), x.micros(), e.id)
	} else {
		_, err = x.tx.ExecContext(ctx, `UPDATE jobs SET status = 'pending', lease_expires_at = NULL, worker = '',
			updated_at = ? WHERE id = ?`, x.micros(), e.id)
	}
	if err != nil {
		return domain.Job{}, fmt.Errorf("sqlite: rescue %s: %w", e.id, err)
	}
	job, err := getJob(ctx, x.tx, e.id)
	if err != nil {
		return domain.Job{}, err
	}
	return job, x.jobEvent(ctx, job, reason)
}
