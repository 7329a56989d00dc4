-- Room on each page for the row's next version. A job row is updated about
-- ten times in its life (claim, the saves, finish, heartbeats) and a
-- section row twice or more; a full page (the default fillfactor, 100)
-- sends each new version to another page, and then every index of the
-- table takes a new entry too. With free space on the page, an update
-- that changes no indexed column is a heap-only tuple (HOT) update: one
-- page written, no index touched. Existing pages keep their layout; new
-- ones are filled to the new factor. SQLite has no such setting.
{{postgres}}ALTER TABLE jobs SET (fillfactor = 50);
{{postgres}}ALTER TABLE sections SET (fillfactor = 70);
-- events_by_job (job_id, seq) serves no query since events are read by
-- their number within the job (events_by_job_seq, 0008), yet every event,
-- some thirty a job, paid an entry in it.
DROP INDEX IF EXISTS {{schema.}}events_by_job;
