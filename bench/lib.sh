# Shared by the bench scripts: build the binary, start and stop
# `codecheck serve`, and make a throw-away Postgres database. Source it;
# it sets BENCH_DIR (a temporary directory removed on exit) and BIN.

set -euo pipefail

ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
BENCH_DIR=$(mktemp -d "${TMPDIR:-/tmp}/codecheck-bench.XXXXXX")
BIN="$BENCH_DIR/codecheck"
PG_BASE=${CODECHECK_TEST_DATABASE_URL:-postgres://postgres@127.0.0.1:5432/test?sslmode=disable}
SERVE_PID=""
PG_DB=""

cleanup() {
	stop_serve || true
	drop_pg_db || true
	rm -rf "$BENCH_DIR"
}
trap cleanup EXIT

build() {
	echo "# building codecheck ($(cd "$ROOT" && git rev-parse --short HEAD 2>/dev/null || echo unknown))" >&2
	(cd "$ROOT" && go build -o "$BIN" ./cmd/codecheck)
}

free_port() {
	python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1]); s.close()' 2>/dev/null ||
		echo $((20000 + RANDOM % 20000))
}

# start_serve DATABASE_URL [VAR=VALUE...]: starts serve on 127.0.0.1 with the
# fake provider, sets SERVE_URL and SERVE_PID, waits for /healthz.
start_serve() {
	local db=$1
	shift
	local port
	port=$(free_port)
	SERVE_URL="http://127.0.0.1:$port"
	env -i PATH="$PATH" HOME="$BENCH_DIR" DATABASE_URL="$db" CODECHECK_ADDR="127.0.0.1:$port" \
		CODECHECK_FAKE_LLM=1 CODECHECK_FAKE_LLM_LATENCY=100ms CODECHECK_LOG_LEVEL=warn "$@" \
		"$BIN" serve >>"$BENCH_DIR/serve.log" 2>&1 &
	SERVE_PID=$!
	for _ in $(seq 1 300); do
		if curl -fsS "$SERVE_URL/healthz" >/dev/null 2>&1; then
			return 0
		fi
		if ! kill -0 "$SERVE_PID" 2>/dev/null; then
			echo "serve exited:" >&2
			cat "$BENCH_DIR/serve.log" >&2
			return 1
		fi
		sleep 0.1
	done
	echo "serve not healthy after 30s" >&2
	return 1
}

stop_serve() {
	if [[ -n $SERVE_PID ]]; then
		kill -TERM "$SERVE_PID" 2>/dev/null || true
		wait "$SERVE_PID" 2>/dev/null || true
		SERVE_PID=""
	fi
}

# pg_url prints PG_BASE with its database replaced by $1.
pg_url() {
	echo "$PG_BASE" | sed -E "s#/[^/?]+(\\?|\$)#/$1\\1#"
}

# make_pg_db creates a fresh database, dropped on exit, and sets PG_URL.
make_pg_db() {
	PG_DB="codecheck_bench_$$"
	psql -q "$PG_BASE" -c "CREATE DATABASE $PG_DB" >&2
	PG_URL=$(pg_url "$PG_DB")
}

drop_pg_db() {
	if [[ -n $PG_DB ]]; then
		psql -q "$PG_BASE" -c "DROP DATABASE IF EXISTS $PG_DB WITH (FORCE)" >&2
		PG_DB=""
	fi
}

# CPU accounting, in milliseconds, from /proc (Linux), so that a run can say
# where the machine's CPU went per request or per job: the server, the
# database, and the rest (the load generator).
TICK_MS=$((1000 / $(getconf CLK_TCK)))

# proc_cpu_ms PID: the process's user+system time so far, its threads'
# included.
proc_cpu_ms() {
	awk -v t="$TICK_MS" '{sub(/^.*\) /, ""); print ($12 + $13) * t}' "/proc/$1/stat"
}

# postmaster_pid URL: the pid of the Postgres server behind URL (the parent
# of its checkpointer, which lives as long as the server).
postmaster_pid() {
	local child
	child=$(psql -qtA "$1" -c "SELECT pid FROM pg_stat_activity WHERE backend_type = 'checkpointer'")
	awk '{sub(/^.*\) /, ""); print $2}' "/proc/$child/stat"
}

# pg_cpu_ms PID: the Postgres server's CPU so far: the postmaster's own, its
# ended children's (reaped: cutime, cstime) and its live children's.
pg_cpu_ms() {
	# cat goes on past a process that ended meanwhile, and fails for it
	{ cat /proc/[0-9]*/stat 2>/dev/null || true; } | awk -v pm="$1" -v t="$TICK_MS" '{
		pid = $1; sub(/^.*\) /, "")
		if (pid == pm) s += $12 + $13 + $14 + $15; else if ($2 == pm) s += $12 + $13
	} END {print s * t}'
}

# busy_cpu_ms: the machine's CPU time spent on anything but idling (or
# another guest's, steal), so far.
busy_cpu_ms() {
	awk -v t="$TICK_MS" '/^cpu / {print ($2 + $3 + $4 + $7 + $8) * t; exit}' /proc/stat
}

# cpu_now PID [POSTMASTER_PID]: "busy serve postgres", the CPU ms so far of
# the machine, of process PID and of the Postgres server (0 without one);
# read it before and after a run.
cpu_now() {
	local pg=0
	[[ -n ${2:-} ]] && pg=$(pg_cpu_ms "$2")
	echo "$(busy_cpu_ms) $(proc_cpu_ms "$1") $pg"
}
