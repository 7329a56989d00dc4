#!/usr/bin/env bash
# Starts PgBouncer in transaction mode on 127.0.0.1:6432 in front of the
# test Postgres (127.0.0.1:5432, trust auth), for the tests that run
# codecheck through a transaction pooler (test/e2e, CODECHECK_TEST_PGBOUNCER_URL).
# Every database name is passed through, so a test can use a database of its
# own. Idempotent: does nothing when it already answers.
set -euo pipefail
port="${PGBOUNCER_PORT:-6432}"
dir="${PGBOUNCER_DIR:-/tmp/codecheck-pgbouncer}"
if pg_isready -h 127.0.0.1 -p "$port" -q 2>/dev/null; then
  echo "pgbouncer: already listening on 127.0.0.1:$port"
  exit 0
fi
if ! command -v pgbouncer >/dev/null; then
  apt-get install -y -qq pgbouncer >/dev/null 2>&1 || { apt-get update -qq >/dev/null && apt-get install -y -qq pgbouncer >/dev/null; }
fi
mkdir -p "$dir"
echo '"postgres" ""' > "$dir/userlist.txt"
cat > "$dir/pgbouncer.ini" <<INI
[databases]
* = host=127.0.0.1 port=5432

[pgbouncer]
listen_addr = 127.0.0.1
listen_port = $port
unix_socket_dir =
auth_type = trust
auth_file = $dir/userlist.txt
pool_mode = transaction
max_client_conn = 500
default_pool_size = 20
ignore_startup_parameters = extra_float_digits
logfile = $dir/pgbouncer.log
pidfile = $dir/pgbouncer.pid
INI
chown -R postgres "$dir" 2>/dev/null || true
if [ "$(id -u)" = 0 ]; then
  pgbouncer -d -u postgres "$dir/pgbouncer.ini"
else
  pgbouncer -d "$dir/pgbouncer.ini"
fi
for _ in $(seq 1 30); do
  pg_isready -h 127.0.0.1 -p "$port" -q 2>/dev/null && { echo "pgbouncer: transaction mode on 127.0.0.1:$port"; exit 0; }
  sleep 0.2
done
echo "pgbouncer: did not start; see $dir/pgbouncer.log" >&2
exit 1
