-- A consistent ledger of :accounts accounts with :per entries each, built in
-- SQL, for measuring `ordo verify` and `ordo verify --replay` at scale (see
-- docs/verify-scale.md). Run it on a freshly migrated, empty database:
--
--   psql "$DATABASE_URL" -v accounts=1000000 -v per=10 -f docs/bench/verify-scale.sql
--
-- Every account is opened (version 1) and then alternates deposits of
-- 100*k and withdrawals of 40*k (k = 1 + i % 7), so balances stay positive.
-- Commands are stored as the consumer stores them: kind, status, the
-- fingerprint ledger.Command.Fingerprint computes (SHA-256 over length-
-- prefixed fields and big-endian integers), and the outcome JSON; so the
-- set-based checks and the replay both pass on it.

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

INSERT INTO commands (command_id, account_id, kind, fingerprint, status, code, outcome, topic, partition, "offset")
SELECT command_id, account_id, kind,
       sha256(pg_temp.fp_field(kind) || pg_temp.fp_field(account_id) || pg_temp.fp_num(abs(amount))
              || pg_temp.fp_field(CASE WHEN kind = 'open_account' THEN 'USD' ELSE '' END) || pg_temp.fp_num(0)),
       'applied', '',
       json_build_object('command_id', command_id, 'kind', kind, 'account_id', account_id, 'status', 'applied',
                         'account', json_build_object('id', account_id, 'currency', 'USD', 'status', 'active',
                                                      'balance', balance_after, 'available', balance_after, 'held', 0,
                                                      'overdraft_limit', 0, 'in_flight', 0, 'version', version)),
       'ordo.commands', i % 12, (i / 12) * :per + version
FROM scale_gen;

DROP TABLE scale_gen;
VACUUM ANALYZE accounts, entries, commands;
SELECT (SELECT count(*) FROM accounts) AS accounts, (SELECT count(*) FROM entries) AS entries,
       pg_size_pretty(pg_database_size(current_database())) AS size;
