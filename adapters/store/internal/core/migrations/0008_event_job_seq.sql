-- Event ids per job: job_seq numbers each job's events 1, 2, 3... in the
-- order they were recorded, so that an SSE client's Last-Event-ID (the id
-- of the job's last event it saw) means the same on every job and every
-- engine. Assigned in the transaction that inserts the event, under the
-- job's row lock (or SQLite's one writer); the unique index makes a
-- duplicate an error, never a silent repeat. The global seq stays as the
-- row's key.
ALTER TABLE events ADD COLUMN job_seq bigint NOT NULL DEFAULT 0;
UPDATE events SET job_seq = (SELECT count(*) FROM events e2 WHERE e2.job_id = events.job_id AND e2.seq <= events.seq);
CREATE UNIQUE INDEX events_by_job_seq ON events (job_id, job_seq);
