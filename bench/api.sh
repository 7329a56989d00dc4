#!/usr/bin/env bash
# bench/api.sh: requests per second and latency of POST /jobs on
# `codecheck serve` with the fake provider (100ms per call), first on SQLite,
# then on a fresh Postgres database. Uses wrk (apt-get install wrk) against
# 127.0.0.1 only. The submitted jobs are processed by the server's own
# workers meanwhile, as in production; the server is stopped afterwards.
#
#   bench/api.sh                     # 10s, 4 connections, 2 threads
#   DURATION=30s CONNECTIONS=8 bench/api.sh
#   CODECHECK_TEST_DATABASE_URL=postgres://... bench/api.sh
#   SERVE_ENV="CODECHECK_FAKE_LLM_LATENCY=1h" bench/api.sh   # workers idle: the API path alone
#   STORES=postgres RATE=390 bench/api.sh   # one store only (sqlite, postgres)
#   RATE=300 bench/api.sh            # a fixed 300 requests a second (bench/rate, an open loop),
#                                    # measured after WARMUP (default 3s) at that rate; WARMUP=0s from cold
source "$(dirname "$0")/lib.sh"

DURATION=${DURATION:-10s}
CONNECTIONS=${CONNECTIONS:-4}
THREADS=${THREADS:-2}
RATE=${RATE:-}
WARMUP=${WARMUP:-3s}
STORES=${STORES:-sqlite postgres}

[[ -n $RATE ]] || command -v wrk >/dev/null || { echo "wrk not found: apt-get install -y wrk" >&2; exit 2; }

cat >"$BENCH_DIR/post.lua" <<'LUA'
wrk.method = "POST"
wrk.headers["Content-Type"] = "application/json"
wrk.body = '{"address":"1600 Pennsylvania Ave NW, Washington, DC 20500","llm_provider":"fake"}'

done = function(summary, latency, requests)
  local e = summary.errors
  io.write(string.format(
    "RESULT requests=%d rps=%.0f p50_ms=%.2f p90_ms=%.2f p99_ms=%.2f max_ms=%.2f non2xx=%d socket_errors=%d\n",
    summary.requests, summary.requests / (summary.duration / 1e6),
    latency:percentile(50) / 1000, latency:percentile(90) / 1000, latency:percentile(99) / 1000,
    latency.max / 1000, e.status, e.connect + e.read + e.write + e.timeout))
end
LUA

bench() {
	local name=$1 db=$2
	# shellcheck disable=SC2086 # SERVE_ENV is a list of VAR=VALUE words
	start_serve "$db" ${SERVE_ENV:-}
	# One request first, so that the database is warm and the route works.
	curl -fsS -o /dev/null -X POST -H 'Content-Type: application/json' \
		-d '{"address":"1600 Pennsylvania Ave NW, Washington, DC 20500","llm_provider":"fake"}' "$SERVE_URL/jobs"
	local pm="" busy0 serve0 pg0 busy1 serve1 pg1
	[[ $name == postgres ]] && pm=$(postmaster_pid "$db")
	read -r busy0 serve0 pg0 < <(cpu_now "$SERVE_PID" "$pm")
	if [[ -n $RATE ]]; then
		echo "## $name: rate -rate $RATE -warmup $WARMUP -duration $DURATION -url $SERVE_URL"
		"$BENCH_DIR/rate" -url "$SERVE_URL" -rate "$RATE" -warmup "$WARMUP" -duration "$DURATION" | tee "$BENCH_DIR/$name.txt"
	else
		echo "## $name: wrk -t$THREADS -c$CONNECTIONS -d$DURATION --latency -s post.lua $SERVE_URL/jobs"
		wrk -t"$THREADS" -c"$CONNECTIONS" -d"$DURATION" --latency -s "$BENCH_DIR/post.lua" "$SERVE_URL/jobs" | tee "$BENCH_DIR/$name.txt"
	fi
	read -r busy1 serve1 pg1 < <(cpu_now "$SERVE_PID" "$pm")
	stop_serve
	# CPU per request, warm-up included: serve, Postgres, and the rest of
	# the machine (the load generator, the kernel's network, other tenants).
	local requests cpu
	requests=$(grep '^RESULT' "$BENCH_DIR/$name.txt" | tr ' ' '\n' |
		awk -F= '$1 == "requests" || $1 == "warmup_requests" {n += $2} END {print n}')
	cpu=$(awk -v n="$requests" -v s=$((serve1 - serve0)) -v p=$((pg1 - pg0)) -v b=$((busy1 - busy0)) -v c="$(nproc)" 'BEGIN {
		printf "cpu_ms_per_request=%.3f serve_ms=%.3f postgres_ms=%.3f rest_ms=%.3f cpu_bound_rps=%.0f",
			b / n, s / n, p / n, (b - s - p) / n, c * 1000 * n / b }')
	RESULTS+=("$name $(grep '^RESULT' "$BENCH_DIR/$name.txt" | sed 's/^RESULT //') $cpu")
}

RESULTS=()
build
[[ -n $RATE ]] && (cd "$ROOT" && go build -o "$BENCH_DIR/rate" ./bench/rate)
echo "# $(nproc) CPUs, load average $(cut -d' ' -f1-3 /proc/loadavg)"
for store in $STORES; do
	case $store in
	sqlite) bench sqlite "sqlite:$BENCH_DIR/bench.db" ;;
	postgres)
		make_pg_db
		bench postgres "$PG_URL"
		drop_pg_db
		;;
	*) echo "STORES: unknown store $store (sqlite, postgres)" >&2; exit 2 ;;
	esac
done

echo
load="$CONNECTIONS connections"
[[ -n $RATE ]] && load="$RATE requests a second"
echo "## POST /jobs, $DURATION, $load, fake provider 100ms"
printf '%s\n' "${RESULTS[@]}"
