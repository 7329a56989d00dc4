-- Row-level security on, with no policies: on Supabase the Data API's roles
-- (anon, authenticated) then read and write nothing, while codecheck, which
-- owns the tables, is not affected. {{postgres}} starts Postgres-only lines
-- (SQLite has no such thing, and no Data API).
{{postgres}}ALTER TABLE jobs ENABLE ROW LEVEL SECURITY;
{{postgres}}ALTER TABLE sections ENABLE ROW LEVEL SECURITY;
{{postgres}}ALTER TABLE events ENABLE ROW LEVEL SECURITY;
{{postgres}}ALTER TABLE webhook_deliveries ENABLE ROW LEVEL SECURITY;
{{postgres}}ALTER TABLE schema_migrations ENABLE ROW LEVEL SECURITY;
