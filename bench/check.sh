#!/usr/bin/env bash
# bench/check.sh: wall time of one `codecheck check --provider fake` (fake
# provider 100ms per call, SQLite in a temporary directory, fresh database
# each run) with the default section concurrency, with
# CODECHECK_SECTION_CONCURRENCY=1 (sequential).
# Uses hyperfine when installed (apt-get install hyperfine), else a loop.
#
#   bench/check.sh
#   RUNS=10 bench/check.sh
source "$(dirname "$0")/lib.sh"

RUNS=${RUNS:-5}
ADDRESS="1600 Pennsylvania Ave NW, Washington, DC 20500"
build
echo "# $(nproc) CPUs, load average $(cut -d' ' -f1-3 /proc/loadavg)"

DB="$BENCH_DIR/check.db"
base="env -i PATH=\"\$PATH\" HOME=$BENCH_DIR DATABASE_URL=sqlite:$DB CODECHECK_FAKE_LLM_LATENCY=100ms"
check="$BIN check --provider fake --format json '$ADDRESS'"
declare -A variants=(
	[default]="$base $check"
	[sequential]="$base CODECHECK_SECTION_CONCURRENCY=1 $check"
)
order=(default sequential)

if command -v hyperfine >/dev/null; then
	args=()
	for name in "${order[@]}"; do
		args+=(--command-name "$name" "${variants[$name]} >/dev/null 2>&1")
	done
	hyperfine --runs "$RUNS" --warmup 1 --prepare "rm -f $DB $DB-wal $DB-shm" \
		--export-markdown "$BENCH_DIR/check.md" "${args[@]}"
	echo
	cat "$BENCH_DIR/check.md"
else
	for name in "${order[@]}"; do
		times=()
		for _ in $(seq "$RUNS"); do
			rm -f "$DB" "$DB-wal" "$DB-shm"
			start=$(date +%s%N)
			sh -c "${variants[$name]} >/dev/null 2>&1"
			times+=($((($(date +%s%N) - start) / 1000000)))
		done
		printf '%s: %s ms (runs: %s)\n' "$name" \
			"$(printf '%s\n' "${times[@]}" | sort -n | awk '{a[NR]=$1} END {print "median " a[int((NR+1)/2)] ", min " a[1] ", max " a[NR]}')" \
			"${times[*]}"
	done
fi
echo
echo "commands:"
for name in "${order[@]}"; do echo "  $name: ${variants[$name]}"; done
