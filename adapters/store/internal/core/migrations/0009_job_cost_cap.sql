-- A job's cost cap in US dollars (NULL: none), and whether the job ended
-- with sections skipped at the cap (0 or 1), so that a retry may raise it.
ALTER TABLE jobs ADD COLUMN max_cost_usd DOUBLE PRECISION;
ALTER TABLE jobs ADD COLUMN cost_capped INTEGER NOT NULL DEFAULT 0;
