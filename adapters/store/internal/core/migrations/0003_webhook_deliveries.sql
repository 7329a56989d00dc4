-- Webhook deliveries owed for jobs that reached a terminal status, written
-- in the same transaction as the status, so a delivery outlives the process
-- that made it. A sender takes due rows, posts them, and records the result.
CREATE TABLE webhook_deliveries (
    id              text PRIMARY KEY,             -- the webhook-id header, the same on every attempt
    job_id          text NOT NULL REFERENCES jobs (id) ON DELETE CASCADE,
    url             text NOT NULL,
    status          text NOT NULL CHECK (status IN ('pending', 'delivered', 'abandoned')),
    attempts        integer NOT NULL DEFAULT 0,   -- attempts taken so far
    last_error      text NOT NULL DEFAULT '',
    next_attempt_at {{time}} NOT NULL,            -- due at; while taken, when the taker's hold ends
    created_at      {{time}} NOT NULL,
    updated_at      {{time}} NOT NULL
);
CREATE INDEX webhook_deliveries_due ON webhook_deliveries (next_attempt_at) WHERE status = 'pending';
