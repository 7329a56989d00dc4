package postgres

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"

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

func scanJob(row pgx.Row) (domain.Job, error) {
	var (
		j      domain.Job
		status string
	)
	err := row.Scan(&j.ID, &j.Address, &j.Provider, &status, &j.Attempt, &j.Executor, &j.ExecutorRef,
		&j.DispatchedAttempt, &j.DispatchError, &j.Error, &j.Sections, &j.WebhookURL,
		&j.IdempotencyKey, &j.RequestHash, &j.LeaseExpiresAt,
		&j.CreatedAt, &j.UpdatedAt, &j.StartedAt, &j.FinishedAt, &j.Done)
	if err != nil {
		return domain.Job{}, err
	}
	j.Status = domain.JobStatus(status)
	j.CreatedAt, j.UpdatedAt = j.CreatedAt.UTC(), j.UpdatedAt.UTC()
	j.LeaseExpiresAt, j.StartedAt, j.FinishedAt = utc(j.LeaseExpiresAt), utc(j.StartedAt), utc(j.FinishedAt)
	return j, nil
}

func utc(t *time.Time) *time.Time {
	if t == nil {
		return nil
	}
	u := t.UTC()
	return &u
}

// getJob reads job id, or domain.ErrNotFound.
func getJob(ctx context.Context, q querier, id string) (domain.Job, error) {
	return getJobWith(ctx, q, selectJob+` WHERE j.id = $1`, id)
}

// lockJob reads job id and locks its row until the transaction ends.
func lockJob(ctx context.Context, x *txn, id string) (domain.Job, error) {
	return getJobWith(ctx, x.tx, selectJob+` WHERE j.id = $1 FOR UPDATE OF j`, id)
}

func getJobWith(ctx context.Context, q querier, query, id string) (domain.Job, error) {
	j, err := scanJob(q.QueryRow(ctx, query, id))
	if errors.Is(err, pgx.ErrNoRows) {
		return domain.Job{}, policy.NotFound(id)
	}
	if err != nil {
		return domain.Job{}, fmt.Errorf("postgres: get job %s: %w", id, err)
	}
	return j, nil
}

// Get implements ports.JobStore.
func (s *Store) Get(ctx context.Context, id string) (domain.Job, error) {
	return getJob(ctx, s.pool, id)
}

// Create implements ports.JobStore. Idempotency keys are never deleted. A
// concurrent Create with the same key waits on the unique index and then
// finds the winner's job.
func (s *Store) Create(ctx context.Context, job domain.Job) (saved domain.Job, existed bool, err error) {
	if err := policy.CheckNew(job); err != nil {
		return domain.Job{}, false, err
	}
	var key *string
	if job.IdempotencyKey != "" {
		key = &job.IdempotencyKey
	}
	err = s.write(ctx, func(ctx context.Context, x *txn) error {
		tag, err := x.tx.Exec(ctx, `INSERT INTO jobs (id, address, provider, status, sections, webhook_url,
			idempotency_key, request_hash, created_at, updated_at)
			VALUES ($1, $2, $3, 'pending', $4, $5, $6, $7, $8, $8)
			ON CONFLICT (idempotency_key) DO NOTHING`,
			job.ID, job.Address, job.Provider, job.Sections, job.WebhookURL, key, job.RequestHash, x.now)
		if err != nil {
			return createError(job.ID, err)
		}
		if tag.RowsAffected() == 0 {
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
	prev, err := scanJob(q.QueryRow(ctx, selectJob+` WHERE j.idempotency_key = $1`, job.IdempotencyKey))
	if err != nil {
		return domain.Job{}, fmt.Errorf("postgres: idempotency key lookup: %w", err)
	}
	if prev.RequestHash != job.RequestHash {
		return domain.Job{}, fmt.Errorf("job %s: %w", prev.ID, domain.ErrIdempotencyMismatch)
	}
	return prev, nil
}

func createError(id string, err error) error {
	var pgErr *pgconn.PgError
	if errors.As(err, &pgErr) && pgErr.Code == "23505" && pgErr.ConstraintName == "jobs_pkey" {
		return fmt.Errorf("job %s already exists: %w", id, domain.ErrConflict)
	}
	return fmt.Errorf("postgres: create job %s: %w", id, err)
}

// List implements ports.JobStore.
func (s *Store) List(ctx context.Context, f ports.ListFilter) (ports.JobPage, error) {
	if err := policy.CheckStatusFilter(f.Status); err != nil {
		return ports.JobPage{}, err
	}
	limit := policy.ListLimit(f.Limit)
	query, args := selectJob+` WHERE true`, []any{}
	if f.Status != "" {
		args = append(args, string(f.Status))
		query += fmt.Sprintf(` AND j.status = $%d`, len(args))
	}
	if f.Cursor != "" {
		at, id, err := cursor.Decode(f.Cursor)
		if err != nil {
			return ports.JobPage{}, err
		}
		args = append(args, at, id)
		query += fmt.Sprintf(` AND (j.created_at, j.id) < ($%d, $%d)`, len(args)-1, len(args))
	}
	args = append(args, limit+1)
	query += fmt.Sprintf(` ORDER BY j.created_at DESC, j.id DESC LIMIT $%d`, len(args))
	jobs, err := queryJobs(ctx, s.pool, query, args...)
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
	rows, err := q.Query(ctx, query, args...)
	if err != nil {
		return nil, fmt.Errorf("postgres: list jobs: %w", err)
	}
	jobs, err := pgx.CollectRows(rows, func(r pgx.CollectableRow) (domain.Job, error) { return scanJob(r) })
	if err != nil {
		return nil, fmt.Errorf("postgres: list jobs: %w", err)
	}
	return jobs, nil
}
