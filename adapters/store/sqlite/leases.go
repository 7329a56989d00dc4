package sqlite

import (
	"context"
	"database/sql"
	"encoding/json"
	"errors"
	"fmt"
	"time"

	"github.com/codecheck/codecheck/adapters/store/internal/policy"
	"github.com/codecheck/codecheck/domain"
	"github.com/codecheck/codecheck/ports"
)

// Claim implements ports.JobStore.
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
		_, err = x.tx.ExecContext(ctx, `UPDATE jobs SET status = 'processing', attempt = attempt + 1, worker = ?,
			lease_expires_at = ?, started_at = coalesce(started_at, ?), updated_at = ?, dispatch_error = '',
			executor = CASE WHEN executor = '' THEN ? ELSE executor END
			WHERE id = ?`,
			req.Worker, x.now.Add(req.Lease).UnixMicro(), x.micros(), x.micros(), req.Executor, id)
		if err != nil {
			return fmt.Errorf("sqlite: claim %s: %w", id, err)
		}
		if job, err = getJob(ctx, x.tx, id); err != nil {
			return err
		}
		return x.jobEvent(ctx, job, "")
	})
	return job, err
}

// claimable returns the id of the job to claim: jobID if it may be claimed,
// or the oldest pending job when jobID is empty.
func (x *txn) claimable(ctx context.Context, jobID string) (string, error) {
	if jobID != "" {
		cur, err := getJob(ctx, x.tx, jobID)
		if err != nil {
			return "", err
		}
		return jobID, policy.CheckClaim(cur, x.now)
	}
	var id string
	err := x.tx.QueryRowContext(ctx, `SELECT id FROM jobs WHERE status = 'pending' ORDER BY created_at, id LIMIT 1`).Scan(&id)
	if errors.Is(err, sql.ErrNoRows) {
		return "", domain.ErrNoJob
	}
	if err != nil {
		return "", fmt.Errorf("sqlite: claim: %w", err)
	}
	return id, nil
}

// fenced runs an UPDATE whose last two parameters are the lease's job id
// and attempt, and whose WHERE requires status 'processing'. When no row
// matched it tells an unknown job (domain.ErrNotFound) from a lost lease.
func (x *txn) fenced(ctx context.Context, l ports.Lease, query string, args ...any) error {
	res, err := x.tx.ExecContext(ctx, query, append(args, l.JobID, l.Attempt)...)
	if err != nil {
		return fmt.Errorf("sqlite: job %s attempt %d: %w", l.JobID, l.Attempt, err)
	}
	if n, err := res.RowsAffected(); err != nil || n == 1 {
		return err
	}
	cur, err := getJob(ctx, x.tx, l.JobID)
	if err != nil {
		return err
	}
	return fmt.Errorf("job %s attempt %d: job is %s at attempt %d: %w", l.JobID, l.Attempt, cur.Status, cur.Attempt, domain.ErrLeaseLost)
}

const whereLease = ` WHERE id = ? AND attempt = ? AND status = 'processing'`

// Heartbeat implements ports.JobStore. It changes nothing a watcher sees, so
// it records no event and notifies nobody.
func (s *Store) Heartbeat(ctx context.Context, l ports.Lease, d time.Duration) error {
	if err := policy.CheckLease(d); err != nil {
		return err
	}
	return s.write(ctx, func(ctx context.Context, x *txn) error {
		return x.fenced(ctx, l, `UPDATE jobs SET lease_expires_at = ?`+whereLease, x.now.Add(d).UnixMicro())
	})
}

// SaveSection implements ports.JobStore.
func (s *Store) SaveSection(ctx context.Context, l ports.Lease, sec domain.SectionResult) error {
	result, err := json.Marshal(sec)
	if err != nil {
		return fmt.Errorf("sqlite: section %s: %w", sec.Key, err)
	}
	return s.write(ctx, func(ctx context.Context, x *txn) error {
		if err := x.fenced(ctx, l, `UPDATE jobs SET updated_at = ?`+whereLease, x.micros()); err != nil {
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
		_, err = x.tx.ExecContext(ctx, `INSERT INTO sections (job_id, key, ordinal, status, result, updated_at)
			VALUES (?, ?, ?, ?, ?, ?)
			ON CONFLICT (job_id, key) DO UPDATE SET status = excluded.status, result = excluded.result,
				ordinal = excluded.ordinal, updated_at = excluded.updated_at`,
			l.JobID, sec.Key, ordinal, string(sec.Status), string(result), x.micros())
		if err != nil {
			return fmt.Errorf("sqlite: save section %s of job %s: %w", sec.Key, l.JobID, err)
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
	if _, err := getJob(ctx, s.reader, jobID); err != nil {
		return nil, err
	}
	rows, err := s.reader.QueryContext(ctx, `SELECT result FROM sections WHERE job_id = ? ORDER BY ordinal`, jobID)
	if err != nil {
		return nil, fmt.Errorf("sqlite: sections of %s: %w", jobID, err)
	}
	defer rows.Close()
	var out []domain.SectionResult
	for rows.Next() {
		var raw string
		var sec domain.SectionResult
		if err := rows.Scan(&raw); err != nil {
			return nil, fmt.Errorf("sqlite: sections of %s: %w", jobID, err)
		}
		if err := json.Unmarshal([]byte(raw), &sec); err != nil {
			return nil, fmt.Errorf("sqlite: sections of %s: %w", jobID, err)
		}
		out = append(out, sec)
	}
	return out, rows.Err()
}

// Finish implements ports.JobStore.
func (s *Store) Finish(ctx context.Context, l ports.Lease, status domain.JobStatus, errMsg string) (domain.Job, error) {
	if err := policy.CheckFinish(status); err != nil {
		return domain.Job{}, err
	}
	var job domain.Job
	err := s.write(ctx, func(ctx context.Context, x *txn) error {
		err := x.fenced(ctx, l, `UPDATE jobs SET status = ?, error = ?, lease_expires_at = NULL,
			finished_at = ?, updated_at = ?`+whereLease, string(status), errMsg, x.micros(), x.micros())
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
			updated_at = ?`+whereLease, x.micros())
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
