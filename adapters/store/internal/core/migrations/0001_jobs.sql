-- Jobs, their section results and their event history.
-- {{time}}, {{keys}}, {{json}} and {{serial}} are the engine's types (see
-- driver.Dialect.Types): on SQLite times are Unix microseconds (UTC) and
-- JSON and key lists are text. Idempotency keys are never deleted, so they
-- are kept far longer than the 24 hours the API promises.

CREATE TABLE jobs (
    id                 text PRIMARY KEY,          -- UUIDv7, chosen by the caller
    address            text NOT NULL,
    provider           text NOT NULL,
    status             text NOT NULL CHECK (status IN ('pending', 'processing', 'completed', 'failed', 'canceled')),
    attempt            integer NOT NULL DEFAULT 0, -- fencing token; only ever increases
    attempt_floor      integer NOT NULL DEFAULT 0, -- attempt at the last retry: attempts counted against the maximum start here
    worker             text NOT NULL DEFAULT '',
    executor           text NOT NULL DEFAULT '',
    executor_ref       text NOT NULL DEFAULT '',
    dispatched_attempt integer NOT NULL DEFAULT 0,
    dispatch_error     text NOT NULL DEFAULT '',
    error              text NOT NULL DEFAULT '',
    sections           {{keys}} NOT NULL,         -- section keys, report order
    webhook_url        text NOT NULL DEFAULT '',
    idempotency_key    text UNIQUE,               -- NULL when the client sent none
    request_hash       text NOT NULL DEFAULT '',
    lease_expires_at   {{time}},
    created_at         {{time}} NOT NULL,
    updated_at         {{time}} NOT NULL,
    started_at         {{time}},
    finished_at        {{time}}
);

-- List (newest first) and claim/dispatch (oldest pending first, the same
-- index read backwards).
CREATE INDEX jobs_by_created ON jobs (created_at DESC, id DESC);
CREATE INDEX jobs_by_status_created ON jobs (status, created_at DESC, id DESC);
-- Rescue of expired leases.
CREATE INDEX jobs_processing_lease ON jobs (lease_expires_at) WHERE status = 'processing';

CREATE TABLE sections (
    job_id     text NOT NULL REFERENCES jobs (id) ON DELETE CASCADE,
    key        text NOT NULL,
    ordinal    integer NOT NULL,                  -- position in the job's sections
    status     text NOT NULL,
    result     {{json}} NOT NULL,                 -- domain.SectionResult
    updated_at {{time}} NOT NULL,
    PRIMARY KEY (job_id, key)
);

CREATE TABLE events (
    seq      {{serial}},
    job_id   text NOT NULL REFERENCES jobs (id) ON DELETE CASCADE,
    type     text NOT NULL,
    status   text NOT NULL,
    progress text NOT NULL,
    attempt  integer NOT NULL,
    section  text NOT NULL DEFAULT '',
    error    text NOT NULL DEFAULT '',
    at       {{time}} NOT NULL
);
CREATE INDEX events_by_job ON events (job_id, seq);
