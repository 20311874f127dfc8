#!/bin/sh
# Measures `ordo verify` and `ordo verify --replay` on a generated ledger
# (docs/verify-scale.md has the numbers and how they were taken).
#
#   docs/bench/verify-scale.sh 'postgres://postgres:pw@127.0.0.1:55432/scale?sslmode=disable' [accounts] [entries per account]
#
# The database must exist and be empty; it is migrated and filled by
# verify-scale.sql. Needs psql, GNU time (/usr/bin/time) and a built ordo
# (ORDO, default bin/ordo: `make build`). If the server preloads
# pg_stat_statements, the Postgres execution time of each run is reported.
set -eu
url=$1
accounts=${2:-1000000}
per=${3:-10}
ordo=${ORDO:-bin/ordo}
here=$(dirname "$0")

"$ordo" migrate --database-url "$url" --log-level warn
if [ "$(psql "$url" -Atc 'SELECT count(*) FROM accounts')" = 0 ]; then
	psql "$url" -v accounts="$accounts" -v per="$per" -f "$here/verify-scale.sql"
fi
stats=$(psql "$url" -Atc "SELECT count(*) FROM pg_available_extensions WHERE name = 'pg_stat_statements'" 2>/dev/null || echo 0)
if [ "$stats" = 1 ] && psql "$url" -qc 'CREATE EXTENSION IF NOT EXISTS pg_stat_statements' 2>/dev/null &&
	psql "$url" -qAtc 'SELECT pg_stat_statements_reset()' >/dev/null 2>&1; then :; else stats=0; fi

run() {
	name=$1
	shift
	[ "$stats" = 1 ] && psql "$url" -qAtc 'SELECT pg_stat_statements_reset()' >/dev/null
	echo "== ordo verify $*"
	/usr/bin/time -v "$ordo" verify --database-url "$url" "$@" >"/tmp/verify-scale-$name.out" 2>"/tmp/verify-scale-$name.err" || echo "exit status $?"
	tail -3 "/tmp/verify-scale-$name.out"
	grep -E 'Elapsed \(wall|Maximum resident|User time|System time' "/tmp/verify-scale-$name.err"
	if [ "$stats" = 1 ]; then
		psql "$url" -Atc "SELECT 'Postgres execution time (s): ' || round(sum(total_exec_time)::numeric / 1000, 1) FROM pg_stat_statements WHERE dbid = (SELECT oid FROM pg_database WHERE datname = current_database()) AND query NOT LIKE '%pg_stat_statements%'"
	fi
}
run checks
run replay --replay
