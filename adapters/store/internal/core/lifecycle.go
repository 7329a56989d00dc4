package core

import (
	"context"

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
// attempt number, the fencing token, keeps increasing. A hand-off of the
// next attempt that no worker claimed (a job canceled, or failed, while it
// waited for its worker) is void: its call was canceled with the job, so
// dispatched_attempt goes back and the dispatcher hands the attempt off
// again at once.
func (s *Store) Retry(ctx context.Context, id string, opts domain.RetryOptions) (domain.Job, error) {
	if err := domain.CheckMaxCost("max_cost_usd", opts.MaxCostUSD); err != nil {
		return domain.Job{}, err
	}
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
			lease_expires_at = NULL, finished_at = NULL, dispatch_error = '', handoffs = 0, handoff_owner = '',
			handoff_until = NULL, updated_at = $2,
			dispatched_attempt = CASE WHEN dispatched_attempt > attempt THEN attempt ELSE dispatched_attempt END,
			cost_capped = 0, max_cost_usd = coalesce($3, max_cost_usd)
			WHERE id = $1`, id, x.now, opts.MaxCostUSD)
		if err != nil {
			return x.sql.wrap(err, "retry %s", id)
		}
		unfinished, err := x.sql.sections(ctx, x.db, id, string(domain.SectionCompleted))
		if err != nil {
			return err
		}
		for _, sec := range unfinished {
			sec = sec.ResetForRetry()
			ordinal, err := cur.SectionOrdinal(sec)
			if err != nil {
				return err
			}
			if err := x.putSection(ctx, id, ordinal, sec); err != nil {
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
