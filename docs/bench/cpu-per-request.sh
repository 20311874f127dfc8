#!/bin/bash
# CPU time per request of Ordo (the `ordo bench --compare` process: API,
# consumer and in-process broker; the load generator runs in a child
# process, not counted) and of Postgres, at a fixed arrival rate. Unlike
# closed-loop throughput, this barely moves when the machine drifts. Usage
# (from the repository root, after `make build`):
#
#   docs/bench/cpu-per-request.sh [rate/s] [workload A|B] [ordo binary]
#
# SYSTEM=rowlock (or optimistic) measures a baseline instead of Ordo; the
# process then holds the baseline's HTTP server and its Postgres pool.
# IN_PROCESS=1 runs the load generator in that process too (--in-process),
# as the numbers in docs/bench/history.md from before it ran apart were measured.
#
# It samples /proc over the middle 10 s of a 20 s open-loop run.
set -euo pipefail
RATE=${1:-4000}
WL=${2:-A}
BIN=${3:-./bin/ordo}
TICK=$(getconf CLK_TCK)
ticks() { local s; s=$(cut -d')' -f2 "/proc/$1/stat"); set -- $s; echo $(( ${12} + ${13} )); }
pgticks() {
	local sum=0 d
	for d in /proc/[0-9]*; do
		[ "$(cat "$d/comm" 2>/dev/null)" = postgres ] || continue
		sum=$(( sum + $(ticks "${d#/proc/}" 2>/dev/null || echo 0) ))
	done
	echo $sum
}
OUT=$(mktemp)
"$BIN" bench --compare ${IN_PROCESS:+--in-process} --systems "${SYSTEM:-ordo}" --workloads "$WL" --rate "$RATE" --duration 20s --data-dir "${DATA_DIR:-/tmp/ob}" >"$OUT" 2>&1 &
BENCH=$!
sleep 9 # start-up, account creation and the first seconds of load
o1=$(ticks $BENCH); g1=$(pgticks)
sleep 10
o2=$(ticks $BENCH); g2=$(pgticks)
wait $BENCH
REQ=$(( RATE * 10 ))
echo "${SYSTEM:-ordo}, workload $WL at $RATE/s: per request, ordo process $(( (o2 - o1) * 1000000 / TICK / REQ )) µs CPU, postgres $(( (g2 - g1) * 1000000 / TICK / REQ )) µs CPU"
grep -E "decided/s|p50 ms|p99 ms|audit" "$OUT"
rm -f "$OUT"
