#!/bin/bash
# Where a command's time goes, from Ordo's own metrics: starts `ordo dev`
# (embedded broker, private Postgres, one API, one consumer) with the
# ops address on (both roles' metrics), runs `ordo bench` against it, and reads the
# Prometheus counters twice, 10 s apart in the middle of the load. Usage
# (from the repository root, after `make build`; needs curl and psql):
#
#   docs/bench/stages.sh [clients] [dist uniform|hot] [ordo binary]
#
# It prints, over that window: the API's mean time per command request, the
# consumer's mean time from a command's produce to its commit, its mean
# transaction time and commands per transaction, then the client's own
# percentiles. Like `ordo bench --compare`, the load generator runs in a
# process of its own. Like `ordo bench --compare --analyze`, the database is
# analyzed before the window (psql's ANALYZE; see DESIGN.md on fresh
# databases).
#
# BROKERS=host:port uses that broker instead of the embedded one;
# KEEP_DIR=1 keeps DATA_DIR (default /tmp/ordo-stages) from the last run.
set -euo pipefail
CLIENTS=${1:-64}
DIST=${2:-uniform}
BIN=${3:-./bin/ordo}
DIR=${DATA_DIR:-/tmp/ordo-stages}
HTTP=127.0.0.1:${HTTP_PORT:-18080}
METRICS=127.0.0.1:${METRICS_PORT:-19464}

[ -n "${KEEP_DIR:-}" ] || rm -rf "$DIR"
"$BIN" dev ${BROKERS:+--brokers "$BROKERS"} --data-dir "$DIR" --http-addr "$HTTP" --ops-addr "$METRICS" --log-level warn >"$DIR.log" 2>&1 &
DEV=$!
trap 'kill $DEV 2>/dev/null; wait $DEV 2>/dev/null || true' EXIT
for _ in $(seq 120); do
	curl -fs "http://$HTTP/readyz" >/dev/null 2>&1 && break
	kill -0 $DEV 2>/dev/null || { cat "$DIR.log"; exit 1; }
	sleep 0.5
done

# scrape prints "api_sum api_count tx_sum tx_count cmds_sum lat_sum lat_count".
scrape() {
	curl -fs "http://$METRICS/metrics" | awk '
		/^ordo_http_request_duration_seconds_sum\{.*method="POST".*route="\/v1\/accounts\/:id\/(deposits|withdrawals)"/ { as += $NF }
		/^ordo_http_request_duration_seconds_count\{.*method="POST".*route="\/v1\/accounts\/:id\/(deposits|withdrawals)"/ { ac += $NF }
		/^ordo_consumer_transaction_seconds_sum / { ts = $2 }
		/^ordo_consumer_transaction_seconds_count / { tc = $2 }
		/^ordo_consumer_transaction_commands_sum / { cs = $2 }
		/^ordo_consumer_command_latency_seconds_sum / { ls = $2 }
		/^ordo_consumer_command_latency_seconds_count / { lc = $2 }
		END { printf "%.9f %d %.9f %d %d %.9f %d\n", as, ac, ts, tc, cs, ls, lc }'
}

OUT=$(mktemp)
"$BIN" bench --url "http://$HTTP" --clients "$CLIENTS" --dist "$DIST" --duration 20s >"$OUT" 2>&1 &
BENCH=$!
sleep 8 # account creation and the first seconds of load
PGURL=$(grep -o 'postgres://[^ ]*' "$DIR.log" | head -1)
psql -q "$PGURL" -c ANALYZE
sleep 1
read -r as1 ac1 ts1 tc1 cs1 ls1 lc1 < <(scrape)
sleep 10
read -r as2 ac2 ts2 tc2 cs2 ls2 lc2 < <(scrape)
wait $BENCH
awk -v as1="$as1" -v ac1="$ac1" -v ts1="$ts1" -v tc1="$tc1" -v cs1="$cs1" -v ls1="$ls1" -v lc1="$lc1" \
	-v as2="$as2" -v ac2="$ac2" -v ts2="$ts2" -v tc2="$tc2" -v cs2="$cs2" -v ls2="$ls2" -v lc2="$lc2" \
	-v clients="$CLIENTS" -v dist="$DIST" 'BEGIN {
	if (ac2 == ac1 || tc2 == tc1 || lc2 == lc1) { print "no load in the window"; exit 1 }
	printf "%d clients, %s, over 10 s of load:\n", clients, dist
	printf "  API, a command request (mean):                   %6.2f ms over %d requests\n", (as2-as1)/(ac2-ac1)*1000, ac2-ac1
	printf "  consumer, produce to commit (mean):              %6.2f ms over %d commands\n", (ls2-ls1)/(lc2-lc1)*1000, lc2-lc1
	printf "  consumer, a transaction (mean):                  %6.2f ms over %d transactions\n", (ts2-ts1)/(tc2-tc1)*1000, tc2-tc1
	printf "  consumer, commands per transaction (mean):       %6.1f\n", (cs2-cs1)/(tc2-tc1)
}'
echo "  client:"
grep -E "decided/s|p50 ms|p99 ms|audit" "$OUT" | sed 's/^/  /'
rm -f "$OUT"
