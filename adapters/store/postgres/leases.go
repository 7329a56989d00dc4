package postgres

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/codecheck/codecheck/adapters/store/internal/policy"
	"github.com/codecheck/codecheck/domain"
	"github.com/codecheck/codecheck/ports"
)

// Claim implements ports.JobStore. Without a job id it skips rows other
// claimers hold locked, so concurrent workers never wait for each other.
func (s *Store) Claim(ctx context.Context, req ports.ClaimRequest) (domain.Job, error) {
	if err := policy.CheckLease(req.Lease); err != nil {
		return domain.Job{}, err
	}
	var job domain.Job
	err := s.write(ctx, func(ctx context.Context, x *txn) error {
		id, err := x.claimable(ctx, req.JobID)
		if err != nil {
			return err
		}
		_, err = x.tx.Exec(ctx, `UPDATE jobs SET status = 'processing', attempt = attempt + 1, worker = $2,
			lease_expires_at = $3, started_at = coalesce(started_at, $4), updated_at = $4, dispatch_error = '',
			executor = CASE WHEN executor = '' THEN $5 ELSE executor END
			WHERE id = $1`,
			id, req.Worker, x.now.Add(req.Lease), x.now, req.Executor)
		if err != nil {
			return fmt.Errorf("postgres: claim %s: %w", id, err)
		}
		if job, err = getJob(ctx, x.tx, id); err != nil {
			return err
		}
		return x.jobEvent(ctx, job, "")
	})
	return job, err
}

// claimable locks and returns the id of the job to claim: jobID if it may
// be claimed, or the oldest pending job no one else is claiming.
func (x *txn) claimable(ctx context.Context, jobID string) (string, error) {
	if jobID != "" {
		cur, err := lockJob(ctx, x, jobID)
		if err != nil {
			return "", err
		}
		return jobID, policy.CheckClaim(cur, x.now)
	}
	var id string
	err := x.tx.QueryRow(ctx, `SELECT id FROM jobs WHERE status = 'pending'
		ORDER BY created_at, id LIMIT 1 FOR UPDATE SKIP LOCKED`).Scan(&id)
	if errors.Is(err, pgx.ErrNoRows) {
		return "", domain.ErrNoJob
	}
	if err != nil {
		return "", fmt.Errorf("postgres: claim: %w", err)
	}
	return id, nil
}

// fenced runs an UPDATE whose $1 and $2 are the lease's job id and attempt
// and whose WHERE is whereLease. When no row matched it tells an unknown
// job (domain.ErrNotFound) from a lost lease.
func (x *txn) fenced(ctx context.Context, l ports.Lease, query string, args ...any) error {
	tag, err := x.tx.Exec(ctx, query, append([]any{l.JobID, l.Attempt}, args...)...)
	if err != nil {
		return fmt.Errorf("postgres: job %s attempt %d: %w", l.JobID, l.Attempt, err)
	}
	if tag.RowsAffected() == 1 {
		return nil
	}
	cur, err := getJob(ctx, x.tx, l.JobID)
	if err != nil {
		return err
	}
	return fmt.Errorf("job %s attempt %d: job is %s at attempt %d: %w", l.JobID, l.Attempt, cur.Status, cur.Attempt, domain.ErrLeaseLost)
}

const whereLease = ` WHERE id = $1 AND attempt = $2 AND status = 'processing'`

// Heartbeat implements ports.JobStore. It changes nothing a watcher sees, so
// it records no event and notifies nobody.
func (s *Store) Heartbeat(ctx context.Context, l ports.Lease, d time.Duration) error {
	if err := policy.CheckLease(d); err != nil {
		return err
	}
	return s.write(ctx, func(ctx context.Context, x *txn) error {
		return x.fenced(ctx, l, `UPDATE jobs SET lease_expires_at = $3`+whereLease, x.now.Add(d))
	})
}

// SaveSection implements ports.JobStore. The fenced UPDATE of the job row
// comes first: it locks the row, so the job's events are numbered in commit
// order even when sections finish at the same moment.
func (s *Store) SaveSection(ctx context.Context, l ports.Lease, sec domain.SectionResult) error {
	result, err := json.Marshal(sec)
	if err != nil {
		return fmt.Errorf("postgres: section %s: %w", sec.Key, err)
	}
	return s.write(ctx, func(ctx context.Context, x *txn) error {
		if err := x.fenced(ctx, l, `UPDATE jobs SET updated_at = $3`+whereLease, x.now); err != nil {
			return err
		}
		before, err := getJob(ctx, x.tx, l.JobID)
		if err != nil {
			return err
		}
		ordinal, err := policy.CheckSection(before, sec)
		if err != nil {
			return err
		}
		// The result goes as text cast to jsonb: under the simple protocol
		// a []byte would be sent as bytea.
		_, err = x.tx.Exec(ctx, `INSERT INTO sections (job_id, key, ordinal, status, result, updated_at)
			VALUES ($1, $2, $3, $4, $5::jsonb, $6)
			ON CONFLICT (job_id, key) DO UPDATE SET status = excluded.status, result = excluded.result,
				ordinal = excluded.ordinal, updated_at = excluded.updated_at`,
			l.JobID, sec.Key, ordinal, string(sec.Status), string(result), x.now)
		if err != nil {
			return fmt.Errorf("postgres: save section %s of job %s: %w", sec.Key, l.JobID, err)
		}
		return x.sectionSaved(ctx, before, sec)
	})
}

// sectionSaved records the events of a saved section.
func (x *txn) sectionSaved(ctx context.Context, before domain.Job, sec domain.SectionResult) error {
	after, err := getJob(ctx, x.tx, before.ID)
	if err != nil {
		return err
	}
	x.touch(after.ID)
	for _, e := range policy.SectionSavedEvents(before, after, sec) {
		if err := x.event(ctx, e); err != nil {
			return err
		}
	}
	return nil
}

// Sections implements ports.JobStore.
func (s *Store) Sections(ctx context.Context, jobID string) ([]domain.SectionResult, error) {
	if _, err := getJob(ctx, s.pool, jobID); err != nil {
		return nil, err
	}
	rows, err := s.pool.Query(ctx, `SELECT result::text FROM sections WHERE job_id = $1 ORDER BY ordinal`, jobID)
	if err != nil {
		return nil, fmt.Errorf("postgres: sections of %s: %w", jobID, err)
	}
	out, err := pgx.CollectRows(rows, func(r pgx.CollectableRow) (domain.SectionResult, error) {
		var raw string
		var sec domain.SectionResult
		if err := r.Scan(&raw); err != nil {
			return sec, err
		}
		return sec, json.Unmarshal([]byte(raw), &sec)
	})
	if err != nil {
		return nil, fmt.Errorf("postgres: sections of %s: %w", jobID, err)
	}
	return out, nil
}

// Finish implements ports.JobStore.
func (s *Store) Finish(ctx context.Context, l ports.Lease, status domain.JobStatus, errMsg string) (domain.Job, error) {
	if err := policy.CheckFinish(status); err != nil {
		return domain.Job{}, err
	}
	var job domain.Job
	err := s.write(ctx, func(ctx context.Context, x *txn) error {
		err := x.fenced(ctx, l, `UPDATE jobs SET status = $3, error = $4, lease_expires_at = NULL,
			finished_at = $5, updated_at = $5`+whereLease, string(status), errMsg, x.now)
		if err != nil {
			return err
		}
		if job, err = getJob(ctx, x.tx, l.JobID); err != nil {
			return err
		}
		return x.jobEvent(ctx, job, job.Error)
	})
	return job, err
}

// Release implements ports.JobStore. The reason goes into the job event,
// not the job's error: a released job has not failed.
func (s *Store) Release(ctx context.Context, l ports.Lease, reason string) error {
	return s.write(ctx, func(ctx context.Context, x *txn) error {
		err := x.fenced(ctx, l, `UPDATE jobs SET status = 'pending', lease_expires_at = NULL, worker = '',
			updated_at = $3`+whereLease, x.now)
		if err != nil {
			return err
		}
		job, err := getJob(ctx, x.tx, l.JobID)
		if err != nil {
			return err
		}
		return x.jobEvent(ctx, job, reason)
	})
}
