package postgres

import (
	"context"
	"fmt"

	"github.com/jackc/pgx/v5"

	"github.com/codecheck/codecheck/adapters/store/internal/policy"
	"github.com/codecheck/codecheck/domain"
)

// jobEvent records the job's current status, progress and attempt, with
// errMsg, and marks the job changed.
func (x *txn) jobEvent(ctx context.Context, j domain.Job, errMsg string) error {
	return x.event(ctx, policy.JobEvent(j, errMsg))
}

// event inserts e. Every caller has locked the job's row first, so a job's
// sequence numbers are taken, and committed, in order.
func (x *txn) event(ctx context.Context, e domain.Event) error {
	_, err := x.tx.Exec(ctx, `INSERT INTO events (job_id, type, status, progress, attempt, section, error, at)
		VALUES ($1, $2, $3, $4, $5, $6, $7, $8)`,
		e.JobID, string(e.Type), e.Status, e.Progress, e.Attempt, e.Section, e.Error, x.now)
	if err != nil {
		return fmt.Errorf("postgres: record %s event of %s: %w", e.Type, e.JobID, err)
	}
	x.touch(e.JobID)
	return nil
}

// Events implements ports.JobStore.
func (s *Store) Events(ctx context.Context, jobID string, afterSeq int64, limit int) ([]domain.Event, error) {
	var lim *int // NULL: no limit
	if limit > 0 {
		lim = &limit
	}
	rows, err := s.pool.Query(ctx, `SELECT seq, job_id, type, status, progress, attempt, section, error, at
		FROM events WHERE job_id = $1 AND seq > $2 ORDER BY seq LIMIT $3`, jobID, afterSeq, lim)
	if err != nil {
		return nil, fmt.Errorf("postgres: events of %s: %w", jobID, err)
	}
	out, err := pgx.CollectRows(rows, func(r pgx.CollectableRow) (domain.Event, error) {
		var e domain.Event
		var typ string
		err := r.Scan(&e.Seq, &e.JobID, &typ, &e.Status, &e.Progress, &e.Attempt, &e.Section, &e.Error, &e.At)
		e.Type, e.At = domain.EventType(typ), e.At.UTC()
		return e, err
	})
	if err != nil {
		return nil, fmt.Errorf("postgres: events of %s: %w", jobID, err)
	}
	if len(out) == 0 {
		if _, err := getJob(ctx, s.pool, jobID); err != nil {
			return nil, err
		}
	}
	return out, nil
}
