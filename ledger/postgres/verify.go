package postgres

import (
	"context"
	"fmt"

	"github.com/jackc/pgx/v5"

	"github.com/ordo-dev/ordo/ledger"
)

// VerifyLimit is the most violations Verify lists per check; Count still
// counts them all.
const VerifyLimit = 100

// Violation is one row that breaks an invariant: what it is about (an
// account, a hold, a command), what the database holds and what the
// invariant wants.
type Violation struct {
	Subject string
	Got     string
	Want    string
}

// Check names an invariant Verify checks.
type Check struct {
	Name        string
	Description string // one line for the operator
}

// CheckResult is one invariant's verdict: OK when Count is 0.
type CheckResult struct {
	Check
	// Count: how many rows break it; Violations lists the first
	// VerifyLimit of them, ordered by Subject.
	Count      int64
	Violations []Violation
}

// OK reports whether the invariant holds.
func (r CheckResult) OK() bool { return r.Count == 0 }

// check is one invariant, as a query returning the rows that break it:
// (subject, got, want), all text.
type check struct {
	name, description, query string
}

// Checks lists the invariants Verify checks, in its order.
func Checks() []Check {
	out := make([]Check, len(checks))
	for i, c := range checks {
		out[i] = Check{Name: c.name, Description: c.description}
	}
	return out
}

// checks are the invariants Verify checks, in order. Adding one is adding
// an entry: a name, one line for the operator, and a query of the
// offending rows.
var checks = []check{
	{
		name:        "journal_versions",
		description: "per account: version = number of entries, versions 1..version; no entry without an account",
		query: `
			SELECT 'account ' || a.id,
			       format('version %s, %s entries, versions %s..%s', a.version, coalesce(e.n, 0), coalesce(e.lo, 0), coalesce(e.hi, 0)),
			       format('%s entries, versions 1..%s', a.version, a.version)
			FROM accounts a
			LEFT JOIN (SELECT account_id, count(*) AS n, min(version) AS lo, max(version) AS hi
			           FROM entries GROUP BY account_id) e ON e.account_id = a.id
			WHERE coalesce(e.n, 0) <> a.version OR coalesce(e.lo, 0) <> 1 OR coalesce(e.hi, 0) <> a.version
			UNION ALL
			SELECT 'account ' || e.account_id, format('%s entries, no account row', count(*)), 'an account row for every entry'
			FROM entries e WHERE NOT EXISTS (SELECT 1 FROM accounts a WHERE a.id = e.account_id)
			GROUP BY e.account_id`,
	},
	{
		name:        "journal_balance",
		description: "per account: balance = sum of entry amounts = last entry's balance_after",
		query: `
			SELECT 'account ' || a.id,
			       format('balance %s, entries sum to %s, last balance_after %s', a.balance, coalesce(e.total, 0), coalesce(e.last, 0)),
			       'all three equal'
			FROM accounts a
			LEFT JOIN (SELECT account_id, sum(amount) AS total, (array_agg(balance_after ORDER BY version DESC))[1] AS last
			           FROM entries GROUP BY account_id) e ON e.account_id = a.id
			WHERE a.balance <> coalesce(e.total, 0) OR a.balance <> coalesce(e.last, 0)`,
	},
	{
		name:        "held",
		description: "per account: held = sum of the amounts of its open holds",
		query: `
			SELECT 'account ' || a.id, format('held %s', a.held), format('held %s, the sum of its open holds', coalesce(h.total, 0))
			FROM accounts a
			LEFT JOIN (SELECT account_id, sum(amount) AS total FROM holds WHERE status = 'open' GROUP BY account_id) h
			       ON h.account_id = a.id
			WHERE a.held <> coalesce(h.total, 0)
			UNION ALL
			SELECT 'account ' || h.account_id, format('open holds of %s, no account row', sum(h.amount)), 'an account row for every hold'
			FROM holds h WHERE h.status = 'open' AND NOT EXISTS (SELECT 1 FROM accounts a WHERE a.id = h.account_id)
			GROUP BY h.account_id`,
	},
	{
		name:        "hold_settled_once",
		description: "no hold settled by more than one applied capture, release or expire_hold",
		query: `
			SELECT 'hold ' || coalesce(outcome->'hold'->>'id', '(none)'),
			       format('settled by %s applied commands: %s', count(*), string_agg(command_id, ', ' ORDER BY command_id)),
			       'at most 1'
			FROM commands
			WHERE status = 'applied' AND kind IN ('capture', 'release', 'expire_hold')
			GROUP BY outcome->'hold'->>'id'
			HAVING count(*) > 1`,
	},
	{
		name:        "entry_per_command",
		description: "no command has more than one journal entry",
		query: `
			SELECT 'command ' || command_id,
			       format('%s entries: %s', count(*), string_agg(account_id || ' v' || version, ', ' ORDER BY account_id, version)),
			       'at most 1'
			FROM entries GROUP BY command_id HAVING count(*) > 1`,
	},
	{
		name:        "entry_command_applied",
		description: "every journal entry belongs to an applied command",
		query: `
			SELECT 'command ' || e.command_id,
			       format('entry %s v%s, command %s', e.account_id, e.version, coalesce(c.status, 'missing')),
			       'command applied'
			FROM entries e LEFT JOIN commands c ON c.command_id = e.command_id
			WHERE (c.command_id IS NULL OR c.status <> 'applied')
			  -- A command row the outcome retention pruned (retention.go)
			  -- is missing by design. Entries do not name their partition,
			  -- so the oldest watermark of all partitions excuses them, with
			  -- a minute's margin: an entry's created_at is its
			  -- transaction's start, its command's the batch's decision time.
			  AND NOT (c.command_id IS NULL AND e.created_at < coalesce((SELECT min(pruned_before) + interval '1 minute' FROM outcome_retention), '-infinity'))`,
	},
	{
		name:        "overdraft",
		description: "per account: balance and available (balance - held) >= -overdraft_limit",
		query: `
			SELECT 'account ' || id,
			       format('balance %s, held %s, available %s', balance, held, balance - held),
			       format('balance and available >= %s', -overdraft_limit)
			FROM accounts
			WHERE balance < -overdraft_limit OR balance - held < -overdraft_limit`,
	},
	{
		name:        "hold_state",
		description: "per hold: 0 <= captured <= amount; settled_at set once settled, not while open",
		query: `
			SELECT 'hold ' || id,
			       format('status %s, amount %s, captured %s, settled_at %s', status, amount, captured, coalesce(settled_at::text, 'null')),
			       CASE WHEN captured < 0 OR captured > amount THEN format('captured 0..%s', amount)
			            WHEN status = 'open' THEN 'settled_at null while open'
			            ELSE 'settled_at set once settled' END
			FROM holds
			WHERE captured < 0 OR captured > amount
			   OR (status = 'open') <> (settled_at IS NULL)`,
	},
	{
		name:        "in_flight",
		description: "per account: in_flight = the sum of its pending outgoing transfers",
		query: `
			SELECT 'account ' || a.id, a.in_flight::text, coalesce(t.sum, 0)::text
			FROM accounts a
			LEFT JOIN (SELECT from_account, sum(amount) AS sum FROM transfers WHERE status = 'pending' GROUP BY 1) t ON t.from_account = a.id
			WHERE a.in_flight <> coalesce(t.sum, 0)`,
	},
	{
		name:        "transfer_legs",
		description: "per transfer: one debit; completed: one credit, no refund; refunded: one refund, no credit; pending: no refund",
		query: `
			SELECT 'transfer ' || t.id,
			       format('%s: %s debit, %s credit, %s refund', t.status, l.debits, l.credits, l.refunds),
			       CASE t.status WHEN 'completed' THEN '1 debit, 1 credit, 0 refund'
			                     WHEN 'refunded' THEN '1 debit, 0 credit, 1 refund'
			                     ELSE '1 debit, 0 refund' END
			FROM transfers t,
			LATERAL (SELECT count(*) FILTER (WHERE en.command_id = t.command_id AND en.amount = -t.amount) AS debits,
			                count(*) FILTER (WHERE en.command_id = 'credit:' || t.id AND en.amount = t.amount) AS credits,
			                count(*) FILTER (WHERE en.command_id = 'settle:' || t.id AND en.amount = t.amount) AS refunds
			         FROM entries en WHERE en.command_id IN (t.command_id, 'credit:' || t.id, 'settle:' || t.id)) l
			WHERE l.debits <> 1
			   OR (t.status = 'completed' AND (l.credits <> 1 OR l.refunds <> 0))
			   OR (t.status = 'refunded' AND (l.credits <> 0 OR l.refunds <> 1))
			   OR (t.status = 'pending' AND l.refunds <> 0)`,
	},
	{
		name:        "money_conserved",
		description: "all balances plus all money in flight = deposits - withdrawals - captures: transfers create or destroy nothing",
		query: `
			SELECT 'ledger', (sum_balance + sum_flight)::text, external::text
			FROM (SELECT (SELECT coalesce(sum(balance), 0) FROM accounts) AS sum_balance,
			             (SELECT coalesce(sum(in_flight), 0) FROM accounts) AS sum_flight,
			             (SELECT coalesce(sum(amount), 0) FROM entries WHERE kind IN ('deposit', 'withdrawal', 'capture')) AS external) m
			WHERE sum_balance + sum_flight <> external`,
	},
	{
		name:        "transfer_step_pending",
		description: "per pending transfer: its next step is in the outbox (published or not): nothing can leave it stuck",
		query: `
			SELECT 'transfer ' || t.id, 'no credit or settle step in the outbox', 'credit:' || t.id || ' or settle:' || t.id
			FROM transfers t
			WHERE t.status = 'pending'
			  AND NOT EXISTS (SELECT 1 FROM outbox o WHERE o.command_id IN ('credit:' || t.id, 'settle:' || t.id))`,
	},
	// The double-entry checks (migration 0008). Entries written before it
	// have NULL status_after and no external side: a deposit, withdrawal or
	// capture among them counts as mirrored by an implied external row
	// (journal_zero_sum leaves it out, external_mirror skips it).
	{
		name:        "journal_zero_sum",
		description: "per currency: entries + external entries + money in flight = 0 (entries before migration 0008 excepted)",
		query: `
			SELECT 'currency ' || c.currency,
			       format('entries %s, external entries %s, in flight %s: sum %s', c.entries, c.external, c.flight, c.entries + c.external + c.flight),
			       'sum 0'
			FROM (SELECT currency, sum(entries) AS entries, sum(external) AS external, sum(flight) AS flight
			      FROM (SELECT a.currency, sum(en.amount) AS entries, 0 AS external, 0 AS flight
			            FROM entries en JOIN accounts a ON a.id = en.account_id
			            WHERE en.status_after IS NOT NULL OR en.kind NOT IN ('deposit', 'withdrawal', 'capture')
			            GROUP BY a.currency
			            UNION ALL
			            SELECT currency, 0, sum(amount), 0 FROM external_entries GROUP BY currency
			            UNION ALL
			            SELECT currency, 0, 0, sum(in_flight) FROM accounts GROUP BY currency) u
			      GROUP BY currency) c
			WHERE c.entries + c.external + c.flight <> 0`,
	},
	{
		name:        "external_mirror",
		description: "every entry with an external counterparty that moves money has one external entry of the opposite amount, currency and counterparty; none without it",
		query: `
			SELECT format('entry %s v%s', en.account_id, en.version),
			       CASE WHEN x.account_id IS NULL THEN 'no external entry'
			            ELSE format('external entry %s %s %s of %s', x.counterparty, x.amount, x.currency, x.command_id) END,
			       format('external entry %s %s %s of %s', en.counterparty, -en.amount, a.currency, en.command_id)
			FROM entries en
			JOIN accounts a ON a.id = en.account_id
			LEFT JOIN external_entries x ON x.account_id = en.account_id AND x.version = en.version
			WHERE en.kind IN ('deposit', 'withdrawal', 'capture') AND en.amount <> 0 AND en.status_after IS NOT NULL
			  AND (x.account_id IS NULL OR x.amount <> -en.amount OR x.currency <> a.currency
			       OR x.counterparty <> en.counterparty OR x.command_id <> en.command_id)
			UNION ALL
			SELECT format('entry %s v%s', x.account_id, x.version),
			       format('external entry %s %s %s of %s; entry %s', x.counterparty, x.amount, x.currency, x.command_id,
			              coalesce(format('%s of %s', en.kind, en.amount), 'missing')),
			       'an external entry only beside a deposit, withdrawal or capture that moves money'
			FROM external_entries x
			LEFT JOIN entries en ON en.account_id = x.account_id AND en.version = x.version
			WHERE en.account_id IS NULL OR en.kind NOT IN ('deposit', 'withdrawal', 'capture') OR en.amount = 0`,
	},
	{
		name:        "entry_state",
		description: "per account: its latest entry's status, held, in_flight and overdraft_limit after equal the account row (where recorded)",
		query: `
			SELECT 'account ' || a.id,
			       format('status %s, held %s, in_flight %s, overdraft_limit %s', a.status, a.held, a.in_flight, a.overdraft_limit),
			       format('status %s, held %s, in_flight %s, overdraft_limit %s (entry v%s)',
			              coalesce(en.status_after, '-'), coalesce(en.held_after::text, '-'), coalesce(en.in_flight_after::text, '-'),
			              coalesce(en.overdraft_limit_after::text, '-'), en.version)
			FROM accounts a JOIN entries en ON en.account_id = a.id AND en.version = a.version
			WHERE en.status_after <> a.status OR en.held_after <> a.held
			   OR en.in_flight_after <> a.in_flight OR en.overdraft_limit_after <> a.overdraft_limit`,
	},
}

// Verify checks the ledger's invariants (see checks) in one read-only
// snapshot of the database, so that a consumer writing meanwhile cannot
// make it see half a batch. It returns every check's result, OK or not; an
// error only when it could not check.
func (s *Store) Verify(ctx context.Context) ([]CheckResult, error) {
	tx, err := s.pool.BeginTx(ctx, pgx.TxOptions{IsoLevel: pgx.RepeatableRead, AccessMode: pgx.ReadOnly})
	if err != nil {
		return nil, fmt.Errorf("verify: begin: %v: %w", err, ledger.ErrUnavailable)
	}
	defer func() { _ = tx.Rollback(ctx) }() // read-only: nothing to keep
	out := make([]CheckResult, 0, len(checks))
	for _, c := range checks {
		r, err := runCheck(ctx, tx, c)
		if err != nil {
			return nil, err
		}
		out = append(out, r)
	}
	return out, nil
}

func runCheck(ctx context.Context, tx pgx.Tx, c check) (CheckResult, error) {
	r := CheckResult{Check: Check{Name: c.name, Description: c.description}}
	rows, err := tx.Query(ctx, `SELECT count(*) OVER (), v.subject, v.got, v.want
		FROM (`+c.query+`) AS v(subject, got, want)
		ORDER BY v.subject, v.got LIMIT $1`, VerifyLimit)
	if err != nil {
		return r, fmt.Errorf("verify %s: %v: %w", c.name, err, ledger.ErrUnavailable)
	}
	for rows.Next() {
		var v Violation
		if err := rows.Scan(&r.Count, &v.Subject, &v.Got, &v.Want); err != nil {
			rows.Close()
			return r, fmt.Errorf("verify %s: %v: %w", c.name, err, ledger.ErrUnavailable)
		}
		r.Violations = append(r.Violations, v)
	}
	if err := rows.Err(); err != nil {
		return r, fmt.Errorf("verify %s: %v: %w", c.name, err, ledger.ErrUnavailable)
	}
	return r, nil
}
