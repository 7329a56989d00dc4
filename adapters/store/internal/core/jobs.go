package core

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"

	"github.com/codecheck/codecheck/adapters/store/internal/driver"
	"github.com/codecheck/codecheck/domain"
	"github.com/codecheck/codecheck/ports"
)

// List page sizes, and the batch ReserveHandoffs returns without a limit.
const (
	defaultListLimit     = 20
	maxListLimit         = 100
	defaultDispatchLimit = 100
)

// jobColumns are the columns scanJob reads, from a jobs row aliased j;
// jobColumnNames names them, for a statement that reads them back from a
// CTE's RETURNING.
const (
	jobColumns = `j.id, j.address, j.provider, j.status, j.attempt, j.executor, j.executor_ref,
	j.dispatched_attempt, j.dispatch_error, j.error, j.sections, j.webhook_url, coalesce(j.project, 'null') AS project,
	j.max_cost_usd, j.cost_capped, coalesce(j.idempotency_key, '') AS idempotency_key, j.request_hash, j.lease_expires_at,
	j.created_at, j.updated_at, j.started_at, j.finished_at, j.reuse, j.done, j.verify, j.verified_done`
	jobColumnNames = `id, address, provider, status, attempt, executor, executor_ref,
	dispatched_attempt, dispatch_error, error, sections, webhook_url, project,
	max_cost_usd, cost_capped, idempotency_key, request_hash, lease_expires_at,
	created_at, updated_at, started_at, finished_at, reuse, done, verify, verified_done`
)

// selectJob reads a job with its counters: Done and Verified are kept on
// the job row by every write that changes its sections.
const selectJob = `SELECT ` + jobColumns + `
FROM jobs j`

func scanJob(r driver.Rows) (domain.Job, error) {
	var (
		j          domain.Job
		status     string
		project    string
		costCapped int
	)
	var reuse, verify int
	err := r.Scan(&j.ID, &j.Address, &j.Provider, &status, &j.Attempt, &j.Executor, &j.ExecutorRef,
		&j.DispatchedAttempt, &j.DispatchError, &j.Error, &j.Sections, &j.WebhookURL, &project,
		&j.MaxCostUSD, &costCapped, &j.IdempotencyKey, &j.RequestHash, &j.LeaseExpiresAt,
		&j.CreatedAt, &j.UpdatedAt, &j.StartedAt, &j.FinishedAt, &reuse, &j.Done, &verify, &j.Verified)
	if err != nil {
		return j, err
	}
	j.Status, j.CostCapped = domain.JobStatus(status), costCapped != 0
	j.Reuse, j.Verify = reuse != 0, verify != 0
	if err := json.Unmarshal([]byte(project), &j.Project); err != nil {
		return j, fmt.Errorf("job %s project: %w", j.ID, err)
	}
	return j, nil
}

// projectParam is the job's project as JSON text, or NULL without one.
func projectParam(p *domain.Project) (any, error) {
	if p == nil {
		return nil, nil
	}
	b, err := json.Marshal(p)
	if err != nil {
		return nil, fmt.Errorf("project: %w", err)
	}
	return string(b), nil
}

// jobs runs a selectJob query.
func (d dialect) jobs(ctx context.Context, db driver.DB, query string, args ...any) ([]domain.Job, error) {
	jobs, err := collect(ctx, db, scanJob, query, args...)
	if err != nil {
		return nil, d.wrap(err, "read jobs")
	}
	return jobs, nil
}

// job reads the one job a selectJob query finds, or domain.ErrNotFound
// naming id.
func (d dialect) job(ctx context.Context, db driver.DB, id, query string, args ...any) (domain.Job, error) {
	jobs, err := d.jobs(ctx, db, query, args...)
	if err != nil {
		return domain.Job{}, err
	}
	if len(jobs) == 0 {
		return domain.Job{}, notFound(id)
	}
	return jobs[0], nil
}

func notFound(id string) error { return fmt.Errorf("job %s: %w", id, domain.ErrNotFound) }

// get reads job id, or domain.ErrNotFound.
func (d dialect) get(ctx context.Context, db driver.DB, id string) (domain.Job, error) {
	return d.job(ctx, db, id, selectJob+` WHERE j.id = $1`, id)
}

// get reads job id in the transaction.
func (x *txn) get(ctx context.Context, id string) (domain.Job, error) {
	return x.sql.get(ctx, x.db, id)
}

// lock reads job id and, where the engine needs it, locks its row until
// commit.
func (x *txn) lock(ctx context.Context, id string) (domain.Job, error) {
	return x.sql.job(ctx, x.db, id, selectJob+` WHERE j.id = $1`+x.sql.LockJob, id)
}

// Get implements ports.JobStore.
func (s *Store) Get(ctx context.Context, id string) (domain.Job, error) {
	return s.sql.get(ctx, s.db, id)
}

// Create implements ports.JobStore. Idempotency keys are never deleted. A
// concurrent Create with the same key waits on the unique index and then
// finds the winner's job.
func (s *Store) Create(ctx context.Context, job domain.Job) (saved domain.Job, existed bool, err error) {
	if err := job.CheckNew(); err != nil {
		return domain.Job{}, false, err
	}
	var key any // NULL without a key: the unique index ignores it
	if job.IdempotencyKey != "" {
		key = job.IdempotencyKey
	}
	project, err := projectParam(job.Project)
	if err != nil {
		return domain.Job{}, false, err
	}
	if s.sql.OneStatement {
		return s.createInOneStatement(ctx, job, key, project)
	}
	err = s.write(ctx, func(ctx context.Context, x *txn) error {
		n, err := x.db.Exec(ctx, `INSERT INTO jobs (id, address, provider, status, sections, webhook_url,
			idempotency_key, request_hash, created_at, updated_at, project, max_cost_usd, reuse, verify)
			VALUES ($1, $2, $3, 'pending', $4, $5, $6, $7, $8, $8, $9`+x.sql.JSONParam+`, $10, $11, $12)
			ON CONFLICT (idempotency_key) DO NOTHING`,
			job.ID, job.Address, job.Provider, job.Sections, job.WebhookURL, key, job.RequestHash, x.now, project, job.MaxCostUSD,
			flagParam(job.Reuse), flagParam(job.Verify))
		if errors.Is(err, driver.ErrUniqueViolation) {
			return fmt.Errorf("job %s already exists: %w", job.ID, domain.ErrConflict)
		}
		if err != nil {
			return x.sql.wrap(err, "create job %s", job.ID)
		}
		if n == 0 {
			existed = true
			saved, err = x.replay(ctx, job)
			return err
		}
		if saved, err = x.get(ctx, job.ID); err != nil {
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
func (x *txn) replay(ctx context.Context, job domain.Job) (domain.Job, error) {
	prev, err := x.sql.job(ctx, x.db, job.IdempotencyKey, selectJob+` WHERE j.idempotency_key = $1`, job.IdempotencyKey)
	if err != nil {
		return domain.Job{}, err
	}
	return prev, prev.CheckReplay(job)
}

// List implements ports.JobStore.
func (s *Store) List(ctx context.Context, f ports.ListFilter) (ports.JobPage, error) {
	if f.Status != "" && !f.Status.Valid() {
		return ports.JobPage{}, domain.Invalid("status", fmt.Sprintf("unknown job status %q", f.Status))
	}
	limit := f.Limit
	if limit <= 0 {
		limit = defaultListLimit
	}
	limit = min(limit, maxListLimit)
	query, args := selectJob+` WHERE 1 = 1`, []any{}
	if f.Status != "" {
		args = append(args, string(f.Status))
		query += fmt.Sprintf(` AND j.status = $%d`, len(args))
	}
	if f.Cursor != "" {
		at, id, err := decodeCursor(f.Cursor)
		if err != nil {
			return ports.JobPage{}, err
		}
		args = append(args, at, id)
		query += fmt.Sprintf(` AND (j.created_at, j.id) < ($%d, $%d)`, len(args)-1, len(args))
	}
	args = append(args, limit+1)
	query += fmt.Sprintf(` ORDER BY j.created_at DESC, j.id DESC LIMIT $%d`, len(args))
	jobs, err := s.sql.jobs(ctx, s.db, query, args...)
	if err != nil {
		return ports.JobPage{}, err
	}
	page := ports.JobPage{Jobs: jobs}
	if len(jobs) > limit {
		page.Jobs = jobs[:limit]
		last := page.Jobs[limit-1]
		page.NextCursor = encodeCursor(last.CreatedAt, last.ID)
	}
	return page, nil
}

// CountLive counts the pending and processing jobs, each up to limit (an
// index range scan each, however many jobs there are), for the metrics'
// queue gauges.
func (s *Store) CountLive(ctx context.Context, limit int) (map[domain.JobStatus]int, error) {
	out := map[domain.JobStatus]int{}
	for _, status := range []domain.JobStatus{domain.JobPending, domain.JobProcessing} {
		n, err := collect(ctx, s.db, scanInt64, `SELECT count(*) FROM (SELECT 1 FROM jobs WHERE status = $1 LIMIT $2) live`,
			string(status), limit)
		if err != nil {
			return nil, s.sql.wrap(err, "count %s jobs", status)
		}
		out[status] = int(n[0])
	}
	return out, nil
}
