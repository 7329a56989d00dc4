#!/usr/bin/env bash
# bench/reuse.sh: provider calls and wall time for 10 addresses in one city
# (San Jose, CA) with the fake provider at 300 ms a call (SQLite in a
# temporary directory, fresh database per run), reuse on versus off:
#
#   sequential  `codecheck check` ten times, one address after another (as a
#               user checks a street), --reuse=true or --reuse=false
#   seq, 4 at once  the same with CODECHECK_SECTION_CONCURRENCY=4: sections wait
#               for a slot, so the ones reused stop waiting for research
#   burst       `codecheck serve`: one POST /jobs, and when it is done nine
#               more at once (the server's workers run them side by side, under
#               CODECHECK_PROVIDER_CONCURRENCY=8 calls at once), "reuse": true
#               or false
#
# Provider calls are the lines of the fake's call log (CODECHECK_FAKE_LLM_LOG).
# Reuse only takes sections that another job has finished: ten jobs started
# at the same moment would all research everything.
#
#   bench/reuse.sh
#   LATENCY=1s bench/reuse.sh
source "$(dirname "$0")/lib.sh"

LATENCY=${LATENCY:-300ms}
ADDRESSES=()
for n in 101 215 330 447 512 608 777 840 925 1010; do
	ADDRESSES+=("$n N 1st St, San Jose, CA 95112")
done

build
echo "# $(nproc) CPUs, load average $(cut -d' ' -f1-3 /proc/loadavg); fake provider $LATENCY a call; ${#ADDRESSES[@]} addresses in San Jose, CA"

ms_now() { echo $(($(date +%s%N) / 1000000)); }

# sequential REUSE [SECTIONS_AT_ONCE]: ten checks in a row on one fresh
# database.
sequential() {
	local reuse=$1 conc=${2:-12} start end name=sequential
	local db="$BENCH_DIR/seq-$reuse-$conc.db" log="$BENCH_DIR/seq-$reuse-$conc.log"
	[[ $conc == 12 ]] || name="seq, $conc at once"
	rm -f "$db" "$log"
	start=$(ms_now)
	for a in "${ADDRESSES[@]}"; do
		env -i PATH="$PATH" HOME="$BENCH_DIR" DATABASE_URL="sqlite:$db" CODECHECK_FAKE_LLM_LATENCY="$LATENCY" \
			CODECHECK_FAKE_LLM_LOG="$log" CODECHECK_LOG_LEVEL=error CODECHECK_SECTION_CONCURRENCY="$conc" \
			"$BIN" check --provider fake --reuse="$reuse" --format json "$a" >/dev/null 2>&1
	done
	end=$(ms_now)
	printf '| %-15s | %-5s | %3d | %6d ms |\n' "$name" "$reuse" "$(wc -l <"$log")" $((end - start))
}

# submit REUSE ADDRESS: POST /jobs, prints the job id.
submit() {
	curl -fsS -X POST -H 'Content-Type: application/json' "$SERVE_URL/jobs" \
		-d "$(jq -nc --arg a "$2" --argjson r "$1" '{address: $a, llm_provider: "fake", reuse: $r}')" | jq -r .id
}

# wait_done ID...: polls until every job has ended.
wait_done() {
	for id in "$@"; do
		until curl -fsS "$SERVE_URL/jobs/$id" | jq -e '.status | test("completed|failed|canceled")' >/dev/null; do
			sleep 0.05
		done
	done
}

# burst REUSE: one job, then the nine others at once, on `codecheck serve`.
burst() {
	local reuse=$1 db="$BENCH_DIR/burst-$1.db" log="$BENCH_DIR/burst-$1.log" start end first ids=()
	rm -f "$db" "$log"
	start_serve "sqlite:$db" CODECHECK_FAKE_LLM_LATENCY="$LATENCY" CODECHECK_FAKE_LLM_LOG="$log" CODECHECK_WORKERS=10
	start=$(ms_now)
	first=$(submit "$reuse" "${ADDRESSES[0]}")
	wait_done "$first"
	for a in "${ADDRESSES[@]:1}"; do
		ids+=("$(submit "$reuse" "$a")")
	done
	wait_done "${ids[@]}"
	end=$(ms_now)
	stop_serve
	printf '| %-15s | %-5s | %3d | %6d ms |\n' burst "$reuse" "$(wc -l <"$log")" $((end - start))
}

echo
echo "| scenario        | reuse | provider calls | wall time |"
echo "|---|---|---|---|"
for reuse in true false; do sequential "$reuse"; done
for reuse in true false; do sequential "$reuse" 4; done
for reuse in true false; do burst "$reuse"; done
