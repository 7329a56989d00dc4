package core

import (
	"context"
	"fmt"
	"strings"
	"time"

	"github.com/codecheck/codecheck/adapters/store/internal/driver"
	"github.com/codecheck/codecheck/domain"
	"github.com/codecheck/codecheck/ports"
)

// ReserveHandoffs implements ports.JobStore. Rows other dispatchers are
// reserving right now are passed over.
func (s *Store) ReserveHandoffs(ctx context.Context, r ports.ReserveHandoffs) ([]domain.Job, error) {
	if r.Owner == "" {
		return nil, domain.Invalid("owner", "is required")
	}
	if _, err := domain.LeaseUntil(time.Time{}, r.Hold); err != nil {
		return nil, err
	}
	// A cheap read first: every job change wakes every dispatcher, and most
	// wake-ups find nothing to hand off, which needs no write transaction.
	// Its order is the index's (jobs_awaiting_handoff), so that the planner
	// takes the index and never walks the jobs handed off already.
	waiting, err := collect(ctx, s.db, scanString, `SELECT id FROM jobs
		WHERE status = 'pending' AND dispatched_attempt <= attempt AND (handoff_until IS NULL OR handoff_until <= $1)
		ORDER BY created_at, id LIMIT 1`, s.now())
	if err != nil || len(waiting) == 0 {
		return nil, err
	}
	limit := batch(r.Limit)
	var jobs []domain.Job
	err = s.write(ctx, func(ctx context.Context, x *txn) error {
		ids, err := collect(ctx, x.db, scanString, `SELECT id FROM jobs
			WHERE status = 'pending' AND dispatched_attempt <= attempt
			AND (handoff_until IS NULL OR handoff_until <= $1)
			ORDER BY created_at, id LIMIT $2`+x.sql.SkipLocked, x.now, limit)
		if err != nil || len(ids) == 0 {
			return err
		}
		until, _ := domain.LeaseUntil(x.now, r.Hold)
		in, args := params(3, ids)
		if _, err := x.db.Exec(ctx, `UPDATE jobs SET handoff_owner = $1, handoff_until = $2 WHERE id IN (`+in+`)`,
			append([]any{r.Owner, until}, args...)...); err != nil {
			return x.sql.wrap(err, "reserve hand-offs")
		}
		in, _ = params(1, ids)
		jobs, err = x.sql.jobs(ctx, x.db, selectJob+` WHERE j.id IN (`+in+`) ORDER BY j.created_at, j.id`, args...)
		return err
	})
	return jobs, err
}

// batch applies the default to a pass's limit.
func batch(limit int) int {
	if limit <= 0 {
		return defaultDispatchLimit
	}
	return limit
}

// params returns "$from, $from+1, ..." for vs, and vs as arguments.
func params(from int, vs []string) (string, []any) {
	ps, args := make([]string, len(vs)), make([]any, len(vs))
	for i, v := range vs {
		ps[i], args[i] = fmt.Sprintf("$%d", from+i), v
	}
	return strings.Join(ps, ", "), args
}

// MarkDispatched implements ports.JobStore.
func (s *Store) MarkDispatched(ctx context.Context, jobID string, attempt int, executor, ref string) error {
	return s.writeOne(ctx, func(ctx context.Context, x *txn) error {
		n, err := x.db.Exec(ctx, `UPDATE jobs SET dispatched_attempt = $2, executor = $3, executor_ref = $4,
			dispatch_error = '', dispatched_at = $5, updated_at = $5,
			handoff_owner = '', handoff_until = NULL, handoffs = handoffs + 1
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

// HandoffFailed implements ports.JobStore.
func (s *Store) HandoffFailed(ctx context.Context, jobID, reason string, retryAt time.Time) error {
	return s.writeOne(ctx, func(ctx context.Context, x *txn) error {
		n, err := x.db.Exec(ctx, `UPDATE jobs SET dispatch_error = $2, handoff_owner = '', handoff_until = $3,
			updated_at = $4 WHERE id = $1`, jobID, reason, retryAt.UTC().Truncate(time.Microsecond), x.now)
		if err != nil {
			return x.sql.wrap(err, "hand-off error of %s", jobID)
		}
		if n == 0 {
			return notFound(jobID)
		}
		x.touch(jobID)
		return nil
	})
}

// staleHandoff is a hand-off no worker claimed in time.
type staleHandoff struct {
	id, executor, ref string
	handoffs          int
}

func scanStale(r driver.Rows) (h staleHandoff, err error) {
	return h, r.Scan(&h.id, &h.handoffs, &h.executor, &h.ref)
}

// RedispatchStale implements ports.JobStore.
func (s *Store) RedispatchStale(ctx context.Context, st ports.StaleHandoffs) (ports.Redispatch, error) {
	var out ports.Redispatch
	err := s.write(ctx, func(ctx context.Context, x *txn) error {
		out = ports.Redispatch{}
		stale, err := collect(ctx, x.db, scanStale, `SELECT id, handoffs, executor, executor_ref FROM jobs
			WHERE status = 'pending' AND dispatched_attempt > attempt AND dispatched_at <= $1
			ORDER BY dispatched_at, id LIMIT $2`+x.sql.SkipLocked, x.now.Add(-st.OlderThan), batch(st.Limit))
		if err != nil {
			return x.sql.wrap(err, "stale hand-offs")
		}
		for _, h := range stale {
			job, err := x.redispatch(ctx, h, st)
			if err != nil {
				return err
			}
			if job.Status == domain.JobFailed {
				out.Failed = append(out.Failed, job)
			} else {
				out.Again = append(out.Again, job)
			}
		}
		return nil
	})
	return out, err
}

// redispatch makes one stale hand-off dispatchable again, reserved for the
// caller, or fails the job when it ran out of hand-offs.
func (x *txn) redispatch(ctx context.Context, h staleHandoff, st ports.StaleHandoffs) (domain.Job, error) {
	if domain.OutOfAttempts(h.handoffs, st.MaxHandoffs) {
		_, err := x.db.Exec(ctx, `UPDATE jobs SET status = 'failed', error = $2, finished_at = $3, updated_at = $3,
			handoff_owner = '', handoff_until = NULL WHERE id = $1`,
			h.id, domain.HandoffsExhaustedError(h.handoffs, st.OlderThan, h.executor, h.ref), x.now)
		if err != nil {
			return domain.Job{}, x.sql.wrap(err, "fail stale hand-off of %s", h.id)
		}
		return x.ended(ctx, h.id)
	}
	until, _ := domain.LeaseUntil(x.now, max(st.Hold, time.Microsecond))
	_, err := x.db.Exec(ctx, `UPDATE jobs SET dispatched_attempt = attempt, dispatch_error = $2, updated_at = $3,
		handoff_owner = $4, handoff_until = $5 WHERE id = $1`,
		h.id, domain.StaleHandoffError(st.OlderThan), x.now, st.Owner, until)
	if err != nil {
		return domain.Job{}, x.sql.wrap(err, "redispatch %s", h.id)
	}
	x.touch(h.id)
	return x.get(ctx, h.id)
}
