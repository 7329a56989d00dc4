#!/usr/bin/env bash
# bench/river.sh: River (github.com/riverqueue/river v0.51.2), a Postgres
# job queue for Go, as a reference for codecheck's job figures: JOBS no-op
# jobs inserted with InsertMany in batches of BATCH, then worked by one
# client with WORKERS workers, on a fresh Postgres database, 127.0.0.1 only.
# Reports insert time, working time, jobs/s and Postgres commits per job
# (pg_stat_database.xact_commit). Runs bench/river, a Go module of its own
# (bench/river/go.mod): River is never a dependency of codecheck.
#
#   bench/river.sh                          # 20,000 jobs, batches of 1,000, 100 workers
#   JOBS=50000 WORKERS=1000 bench/river.sh
#   FETCH_COOLDOWN=10ms bench/river.sh      # River's default is 100ms
source "$(dirname "$0")/lib.sh"

JOBS=${JOBS:-20000}
BATCH=${BATCH:-1000}
WORKERS=${WORKERS:-100}
FETCH_COOLDOWN=${FETCH_COOLDOWN:-0}

echo "# building bench/river" >&2
(cd "$ROOT/bench/river" && go build -o "$BENCH_DIR/river" .)
echo "# $(nproc) CPUs, load average $(cut -d' ' -f1-3 /proc/loadavg)"
make_pg_db
"$BENCH_DIR/river" -database-url "$PG_URL" -jobs "$JOBS" -batch "$BATCH" -workers "$WORKERS" \
	-fetch-cooldown "$FETCH_COOLDOWN"
echo "# load average afterwards $(cut -d' ' -f1-3 /proc/loadavg)"
drop_pg_db
