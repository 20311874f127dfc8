-- History reads (ledger/postgres/history.go).
--
-- Accounts are listed by ID in byte order, and a prefix is one range of
-- this index whatever the database's collation: under a language collation
-- (en_US) the IDs with a prefix need not be adjacent in the primary key.
-- Only opening an account writes it (the ID never changes), so it costs the
-- hot path nothing and balance updates stay HOT.
CREATE INDEX accounts_id_bytes_idx ON accounts (id COLLATE "C");
