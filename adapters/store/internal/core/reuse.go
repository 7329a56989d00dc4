package core

import (
	"context"
	"encoding/json"
	"fmt"

	"github.com/codecheck/codecheck/adapters/store/internal/driver"
	"github.com/codecheck/codecheck/domain"
	"github.com/codecheck/codecheck/ports"
)

// reuseCandidates bounds the sections ReusableSection weighs: the newest
// saved ones of the key for the jurisdiction. Any of them will do; past
// these, the newer ones were refused and older ones are less likely to pass.
const reuseCandidates = 20

// ReusableSection implements ports.WorkerStore. The SQL finds the newest
// completed sections of the key saved by other jobs of the asking job's
// jurisdiction, provider and project (every prompt carries the project, so
// an answer given for one project is not another's), saved at or after
// q.NotBefore: research is never saved before it is done, so these include
// every section researched since. domain.CheckReuse decides on each, newest
// first.
func (s *Store) ReusableSection(ctx context.Context, q ports.ReuseQuery) (ports.Reusable, error) {
	type candidate struct {
		jobID, provider string
		sec             domain.SectionResult
	}
	found, err := collect(ctx, s.db, func(r driver.Rows) (c candidate, err error) {
		var raw string
		if err := r.Scan(&c.jobID, &c.provider, &raw); err != nil {
			return c, err
		}
		return c, json.Unmarshal([]byte(raw), &c.sec)
	}, `SELECT j.id, j.provider, s.result FROM jobs a
		JOIN jobs j ON j.jurisdiction_key = a.jurisdiction_key AND j.provider = a.provider AND j.id <> a.id
			AND coalesce(j.project, 'null') = coalesce(a.project, 'null')
		JOIN sections s ON s.job_id = j.id
		WHERE a.id = $1 AND a.jurisdiction_key <> '' AND j.jurisdiction_key <> ''
			AND s.key = $2 AND s.status = 'completed' AND s.updated_at >= $3
		ORDER BY s.updated_at DESC, j.id DESC LIMIT $4`, q.JobID, q.Key, q.NotBefore.UTC(), reuseCandidates)
	if err != nil {
		return ports.Reusable{}, s.sql.wrap(err, "reusable %s for job %s", q.Key, q.JobID)
	}
	for _, c := range found {
		want := domain.ReuseWant{Key: q.Key, Provider: c.provider, Model: q.Model, NotBefore: q.NotBefore}
		if domain.CheckReuse(c.sec, want) == nil {
			return ports.Reusable{JobID: c.jobID, Section: c.sec}, nil
		}
	}
	return ports.Reusable{}, fmt.Errorf("no reusable %s for job %s: %w", q.Key, q.JobID, domain.ErrNotFound)
}

// noteJurisdiction records on the job the identity of the jurisdiction its
// completed jurisdiction section found, for ReusableSection; other sections
// change nothing.
func (x *txn) noteJurisdiction(ctx context.Context, jobID string, sec domain.SectionResult) error {
	if sec.Key != domain.JurisdictionKey || sec.Status != domain.SectionCompleted {
		return nil
	}
	if _, err := x.db.Exec(ctx, `UPDATE jobs SET jurisdiction_key = $2 WHERE id = $1`,
		jobID, sec.Jurisdiction.Identity()); err != nil {
		return x.sql.wrap(err, "jurisdiction of job %s", jobID)
	}
	return nil
}
