-- Counters on the job row, so that reading a job counts nothing and a
-- section save is one statement on Postgres. done counts the job's
-- completed sections, verified_done its completed sections with
-- verified = 1, and event_seq is the job_seq of its last event: each write
-- that records events takes the next numbers from it, under the job's row
-- lock (or SQLite's one writer).
ALTER TABLE jobs ADD COLUMN done integer NOT NULL DEFAULT 0;
ALTER TABLE jobs ADD COLUMN verified_done integer NOT NULL DEFAULT 0;
ALTER TABLE jobs ADD COLUMN event_seq bigint NOT NULL DEFAULT 0;
UPDATE jobs SET
	done = (SELECT count(*) FROM sections s WHERE s.job_id = jobs.id AND s.status = 'completed'),
	verified_done = (SELECT count(*) FROM sections s WHERE s.job_id = jobs.id AND s.status = 'completed' AND s.verified = 1),
	event_seq = (SELECT coalesce(max(job_seq), 0) FROM events e WHERE e.job_id = jobs.id);
