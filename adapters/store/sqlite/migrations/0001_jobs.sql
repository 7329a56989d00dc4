-- Jobs, their section results and their event history.
-- Times are Unix microseconds (UTC). Idempotency keys are never deleted, so
-- they are kept far longer than the 24 hours the API promises.

CREATE TABLE jobs (
    id                 TEXT PRIMARY KEY,          -- UUIDv7, chosen by the caller
    address            TEXT NOT NULL,
    provider           TEXT NOT NULL,
    status             TEXT NOT NULL CHECK (status IN ('pending', 'processing', 'completed', 'failed', 'canceled')),
    attempt            INTEGER NOT NULL DEFAULT 0, -- fencing token; only ever increases
    attempt_floor      INTEGER NOT NULL DEFAULT 0, -- attempt at the last retry: attempts counted against the maximum start here
    worker             TEXT NOT NULL DEFAULT '',
    executor           TEXT NOT NULL DEFAULT '',
    executor_ref       TEXT NOT NULL DEFAULT '',
    dispatched_attempt INTEGER NOT NULL DEFAULT 0,
    dispatch_error     TEXT NOT NULL DEFAULT '',
    error              TEXT NOT NULL DEFAULT '',
    sections           TEXT NOT NULL,             -- JSON array of section keys, report order
    webhook_url        TEXT NOT NULL DEFAULT '',
    idempotency_key    TEXT UNIQUE,               -- NULL when the client sent none
    request_hash       TEXT NOT NULL DEFAULT '',
    lease_expires_at   INTEGER,
    created_at         INTEGER NOT NULL,
    updated_at         INTEGER NOT NULL,
    started_at         INTEGER,
    finished_at        INTEGER
);

-- List (newest first) and claim/dispatch (oldest pending first, the same
-- index read backwards).
CREATE INDEX jobs_by_created ON jobs (created_at DESC, id DESC);
CREATE INDEX jobs_by_status_created ON jobs (status, created_at DESC, id DESC);
-- Rescue of expired leases.
CREATE INDEX jobs_processing_lease ON jobs (lease_expires_at) WHERE status = 'processing';

CREATE TABLE sections (
    job_id     TEXT NOT NULL REFERENCES jobs (id) ON DELETE CASCADE,
    key        TEXT NOT NULL,
    ordinal    INTEGER NOT NULL,                  -- position in the job's sections
    status     TEXT NOT NULL,
    result     TEXT NOT NULL,                     -- domain.SectionResult as JSON
    updated_at INTEGER NOT NULL,
    PRIMARY KEY (job_id, key)
);

CREATE TABLE events (
    seq      INTEGER PRIMARY KEY AUTOINCREMENT,
    job_id   TEXT NOT NULL REFERENCES jobs (id) ON DELETE CASCADE,
    type     TEXT NOT NULL,
    status   TEXT NOT NULL,
    progress TEXT NOT NULL,
    attempt  INTEGER NOT NULL,
    section  TEXT NOT NULL DEFAULT '',
    error    TEXT NOT NULL DEFAULT '',
    at       INTEGER NOT NULL
);
CREATE INDEX events_by_job ON events (job_id, seq);
