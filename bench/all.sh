#!/usr/bin/env bash
# bench/all.sh: every figure of docs/benchmarks.md in one run, one script
# after another (never two at once: they would measure each other), with
# the machine's load before each. The reference points first: the
# database's speed (pgbench.sh) and another Postgres job queue on it
# (river.sh).
#
#   bash bench/all.sh 2>&1 | tee /tmp/bench.txt
set -uo pipefail
cd "$(dirname "$0")/.."
run() {
	echo
	echo "### $* (load average $(cut -d' ' -f1-3 /proc/loadavg))"
	env "$@" 2>&1 | grep -vE '^(NOTICE|\s*$)' || echo "### FAILED: $*"
}
echo "# $(date -u +%FT%TZ), $(git rev-parse --short HEAD), $(nproc) CPUs"
run bash bench/pgbench.sh
run bash bench/river.sh
run bash bench/lifecycle.sh
run JOBS=1000 WORKERS=64 bash bench/lifecycle.sh
run SERVE_ENV=CODECHECK_FAKE_LLM_LATENCY=1h bash bench/api.sh
run SERVE_ENV=CODECHECK_FAKE_LLM_LATENCY=1h CONNECTIONS=1 THREADS=1 bash bench/api.sh
run bash bench/inflight.sh
run JOBS=20 bash bench/sse_delay.sh
run LATENCY=0 RUNS=20 bash bench/check.sh
run LATENCY=0 FRESH=0 RUNS=20 bash bench/check.sh
run LATENCY=300ms RUNS=10 bash bench/check.sh
run LATENCY=300ms FRESH=0 RUNS=10 bash bench/check.sh
