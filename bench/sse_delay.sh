#!/usr/bin/env bash
# bench/sse_delay.sh: how long a finished section takes to reach an SSE
# client (section finished_at -> arrival of its `section` event), with
# `codecheck serve` on SQLite and on a fresh Postgres database, fake
# provider 100ms. Runs bench/ssedelay (JOBS jobs one after another, 13
# section events each).
#
#   bench/sse_delay.sh
#   JOBS=20 bench/sse_delay.sh
source "$(dirname "$0")/lib.sh"

JOBS=${JOBS:-10}
build
(cd "$ROOT" && go build -o "$BENCH_DIR/ssedelay" ./bench/ssedelay)
echo "# $(nproc) CPUs, load average $(cut -d' ' -f1-3 /proc/loadavg)"

start_serve "sqlite:$BENCH_DIR/bench.db"
echo "## sqlite: ssedelay -url $SERVE_URL -jobs $JOBS"
"$BENCH_DIR/ssedelay" -url "$SERVE_URL" -jobs "$JOBS"
stop_serve

make_pg_db
start_serve "$PG_URL"
echo "## postgres: ssedelay -url $SERVE_URL -jobs $JOBS"
"$BENCH_DIR/ssedelay" -url "$SERVE_URL" -jobs "$JOBS"
stop_serve
drop_pg_db
