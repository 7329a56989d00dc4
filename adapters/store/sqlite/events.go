package sqlite

import (
	"context"
	"fmt"

	"github.com/codecheck/codecheck/adapters/store/internal/policy"
	"github.com/codecheck/codecheck/domain"
)

// jobEvent records the job's current status, progress and attempt, with
// errMsg, and marks the job changed.
func (x *txn) jobEvent(ctx context.Context, j domain.Job, errMsg string) error {
	return x.event(ctx, policy.JobEvent(j, errMsg))
}

func (x *txn) event(ctx context.Context, e domain.Event) error {
	_, err := x.tx.ExecContext(ctx, `INSERT INTO events (job_id, type, status, progress, attempt, section, error, at)
		VALUES (?, ?, ?, ?, ?, ?, ?, ?)`,
		e.JobID, string(e.Type), e.Status, e.Progress, e.Attempt, e.Section, e.Error, x.micros())
	if err != nil {
		return fmt.Errorf("sqlite: record %s event of %s: %w", e.Type, e.JobID, err)
	}
	x.touch(e.JobID)
	return nil
}

// Events implements ports.JobStore.
func (s *Store) Events(ctx context.Context, jobID string, afterSeq int64, limit int) ([]domain.Event, error) {
	if limit <= 0 {
		limit = -1 // SQLite: no limit
	}
	rows, err := s.reader.QueryContext(ctx, `SELECT seq, job_id, type, status, progress, attempt, section, error, at
		FROM events WHERE job_id = ? AND seq > ? ORDER BY seq LIMIT ?`, jobID, afterSeq, limit)
	if err != nil {
		return nil, fmt.Errorf("sqlite: events of %s: %w", jobID, err)
	}
	defer rows.Close()
	var out []domain.Event
	for rows.Next() {
		var e domain.Event
		var at int64
		if err := rows.Scan(&e.Seq, &e.JobID, &e.Type, &e.Status, &e.Progress, &e.Attempt, &e.Section, &e.Error, &at); err != nil {
			return nil, fmt.Errorf("sqlite: events of %s: %w", jobID, err)
		}
		e.At = fromMicros(at)
		out = append(out, e)
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("sqlite: events of %s: %w", jobID, err)
	}
	if len(out) == 0 {
		if _, err := getJob(ctx, s.reader, jobID); err != nil {
			return nil, err
		}
	}
	return out, nil
}
