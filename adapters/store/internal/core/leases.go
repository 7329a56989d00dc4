package core

import (
	"context"
	"encoding/json"
	"fmt"
	"strings"
	"time"

	"github.com/codecheck/codecheck/adapters/store/internal/driver"
	"github.com/codecheck/codecheck/domain"
	"github.com/codecheck/codecheck/ports"
)

// Claim implements ports.JobStore. Without a job id it passes over rows
// other claimers hold locked, so concurrent workers never wait for each
// other.
func (s *Store) Claim(ctx context.Context, req ports.ClaimRequest) (domain.Job, error) {
	if _, err := domain.LeaseUntil(time.Time{}, req.Lease); err != nil {
		return domain.Job{}, err
	}
	if s.sql.OneStatement {
		return s.claimInOneStatement(ctx, req)
	}
	var job domain.Job
	err := s.write(ctx, func(ctx context.Context, x *txn) error {
		id, err := x.claimable(ctx, req.JobID, req.Providers)
		if err != nil {
			return err
		}
		until, _ := domain.LeaseUntil(x.now, req.Lease)
		_, err = x.db.Exec(ctx, `UPDATE jobs SET status = 'processing', attempt = attempt + 1, worker = $2,
			lease_expires_at = $3, started_at = coalesce(started_at, $4), updated_at = $4, dispatch_error = '',
			executor = CASE WHEN executor = '' THEN $5 ELSE executor END, handoffs = 0
			WHERE id = $1`, id, req.Worker, until, x.now, req.Executor)
		if err != nil {
			return x.sql.wrap(err, "claim %s", id)
		}
		if job, err = x.get(ctx, id); err != nil {
			return err
		}
		if err := x.jobEvent(ctx, job, ""); err != nil {
			return err
		}
		return x.startFirst(ctx, job)
	})
	return job, err
}

// startFirst records the job's first section (domain.Job.FirstSection)
// running with the claim, unless an earlier attempt completed it: the
// worker starts there, so its started event costs no write of its own. The
// model is the worker's to fill in when it saves the result.
func (x *txn) startFirst(ctx context.Context, job domain.Job) error {
	spec, ok := job.FirstSection()
	if !ok {
		return nil
	}
	saved, err := x.sql.section(ctx, x.db, job.ID, spec.Key)
	if err != nil || saved.Status == domain.SectionCompleted {
		return err
	}
	res := domain.StartSection(spec, saved, job.Provider, "", x.now)
	ordinal, err := job.SectionOrdinal(res)
	if err != nil {
		return err
	}
	if err := x.putSection(ctx, job.ID, ordinal, res); err != nil {
		return err
	}
	return x.events(ctx, domain.SectionEventOf(job, res))
}

// claimable locks and returns the id of the job to claim: jobID if it may
// be claimed, or the oldest pending job of one of providers (any, when
// none) no one else is claiming.
func (x *txn) claimable(ctx context.Context, jobID string, providers []string) (string, error) {
	if jobID != "" {
		cur, err := x.lock(ctx, jobID)
		if err != nil {
			return "", err
		}
		return jobID, cur.CheckClaim(x.now)
	}
	query, args := `SELECT id FROM jobs WHERE status = 'pending'`, make([]any, len(providers))
	if len(providers) > 0 {
		params := make([]string, len(providers))
		for i, p := range providers {
			params[i], args[i] = fmt.Sprintf("$%d", i+1), p
		}
		query += ` AND provider IN (` + strings.Join(params, ", ") + `)`
	}
	ids, err := collect(ctx, x.db, scanString, query+` ORDER BY created_at, id LIMIT 1`+x.sql.SkipLocked, args...)
	if err != nil {
		return "", x.sql.wrap(err, "claim")
	}
	if len(ids) == 0 {
		return "", domain.ErrNoJob
	}
	return ids[0], nil
}

// whereLease fences a worker's write: $1 and $2 are the lease's job id and
// attempt.
const whereLease = ` WHERE id = $1 AND attempt = $2 AND status = 'processing'`

// fenced runs an UPDATE that ends in whereLease, with args after the
// lease's. When no row matched it tells an unknown job (domain.ErrNotFound)
// from a lost lease.
func (x *txn) fenced(ctx context.Context, l ports.Lease, query string, args ...any) error {
	n, err := x.db.Exec(ctx, query+whereLease, append([]any{l.JobID, l.Attempt}, args...)...)
	if err != nil {
		return x.sql.wrap(err, "job %s attempt %d", l.JobID, l.Attempt)
	}
	if n == 1 {
		return nil
	}
	cur, err := x.get(ctx, l.JobID)
	if err != nil {
		return err
	}
	return leaseLost(l, cur)
}

// leaseLost is the error of a write under lease l that found the job cur
// no longer held by it, or nil when l still holds it.
func leaseLost(l ports.Lease, cur domain.Job) error {
	if cur.Status == domain.JobProcessing && cur.Attempt == l.Attempt {
		return nil
	}
	return fmt.Errorf("job %s attempt %d: job is %s at attempt %d: %w", l.JobID, l.Attempt, cur.Status, cur.Attempt, domain.ErrLeaseLost)
}

// Heartbeat implements ports.JobStore. It changes nothing a watcher sees, so
// it records no event and notifies nobody.
func (s *Store) Heartbeat(ctx context.Context, l ports.Lease, d time.Duration) error {
	if _, err := domain.LeaseUntil(time.Time{}, d); err != nil {
		return err
	}
	return s.writeOne(ctx, func(ctx context.Context, x *txn) error {
		until, _ := domain.LeaseUntil(x.now, d)
		return x.fenced(ctx, l, `UPDATE jobs SET lease_expires_at = $3`, until)
	})
}

// SaveSection implements ports.JobStore. Where the engine can (Postgres's
// data-modifying CTEs) it is one statement, so one round trip:
// saveSectionsStatement. Elsewhere the fenced UPDATE of the job row comes
// first: it locks the row (SQLite's one writer locks everything), so the
// job's events are numbered in commit order even when sections finish at
// the same moment.
func (s *Store) SaveSection(ctx context.Context, l ports.Lease, sec domain.SectionResult, more ...domain.SectionResult) error {
	if err := domain.CheckSave(sec, more); err != nil {
		return err
	}
	secs := append([]domain.SectionResult{sec}, more...)
	if s.sql.OneStatement {
		return s.saveInOneStatement(ctx, l, secs)
	}
	return s.write(ctx, func(ctx context.Context, x *txn) error {
		if err := x.fenced(ctx, l, `UPDATE jobs SET updated_at = $3`, x.now); err != nil {
			return err
		}
		before, err := x.get(ctx, l.JobID)
		if err != nil {
			return err
		}
		for _, sec := range secs {
			ordinal, err := before.SectionOrdinal(sec)
			if err != nil {
				return err
			}
			if err := x.putSection(ctx, l.JobID, ordinal, sec); err != nil {
				return err
			}
			if err := x.noteJurisdiction(ctx, l.JobID, sec); err != nil {
				return err
			}
		}
		if err := x.recount(ctx, l.JobID); err != nil {
			return err
		}
		after, err := x.get(ctx, l.JobID)
		if err != nil {
			return err
		}
		x.touch(l.JobID)
		x.progress = true
		return x.events(ctx, domain.SectionSavedEvents(before, after, secs...)...)
	})
}

// recount sets the job's counters (jobs.done, jobs.verified_done) from its
// sections, after a write that changed them.
func (x *txn) recount(ctx context.Context, jobID string) error {
	_, err := x.db.Exec(ctx, `UPDATE jobs SET
		done = (SELECT count(*) FROM sections s WHERE s.job_id = $1 AND s.status = 'completed'),
		verified_done = (SELECT count(*) FROM sections s WHERE s.job_id = $1 AND s.status = 'completed' AND s.verified = 1)
		WHERE id = $1`, jobID)
	if err != nil {
		return x.sql.wrap(err, "count sections of %s", jobID)
	}
	return nil
}

// putSection inserts or replaces one section result.
func (x *txn) putSection(ctx context.Context, jobID string, ordinal int, sec domain.SectionResult) error {
	result, err := json.Marshal(sec)
	if err != nil {
		return fmt.Errorf("section %s: %w", sec.Key, err)
	}
	_, err = x.db.Exec(ctx, `INSERT INTO sections (job_id, key, ordinal, status, result, updated_at, verified)
		VALUES ($1, $2, $3, $4, $5`+x.sql.JSONParam+`, $6, $7)
		ON CONFLICT (job_id, key) DO UPDATE SET status = excluded.status, result = excluded.result,
			ordinal = excluded.ordinal, updated_at = excluded.updated_at, verified = excluded.verified`,
		jobID, sec.Key, ordinal, string(sec.Status), string(result), x.now, verifiedParam(sec))
	if err != nil {
		return x.sql.wrap(err, "save section %s of job %s", sec.Key, jobID)
	}
	return nil
}

// sections reads a job's saved results in report order, but for those
// with status except ("" excepts none).
func (d dialect) sections(ctx context.Context, db driver.DB, jobID, except string) ([]domain.SectionResult, error) {
	out, err := collect(ctx, db, scanResult, `SELECT result FROM sections WHERE job_id = $1 AND status <> $2 ORDER BY ordinal`,
		jobID, except)
	if err != nil {
		return nil, d.wrap(err, "sections of %s", jobID)
	}
	return out, nil
}

// section reads one saved result of a job, or a zero result when it has
// none.
func (d dialect) section(ctx context.Context, db driver.DB, jobID, key string) (domain.SectionResult, error) {
	out, err := collect(ctx, db, scanResult, `SELECT result FROM sections WHERE job_id = $1 AND key = $2`, jobID, key)
	if err != nil {
		return domain.SectionResult{}, d.wrap(err, "section %s of %s", key, jobID)
	}
	if len(out) == 0 {
		return domain.SectionResult{}, nil
	}
	return out[0], nil
}

func scanResult(r driver.Rows) (sec domain.SectionResult, err error) {
	var raw string
	if err := r.Scan(&raw); err != nil {
		return sec, err
	}
	return sec, json.Unmarshal([]byte(raw), &sec)
}

// Sections implements ports.JobStore. A job with saved sections exists,
// so only a job without any is looked up, to tell an unknown job.
func (s *Store) Sections(ctx context.Context, jobID string) ([]domain.SectionResult, error) {
	saved, err := s.sql.sections(ctx, s.db, jobID, "")
	if err != nil || len(saved) > 0 {
		return saved, err
	}
	if _, err := s.Get(ctx, jobID); err != nil {
		return nil, err
	}
	return saved, nil
}

// Finish implements ports.JobStore. A job with a webhook owes a delivery
// from the same transaction on.
func (s *Store) Finish(ctx context.Context, l ports.Lease, status domain.JobStatus, errMsg string) (domain.Job, error) {
	if err := domain.CheckFinish(status); err != nil {
		return domain.Job{}, err
	}
	if s.sql.OneStatement && !status.ClosesSections() {
		return s.finishInOneStatement(ctx, l, status, errMsg)
	}
	var job domain.Job
	err := s.write(ctx, func(ctx context.Context, x *txn) error {
		err := x.fenced(ctx, l, `UPDATE jobs SET status = $3, error = $4, lease_expires_at = NULL,
			finished_at = $5, updated_at = $5,
			cost_capped = CASE WHEN EXISTS (SELECT 1 FROM sections s WHERE s.job_id = $1
				AND (s.status = 'skipped' OR s.verified = 2)) THEN 1 ELSE 0 END`, string(status), errMsg, x.now)
		if err != nil {
			return err
		}
		job, err = x.ended(ctx, l.JobID)
		return err
	})
	return job, err
}

// Release implements ports.JobStore. The reason goes into the job event,
// not the job's error: a released job has not failed.
func (s *Store) Release(ctx context.Context, l ports.Lease, reason string) error {
	return s.write(ctx, func(ctx context.Context, x *txn) error {
		err := x.fenced(ctx, l, `UPDATE jobs SET status = 'pending', lease_expires_at = NULL, worker = '',
			updated_at = $3`, x.now)
		if err != nil {
			return err
		}
		job, err := x.get(ctx, l.JobID)
		if err != nil {
			return err
		}
		return x.jobEvent(ctx, job, reason)
	})
}
