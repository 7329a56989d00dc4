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

// The hot writes of a job's lifecycle as one Postgres statement each
// (driver.Dialect.OneStatement), like saveSectionsStatement: a create, a
// claim (which starts the job's first section), and a completed job's
// finish. Each is one round trip and commits on its own; the job
// row's UPDATE (or INSERT) locks the row, so its event numbers come from
// the row's event_seq. Their transactional versions, for SQLite, are in
// jobs.go and leases.go; the contract suite runs both.

// eventColumns are the columns of an event row.
const eventColumns = `(job_id, job_seq, type, status, progress, attempt, section, error, at, verified, verified_progress)`

// progressOf and verifiedProgressOf are domain.Job.Progress and the
// verified progress of an event (domain.JobEventOf), from a jobs row
// aliased j.
const (
	progressOf         = `j.done || '/' || cardinality(j.sections)`
	verifiedProgressOf = `CASE WHEN j.verify = 1 THEN j.verified_done || '/' || cardinality(j.sections) ELSE '' END`
)

// createStatement inserts a job and its first event, unless its
// idempotency key is taken: then it returns no row. $1-$12 are the job's
// columns, $13-$16 its event's status, progress, attempt and verified
// progress (domain.JobEventOf of the job as inserted).
const createStatement = `WITH j AS (
	INSERT INTO jobs AS j (id, address, provider, status, sections, webhook_url, idempotency_key, request_hash,
		created_at, updated_at, project, max_cost_usd, reuse, verify, event_seq)
	VALUES ($1, $2, $3, 'pending', $4, $5, $6, $7, $8, $8, $9::jsonb, $10, $11, $12, 1)
	ON CONFLICT (idempotency_key) DO NOTHING
	RETURNING ` + jobColumns + `
), recorded AS (
	INSERT INTO events ` + eventColumns + `
	SELECT j.id, 1, 'job', $13::text, $14::text, $15::int, '', '', $8::timestamptz, 0, $16::text FROM j
)
SELECT ` + jobColumnNames + ` FROM j`

// createInOneStatement is Create on an engine with OneStatement.
func (s *Store) createInOneStatement(ctx context.Context, job domain.Job, key, project any) (domain.Job, bool, error) {
	now := s.now()
	created := job
	created.Status, created.Attempt, created.Done, created.Verified = domain.JobPending, 0, 0, 0
	e := domain.JobEventOf(created, "")
	jobs, err := collect(ctx, s.db, scanJob, createStatement, job.ID, job.Address, job.Provider, job.Sections,
		job.WebhookURL, key, job.RequestHash, now, project, job.MaxCostUSD, flagParam(job.Reuse), flagParam(job.Verify),
		e.Status, e.Progress, e.Attempt, e.VerifiedProgress)
	if errors.Is(err, driver.ErrUniqueViolation) {
		return domain.Job{}, false, fmt.Errorf("job %s already exists: %w", job.ID, domain.ErrConflict)
	}
	if err != nil {
		return domain.Job{}, false, s.sql.wrap(err, "create job %s", job.ID)
	}
	if len(jobs) == 1 {
		s.announce(job.ID)
		return jobs[0], false, nil
	}
	prev, err := (&txn{db: s.db, sql: s.sql}).replay(ctx, job)
	return prev, true, err
}

// claimStatement claims the job target picks ($1 is target's: a job id,
// or the worker's providers), when it may be claimed
// (domain.Job.CheckClaim), records the claim's event, and starts the job's
// first section as startFirst does, with its event; it returns the
// claimed job, or no row. $2 worker, $3 lease end, $4 now, $5 executor,
// $6 the first section's key, $7 its started result before the job's
// provider and a saved result's spend are merged in (JSON).
//
// The statement's snapshot predates the claim's row lock, so it may miss a
// save that an expired attempt committed while the claim waited for that
// lock. The section's upsert does not: ON CONFLICT reads the newest row.
// So a section completed meanwhile is left alone (its started event is
// not recorded; event_seq, moved by what the snapshot showed, then skips
// a number), and the started section keeps the newest saved usage and
// attempts (domain.StartSection).
func claimStatement(target string) string {
	// startsFirst is 1 when the claim starts the first section, as far as
	// the statement's snapshot shows, else 0.
	const startsFirst = `($6::text = ANY(j.sections) AND NOT EXISTS (SELECT 1 FROM sections s
		WHERE s.job_id = j.id AND s.key = $6::text AND s.status = 'completed'))::int`
	return `WITH target AS (` + target + `
), j AS (
	UPDATE jobs AS j SET status = 'processing', attempt = j.attempt + 1, worker = $2::text,
		lease_expires_at = $3::timestamptz, started_at = coalesce(j.started_at, $4::timestamptz), updated_at = $4::timestamptz,
		dispatch_error = '', executor = CASE WHEN j.executor = '' THEN $5::text ELSE j.executor END, handoffs = 0,
		event_seq = j.event_seq + 1 + ` + startsFirst + `
	FROM target t
	WHERE j.id = t.id AND (j.status = 'pending'
		OR (j.status = 'processing' AND (j.lease_expires_at IS NULL OR j.lease_expires_at <= $4::timestamptz)))
	RETURNING ` + jobColumns + `, j.event_seq - 1 - ` + startsFirst + ` AS seq0
), started AS (
	INSERT INTO sections AS s (job_id, key, ordinal, status, result, updated_at, verified)
	SELECT j.id, $6::text, array_position(j.sections, $6::text), 'running',
		$7::jsonb || jsonb_build_object('provider', j.provider), $4::timestamptz, 0
	FROM j WHERE $6::text = ANY(j.sections)
	ON CONFLICT (job_id, key) DO UPDATE SET status = excluded.status,
		result = excluded.result || jsonb_build_object('usage', s.result -> 'usage', 'attempts', s.result -> 'attempts'),
		ordinal = excluded.ordinal, updated_at = excluded.updated_at, verified = excluded.verified
	WHERE s.status <> 'completed'
	RETURNING s.key
), recorded AS (
	INSERT INTO events ` + eventColumns + `
	SELECT j.id, j.seq0 + 1, 'job', j.status, ` + progressOf + `, j.attempt, '', '', $4::timestamptz, 0, ` + verifiedProgressOf + `
	FROM j
	UNION ALL
	SELECT j.id, j.seq0 + 2, 'section', 'running', ` + progressOf + `, j.attempt, st.key, '', $4::timestamptz, 0, ` + verifiedProgressOf + `
	FROM j, started st
)
SELECT ` + jobColumnNames + ` FROM j`
}

var (
	// claimJobStatement claims job $1.
	claimJobStatement = claimStatement(`SELECT $1::text AS id`)
	// claimAnyStatement claims the oldest pending job of one of the
	// providers $1 (any, when empty) no one else is claiming.
	claimAnyStatement = claimStatement(`SELECT id FROM jobs
		WHERE status = 'pending' AND (cardinality($1::text[]) = 0 OR provider = ANY($1::text[]))
		ORDER BY created_at, id LIMIT 1 FOR UPDATE SKIP LOCKED`)
)

// claimInOneStatement is Claim on an engine with OneStatement.
func (s *Store) claimInOneStatement(ctx context.Context, req ports.ClaimRequest) (domain.Job, error) {
	query, target := claimJobStatement, any(req.JobID)
	if req.JobID == "" {
		providers := req.Providers
		if providers == nil {
			providers = []string{}
		}
		query, target = claimAnyStatement, providers
	}
	now := s.now()
	until, _ := domain.LeaseUntil(now, req.Lease)
	// domain.Job.FirstSection: the jurisdiction, where the job has it.
	spec, _ := domain.LookupSection(domain.JurisdictionKey)
	started, err := json.Marshal(domain.StartSection(spec, domain.SectionResult{}, "", "", now))
	if err != nil {
		return domain.Job{}, fmt.Errorf("section %s: %w", spec.Key, err)
	}
	jobs, err := collect(ctx, s.db, scanJob, query, target, req.Worker, until, now, req.Executor, spec.Key, string(started))
	if err != nil {
		return domain.Job{}, s.sql.wrap(err, "claim %s", req.JobID)
	}
	if len(jobs) == 0 {
		if req.JobID == "" {
			return domain.Job{}, domain.ErrNoJob
		}
		cur, err := s.Get(ctx, req.JobID)
		if err != nil {
			return domain.Job{}, err
		}
		if err := cur.CheckClaim(s.now()); err != nil {
			return domain.Job{}, err
		}
		// It became claimable after the statement looked: a lease that
		// just ran out. The caller waits for the lease, and tries again.
		return domain.Job{}, fmt.Errorf("job %s attempt %d: %w", cur.ID, cur.Attempt, domain.ErrLeaseHeld)
	}
	s.announce(jobs[0].ID)
	return jobs[0], nil
}

// finishStatement ends a job that closes no section (a completed one:
// domain.JobStatus.ClosesSections), with its event and the webhook delivery it
// owes (oweWebhook), when lease $1/$2 still holds it; it returns the job,
// or no row. $3 status, $4 error, $5 now.
const finishStatement = `WITH j AS (
	UPDATE jobs AS j SET status = $3::text, error = $4::text, lease_expires_at = NULL, finished_at = $5::timestamptz,
		updated_at = $5::timestamptz,
		cost_capped = CASE WHEN EXISTS (SELECT 1 FROM sections s WHERE s.job_id = $1::text
			AND (s.status = 'skipped' OR s.verified = 2)) THEN 1 ELSE 0 END,
		event_seq = j.event_seq + 1
	WHERE j.id = $1::text AND j.attempt = $2::int AND j.status = 'processing'
	RETURNING ` + jobColumns + `, j.event_seq
), recorded AS (
	INSERT INTO events ` + eventColumns + `
	SELECT j.id, j.event_seq, 'job', j.status, ` + progressOf + `, j.attempt, '', j.error, $5::timestamptz, 0, ` + verifiedProgressOf + `
	FROM j
), owed AS (
	INSERT INTO webhook_deliveries (id, job_id, url, status, next_attempt_at, created_at, updated_at)
	SELECT CASE WHEN EXISTS (SELECT 1 FROM webhook_deliveries w WHERE w.id = b.id)
			THEN 'msg_' || j.id || '_' || j.attempt || '-'
				|| ((SELECT count(*) FROM webhook_deliveries w WHERE w.job_id = j.id) + 1) || '_' || j.status
			ELSE b.id END,
		j.id, j.webhook_url, 'pending', $5::timestamptz, $5::timestamptz, $5::timestamptz
	FROM j, LATERAL (SELECT 'msg_' || j.id || '_' || j.attempt || '_' || j.status AS id) b
	WHERE j.webhook_url <> ''
	ON CONFLICT (id) DO NOTHING
)
SELECT ` + jobColumnNames + ` FROM j`

// finishInOneStatement is Finish, for a status that closes no section, on
// an engine with OneStatement.
func (s *Store) finishInOneStatement(ctx context.Context, l ports.Lease, status domain.JobStatus, errMsg string) (domain.Job, error) {
	jobs, err := collect(ctx, s.db, scanJob, finishStatement, l.JobID, l.Attempt, string(status), errMsg, s.now())
	if err != nil {
		return domain.Job{}, s.sql.wrap(err, "finish job %s attempt %d", l.JobID, l.Attempt)
	}
	if len(jobs) == 1 {
		s.announce(l.JobID)
		return jobs[0], nil
	}
	cur, err := s.Get(ctx, l.JobID)
	if err != nil {
		return domain.Job{}, err
	}
	if err := leaseLost(l, cur); err != nil {
		return domain.Job{}, err
	}
	return domain.Job{}, fmt.Errorf("job %s attempt %d: not finished, for no reason the job shows", l.JobID, l.Attempt)
}
