#!/usr/bin/env bash
# bench/inflight.sh: many jobs in flight at once on `codecheck serve` with the
# fake provider at LATENCY a call: peak goroutines and resident memory of the
# server, how fast the jobs were submitted, and each job's run time against
# the ideal (the jurisdiction, then the other sections in parallel: two
# rounds of LATENCY). Postgres (a fresh database), 127.0.0.1 only.
#
#   bench/inflight.sh                         # 1000 jobs, 1s latency
#   JOBS=200 LATENCY=300ms bench/inflight.sh
source "$(dirname "$0")/lib.sh"

JOBS=${JOBS:-1000}
LATENCY=${LATENCY:-1s}
build
(cd "$ROOT" && go build -o "$BENCH_DIR/inflight" ./bench/inflight)
echo "# $(nproc) CPUs, load average $(cut -d' ' -f1-3 /proc/loadavg)"
make_pg_db
# As many in-process workers as jobs, every section of a job at once: the
# run time then measures the machinery, not a queue.
start_serve "$PG_URL" CODECHECK_FAKE_LLM_LATENCY="$LATENCY" CODECHECK_WORKERS="$JOBS" \
	CODECHECK_SECTION_CONCURRENCY=12 ${SERVE_ENV:-}
"$BENCH_DIR/inflight" -url "$SERVE_URL" -jobs "$JOBS" -latency "$LATENCY"
stop_serve
