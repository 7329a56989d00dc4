-- The verification pass (domain.ApplyVerdicts). jobs.verify is the job's
-- request for it (1) or not (0, the default). sections.verified is 1 when
-- the saved result has verified_at, so that a job's verified count is a
-- count like its progress, without reading the results' JSON. Events carry
-- whether a section event recorded a verification, and the job's verified
-- progress ("9/13") on the events of jobs with verify on.
ALTER TABLE jobs ADD COLUMN verify integer NOT NULL DEFAULT 0;
ALTER TABLE sections ADD COLUMN verified integer NOT NULL DEFAULT 0;
ALTER TABLE events ADD COLUMN verified integer NOT NULL DEFAULT 0;
ALTER TABLE events ADD COLUMN verified_progress text NOT NULL DEFAULT '';
