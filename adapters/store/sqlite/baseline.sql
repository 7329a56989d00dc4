-- The schema every migration in adapters/store/internal/core/migrations
-- leaves on SQLite, which a new database gets in one step. Generated: run
-- go test ./adapters/store/sqlite -run Baseline -update after adding a migration.

CREATE TABLE schema_migrations (
			version text PRIMARY KEY, applied_at integer NOT NULL);

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
    sections           text NOT NULL,         -- section keys, report order
    webhook_url        text NOT NULL DEFAULT '',
    idempotency_key    text UNIQUE,               -- NULL when the client sent none
    request_hash       text NOT NULL DEFAULT '',
    lease_expires_at   integer,
    created_at         integer NOT NULL,
    updated_at         integer NOT NULL,
    started_at         integer,
    finished_at        integer
, dispatched_at integer, handoff_owner text NOT NULL DEFAULT '', handoff_until integer, handoffs integer NOT NULL DEFAULT 0, project text, max_cost_usd DOUBLE PRECISION, cost_capped INTEGER NOT NULL DEFAULT 0, reuse integer NOT NULL DEFAULT 1, jurisdiction_key text NOT NULL DEFAULT '', verify integer NOT NULL DEFAULT 0, done integer NOT NULL DEFAULT 0, verified_done integer NOT NULL DEFAULT 0, event_seq bigint NOT NULL DEFAULT 0);

CREATE TABLE sections (
    job_id     text NOT NULL REFERENCES jobs (id) ON DELETE CASCADE,
    key        text NOT NULL,
    ordinal    integer NOT NULL,                  -- position in the job's sections
    status     text NOT NULL,
    result     text NOT NULL,                 -- domain.SectionResult
    updated_at integer NOT NULL, verified integer NOT NULL DEFAULT 0,
    PRIMARY KEY (job_id, key)
);

CREATE TABLE events (
    seq      integer PRIMARY KEY AUTOINCREMENT,
    job_id   text NOT NULL REFERENCES jobs (id) ON DELETE CASCADE,
    type     text NOT NULL,
    status   text NOT NULL,
    progress text NOT NULL,
    attempt  integer NOT NULL,
    section  text NOT NULL DEFAULT '',
    error    text NOT NULL DEFAULT '',
    at       integer NOT NULL
, job_seq bigint NOT NULL DEFAULT 0, verified integer NOT NULL DEFAULT 0, verified_progress text NOT NULL DEFAULT '');

CREATE TABLE webhook_deliveries (
    id              text PRIMARY KEY,             -- the webhook-id header, the same on every attempt
    job_id          text NOT NULL REFERENCES jobs (id) ON DELETE CASCADE,
    url             text NOT NULL,
    status          text NOT NULL CHECK (status IN ('pending', 'delivered', 'abandoned')),
    attempts        integer NOT NULL DEFAULT 0,   -- attempts taken so far
    last_error      text NOT NULL DEFAULT '',
    next_attempt_at integer NOT NULL,            -- due at; while taken, when the taker's hold ends
    created_at      integer NOT NULL,
    updated_at      integer NOT NULL
);

CREATE TABLE provider_limits (
    provider     text PRIMARY KEY,
    full_at      integer NOT NULL,
    paused_until integer NOT NULL,
    updated_at   integer NOT NULL
);

CREATE INDEX jobs_by_created ON jobs (created_at DESC, id DESC);

CREATE INDEX jobs_by_status_created ON jobs (status, created_at DESC, id DESC);

CREATE INDEX jobs_processing_lease ON jobs (lease_expires_at) WHERE status = 'processing';

CREATE INDEX webhook_deliveries_due ON webhook_deliveries (next_attempt_at) WHERE status = 'pending';

CREATE UNIQUE INDEX events_by_job_seq ON events (job_id, job_seq);

CREATE INDEX jobs_by_jurisdiction ON jobs (jurisdiction_key, provider) WHERE jurisdiction_key <> '';

CREATE INDEX jobs_awaiting_handoff ON jobs (status, created_at, id)
	WHERE status = 'pending' AND dispatched_attempt <= attempt;

CREATE INDEX jobs_handed_off ON jobs (status, dispatched_at, id)
	WHERE status = 'pending' AND dispatched_attempt > attempt;
