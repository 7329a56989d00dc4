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

// events inserts es, each numbered after the job's last event (the job
// row's event_seq), and marks their jobs changed. Every caller has locked
// the job's row first (or the engine has one writer), so a job's sequence
// numbers are taken, and committed, in order; the unique index on
// (job_id, job_seq) turns a caller that did not into an error rather than
// a duplicate id.
func (x *txn) events(ctx context.Context, es ...domain.Event) error {
	for _, e := range es {
		seq, err := collect(ctx, x.db, scanInt64, `UPDATE jobs SET event_seq = event_seq + 1 WHERE id = $1 RETURNING event_seq`, e.JobID)
		if err == nil && len(seq) == 0 {
			err = notFound(e.JobID)
		}
		if err == nil {
			_, err = x.db.Exec(ctx, `INSERT INTO events (job_id, job_seq, type, status, progress, attempt, section, error, at,
					verified, verified_progress)
				VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11)`,
				e.JobID, seq[0], string(e.Type), e.Status, e.Progress, e.Attempt, e.Section, e.Error, x.now,
				flagParam(e.Verified), e.VerifiedProgress)
		}
		if err != nil {
			return x.sql.wrap(err, "record %s event of %s", e.Type, e.JobID)
		}
		x.touch(e.JobID)
	}
	return nil
}

// ended reads a job that just reached a terminal status, closes its
// sections that still look alive (domain.Job.CloseSections) with a section
// event each, records the job's event with its error, and owes its webhook
// delivery.
func (x *txn) ended(ctx context.Context, id string) (domain.Job, error) {
	job, err := x.get(ctx, id)
	if err != nil {
		return domain.Job{}, err
	}
	if err := x.closeSections(ctx, job); err != nil {
		return domain.Job{}, err
	}
	if err := x.jobEvent(ctx, job, job.Error); err != nil {
		return domain.Job{}, err
	}
	return job, x.oweWebhook(ctx, job)
}

// closeSections stores the sections the job's end changes. A completed
// job's end changes none, so its results are not read.
func (x *txn) closeSections(ctx context.Context, job domain.Job) error {
	if !job.Status.ClosesSections() {
		return nil
	}
	saved, err := x.sql.sections(ctx, x.db, job.ID, "")
	if err != nil {
		return err
	}
	for _, c := range job.CloseSections(saved, x.now) {
		if err := x.putSection(ctx, job.ID, c.Ordinal, c.Result); err != nil {
			return err
		}
		if err := x.events(ctx, domain.SectionEventOf(job, c.Result)); err != nil {
			return err
		}
	}
	return nil
}

// Events implements ports.JobStore. Seq is the event's number within its
// job (job_seq).
func (s *Store) Events(ctx context.Context, jobID string, afterSeq int64, limit int) ([]domain.Event, error) {
	if limit <= 0 {
		limit = math.MaxInt32
	}
	out, err := collect(ctx, s.db, func(r driver.Rows) (e domain.Event, err error) {
		var typ string
		var verified int
		err = r.Scan(&e.Seq, &e.JobID, &typ, &e.Status, &e.Progress, &e.Attempt, &e.Section, &e.Error, &e.At,
			&verified, &e.VerifiedProgress)
		e.Type, e.Verified = domain.EventType(typ), verified != 0
		return e, err
	}, `SELECT job_seq, job_id, type, status, progress, attempt, section, error, at, verified, verified_progress
		FROM events WHERE job_id = $1 AND job_seq > $2 ORDER BY job_seq LIMIT $3`, jobID, afterSeq, limit)
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
