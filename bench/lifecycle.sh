#!/usr/bin/env bash
# bench/lifecycle.sh: the job lifecycle at the database's speed. JOBS jobs
# through `codecheck serve` with the fake provider at zero latency (the
# machinery alone), on a private Postgres cluster the script starts itself
# (initdb on a free port, as the postgres user; durable: fsync on), so
# that no other client's transactions enter its counts: jobs/s from the
# first submit to the last finish; write transactions per job (transaction
# ids used), all transactions per job (xact_commit, reads included: the
# benchmark client polls every job until it ends) and row writes per job
# (pg_stat_user_tables); the lifecycle's write commits/s. Then the same
# cluster's single-row INSERT tps (pgbench, CLIENTS clients, 10 s), so
# that the ratio is measured in one run.
#
#   bench/lifecycle.sh
#   JOBS=1000 WORKERS=64 bench/lifecycle.sh
#   STATEMENTS=15 bench/lifecycle.sh   # and the 15 statements that took
#                                      # Postgres the most time (pg_stat_statements)
source "$(dirname "$0")/lib.sh"

JOBS=${JOBS:-500}
WORKERS=${WORKERS:-32}
CLIENTS=${CLIENTS:-8}
STATEMENTS=${STATEMENTS:-0}
build
(cd "$ROOT" && go build -o "$BENCH_DIR/inflight" ./bench/inflight)
echo "# $(nproc) CPUs, load average $(cut -d' ' -f1-3 /proc/loadavg)"
PGBIN=$(dirname "$(ls /usr/lib/postgresql/*/bin/initdb | sort -V | tail -1)")
PGDATA="$BENCH_DIR/pgdata"
PGPORT=$(free_port)
mkdir -p "$PGDATA" && chown postgres "$BENCH_DIR" "$PGDATA"
runuser -u postgres -- "$PGBIN/initdb" -D "$PGDATA" -U postgres -A trust -E UTF8 --no-instructions >/dev/null
runuser -u postgres -- "$PGBIN/pg_ctl" -D "$PGDATA" -l "$PGDATA/log" -w \
	-o "-p $PGPORT -c listen_addresses=127.0.0.1 -k $PGDATA -c max_connections=200 -c shared_preload_libraries=${PG_PRELOAD:-pg_stat_statements} -c pg_stat_statements.track_planning=on ${PG_OPTS:-}" start >/dev/null
private_cleanup() {
	stop_serve || true
	[[ -n ${PG_LOG:-} ]] && cp "$PGDATA/log" "$PG_LOG"
	PG_DB="" # the whole cluster goes
	runuser -u postgres -- "$PGBIN/pg_ctl" -D "$PGDATA" -m immediate -w stop >/dev/null 2>&1 || true
	cleanup
}
trap private_cleanup EXIT
PG_BASE="postgres://postgres@127.0.0.1:$PGPORT/postgres?sslmode=disable"
make_pg_db
psql -q "$PG_URL" -c "CREATE EXTENSION pg_stat_statements" >&2

# stats DB: the database's commits and the tables' row writes, once every
# backend of it has gone (a backend publishes its counts when it exits).
stats() {
	for _ in $(seq 1 100); do
		n=$(psql -qtA "$PG_BASE" -c "SELECT count(*) FROM pg_stat_activity WHERE datname = '$PG_DB'")
		[[ $n == 0 ]] && break
		sleep 0.1
	done
	psql -qtA "$PG_BASE" -c "SELECT pg_stat_clear_snapshot()" >/dev/null
	psql -qtA "$PG_URL" -F' ' -c "SELECT (SELECT xact_commit FROM pg_stat_database WHERE datname = current_database()),
		coalesce(sum(n_tup_ins + n_tup_upd + n_tup_del), 0), pg_current_xact_id()::text::bigint FROM pg_stat_user_tables"
}

# Migrate first, so that the schema's own commits stay out of the count.
start_serve "$PG_URL" CODECHECK_FAKE_LLM_LATENCY=0
stop_serve
read -r c0 w0 x0 < <(stats)
psql -qtA "$PG_URL" -c "SELECT pg_stat_statements_reset()" >/dev/null
s0=$(psql -qtA "$PG_URL" -c "SELECT sessions FROM pg_stat_database WHERE datname = current_database()")
start_serve "$PG_URL" CODECHECK_FAKE_LLM_LATENCY=0 CODECHECK_WORKERS="$WORKERS" ${SERVE_ENV:-}
pm=$(postmaster_pid "$PG_URL")
read -r busy0 serve0 pg0 < <(cpu_now "$SERVE_PID" "$pm")
out=$("$BENCH_DIR/inflight" -url "$SERVE_URL" -jobs "$JOBS" -latency 0s)
read -r busy1 serve1 pg1 < <(cpu_now "$SERVE_PID" "$pm")
echo "$out" | grep -v '^RESULT' || true
stop_serve
# CPU a job: Postgres, serve, and the rest of the machine (the client that
# submits and polls); and the jobs/s Postgres's CPU alone allows on this
# machine's cores, were nothing else running.
awk -v n="$JOBS" -v p=$((pg1 - pg0)) -v s=$((serve1 - serve0)) -v b=$((busy1 - busy0)) -v c="$(nproc)" 'BEGIN {
	printf "# CPU a job: %.2f ms in all: Postgres %.2f ms, serve %.2f ms, the rest %.2f ms; Postgres alone allows %.0f jobs/s on %d CPUs\n",
		b / n, p / n, s / n, (b - p - s) / n, c * 1000 * n / p, c }'
read -r c1 w1 x1 < <(stats)
s1=$(psql -qtA "$PG_URL" -c "SELECT sessions FROM pg_stat_database WHERE datname = current_database()")
echo "# connections opened during the run (serve, and this script's own): $((s1 - s0))"
if ((STATEMENTS > 0)); then
	echo "# the $STATEMENTS statements that took Postgres the most time, per job"
	psql -q "$PG_URL" -c "SELECT round((total_exec_time / $JOBS)::numeric, 3) AS ms_per_job,
		round((calls::numeric / $JOBS), 2) AS calls_per_job, round((total_exec_time / nullif(calls, 0))::numeric, 3) AS ms_per_call,
		round((total_plan_time / $JOBS)::numeric, 3) AS plan_ms_per_job, round(shared_blks_hit::numeric / nullif(calls, 0), 1) AS blocks_per_call,
		left(regexp_replace(query, '\s+', ' ', 'g'), 110) AS statement
		FROM pg_stat_statements WHERE dbid = (SELECT oid FROM pg_database WHERE datname = current_database())
		ORDER BY total_exec_time DESC LIMIT $STATEMENTS"
fi
secs=$(echo "$out" | sed -nE 's/.*all_done_s=([0-9.]+).*/\1/p')
# One start and one stop of serve (its schema check, listener, dispatcher)
# commit a little of their own; measured above, without jobs, as a bound.
start_serve "$PG_URL" CODECHECK_FAKE_LLM_LATENCY=0
stop_serve
read -r c2 w2 x2 < <(stats)
idle=$((c2 - c1))
idlex=$((x2 - x1 - 1))

psql -q "$PG_URL" -c "CREATE TABLE pgbench_t (id bigserial PRIMARY KEY, v text, at timestamptz DEFAULT now())"
echo "INSERT INTO pgbench_t (v) VALUES ('x');" >"$BENCH_DIR/insert.sql"
tps=$(pgbench -n -c "$CLIENTS" -j 2 -T 10 -f "$BENCH_DIR/insert.sql" "$PG_URL" 2>/dev/null |
	sed -nE 's/^tps = ([0-9.]+).*/\1/p')

# Each stats reading uses one transaction id of its own.
awk -v jobs="$JOBS" -v secs="$secs" -v c=$((c1 - c0 - idle)) -v x=$((x1 - x0 - 1 - idlex)) -v w=$((w1 - w0)) \
	-v idle="$idle" -v idlex="$idlex" -v tps="$tps" 'BEGIN {
	printf "| jobs | wall s | jobs/s | write commits/job | all commits/job | row writes/job | lifecycle write commits/s | pgbench INSERT tps | ratio |\n"
	printf "|---|---|---|---|---|---|---|---|---|\n"
	printf "| %d | %.2f | %.0f | %.1f | %.1f | %.1f | %.0f | %.0f | %.2f |\n", jobs, secs, jobs/secs, x/jobs, c/jobs, w/jobs,
		x/secs, tps, (x/secs)/tps
	printf "(serve start+stop without jobs: %d commits, %d of them writes, subtracted)\n", idle, idlex
}'
echo "# load average after: $(cut -d' ' -f1-3 /proc/loadavg)"
