-- bench/create.sql: what POST /jobs asks of Postgres, for pgbench
-- (bench/pgbench.sh, CREATE=1): the one statement the store's Create sends
-- (adapters/store/internal/core/jobs.go, Postgres dialect), which inserts
-- the job's row and its first event, with literals in place of its
-- parameters. Keep it in step with that statement.
WITH j AS (
	INSERT INTO codecheck.jobs AS j (id, address, provider, status, sections, webhook_url, idempotency_key, request_hash,
		created_at, updated_at, project, max_cost_usd, reuse, verify, event_seq)
	VALUES (gen_random_uuid()::text, '1600 Pennsylvania Ave NW, Washington, DC 20500', 'fake', 'pending',
		'{jurisdiction,zoning_use,dimensional_standards,overlays_historic,adopted_codes,occupancy_construction,fire_life_safety,accessibility,energy_code,hazards_design_criteria,utilities_site,parking_access,permitting_process}',
		'', NULL, 'h', now(), now(), NULL::jsonb, NULL, 1, 0, 1)
	ON CONFLICT (idempotency_key) DO NOTHING
	RETURNING j.id, j.address, j.provider, j.status, j.attempt, j.executor, j.executor_ref,
	j.dispatched_attempt, j.dispatch_error, j.error, j.sections, j.webhook_url, coalesce(j.project, 'null') AS project,
	j.max_cost_usd, j.cost_capped, coalesce(j.idempotency_key, '') AS idempotency_key, j.request_hash, j.lease_expires_at,
	j.created_at, j.updated_at, j.started_at, j.finished_at, j.reuse, j.done, j.verify, j.verified_done
), recorded AS (
	INSERT INTO codecheck.events (job_id, job_seq, type, status, progress, attempt, section, error, at, verified, verified_progress)
	SELECT j.id, 1, 'status', 'pending', '0/13', 0, '', '', now(), 0, '' FROM j
)
SELECT id, address, provider, status, attempt, executor, executor_ref,
	dispatched_attempt, dispatch_error, error, sections, webhook_url, project,
	max_cost_usd, cost_capped, idempotency_key, request_hash, lease_expires_at,
	created_at, updated_at, started_at, finished_at, reuse, done, verify, verified_done FROM j;
