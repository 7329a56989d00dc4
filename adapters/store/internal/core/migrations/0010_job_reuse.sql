-- Per-jurisdiction reuse (domain.CheckReuse). reuse is the job's consent to
-- take its jurisdiction-wide sections from another job (1, the default) or
-- not (0: the client asked for fresh research). jurisdiction_key is the
-- normalized identity of the jurisdiction its jurisdiction section found
-- (domain.Jurisdiction.Identity), '' until then or when it found too
-- little; the store sets it when it saves that section. Jobs of one
-- jurisdiction and provider are found through the partial index.
ALTER TABLE jobs ADD COLUMN reuse integer NOT NULL DEFAULT 1;
ALTER TABLE jobs ADD COLUMN jurisdiction_key text NOT NULL DEFAULT '';
CREATE INDEX jobs_by_jurisdiction ON jobs (jurisdiction_key, provider) WHERE jurisdiction_key <> '';
