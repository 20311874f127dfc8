#!/usr/bin/env bash
# Cost as the work grows: Ordo's throughput and latency against
#   clients   (1, 10, 100; 10,000 accounts, an empty database),
#   accounts  (1k, 100k, 1M; 64 clients),
#   outcomes  (0 and 10M stored outcomes in `commands`; 64 clients).
# Each case runs on a fresh `ordo dev` (embedded broker, one API, one
# consumer) over a database of its own in one private Postgres, with the
# load generator (`ordo bench --url`) in its own process; every command has
# an Idempotency-Key. The results (one JSON per case) and the plot are
# written to OUT_DIR. Usage, from the repository root after `make build`:
#
#   docs/bench/growth.sh OUT_DIR [duration] [cases...]
#
# cases: clients accounts outcomes (default all three). 10M outcomes take
# about 5 minutes and 4 GB to load; they are loaded with SQL, as the table
# of a service that has run for months would hold them: keyed command IDs
# (random, like the real ones), realistic outcome documents, and offsets
# below the topic's so that the events publisher treats them as already
# published.
#
# The accounts case loads its accounts with SQL too (growth-accounts.sql,
# in chunks of 100,000, then VACUUM ANALYZE), all three sizes alike, each
# account opened and given its opening deposit as the ledger would hold it,
# and runs `ordo bench --preloaded`: no set-up through the API (a million
# accounts would take four million requests), the audit reading only the
# accounts the run touched. Every size so starts the same way: the accounts
# on disk, none in the consumer's cache. The load time goes to stderr.
set -euo pipefail
OUT=${1:?usage: growth.sh OUT_DIR [duration] [cases...]}
DUR=${2:-30s}
shift $(( $# < 2 ? $# : 2 ))
CASES=${*:-clients accounts outcomes}
ORDO=${ORDO:-./bin/ordo}
PGBIN=${PGBIN:-$(ls -d /usr/lib/postgresql/*/bin | sort -V | tail -1)}
PORT=${PORT:-55433}
WORK=$(mktemp -d /tmp/ordo-growth.XXXXXX)
mkdir -p "$OUT"
ORDO=$(realpath "$ORDO")
OUT=$(realpath "$OUT")
PGURL="postgres://ordo@127.0.0.1:$PORT"

as_pg() { if [ "$(id -u)" = 0 ]; then su postgres -s /bin/bash -c "$*"; else bash -c "$*"; fi; }
if [ "$(id -u)" = 0 ]; then chown postgres "$WORK"; fi
as_pg "$PGBIN/initdb -D $WORK/pg -U ordo --auth trust >/dev/null"
as_pg "$PGBIN/pg_ctl -D $WORK/pg -o '-p $PORT -k $WORK' -l $WORK/pg.log -w start >/dev/null"
DEV=
FAILED=
cleanup() {
	[ -n "$DEV" ] && kill -INT "$DEV" 2>/dev/null && wait "$DEV" 2>/dev/null || true
	as_pg "$PGBIN/pg_ctl -D $WORK/pg -m fast stop >/dev/null" || true
	rm -rf "$WORK"
}
trap cleanup EXIT

# newdb NAME: a fresh, migrated database.
newdb() {
	psql -q "$PGURL/postgres" -c "CREATE DATABASE $1"
	DATABASE_URL="$PGURL/$1?sslmode=disable" "$ORDO" migrate >/dev/null 2>&1
}

# preload DB N: accounts bench-0..bench-(N-1), each with the bench's
# opening balance, loaded in chunks of 100,000; then VACUUM ANALYZE, so
# that no autovacuum of the load runs during the measurement.
preload() {
	local db=$1 n=$2 lo t0=$SECONDS
	for ((lo = 0; lo < n; lo += 100000)); do
		psql -q "$PGURL/$db" -v lo=$lo -v hi=$((lo + 100000 < n ? lo + 100000 - 1 : n - 1)) -f "$(dirname "$0")/growth-accounts.sql"
	done
	psql -q "$PGURL/$db" -c "VACUUM ANALYZE accounts, entries, external_entries, commands"
	echo "$db: $n accounts loaded in $((SECONDS - t0)) s" >&2
}

# run NAME DB CLIENTS ACCOUNTS [BENCH FLAGS...]: one fresh `ordo dev` on
# DB, one bench run.
run() {
	local name=$1 db=$2 clients=$3 accounts=$4
	shift 4
	mkdir -p "$WORK/$name"
	"$ORDO" dev --database-url "$PGURL/$db?sslmode=disable" --data-dir "$WORK/$name" \
		--http-addr 127.0.0.1:18090 --ops-addr 127.0.0.1:19490 >"$WORK/$name/dev.log" 2>&1 &
	DEV=$!
	for _ in $(seq 120); do curl -sf 127.0.0.1:19490/readyz >/dev/null && break; sleep 0.5; done
	local rc=0
	"$ORDO" bench --url http://127.0.0.1:18090 --clients "$clients" --accounts "$accounts" \
		--duration "$DUR" --json "$OUT/$name.json" "$@" >"$OUT/$name.txt" 2>&1 || rc=$?
	kill -INT "$DEV"; wait "$DEV" || true; DEV=
	if [ "$rc" != 0 ]; then FAILED=1; echo "$name: ordo bench exited $rc: $(tail -1 "$OUT/$name.txt")" >&2; fi
	echo "$name: $(grep -E '^ *decided/s' "$OUT/$name.txt" | awk '{print $2}') decided/s, p50 $(grep -E '^ *p50 ms' "$OUT/$name.txt" | awk '{print $3}') ms, p99 $(grep -E '^ *p99 ms' "$OUT/$name.txt" | awk '{print $3}') ms, $(grep -E '^ *audit ' "$OUT/$name.txt" | sed 's/^ *//')"
}

for c in $CASES; do
	case $c in
	clients)
		for n in 1 10 100; do newdb "clients$n"; run "clients-$n" "clients$n" "$n" 10000; done ;;
	accounts)
		for n in 1000 100000 1000000; do
			newdb "accounts$n"; preload "accounts$n" "$n"; run "accounts-$n" "accounts$n" 64 "$n" --preloaded
		done ;;
	outcomes)
		newdb outcomes0; run outcomes-0 outcomes0 64 10000
		newdb outcomes10m
		for i in $(seq 0 9); do
			psql -q "$PGURL/outcomes10m" -v lo=$((i * 1000000 + 1)) -v hi=$(((i + 1) * 1000000)) -f "$(dirname "$0")/growth-outcomes.sql"
		done
		psql -q "$PGURL/outcomes10m" -c "VACUUM ANALYZE commands"
		run outcomes-10m outcomes10m 64 10000 ;;
	*) echo "unknown case $c" >&2; exit 2 ;;
	esac
done

args=()
for f in "$OUT"/*.json; do
	base=$(basename "$f" .json)
	case $base in
	clients-*) args+=("clients/${base#clients-}=$f") ;;
	accounts-*) args+=("accounts/${base#accounts-}=$f") ;;
	outcomes-*) args+=("stored outcomes/${base#outcomes-}=$f") ;;
	esac
done
# The order within a series is the order of the points: sort by the number.
mapfile -t args < <(printf '%s\n' "${args[@]}" | sort -t/ -k1,1 -k2,2n)
"$ORDO" bench plot --out "$OUT/growth.html" "${args[@]}"
echo "plot: $OUT/growth.html"
[ -z "$FAILED" ]
