-- Stored outcomes :lo..:hi of a ledger that has run for a while (growth.sh):
-- keyed command IDs (random, as the API derives them from Idempotency-Keys),
-- outcome documents like the real ones, and offsets below any the topic will
-- have, so that the events publisher counts them as published.
INSERT INTO commands (command_id, account_id, kind, fingerprint, status, code, outcome, topic, partition, "offset", created_at)
SELECT 'idem-' || left(md5('old' || g::text), 32), 'old-' || (g % 100000), 'deposit', decode(md5(g::text), 'hex'), 'applied', '',
  json_build_object('command_id', 'idem-' || left(md5('old' || g::text), 32), 'kind', 'deposit', 'account_id', 'old-' || (g % 100000), 'status', 'applied',
    'account', json_build_object('id', 'old-' || (g % 100000), 'currency', 'USD', 'balance', g, 'held', 0, 'available', g, 'version', g / 100000 + 2)),
  'ordo.commands', g % 12, g - 1000000000, now() - interval '30 days' + (g || ' ms')::interval
FROM generate_series(:lo, :hi) g;
