package sqlite

import (
	"context"
	"database/sql"
	"encoding/json"
	"errors"
	"fmt"
	"time"

	sqlite "modernc.org/sqlite"
	sqlite3 "modernc.org/sqlite/lib"

	"github.com/codecheck/codecheck/adapters/store/internal/cursor"
	"github.com/codecheck/codecheck/adapters/store/internal/policy"
	"github.com/codecheck/codecheck/domain"
	"github.com/codecheck/codecheck/ports"
)

// selectJob reads a job with Done, the count of its completed sections.
const selectJob = `SELECT j.id, j.address, j.provider, j.status, j.attempt, j.executor, j.executor_ref,
	j.dispatched_attempt, j.dispatch_error, j.error, j.sections, j.webhook_url,
	coalesce(j.idempotency_key, ''), j.request_hash, j.lease_expires_at,
	j.created_at, j.updated_at, j.started_at, j.finished_at,
	(SELECT count(*) FROM sections s WHERE s.job_id = j.id AND s.status = 'completed')
FROM jobs j`

type scanner interface{ Scan(dest ...any) error }

func scanJob(row scanner) (domain.Job, error) {
	var (
		j                        domain.Job
		sections                 string
		created, updated         int64
		lease, started, finished sql.NullInt64
	)
	err := row.Scan(&j.ID, &j.Address, &j.Provider, &j.Status, &j.Attempt, &j.Executor, &j.ExecutorRef,
		&j.DispatchedAttempt, &j.DispatchError, &j.Error, &sections, &j.WebhookURL,
		&j.IdempotencyKey, &j.RequestHash, &lease, &created, &updated, &started, &finished, &j.Done)
	if err != nil {
		return domain.Job{}, err
	}
	if err := json.Unmarshal([]byte(sections), &j.Sections); err != nil {
		return domain.Job{}, fmt.Errorf("sqlite: job %s: sections: %w", j.ID, err)
	}
	j.CreatedAt, j.UpdatedAt = fromMicros(created), fromMicros(updated)
	j.LeaseExpiresAt, j.StartedAt, j.FinishedAt = nullTime(lease), nullTime(started), nullTime(finished)
	return j, nil
}

func fromMicros(us int64) time.Time { return time.UnixMicro(us).UTC() }

func nullTime(v sql.NullInt64) *time.Time {
	if !v.Valid {
		return nil
	}
	t := fromMicros(v.Int64)
	return &t
}

func nullMicros(t *time.Time) any {
	if t == nil {
		return nil
	}
	return t.UnixMicro()
}

// getJob reads job id, or domain.ErrNotFound.
func getJob(ctx context.Context, q querier, id string) (domain.Job, error) {
	j, err := scanJob(q.QueryRowContext(ctx, selectJob+` WHERE j.id = ?`, id))
	if errors.Is(err, sql.ErrNoRows) {
		return domain.Job{}, policy.NotFound(id)
	}
	if err != nil {
		return domain.Job{}, fmt.Errorf("sqlite: get job %s: %w", id, err)
	}
	return j, nil
}

// Get implements ports.JobStore.
func (s *Store) Get(ctx context.Context, id string) (domain.Job, error) {
	return getJob(ctx, s.reader, id)
}

// Create implements ports.JobStore. Idempotency keys are never deleted.
func (s *Store) Create(ctx context.Context, job domain.Job) (saved domain.Job, existed bool, err error) {
	if err := policy.CheckNew(job); err != nil {
		return domain.Job{}, false, err
	}
	sections, err := json.Marshal(job.Sections)
	if err != nil {
		return domain.Job{}, false, err
	}
	var key any
	if job.IdempotencyKey != "" {
		key = job.IdempotencyKey
	}
	err = s.write(ctx, func(ctx context.Context, x *txn) error {
		res, err := x.tx.ExecContext(ctx, `INSERT INTO jobs (id, address, provider, status, sections, webhook_url,
			idempotency_key, request_hash, created_at, updated_at)
			VALUES (?, ?, ?, 'pending', ?, ?, ?, ?, ?, ?)
			ON CONFLICT (idempotency_key) DO NOTHING`,
			job.ID, job.Address, job.Provider, string(sections), job.WebhookURL, key, job.RequestHash, x.micros(), x.micros())
		if err != nil {
			return createError(job.ID, err)
		}
		if n, _ := res.RowsAffected(); n == 0 {
			existed = true
			saved, err = replay(ctx, x.tx, job)
			return err
		}
		if saved, err = getJob(ctx, x.tx, job.ID); err != nil {
			return err
		}
		return x.jobEvent(ctx, saved, "")
	})
	if err != nil {
		return domain.Job{}, false, err
	}
	return saved, existed, nil
}

// replay returns the job an idempotency key already created, unless the
// request differs.
func replay(ctx context.Context, q querier, job domain.Job) (domain.Job, error) {
	prev, err := scanJob(q.QueryRowContext(ctx, selectJob+` WHERE j.idempotency_key = ?`, job.IdempotencyKey))
	if err != nil {
		return domain.Job{}, fmt.Errorf("sqlite: idempotency key lookup: %w", err)
	}
	if prev.RequestHash != job.RequestHash {
		return domain.Job{}, fmt.Errorf("job %s: %w", prev.ID, domain.ErrIdempotencyMismatch)
	}
	return prev, nil
}

func createError(id string, err error) error {
	var se *sqlite.Error
	if errors.As(err, &se) && se.Code() == sqlite3.SQLITE_CONSTRAINT_PRIMARYKEY {
		return fmt.Errorf("job %s already exists: %w", id, domain.ErrConflict)
	}
	return fmt.Errorf("sqlite: create job %s: %w", id, err)
}

// List implements ports.JobStore.
func (s *Store) List(ctx context.Context, f ports.ListFilter) (ports.JobPage, error) {
	if err := policy.CheckStatusFilter(f.Status); err != nil {
		return ports.JobPage{}, err
	}
	limit := policy.ListLimit(f.Limit)
	query, args := selectJob+` WHERE 1 = 1`, []any{}
	if f.Status != "" {
		query, args = query+` AND j.status = ?`, append(args, string(f.Status))
	}
	if f.Cursor != "" {
		at, id, err := cursor.Decode(f.Cursor)
		if err != nil {
			return ports.JobPage{}, err
		}
		query, args = query+` AND (j.created_at, j.id) < (?, ?)`, append(args, at.UnixMicro(), id)
	}
	query, args = query+` ORDER BY j.created_at DESC, j.id DESC LIMIT ?`, append(args, limit+1)
	jobs, err := queryJobs(ctx, s.reader, query, args...)
	if err != nil {
		return ports.JobPage{}, err
	}
	page := ports.JobPage{Jobs: jobs}
	if len(jobs) > limit {
		page.Jobs = jobs[:limit]
		last := page.Jobs[limit-1]
		page.NextCursor = cursor.Encode(last.CreatedAt, last.ID)
	}
	return page, nil
}

func queryJobs(ctx context.Context, q querier, query string, args ...any) ([]domain.Job, error) {
	rows, err := q.QueryContext(ctx, query, args...)
	if err != nil {
		return nil, fmt.Errorf("sqlite: list jobs: %w", err)
	}
	defer rows.Close()
	var jobs []domain.Job
	for rows.Next() {
		j, err := scanJob(rows)
		if err != nil {
			return nil, fmt.Errorf("sqlite: list jobs: %w", err)
		}
		jobs = append(jobs, j)
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("sqlite: list jobs: %w", err)
	}
	return jobs, nil
}
