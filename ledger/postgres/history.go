package postgres

import (
	"context"
	"errors"
	"fmt"
	"math"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/ordo-dev/ordo/ledger"
)

// History reads: an account's journal a page at a time, the account as it
// stood at a version or a time, the accounts by ID, and external
// counterparties' balances. Each query is answered from one index (see
// DESIGN.md, "History"):
//
//   - entries by version: the primary key (account_id, version), in either
//     direction;
//   - the account at a time: a binary search over versions on the same key,
//     one recursive statement of about log2(version) index probes;
//   - accounts by ID: accounts_id_bytes_idx (id COLLATE "C"), so a prefix
//     is one range whatever the database's collation;
//   - a counterparty: external_entries_counterparty_idx (index-only).

const journalColumns = `version, command_id, kind, amount, balance_after, held_after, in_flight_after,
	overdraft_limit_after, status_after, counterparty, reference, metadata, created_at`

// The history queries, each named for the tests that EXPLAIN them.
const (
	entriesAscQuery = `SELECT ` + journalColumns + ` FROM entries
		WHERE account_id = $1 AND version > $2 AND version < $3 ORDER BY version ASC LIMIT $4`
	entriesDescQuery = `SELECT ` + journalColumns + ` FROM entries
		WHERE account_id = $1 AND version > $2 AND version < $3 ORDER BY version DESC LIMIT $4`
	// accountAtQuery: the account's currency, current version, and the
	// version its subquery %s picks from $1 and $2.
	accountAtQuery = `SELECT a.currency, a.version, (%s) FROM accounts a WHERE a.id = $1`
	entryQuery     = `SELECT ` + journalColumns + ` FROM entries WHERE account_id = $1 AND version = $2`
	versionPick    = `SELECT $2::bigint`
	// asOfPick: s(lo, hi): the version sought lies in [lo, hi]; lo's entry
	// (0: none) was created at or before $2. Each step probes the middle
	// version through the primary key.
	// Every step narrows the range, so it ends within 64 steps; the step
	// count n bounds it all the same.
	asOfPick = `WITH RECURSIVE s(lo, hi, n) AS (
			SELECT 0::bigint, version, 0 FROM accounts WHERE id = $1
			UNION ALL
			SELECT CASE WHEN e.created_at <= $2 THEN (s.lo + s.hi + 1) / 2 ELSE s.lo END,
			       CASE WHEN e.created_at <= $2 THEN s.hi ELSE (s.lo + s.hi + 1) / 2 - 1 END, s.n + 1
			FROM s JOIN entries e ON e.account_id = $1 AND e.version = (s.lo + s.hi + 1) / 2
			WHERE s.lo < s.hi AND s.n < 64)
		SELECT lo FROM s WHERE lo >= hi`
	accountsQuery = `SELECT id, currency, status, balance, held, overdraft_limit, in_flight, version
		FROM accounts
		WHERE id COLLATE "C" >= $1 AND id COLLATE "C" > $2 AND id COLLATE "C" < $3
		ORDER BY id COLLATE "C" LIMIT $4`
	counterpartyQuery = `SELECT currency, sum(amount)::bigint, count(*) FROM external_entries
		WHERE counterparty = $1 GROUP BY currency ORDER BY currency`
)

func scanJournalEntry(row pgx.Row) (ledger.JournalEntry, error) {
	var (
		e      ledger.JournalEntry
		status *string
	)
	err := row.Scan(&e.Version, &e.CommandID, &e.Kind, &e.Amount, &e.BalanceAfter, &e.HeldAfter, &e.InFlightAfter,
		&e.OverdraftLimitAfter, &status, &e.Counterparty, &e.Reference, &e.Metadata, &e.CreatedAt)
	if err != nil {
		return ledger.JournalEntry{}, err
	}
	if status != nil {
		s := ledger.AccountStatus(*status)
		e.StatusAfter = &s
	}
	if e.HeldAfter != nil {
		avail := e.BalanceAfter - *e.HeldAfter
		e.AvailableAfter = &avail
	}
	e.CreatedAt = e.CreatedAt.UTC()
	return e, nil
}

// Entries returns a page of an account's journal: at most q.Limit entries
// with q.After < version < q.Before (0: unbounded), in version order or,
// with q.Desc, newest first. more reports whether further entries matched.
// An unknown account is ledger.ErrNotFound.
func (s *Store) Entries(ctx context.Context, accountID string, q ledger.EntryQuery) (entries []ledger.JournalEntry, more bool, err error) {
	before := q.Before
	if before <= 0 {
		before = math.MaxInt64
	}
	query := entriesAscQuery
	if q.Desc {
		query = entriesDescQuery
	}
	rows, err := s.pool.Query(ctx, query, accountID, q.After, before, q.Limit+1)
	if err != nil {
		return nil, false, fmt.Errorf("read entries: %v: %w", err, ledger.ErrUnavailable)
	}
	entries, err = pgx.CollectRows(rows, func(r pgx.CollectableRow) (ledger.JournalEntry, error) { return scanJournalEntry(r) })
	if err != nil {
		return nil, false, fmt.Errorf("read entries: %v: %w", err, ledger.ErrUnavailable)
	}
	if len(entries) > q.Limit {
		return entries[:q.Limit], true, nil
	}
	if len(entries) == 0 {
		// Nothing in range: say whether the account exists at all.
		if err := s.accountExists(ctx, accountID); err != nil {
			return nil, false, err
		}
	}
	return entries, false, nil
}

func (s *Store) accountExists(ctx context.Context, id string) error {
	var one int
	err := s.pool.QueryRow(ctx, `SELECT 1 FROM accounts WHERE id = $1`, id).Scan(&one)
	if errors.Is(err, pgx.ErrNoRows) {
		return fmt.Errorf("account %q: %w", id, ledger.ErrNotFound)
	}
	if err != nil {
		return fmt.Errorf("read account: %v: %w", err, ledger.ErrUnavailable)
	}
	return nil
}

// AccountAtVersion returns the account as it stood at a version: the state
// its entry of that version recorded. An unknown account is
// ledger.ErrNotFound; a version beyond the current one (or below 1) is
// ledger.ErrNotInHistory.
func (s *Store) AccountAtVersion(ctx context.Context, id string, version int64) (ledger.AccountVersion, error) {
	return s.accountAt(ctx, id, versionPick, version)
}

// AccountAsOf returns the account as it stood at time t: the state after its
// newest entry created at or before t. Entries' creation times grow with
// their versions (one writer per account, the database's clock), which the
// binary search relies on. An unknown account is ledger.ErrNotFound; a time
// before its first entry is ledger.ErrNotInHistory.
func (s *Store) AccountAsOf(ctx context.Context, id string, t time.Time) (ledger.AccountVersion, error) {
	return s.accountAt(ctx, id, asOfPick, t)
}

// accountAt reads the account's currency and current version and, in the
// same snapshot, the entry at the version that the statement pick selects
// (from $1, the account ID, and $2, arg).
func (s *Store) accountAt(ctx context.Context, id, pick string, arg any) (ledger.AccountVersion, error) {
	var (
		currency string
		current  int64
		version  *int64
		e        ledger.JournalEntry
		found    bool
	)
	err := pgx.BeginTxFunc(ctx, s.pool, pgx.TxOptions{IsoLevel: pgx.RepeatableRead, AccessMode: pgx.ReadOnly}, func(tx pgx.Tx) error {
		err := tx.QueryRow(ctx, fmt.Sprintf(accountAtQuery, pick), id, arg).
			Scan(&currency, &current, &version)
		if err != nil || version == nil || *version < 1 || *version > current {
			return err
		}
		e, err = scanJournalEntry(tx.QueryRow(ctx, entryQuery, id, *version))
		found = err == nil
		return err
	})
	switch {
	case errors.Is(err, pgx.ErrNoRows) && currency == "":
		return ledger.AccountVersion{}, fmt.Errorf("account %q: %w", id, ledger.ErrNotFound)
	case errors.Is(err, pgx.ErrNoRows):
		return ledger.AccountVersion{}, fmt.Errorf("account %q: entry %d missing from the journal", id, *version)
	case err != nil:
		return ledger.AccountVersion{}, fmt.Errorf("read account history: %v: %w", err, ledger.ErrUnavailable)
	case !found:
		return ledger.AccountVersion{}, fmt.Errorf("account %q (current version %d): %w", id, current, ledger.ErrNotInHistory)
	}
	return ledger.AccountAt(id, currency, e), nil
}

// Accounts lists accounts in byte order of their IDs, with the current
// state: at most limit of those whose ID starts with prefix and sorts after
// after. more reports whether further accounts matched.
func (s *Store) Accounts(ctx context.Context, prefix, after string, limit int) (accounts []ledger.Account, more bool, err error) {
	// IDs are printable ASCII (ledger.ValidateAccountID), so the IDs with
	// the prefix are those from prefix up to, not including, the prefix
	// with its last byte raised by one; every ID sorts before "\x7f".
	to := "\x7f"
	if prefix != "" {
		to = prefix[:len(prefix)-1] + string(prefix[len(prefix)-1]+1)
	}
	rows, err := s.pool.Query(ctx, accountsQuery, prefix, after, to, limit+1)
	if err != nil {
		return nil, false, fmt.Errorf("list accounts: %v: %w", err, ledger.ErrUnavailable)
	}
	accounts, err = pgx.CollectRows(rows, func(r pgx.CollectableRow) (ledger.Account, error) {
		var a ledger.Account
		err := r.Scan(&a.ID, &a.Currency, &a.Status, &a.Balance, &a.Held, &a.OverdraftLimit, &a.InFlight, &a.Version)
		a.Available = a.Balance - a.Held
		return a, err
	})
	if err != nil {
		return nil, false, fmt.Errorf("list accounts: %v: %w", err, ledger.ErrUnavailable)
	}
	if len(accounts) > limit {
		return accounts[:limit], true, nil
	}
	return accounts, false, nil
}

// Counterparty returns an external counterparty's balance per currency,
// summed from the external sides of its entries, in currency order. A
// counterparty without entries is ledger.ErrNotFound.
func (s *Store) Counterparty(ctx context.Context, name string) ([]ledger.CounterpartyBalance, error) {
	rows, err := s.pool.Query(ctx, counterpartyQuery, name)
	if err != nil {
		return nil, fmt.Errorf("read counterparty: %v: %w", err, ledger.ErrUnavailable)
	}
	balances, err := pgx.CollectRows(rows, pgx.RowToStructByPos[ledger.CounterpartyBalance])
	if err != nil {
		return nil, fmt.Errorf("read counterparty: %v: %w", err, ledger.ErrUnavailable)
	}
	if len(balances) == 0 {
		return nil, fmt.Errorf("counterparty %q: %w", name, ledger.ErrNotFound)
	}
	return balances, nil
}
