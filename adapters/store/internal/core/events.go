package core

import (
	"context"
	"math"

	"github.com/codecheck/codecheck/adapters/store/internal/driver"
	"github.com/codecheck/codecheck/domain"
)

// jobEvent records the job's current status, progress and attempt, with
// errMsg.
func (x *txn) jobEvent(ctx context.Context, j domain.Job, errMsg string) error {
	return x.events(ctx, domain.JobEventOf(j, errMsg))
}

// events inserts es and marks their jobs changed. Every caller has locked
// the job's row first (or the engine has one writer), so a job's sequence
// numbers are taken, and committed, in order.
func (x *txn) events(ctx context.Context, es ...domain.Event) error {
	for _, e := range es {
		_, err := x.db.Exec(ctx, `INSERT INTO events (job_id, type, status, progress, attempt, section, error, at)
			VALUES ($1, $2, $3, $4, $5, $6, $7, $8)`,
			e.JobID, string(e.Type), e.Status, e.Progress, e.Attempt, e.Section, e.Error, x.now)
		if err != nil {
			return x.sql.wrap(err, "record %s event of %s", e.Type, e.JobID)
		}
		x.touch(e.JobID)
	}
	return nil
}

// ended reads a job that just reached a terminal status, records its event
// with its error, and owes its webhook delivery.
func (x *txn) ended(ctx context.Context, id string) (domain.Job, error) {
	job, err := x.get(ctx, id)
	if err != nil {
		return domain.Job{}, err
	}
	if err := x.jobEvent(ctx, job, job.Error); err != nil {
		return domain.Job{}, err
	}
	return job, x.oweWebhook(ctx, job)
}

// Events implements ports.JobStore.
func (s *Store) Events(ctx context.Context, jobID string, afterSeq int64, limit int) ([]domain.Event, error) {
	if limit <= 0 {
		limit = math.MaxInt32
	}
	out, err := collect(ctx, s.db, func(r driver.Rows) (e domain.Event, err error) {
		var typ string
		err = r.Scan(&e.Seq, &e.JobID, &typ, &e.Status, &e.Progress, &e.Attempt, &e.Section, &e.Error, &e.At)
		e.Type = domain.EventType(typ)
		return e, err
	}, `SELECT seq, job_id, type, status, progress, attempt, section, error, at
		FROM events WHERE job_id = $1 AND seq > $2 ORDER BY seq LIMIT $3`, jobID, afterSeq, limit)
	if err != nil {
		return nil, s.sql.wrap(err, "events of %s", jobID)
	}
	if len(out) == 0 {
		if _, err := s.Get(ctx, jobID); err != nil {
			return nil, err
		}
	}
	return out, nil
}
