-- Accounts :lo..:hi of `ordo bench --preloaded` (growth.sh), loaded into a
-- freshly migrated Ordo database as the ledger holds an account after the
-- bench's set-up through the API: opened (version 1), then the opening
-- deposit (version 2, the Idempotency-Key "setup-<id>").
--
--   psql "$DATABASE_URL" -v lo=0 -v hi=99999 [-v opening=1000000] [-v prefix=bench] -f docs/bench/growth-accounts.sql
--
-- Account i is named prefix-i, as the bench names the workload's accounts
-- (bench.Workload.accountID), so load 0..N-1 for --accounts N. Every row is
-- what the consumer writes (ledger/postgres/writer.go), byte for byte where
-- it can be: the accounts row; the two journal entries with the state after
-- each; the deposit's external side; the two commands rows, with their
-- fingerprints (ledger.Command.Fingerprint: SHA-256 over length-prefixed
-- strings and big-endian integers) and their outcome documents as the
-- consumer encodes them. So `ordo verify` (and `ordo verify --replay`)
-- pass on the loaded ledger, and the bench's own set-up, run against it,
-- finds every account there.
--
-- What differs from accounts set up through the API: the open's command ID
-- is derived from the account ID (the API makes a random UUIDv7 for an open
-- without an Idempotency-Key); the deposit's is the one the API derives from
-- "setup-<id>". The commands rows name partition i % 12 and offsets far
-- below 0, not the account's partition and offsets in a topic: the events
-- publisher (consumer/events.go) and the outcome retention read a
-- partition's rows at offsets above the last published or pruned one
-- (-1 at first), so they treat these as published long ago.
--
-- One transaction per run: a failed load leaves nothing. 100,000 accounts
-- took 11-16 s on a shared 2-core machine; growth.sh loads a million in
-- chunks of that size, then VACUUM ANALYZE: 132 s in all.

\set ON_ERROR_STOP on
\if :{?opening}
\else
\set opening 1000000
\endif
\if :{?prefix}
\else
\set prefix bench
\endif

BEGIN;
SET LOCAL synchronous_commit = off;

-- fp_field and fp_num are ledger.Command.Fingerprint's encoding of a string
-- and an integer.
CREATE FUNCTION pg_temp.fp_field(s text) RETURNS bytea LANGUAGE sql IMMUTABLE
    AS $$ SELECT int8send(octet_length(s)::int8) || convert_to(s, 'UTF8') $$;
CREATE FUNCTION pg_temp.fp_num(n bigint) RETURNS bytea LANGUAGE sql IMMUTABLE
    AS $$ SELECT int8send(n) $$;
-- outcome is the stored outcome of an applied command on a fresh account,
-- as wire.EncodeOutcome writes it.
CREATE FUNCTION pg_temp.outcome(cmd text, kind text, id text, balance bigint, version int) RETURNS json LANGUAGE sql IMMUTABLE
    AS $$ SELECT format('{"command_id":%s,"kind":%s,"account_id":%s,"status":"applied","account":{"id":%s,"currency":"USD","status":"active","balance":%s,"available":%s,"held":0,"overdraft_limit":0,"in_flight":0,"version":%s}}',
                        to_json(cmd), to_json(kind), to_json(id), to_json(id), balance, balance, version)::json $$;

CREATE TEMP TABLE preload ON COMMIT DROP AS
SELECT g, id,
       md5('preload-open:' || id)::uuid::text AS open_id,
       -- api.keyedCommandID(id, "setup-" + id)
       'idem-' || left(encode(sha256(convert_to(id, 'UTF8') || '\x00'::bytea || convert_to('setup-' || id, 'UTF8')), 'hex'), 32) AS deposit_id
FROM (SELECT g, :'prefix' || '-' || g AS id FROM generate_series(:lo::bigint, :hi::bigint) g) a;

INSERT INTO accounts (id, currency, balance, held, overdraft_limit, version, status, in_flight)
SELECT id, 'USD', :opening, 0, 0, 2, 'active', 0 FROM preload;

INSERT INTO entries (account_id, version, command_id, kind, amount, balance_after, counterparty, reference, metadata,
                     status_after, held_after, in_flight_after, overdraft_limit_after)
SELECT id, 1, open_id, 'open_account', 0, 0, '', '', NULL::json, 'active', 0, 0, 0 FROM preload
UNION ALL
SELECT id, 2, deposit_id, 'deposit', :opening, :opening, 'external', '', NULL, 'active', 0, 0, 0 FROM preload;

INSERT INTO external_entries (account_id, version, counterparty, currency, amount, command_id)
SELECT id, 2, 'external', 'USD', -:opening, deposit_id FROM preload;

INSERT INTO commands (command_id, account_id, kind, fingerprint, status, code, outcome, topic, partition, "offset")
SELECT open_id, id, 'open_account',
       sha256(pg_temp.fp_field('open_account') || pg_temp.fp_field(id) || pg_temp.fp_num(0) || pg_temp.fp_field('USD') || pg_temp.fp_num(0)),
       'applied', '', pg_temp.outcome(open_id, 'open_account', id, 0, 1), 'ordo.commands', g % 12, -1000000000000 + 2 * g
FROM preload
UNION ALL
SELECT deposit_id, id, 'deposit',
       sha256(pg_temp.fp_field('deposit') || pg_temp.fp_field(id) || pg_temp.fp_num(:opening) || pg_temp.fp_field('') || pg_temp.fp_num(0)),
       'applied', '', pg_temp.outcome(deposit_id, 'deposit', id, :opening, 2), 'ordo.commands', g % 12, -1000000000000 + 2 * g + 1
FROM preload;

COMMIT;
