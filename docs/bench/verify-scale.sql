-- A consistent ledger of :accounts accounts with :per entries each, built in
-- SQL, for measuring `ordo verify` and `ordo verify --replay` at scale (see
-- docs/verify-scale.md). Run it on a freshly migrated, empty database:
--
--   psql "$DATABASE_URL" -v accounts=1000000 -v per=10 -f docs/bench/verify-scale.sql
--
-- Every account is opened (version 1) and then alternates deposits of
-- 100*k and withdrawals of 40*k (k = 1 + i % 7), so balances stay positive.
-- The rows are the ones the consumer writes for these commands (sent with
-- no counterparty, reference or metadata), column for column but for the
-- timestamps and the commands' log positions
-- (ledger/postgres/verifyscale_test.go compares them):
-- * accounts: the state after the last command;
-- * entries: counterparty '' for the opening (it moves no money) and
--   'external' (ledger.DefaultCounterparty) for the deposits and
--   withdrawals, the account's state after each entry, no reference or
--   metadata;
-- * external_entries: the external side of every deposit and withdrawal
--   (ledger.Entry.HasExternalSide): same account, version and command, the
--   opposite amount, the counterparty and the account's currency;
-- * commands: kind, status, the fingerprint ledger.Command.Fingerprint
--   computes (SHA-256 over length-prefixed fields and big-endian integers)
--   and the outcome JSON as wire.EncodeOutcome writes it. Their topic
--   'ordo.commands' is the default, but partition (i % 12) and offset are
--   a made-up layout, unique per command: no partitioner placed them.
-- So every set-based check and the replay pass on it.

\set ON_ERROR_STOP on
\timing on

SET synchronous_commit = off;

-- fp_field and fp_num are ledger.Command.Fingerprint's encoding of a string
-- and an integer.
CREATE FUNCTION pg_temp.fp_field(s text) RETURNS bytea LANGUAGE sql IMMUTABLE
    AS $$ SELECT int8send(octet_length(s)::int8) || convert_to(s, 'UTF8') $$;
CREATE FUNCTION pg_temp.fp_num(n bigint) RETURNS bytea LANGUAGE sql IMMUTABLE
    AS $$ SELECT int8send(n) $$;

-- One row per (account, version): what the journal and the commands table
-- hold for it.
CREATE UNLOGGED TABLE scale_gen AS
SELECT a.i,
       'acct-' || lpad(a.i::text, 7, '0') AS account_id,
       v.v AS version,
       'c-' || a.i || '-' || v.v AS command_id,
       CASE WHEN v.v = 1 THEN 'open_account' WHEN v.v % 2 = 0 THEN 'deposit' ELSE 'withdrawal' END AS kind,
       CASE WHEN v.v = 1 THEN 0 WHEN v.v % 2 = 0 THEN 100 * (1 + a.i % 7) ELSE -40 * (1 + a.i % 7) END AS amount,
       (100 * (v.v / 2) - 40 * ((v.v - 1) / 2)) * (1 + a.i % 7) AS balance_after
FROM generate_series(1, :accounts) AS a(i), generate_series(1, :per) AS v(v);

INSERT INTO accounts (id, currency, balance, held, overdraft_limit, version, status, in_flight)
SELECT account_id, 'USD', balance_after, 0, 0, version, 'active', 0
FROM scale_gen WHERE version = :per;

INSERT INTO entries (account_id, version, command_id, kind, amount, balance_after, counterparty,
                     status_after, held_after, in_flight_after, overdraft_limit_after)
SELECT account_id, version, command_id, kind, amount, balance_after,
       CASE WHEN kind = 'open_account' THEN '' ELSE 'external' END, 'active', 0, 0, 0
FROM scale_gen;

INSERT INTO external_entries (account_id, version, counterparty, currency, amount, command_id)
SELECT account_id, version, 'external', 'USD', -amount, command_id
FROM scale_gen WHERE amount <> 0;

INSERT INTO commands (command_id, account_id, kind, fingerprint, status, code, outcome, topic, partition, "offset")
SELECT command_id, account_id, kind,
       sha256(pg_temp.fp_field(kind) || pg_temp.fp_field(account_id) || pg_temp.fp_num(abs(amount))
              || pg_temp.fp_field(CASE WHEN kind = 'open_account' THEN 'USD' ELSE '' END) || pg_temp.fp_num(0)),
       'applied', '',
       -- wire.EncodeOutcome's bytes (no spaces; the IDs need no escaping),
       -- which the json column keeps as they are
       format('{"command_id":"%s","kind":"%s","account_id":"%s","status":"applied",'
              '"account":{"id":"%s","currency":"USD","status":"active","balance":%s,"available":%s,'
              '"held":0,"overdraft_limit":0,"in_flight":0,"version":%s}}',
              command_id, kind, account_id, account_id, balance_after, balance_after, version)::json,
       'ordo.commands', i % 12, (i / 12) * :per + version
FROM scale_gen;

DROP TABLE scale_gen;
VACUUM ANALYZE accounts, entries, external_entries, commands;
SELECT (SELECT count(*) FROM accounts) AS accounts, (SELECT count(*) FROM entries) AS entries,
       (SELECT count(*) FROM external_entries) AS external_entries,
       pg_size_pretty(pg_database_size(current_database())) AS size;
