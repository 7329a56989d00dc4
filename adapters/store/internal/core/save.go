package core

import (
	"context"
	"encoding/json"
	"fmt"

	"github.com/codecheck/codecheck/domain"
	"github.com/codecheck/codecheck/ports"
)

// saveSectionsStatement is SaveSection as one Postgres statement, so one
// round trip and one commit: the fenced update of the job row (its
// counters and event_seq moved by what the save changes), the sections'
// upsert, and their events and the job's; the notification follows the
// commit (driver.Driver.Announce). It returns
// one row, 1 when it saved and 0 when the lease, the job or a section key
// did not match, and then it changed nothing.
//
// Every part of a statement reads the same snapshot, taken when it
// started; only the job row's UPDATE sees the newest row after waiting for
// its lock. So the event numbers come from the row (event_seq), never from
// max(job_seq) over events, and the counters move by the difference
// between the sections' saved and new status (a job's section is saved by
// one lease holder at a time, so its saved row cannot change under the
// statement).
//
// $1 job id, $2 attempt, $3 now, then one array element per section in
// the save's order: $4 keys, $5 statuses, $6 results (JSON), $7
// sections.verified, $8 errors, $9 the section event's verified flag,
// $10 the section event's number among the save's events (0: no event);
// $11 the jurisdiction's identity when the save completes the jurisdiction
// section, else NULL.
const saveSectionsStatement = `WITH input AS (
	SELECT * FROM unnest($4::text[], $5::text[], $6::text[], $7::int[], $8::text[], $9::int[], $10::int[])
		AS i(key, status, result, verified, error, event_verified, event_n)
), delta AS (
	SELECT coalesce(sum((i.status = 'completed')::int - coalesce(s.status = 'completed', false)::int), 0) AS done,
		coalesce(sum((i.status = 'completed' AND i.verified = 1)::int
			- coalesce(s.status = 'completed' AND s.verified = 1, false)::int), 0) AS verified,
		count(*) FILTER (WHERE i.event_n > 0) AS events
	FROM input i LEFT JOIN sections s ON s.job_id = $1::text AND s.key = i.key
), j AS (
	UPDATE jobs AS u SET updated_at = $3::timestamptz, done = u.done + d.done, verified_done = u.verified_done + d.verified,
		event_seq = u.event_seq + d.events + (d.done <> 0)::int,
		jurisdiction_key = coalesce($11::text, u.jurisdiction_key)
	FROM delta d
	WHERE u.id = $1::text AND u.attempt = $2::int AND u.status = 'processing' AND $4::text[] <@ u.sections
	RETURNING u.id, u.status, u.attempt, u.sections, u.event_seq - d.events - (d.done <> 0)::int AS seq0,
		d.done <> 0 AS moved, u.done || '/' || cardinality(u.sections) AS progress,
		CASE WHEN u.verify = 1 THEN u.verified_done || '/' || cardinality(u.sections) ELSE '' END AS verified_progress
), saved AS (
	INSERT INTO sections (job_id, key, ordinal, status, result, updated_at, verified)
	SELECT j.id, i.key, array_position(j.sections, i.key), i.status, i.result::jsonb, $3::timestamptz, i.verified
	FROM j, input i
	ON CONFLICT (job_id, key) DO UPDATE SET status = excluded.status, result = excluded.result,
		ordinal = excluded.ordinal, updated_at = excluded.updated_at, verified = excluded.verified
), recorded AS (
	INSERT INTO events (job_id, job_seq, type, status, progress, attempt, section, error, at, verified, verified_progress)
	SELECT j.id, j.seq0 + i.event_n, 'section', i.status, j.progress, j.attempt, i.key, i.error, $3::timestamptz, i.event_verified,
		j.verified_progress
	FROM j, input i WHERE i.event_n > 0
	UNION ALL
	SELECT j.id, j.seq0 + d.events + 1, 'job', j.status, j.progress, j.attempt, '', '', $3::timestamptz, 0, j.verified_progress
	FROM j, delta d WHERE j.moved
)
SELECT count(*) FROM j`

// saveInOneStatement runs saveSectionsStatement for secs, and when it saved
// nothing says why: the job is unknown, the lease is lost, or the job does
// not include a section.
func (s *Store) saveInOneStatement(ctx context.Context, l ports.Lease, secs []domain.SectionResult) error {
	n := len(secs)
	keys, statuses, results, errs := make([]string, n), make([]string, n), make([]string, n), make([]string, n)
	verified, eventVerified, eventN := make([]int, n), make([]int, n), make([]int, n)
	events := 0
	for i, sec := range secs {
		b, err := json.Marshal(sec)
		if err != nil {
			return fmt.Errorf("section %s: %w", sec.Key, err)
		}
		keys[i], statuses[i], results[i], errs[i] = sec.Key, string(sec.Status), string(b), sec.Error
		verified[i] = verifiedParam(sec)
		if evs := domain.SectionSavedEvents(domain.Job{}, domain.Job{}, sec); len(evs) == 1 {
			events++
			eventN[i], eventVerified[i] = events, flagParam(evs[0].Verified)
		}
	}
	var jurisdiction any // NULL: the save leaves jobs.jurisdiction_key as it is
	for _, sec := range secs {
		if sec.Key == domain.JurisdictionKey && sec.Status == domain.SectionCompleted {
			jurisdiction = sec.Jurisdiction.Identity()
		}
	}
	saved, err := collect(ctx, s.db, scanInt64, saveSectionsStatement, l.JobID, l.Attempt, s.now(),
		keys, statuses, results, verified, errs, eventVerified, eventN, jurisdiction)
	if err != nil {
		return s.sql.wrap(err, "save section %s of job %s", secs[0].Key, l.JobID)
	}
	if len(saved) == 1 && saved[0] == 1 {
		s.announceProgress(l.JobID)
		return nil
	}
	cur, err := s.Get(ctx, l.JobID)
	if err != nil {
		return err
	}
	if err := leaseLost(l, cur); err != nil {
		return err
	}
	for _, sec := range secs {
		if _, err := cur.SectionOrdinal(sec); err != nil {
			return err
		}
	}
	return fmt.Errorf("job %s attempt %d: section %s not saved, for no reason the job shows", l.JobID, l.Attempt, secs[0].Key)
}
