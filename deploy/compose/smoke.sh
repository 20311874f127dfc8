#!/usr/bin/env bash
# Smoke test of the compose deployment: brings it up with docker-compose,
# sends real traffic (accounts opened, deposits and withdrawals, each with an
# Idempotency-Key, retried with the same key until decided) in two phases:
# the first with everything up; the second starts right after one consumer
# and one broker were killed (here the only broker, started again 5s into the
# phase). Then it checks every balance, that the surviving consumers own
# every partition, and `ordo verify`.
#
#   deploy/compose/smoke.sh                      # here: Ordo's broker (default)
#   SMOKE_KAFKA=apache deploy/compose/smoke.sh   # where apache/kafka etc. can be pulled
#
# Environment:
#   ORDO_IMAGE       the ordo image (default ordo-dev/ordo:dev; `make image`)
#   POSTGRES_IMAGE   default postgres:16-alpine (here: local/postgres:15)
#   SMOKE_KAFKA      ordo: docker-compose.ordo-broker.yml, one `ordo broker`,
#                    killed and started again; the API replicas are hit
#                    directly, alternately (no LB image here).
#                    apache: the full file: three KRaft brokers, one killed for
#                    good; traffic goes through the load balancer.
#   SMOKE_ACCOUNTS   accounts, one client each, in parallel (default 12)
#   SMOKE_ROUNDS     deposit+withdrawal pairs per account, half per phase (default 12)
#   SMOKE_KEEP       any value: leave the deployment up for inspection
#
# The waits are generous bounds, for a machine loaded by other work; they
# cost nothing when things are quick.
# Prints one "smoke:" line per step; exits non-zero on the first failure,
# after printing the last log lines of every service.
set -euo pipefail

here="$(cd "$(dirname "$0")" && pwd)"
mode="${SMOKE_KAFKA:-ordo}"
accounts="${SMOKE_ACCOUNTS:-12}"
rounds="${SMOKE_ROUNDS:-12}"
partitions="${ORDO_PARTITIONS:-12}"
export ORDO_PARTITIONS="$partitions"
project="ordo-smoke-$$"
files=(-f "$here/docker-compose.yml")
case "$mode" in
ordo)
	files+=(-f "$here/docker-compose.ordo-broker.yml")
	services=(postgres migrate kafka-1 topics api-1 api-2 consumer-1 consumer-2 consumer-3)
	;;
apache) services=() ;; # everything
*)
	echo "smoke: SMOKE_KAFKA=$mode: want ordo or apache" >&2
	exit 2
	;;
esac
tmp="$(mktemp -d)"
start=$SECONDS

say() { echo "smoke: [$((SECONDS - start))s] $*"; }
dc() { docker-compose -p "$project" "${files[@]}" "$@"; }

ok=0
cleanup() {
	if [ "$ok" != 1 ]; then
		echo "smoke: FAILED; last log lines:" >&2
		dc logs --no-color --tail=30 >&2 2>&1 || true
	fi
	if [ -z "${SMOKE_KEEP:-}" ]; then
		dc down -v --remove-orphans >/dev/null 2>&1 || true
	else
		echo "smoke: left up as project $project (docker-compose -p $project ... down -v)"
	fi
	rm -rf "$tmp"
}
trap cleanup EXIT

# cid SERVICE: the service's container ID, from the docker CLI (a
# docker-compose call takes seconds on a loaded machine).
cid() {
	docker ps -aq --filter "label=com.docker.compose.project=$project" --filter "label=com.docker.compose.service=$1" | grep .
}

# port SERVICE PORT: the loopback address a container port is published on.
port() {
	local p
	p="$(docker port "$(cid "$1")" "$2/tcp" 2>/dev/null | head -1)"
	[ -n "$p" ] || return 1
	echo "127.0.0.1:${p##*:}"
}

# waitfor SECONDS DESCRIPTION COMMAND...: polls COMMAND every half second.
waitfor() {
	local limit=$1 what=$2
	shift 2
	local deadline=$((SECONDS + limit))
	until "$@" >/dev/null 2>&1; do
		if ((SECONDS >= deadline)); then
			say "timed out after ${limit}s waiting for $what"
			return 1
		fi
		sleep 0.5
	done
}

ready() { curl -fsS -m 2 "http://$(port "$1" "$2")/readyz"; }

# owned SERVICE: partitions the consumer owns (ordo_consumer_partitions_owned).
owned() {
	curl -fsS -m 3 "http://$(port "$1" 9465)/metrics" | awk '$1 == "ordo_consumer_partitions_owned" {print int($2)}'
}
owned_total() {
	local n=0 c v
	for c in "$@"; do
		v="$(owned "$c")" || return 1
		n=$((n + v))
	done
	echo "$n"
}
all_owned() { [ "$(owned_total "$@")" = "$partitions" ]; }

say "up: mode $mode, project $project, ${#services[@]} services (0: all)"
dc up -d "${services[@]}" >"$tmp/up.log" 2>&1 || {
	cat "$tmp/up.log" >&2
	exit 1
}
waitfor 180 "api-1 ready" ready api-1 9464
waitfor 120 "api-2 ready" ready api-2 9464
for c in consumer-1 consumer-2 consumer-3; do
	waitfor 120 "$c ready" ready "$c" 9465
done
waitfor 120 "the consumers to own all $partitions partitions" all_owned consumer-1 consumer-2 consumer-3
say "ready: partitions owned by consumer-1..3: $(owned consumer-1) $(owned consumer-2) $(owned consumer-3)"

# The API requires a key, as in production: make one with the CLI.
token="$(dc run --rm --no-deps -T migrate apikey create --name smoke --scope admin 2>>"$tmp/apikey.log")" || {
	cat "$tmp/apikey.log" >&2
	exit 1
}
auth="Authorization: Bearer $token"
say "api key made with ordo apikey create"

if [ "$mode" = apache ]; then
	targets=("$(port lb 8080)")
else
	targets=("$(port api-1 8080)" "$(port api-2 8080)")
fi

# send URL-PATH BODY KEY N: POSTs until the command is decided (200/201),
# with the same Idempotency-Key on every try and the target rotating over
# the API replicas from N; 202 (not decided yet), 503 and connection errors
# are retried. Any other answer fails the run.
send() {
	local path=$1 body=$2 key=$3 n=$4 code deadline=$((SECONDS + 180)) out="$tmp/resp.$3"
	while :; do
		local target="${targets[$((n % ${#targets[@]}))]}"
		code="$(curl -sS -o "$out" -w '%{http_code}' -m 20 -X POST -H 'Content-Type: application/json' -H "$auth" \
			-H "Idempotency-Key: $key" -d "$body" "http://$target$path" 2>>"$tmp/curl.log")" || code=000
		case "$code" in
		200 | 201) return 0 ;;
		202 | 000 | 502 | 503 | 504) echo "$code" >>"$tmp/retries" ;;
		*)
			say "POST $path ($key) answered $code: $(cat "$out")"
			return 1
			;;
		esac
		if ((SECONDS >= deadline)); then
			say "POST $path ($key): not decided in 180s (last answer $code)"
			return 1
		fi
		n=$((n + 1))
		sleep 0.3
	done
}

# client ACCOUNT N FROM TO: rounds FROM..TO of deposits and withdrawals on
# ACCOUNT (round 1 opens it first); adds the balance change it expects to
# $tmp/expect.ACCOUNT.
client() {
	local a=$1 n=$2 from=$3 to=$4 i d w change=0
	if ((from == 1)); then
		send /v1/accounts "{\"id\":\"$a\",\"currency\":\"USD\"}" "$a-open" "$n" || return 1
		echo open >>"$tmp/decided.$n"
	fi
	for ((i = from; i <= to; i++)); do
		d=$(((i * 37 + n * 11) % 90 + 10))
		w=$(((i * 53 + n * 7) % d + 1))
		send "/v1/accounts/$a/deposits" "{\"amount\":$d}" "$a-d$i" $((n + i)) || return 1
		send "/v1/accounts/$a/withdrawals" "{\"amount\":$w}" "$a-w$i" $((n + i + 1)) || return 1
		printf 'd%s\nw%s\n' "$i" "$i" >>"$tmp/decided.$n"
		change=$((change + d - w))
	done
	echo "$change" >>"$tmp/expect.$a"
}

# traffic FROM TO: starts one client per account; clients_wait waits for them.
pids=()
traffic() {
	pids=()
	local k
	for ((k = 0; k < accounts; k++)); do
		client "smoke-$project-$k" "$k" "$1" "$2" >>"$tmp/client.$k" 2>&1 &
		pids+=($!)
	done
}
clients_wait() {
	local i failed=0
	for i in "${!pids[@]}"; do
		if ! wait "${pids[$i]}"; then
			failed=1
			say "client $i failed:"
			cat "$tmp/client.$i"
		fi
	done
	[ "$failed" = 0 ]
}
decided() { cat "$tmp"/decided.* 2>/dev/null | wc -l; }
total=$((accounts * (1 + 2 * rounds)))
half=$((rounds / 2))
# The containers are killed with the docker CLI by ID (docker-compose takes
# seconds per call on a loaded machine), each checked to be down.
consumer2="$(cid consumer-2)"
broker="$(cid kafka-1)"
[ "$mode" = apache ] && broker="$(cid kafka-2)"
kill_container() { # NAME ID
	docker kill -s KILL "$2" >/dev/null
	[ "$(docker inspect --format '{{.State.Running}}' "$2")" = false ] || {
		say "$1 is still running after the kill"
		return 1
	}
}

say "traffic: $accounts accounts x (1 open + $rounds deposits + $rounds withdrawals) through ${#targets[@]} endpoint(s): ${targets[*]}"
say "phase 1: account opens and rounds 1-$half, no fault"
traffic 1 "$half"
clients_wait || exit 1
say "phase 1 done: $(decided) of $total commands decided"

# Phase 2 starts with a consumer and a broker down, so that its first
# requests meet both faults.
kill_container consumer-2 "$consumer2" || exit 1
say "killed consumer-2 (SIGKILL; it stays down: its partitions wait for the group to notice, --session-timeout 10s)"
if [ "$mode" = apache ]; then
	kill_container kafka-2 "$broker" || exit 1
	say "killed kafka-2 (SIGKILL; it stays down: RF 3, min ISR 2 keep the topics writable)"
	say "phase 2: rounds $((half + 1))-$rounds"
	traffic $((half + 1)) "$rounds"
else
	kill_container kafka-1 "$broker" || exit 1
	say "killed kafka-1, the only broker (SIGKILL)"
	say "phase 2: rounds $((half + 1))-$rounds, with the broker down for the first 5s"
	traffic $((half + 1)) "$rounds"
	sleep 5
	docker start "$broker" >/dev/null
	say "started kafka-1 again (its log is on the ordo-broker volume) with $(decided) of $total commands decided"
fi
clients_wait || exit 1
retried="none"
[ -f "$tmp/retries" ] && retried="$(sort "$tmp/retries" | uniq -c | awk '{printf "%s%s x %s", sep, $1, ($2 == "000" ? "no connection" : $2); sep = ", "}')"
say "traffic done: $(decided) of $total commands decided; tries retried with the same key: $retried"

# Every balance as the client computed it, read through each API replica.
for ((k = 0; k < accounts; k++)); do
	a="smoke-$project-$k"
	want="$(awk '{s += $1} END {print s}' "$tmp/expect.$a")"
	for target in "${targets[@]}"; do
		got="$(curl -fsS -m 5 -H "$auth" "http://$target/v1/accounts/$a" | sed -n 's/.*"balance":\(-\{0,1\}[0-9]*\).*/\1/p')"
		if [ "$got" != "$want" ]; then
			say "balance of $a via $target: got '$got', want $want"
			exit 1
		fi
	done
done
say "balances: all $accounts as expected"

waitfor 120 "consumer-1 and consumer-3 to own all $partitions partitions" all_owned consumer-1 consumer-3
say "failover: consumer-1 and consumer-3 own $(owned_total consumer-1 consumer-3) of $partitions partitions"

dc run --rm --no-deps -T migrate verify >"$tmp/verify.log" 2>&1 || {
	cat "$tmp/verify.log"
	say "ordo verify failed"
	exit 1
}
sed 's/^/smoke: verify: /' "$tmp/verify.log"
ok=1
say "PASS"
