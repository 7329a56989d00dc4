#!/usr/bin/env bash
# bench/check.sh: wall time of one `codecheck check --provider fake` (fake
# provider LATENCY per call, default 100ms; LATENCY=0 measures the
# machinery alone, SQLite in a temporary directory, fresh database
# each run) with the default section concurrency, with
# CODECHECK_SECTION_CONCURRENCY=1 (sequential).
# Uses hyperfine when installed (apt-get install hyperfine), else a loop.
#
#   bench/check.sh
#   RUNS=10 bench/check.sh
#   LATENCY=0 RUNS=20 bench/check.sh
#   LATENCY=0 FRESH=0 RUNS=20 bench/check.sh   # the database migrated already
source "$(dirname "$0")/lib.sh"

RUNS=${RUNS:-5}
LATENCY=${LATENCY:-100ms}
# FRESH=0 keeps the database between runs (the warm-up migrates it), so
# that start-up finds the schema current.
FRESH=${FRESH:-1}
prepare="rm -f $BENCH_DIR/check.db $BENCH_DIR/check.db-wal $BENCH_DIR/check.db-shm"
[[ $FRESH == 0 ]] && prepare=true
ADDRESS="1600 Pennsylvania Ave NW, Washington, DC 20500"
build
echo "# $(nproc) CPUs, load average $(cut -d' ' -f1-3 /proc/loadavg)"

DB="$BENCH_DIR/check.db"
base="env -i PATH=\"\$PATH\" HOME=$BENCH_DIR DATABASE_URL=sqlite:$DB CODECHECK_FAKE_LLM_LATENCY=$LATENCY"
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
	hyperfine --runs "$RUNS" --warmup 1 --prepare "$prepare" \
		--export-markdown "$BENCH_DIR/check.md" "${args[@]}"
	echo
	cat "$BENCH_DIR/check.md"
else
	for name in "${order[@]}"; do
		times=()
		for _ in $(seq "$RUNS"); do
			sh -c "$prepare"
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
