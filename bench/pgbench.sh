#!/usr/bin/env bash
# bench/pgbench.sh: how many single-row INSERT transactions a second the
# Postgres server takes, the "database speed" that codecheck's Postgres
# figures are divided by. pgbench (apt-get install postgresql-contrib, or
# the postgresql-client package of the server's version) runs
# `INSERT INTO t (v) VALUES ('x')`, one autocommit transaction each, from
# CLIENTS connections on THREADS threads for SECONDS_ seconds, RUNS times,
# on a fresh database (one table, emptied before each run), 127.0.0.1 only.
# Prints each run's tps and the change of pg_stat_database.xact_commit over
# the run (per second, and per pgbench transaction), then the medians.
# xact_commit also counts the few transactions of pgbench's connecting and
# of this script's own psql reads.
# With CREATE=1, each run is followed by one of bench/create.sql on the
# same database (codecheck's schema migrated into it): the statement
# codecheck's POST /jobs commits, a job row and its first event, with no
# HTTP and no Go in between; its tps divided by the INSERT's is the most
# `POST /jobs` ÷ INSERT tps can be on the server.
#
#   bench/pgbench.sh                          # 8 clients, 2 threads, 10 s, 3 runs
#   SECONDS_=30 CLIENTS=16 RUNS=5 bench/pgbench.sh
#   CREATE=1 bench/pgbench.sh                 # and codecheck's create statement
#   PROTOCOL=prepared CREATE=1 bench/pgbench.sh   # pgbench -M: simple (default), extended, prepared
#   CODECHECK_TEST_DATABASE_URL=postgres://... bench/pgbench.sh
# (SECONDS_ with an underscore: bash's own SECONDS counts the shell's age.)
source "$(dirname "$0")/lib.sh"

SECONDS_=${SECONDS_:-10}
CLIENTS=${CLIENTS:-8}
THREADS=${THREADS:-2}
RUNS=${RUNS:-3}
CREATE=${CREATE:-0}
PROTOCOL=${PROTOCOL:-simple}

command -v pgbench >/dev/null || { echo "pgbench not found: apt-get install -y postgresql-contrib" >&2; exit 2; }

make_pg_db
q() { psql -X -q -At "$PG_URL" -c "$1"; }
q "CREATE TABLE t (id bigserial PRIMARY KEY, v text, at timestamptz DEFAULT now())"
echo "INSERT INTO t (v) VALUES ('x');" >"$BENCH_DIR/insert.sql"
if [[ $CREATE == 1 ]]; then
	build
	env -i PATH="$PATH" HOME="$BENCH_DIR" DATABASE_URL="$PG_URL" "$BIN" migrate >"$BENCH_DIR/migrate.log" 2>&1 ||
		{ cat "$BENCH_DIR/migrate.log" >&2; exit 1; }
fi

# commits prints the database's xact_commit once no other backend is
# connected to it: a backend flushes its statistics when it exits (and
# otherwise at most once a second), so pgbench's must be gone.
commits() {
	local n
	for _ in $(seq 1 600); do
		n=$(q "SELECT count(*) FROM pg_stat_activity WHERE datname = current_database() AND pid <> pg_backend_pid()")
		[[ $n == 0 ]] && break
		sleep 0.05 # polling interval
	done
	[[ $n == 0 ]] || { echo "backends still connected to $PG_DB after 30s" >&2; return 1; }
	q "SELECT pg_stat_get_db_xact_commit(oid) FROM pg_database WHERE datname = current_database()"
}

echo "# $(nproc) CPUs, load average $(cut -d' ' -f1-3 /proc/loadavg)"
echo "# $(q "SELECT version()" | cut -d' ' -f1-2); $(q "SELECT string_agg(name || '=' || current_setting(name), ', ' ORDER BY name) FROM pg_settings
	WHERE name IN ('fsync', 'synchronous_commit', 'full_page_writes', 'wal_sync_method', 'commit_delay', 'shared_buffers')")"
echo "## pgbench -n -M $PROTOCOL -c $CLIENTS -j $THREADS -T $SECONDS_ -f insert.sql  (insert.sql: $(cat "$BENCH_DIR/insert.sql"))"
echo
echo "| run | script | transactions | tps | xact_commit/s | commits/transaction |"
echo "|---|---|---|---|---|---|"
TPS=()
CPS=()
CREATE_TPS=()
RATIOS=() # create.sql's tps over the INSERT's, run by run
# run_pgbench RUN NAME FILE: one pgbench run of FILE; prints its row, sets tps
# and cps.
run_pgbench() {
	local before after tx
	before=$(commits)
	pgbench -n -M "$PROTOCOL" -c "$CLIENTS" -j "$THREADS" -T "$SECONDS_" -f "$3" "$PG_URL" >"$BENCH_DIR/run$1.txt" 2>&1 ||
		{ cat "$BENCH_DIR/run$1.txt" >&2; exit 1; }
	after=$(commits)
	tx=$(sed -nE 's/^number of transactions actually processed: ([0-9]+).*/\1/p' "$BENCH_DIR/run$1.txt")
	tps=$(sed -nE 's/^tps = ([0-9.]+) \(without initial connection time\).*/\1/p' "$BENCH_DIR/run$1.txt")
	cps=$(awk -v d=$((after - before)) -v s="$SECONDS_" 'BEGIN {printf "%.0f", d / s}')
	printf '| %d | %s | %d | %.0f | %s | %.3f |\n' "$1" "$2" "$tx" "$tps" "$cps" "$(awk -v d=$((after - before)) -v t="$tx" 'BEGIN {print d / t}')"
}
for run in $(seq 1 "$RUNS"); do
	q "TRUNCATE t"
	run_pgbench "$run" insert.sql "$BENCH_DIR/insert.sql"
	insert_tps=$tps
	TPS+=("$tps")
	CPS+=("$cps")
	if [[ $CREATE == 1 ]]; then
		q "SET client_min_messages = warning; TRUNCATE codecheck.jobs CASCADE"
		run_pgbench "$run" create.sql "$ROOT/bench/create.sql"
		CREATE_TPS+=("$tps")
		RATIOS+=("$(awk -v c="$tps" -v i="$insert_tps" 'BEGIN {printf "%.2f", c / i}')")
	fi
done
median() { printf '%s\n' "$@" | sort -g | awk '{a[NR]=$1} END {print a[int((NR+1)/2)]}'; }
echo
printf 'RESULT runs=%d clients=%d seconds=%d median_tps=%.0f median_xact_commit_per_s=%s\n' \
	"$RUNS" "$CLIENTS" "$SECONDS_" "$(median "${TPS[@]}")" "$(median "${CPS[@]}")"
if [[ $CREATE == 1 ]]; then
	printf 'RESULT create_median_tps=%.0f create_over_insert_per_run=%s median=%s\n' "$(median "${CREATE_TPS[@]}")" \
		"$(IFS=,; echo "${RATIOS[*]}")" "$(median "${RATIOS[@]}")"
fi
echo "# load average afterwards $(cut -d' ' -f1-3 /proc/loadavg)"
drop_pg_db
