-- Provider call budgets shared by every process on this database
-- (CODECHECK_PROVIDER_RPM for the whole fleet), one row per provider,
-- created on first use. full_at is the token bucket: when it would be full
-- again; each call takes one token by pushing it 60s/rpm later (see
-- ports.Rate.Schedule). paused_until is when the provider's last
-- Retry-After ends, for every process.
CREATE TABLE provider_limits (
    provider     text PRIMARY KEY,
    full_at      {{time}} NOT NULL,
    paused_until {{time}} NOT NULL,
    updated_at   {{time}} NOT NULL
);
-- No Data API role reads it either (see 0006).
{{postgres}}ALTER TABLE provider_limits ENABLE ROW LEVEL SECURITY;
