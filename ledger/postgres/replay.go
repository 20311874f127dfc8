package postgres

import (
	"bytes"
	"context"
	"fmt"
	"strings"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/ordo-dev/ordo/ledger"
	"github.com/ordo-dev/ordo/wire"
)

// Replay decides every applied command again, account by account in
// version order, with the ledger's own rules (ledger.Decide), and compares
// what it decides with what is stored: each journal entry (kind, amount,
// balance_after and, where written, the other *_after columns), the hold or
// transfer the command's stored outcome names, and at the end the account
// row (balance, held, in_flight, overdraft limit, status, version).
//
// The commands' inputs are rebuilt from what is stored, not stored again:
// an applied command's members are all in its journal entry and its stored
// outcome (a hold's amount and times, a capture's amount, a transfer's
// counterparty, ...), and each rebuilt command is checked against the
// fingerprint stored with it (ledger.Command.Fingerprint, a SHA-256 of every
// member but the ID, deadline and log time). A rebuilt command whose
// fingerprint differs from the stored one means the journal says something
// other than what was asked: a divergence. The log time, which decides
// hold expiry, is the time the stored hold or transfer carries. Deadlines
// are not stored and are not needed: a command that was applied was decided
// before its deadline, so Decide is DecideAt for it. Rejected commands
// changed nothing and are not decided again (their members are stored only
// as the fingerprint).
//
// Memory is bounded: accounts are read BatchAccounts at a time, in ID
// order (a keyset), and their entries streamed and replayed as they arrive;
// what is held per account is its state, its open holds and its pending
// transfers. Each batch is one read-only snapshot, so an account's rows
// are read consistently while consumers write; different batches may see
// different moments, which replay, being per account, does not mind (the
// transfer a credit names was committed before the credit was decided).
//
// Replay returns an error only when it could not check.
func (s *Store) Replay(ctx context.Context, o ReplayOptions) (ReplayResult, error) {
	o = o.withDefaults()
	res := ReplayResult{CheckResult: CheckResult{Check: ReplayCheck}}
	start := time.Now()
	after := o.After
	for {
		n, last, err := s.replayBatch(ctx, after, o.BatchAccounts, &res)
		if err != nil {
			return res, fmt.Errorf("replay after account %q: %v: %w", after, err, ledger.ErrUnavailable)
		}
		if n == 0 {
			break
		}
		after = last
		if o.Progress != nil {
			o.Progress(ReplayProgress{Accounts: res.Accounts, Commands: res.Commands, Last: last, Elapsed: time.Since(start)})
		}
		if n < o.BatchAccounts {
			break
		}
	}
	return res, nil
}

// ReplayCheck names the replay in a report, beside Checks.
var ReplayCheck = Check{Name: "replay", Description: "every applied command decided again in version order matches the stored journal and account"}

// DefaultReplayBatch is how many accounts Replay reads per query unless
// ReplayOptions say otherwise.
const DefaultReplayBatch = 1000

// ReplayOptions tune Replay. The zero value replays every account,
// DefaultReplayBatch at a time, silently.
type ReplayOptions struct {
	// BatchAccounts: accounts per query and snapshot (0: DefaultReplayBatch).
	BatchAccounts int
	// After: replay only the accounts whose ID sorts after it (in the
	// database's order), to resume a replay that stopped ("": all).
	After string
	// Progress, if set, is called after each batch.
	Progress func(ReplayProgress)
}

func (o ReplayOptions) withDefaults() ReplayOptions {
	if o.BatchAccounts <= 0 {
		o.BatchAccounts = DefaultReplayBatch
	}
	return o
}

// ReplayProgress is how far a replay is.
type ReplayProgress struct {
	Accounts, Commands int64
	Last               string // the last account replayed
	Elapsed            time.Duration
}

// ReplayResult is the replay's verdict. Its CheckResult (named "replay")
// counts the accounts whose replay diverges from the stored state and lists
// the first VerifyLimit, each with its first differing version:
// Subject "account <id> v<version>", Got what is stored, Want what the
// replay decided.
type ReplayResult struct {
	CheckResult
	// Accounts and Commands: how many accounts were replayed, and how many
	// applied commands decided again.
	Accounts, Commands int64
	// NotReplayable counts the accounts whose history could not be rebuilt
	// from some version on (the entry's command is not stored as applied,
	// or its outcome lacks what the rebuild needs); Unreplayed lists the
	// first VerifyLimit. They are not violations of their own: the checks
	// that guard those rows report them.
	NotReplayable int64
	Unreplayed    []Violation
}

// The kinds whose stored outcome the rebuild reads (deposits, withdrawals,
// credits and lifecycle commands need none, and most of a journal is
// deposits and withdrawals: their outcomes are not fetched).
const replayOutcomeKinds = `'open_account', 'hold', 'capture', 'release', 'expire_hold', 'set_overdraft_limit', 'transfer', 'transfer_settle'`

// replayBatch replays the accounts after after, up to limit of them, in one
// snapshot. It returns how many it read and the last one's ID.
func (s *Store) replayBatch(ctx context.Context, after string, limit int, res *ReplayResult) (int, string, error) {
	tx, err := s.pool.BeginTx(ctx, pgx.TxOptions{IsoLevel: pgx.RepeatableRead, AccessMode: pgx.ReadOnly})
	if err != nil {
		return 0, "", err
	}
	defer func() { _ = tx.Rollback(ctx) }() // read-only: nothing to keep
	rows, err := tx.Query(ctx, `SELECT id, currency, status, balance, held, overdraft_limit, in_flight, version
		FROM accounts WHERE id > $1 ORDER BY id LIMIT $2`, after, limit)
	if err != nil {
		return 0, "", err
	}
	accounts, err := pgx.CollectRows(rows, func(r pgx.CollectableRow) (ledger.Account, error) {
		var a ledger.Account
		err := r.Scan(&a.ID, &a.Currency, &a.Status, &a.Balance, &a.Held, &a.OverdraftLimit, &a.InFlight, &a.Version)
		return a, err
	})
	if err != nil || len(accounts) == 0 {
		return 0, "", err
	}
	index := make(map[string]int, len(accounts))
	for i, a := range accounts {
		index[a.ID] = i
	}
	first, last := accounts[0].ID, accounts[len(accounts)-1].ID
	rows, err = tx.Query(ctx, `SELECT e.account_id, e.version, e.command_id, e.kind, e.amount, e.balance_after,
		       e.status_after, e.held_after, e.in_flight_after, e.overdraft_limit_after,
		       e.counterparty, e.reference, e.metadata::text,
		       c.kind, c.status, c.fingerprint,
		       CASE WHEN c.kind IN (`+replayOutcomeKinds+`) THEN c.outcome END,
		       t.from_account, t.amount, t.currency
		FROM entries e
		LEFT JOIN commands c ON c.command_id = e.command_id
		LEFT JOIN transfers t ON c.kind = 'transfer_credit' AND t.id = substr(e.command_id, length('credit:') + 1)
		WHERE e.account_id >= $1 AND e.account_id <= $2
		ORDER BY e.account_id, e.version`, first, last)
	if err != nil {
		return 0, "", err
	}
	defer rows.Close()
	next := 0 // accounts[:next] are started
	var cur *accountReplay
	finish := func() {
		if cur != nil {
			cur.finish(res)
			cur = nil
		}
	}
	var e storedEntry
	for rows.Next() {
		if err := rows.Scan(&e.accountID, &e.version, &e.commandID, &e.kind, &e.amount, &e.balanceAfter,
			&e.statusAfter, &e.heldAfter, &e.inFlightAfter, &e.overdraftAfter,
			&e.counterparty, &e.reference, &e.metadata,
			&e.cmdKind, &e.cmdStatus, &e.fingerprint, &e.outcome,
			&e.xferFrom, &e.xferAmount, &e.xferCurrency); err != nil {
			return 0, "", err
		}
		if cur == nil || cur.stored.ID != e.accountID {
			i, ok := index[e.accountID]
			if !ok {
				continue // an entry without an account row: journal_versions reports it
			}
			finish()
			for ; next < i; next++ { // accounts with no entries at all
				(&accountReplay{stored: accounts[next]}).finish(res)
			}
			next = i + 1
			cur = newAccountReplay(accounts[i])
		}
		cur.step(&e, res)
	}
	if err := rows.Err(); err != nil {
		return 0, "", err
	}
	finish()
	for ; next < len(accounts); next++ {
		(&accountReplay{stored: accounts[next]}).finish(res)
	}
	return len(accounts), last, tx.Commit(ctx)
}

// storedEntry is one journal row with its command, as the replay reads it.
type storedEntry struct {
	accountID, commandID, kind string
	version, amount            int64
	balanceAfter               int64
	// The 0008 state columns, NULL on rows written before them.
	statusAfter                              *string
	heldAfter, inFlightAfter, overdraftAfter *int64
	// The command: NULL when there is no row.
	cmdKind, cmdStatus *string
	fingerprint        []byte
	outcome            []byte // only for replayOutcomeKinds
	// The journal fields of 0008: the entry's other side, the caller's
	// reference and metadata ("" and NULL before it).
	counterparty, reference string
	metadata                *string
	// The transfer a transfer_credit names, NULL otherwise.
	xferFrom, xferCurrency *string
	xferAmount             *int64
}

// accountReplay is one account's replay: the state decided so far.
type accountReplay struct {
	stored    ledger.Account
	acc       *ledger.Account
	holds     map[string]*ledger.Hold     // open holds, by ID
	transfers map[string]*ledger.Transfer // pending transfers, by ID
	stopped   bool                        // diverged or not replayable: the rest is not decided
}

func newAccountReplay(a ledger.Account) *accountReplay {
	return &accountReplay{stored: a, holds: map[string]*ledger.Hold{}, transfers: map[string]*ledger.Transfer{}}
}

func (r *accountReplay) diverge(res *ReplayResult, version int64, got, want string) {
	r.stopped = true
	res.Count++
	if len(res.Violations) < VerifyLimit {
		res.Violations = append(res.Violations, Violation{Subject: fmt.Sprintf("account %s v%d", r.stored.ID, version), Got: got, Want: want})
	}
}

func (r *accountReplay) unreplayable(res *ReplayResult, version int64, why string) {
	r.stopped = true
	res.NotReplayable++
	if len(res.Unreplayed) < VerifyLimit {
		res.Unreplayed = append(res.Unreplayed, Violation{Subject: fmt.Sprintf("account %s v%d", r.stored.ID, version), Got: why, Want: "a command rebuilt from what is stored"})
	}
}

// step decides one stored entry's command again and compares.
func (r *accountReplay) step(e *storedEntry, res *ReplayResult) {
	if r.stopped {
		return
	}
	switch {
	case e.cmdKind == nil:
		r.unreplayable(res, e.version, fmt.Sprintf("entry of command %s, which is not stored", e.commandID))
		return
	case *e.cmdStatus != string(ledger.StatusApplied):
		r.unreplayable(res, e.version, fmt.Sprintf("entry of command %s, which is stored as %s", e.commandID, *e.cmdStatus))
		return
	}
	var out ledger.Outcome
	if e.outcome != nil {
		var err error
		if out, err = wire.DecodeOutcome(e.outcome); err != nil {
			r.unreplayable(res, e.version, fmt.Sprintf("the stored outcome of %s does not decode: %v", e.commandID, err))
			return
		}
	}
	cands, err := rebuild(e, out, r.acc)
	if err != nil {
		r.unreplayable(res, e.version, err.Error())
		return
	}
	var cmd *ledger.Command
	for i := range cands {
		if bytes.Equal(cands[i].Fingerprint(), e.fingerprint) {
			cmd = &cands[i]
			break
		}
	}
	if cmd == nil {
		r.diverge(res, e.version, fmt.Sprintf("journal entry %s %s of %d", e.commandID, *e.cmdKind, e.amount),
			"the request the command's stored fingerprint records (the entry's members differ from it)")
		return
	}
	st := ledger.State{Account: r.acc}
	if cmd.HoldID != "" {
		st.Hold = r.holds[cmd.HoldID]
	}
	if cmd.Kind == ledger.KindTransferSettle {
		st.Transfer = r.transfers[cmd.TransferID]
	}
	d := ledger.Decide(st, *cmd)
	res.Commands++
	if d.Outcome.Status != ledger.StatusApplied {
		r.diverge(res, e.version, fmt.Sprintf("%s %s applied", cmd.Kind, cmd.ID), fmt.Sprintf("rejected %s: %s", d.Outcome.Code, d.Outcome.Detail))
		return
	}
	if !entryMatches(e, d.Entry, d.Account) {
		got, want := entryTexts(e, d.Entry, d.Account)
		r.diverge(res, e.version, got, want)
		return
	}
	if e.outcome != nil {
		if got, want := outcomeText(cmd.Kind, out), outcomeText(cmd.Kind, d.Outcome); got != want {
			r.diverge(res, e.version, "stored outcome: "+got, "outcome: "+want)
			return
		}
	}
	r.acc = d.Account
	if h := d.Hold; h != nil {
		if h.Status == ledger.HoldOpen {
			r.holds[h.ID] = h
		} else {
			delete(r.holds, h.ID)
		}
	}
	if t := d.Transfer; t != nil {
		if t.Status == ledger.TransferPending {
			r.transfers[t.ID] = t
		} else {
			delete(r.transfers, t.ID)
		}
	}
}

// finish compares the replayed account with its row.
func (r *accountReplay) finish(res *ReplayResult) {
	res.Accounts++
	if r.stopped {
		return
	}
	var replayed ledger.Account
	if r.acc != nil {
		replayed = *r.acc
	}
	if !accountMatches(r.stored, replayed) {
		r.diverge(res, min(r.stored.Version, replayed.Version+1), accountText(r.stored), accountText(replayed))
	}
}

// rebuild returns the commands the entry may have been decided from: the
// members the journal and the outcome determine, with every value of the
// members they leave open (an If-Match of none, any or the version it was
// decided at; a hold's default or explicit duration; a capture of the whole
// hold or of an amount). The caller takes the one whose fingerprint is the
// stored one.
//
// Every member ledger.Command.Fingerprint covers must be set here
// (TestRebuildCoversCommand fails when Command grows one).
func rebuild(e *storedEntry, out ledger.Outcome, acc *ledger.Account) ([]ledger.Command, error) {
	c := ledger.Command{ID: e.commandID, Kind: ledger.Kind(*e.cmdKind), AccountID: e.accountID, Reference: e.reference}
	if e.metadata != nil {
		c.Metadata = ledger.Metadata(*e.metadata) // stored as the command carried it
	}
	if c.Kind.ExternalCounterparty() {
		c.Counterparty = e.counterparty // "" before 0008: the default then
	}
	need := func(ok bool, what string) error {
		if ok {
			return nil
		}
		return fmt.Errorf("the stored outcome of %s %s has no %s", c.Kind, c.ID, what)
	}
	var holdFor, amounts []int64 // alternatives, nil: the one value c has
	switch c.Kind {
	case ledger.KindOpenAccount:
		if err := need(out.Account != nil, "account"); err != nil {
			return nil, err
		}
		c.Currency, c.OverdraftLimit = out.Account.Currency, out.Account.OverdraftLimit
	case ledger.KindDeposit, ledger.KindWithdrawal:
		c.Amount = max(e.amount, -e.amount)
	case ledger.KindHold:
		h := out.Hold
		if err := need(h != nil, "hold"); err != nil {
			return nil, err
		}
		c.Amount, c.At = h.Amount, h.CreatedAt
		d := h.ExpiresAt.Sub(h.CreatedAt)
		holdFor = []int64{int64(d)}
		if d == ledger.DefaultHoldFor {
			holdFor = []int64{0, int64(d)}
		}
	case ledger.KindCapture, ledger.KindRelease, ledger.KindExpireHold:
		h := out.Hold
		if err := need(h != nil && h.SettledAt != nil, "settled hold"); err != nil {
			return nil, err
		}
		c.HoldID, c.At = h.ID, *h.SettledAt
		if c.Kind == ledger.KindCapture {
			amounts = []int64{0, h.Captured}
		}
	case ledger.KindSetOverdraftLimit:
		if err := need(out.Account != nil, "account"); err != nil {
			return nil, err
		}
		c.OverdraftLimit = out.Account.OverdraftLimit
	case ledger.KindFreeze, ledger.KindUnfreeze, ledger.KindClose:
	case ledger.KindTransfer:
		t := out.Transfer
		if err := need(t != nil, "transfer"); err != nil {
			return nil, err
		}
		c.Amount, c.Currency, c.Counterparty, c.At = t.Amount, t.Currency, t.To, t.CreatedAt
	case ledger.KindTransferCredit:
		if e.xferFrom == nil {
			return nil, fmt.Errorf("transfer_credit %s names no stored transfer", c.ID)
		}
		c.TransferID = strings.TrimPrefix(c.ID, "credit:")
		c.Counterparty, c.Amount, c.Currency = *e.xferFrom, *e.xferAmount, *e.xferCurrency
	case ledger.KindTransferSettle:
		t := out.Transfer
		if err := need(t != nil && t.CompletedAt != nil, "settled transfer"); err != nil {
			return nil, err
		}
		c.TransferID, c.Reason, c.At = t.ID, t.Reason, *t.CompletedAt
	default:
		return nil, fmt.Errorf("command %s of unknown kind %q", c.ID, c.Kind)
	}
	ifMatch := []int64{ledger.IfMatchNone}
	if !c.Kind.Internal() {
		ifMatch = append(ifMatch, ledger.IfMatchExists)
		if acc != nil {
			ifMatch = append(ifMatch, acc.Version)
		}
	}
	if holdFor == nil {
		holdFor = []int64{int64(c.HoldFor)}
	}
	if amounts == nil {
		amounts = []int64{c.Amount}
	}
	out2 := make([]ledger.Command, 0, len(ifMatch)*len(holdFor)*len(amounts))
	for _, m := range ifMatch {
		for _, h := range holdFor {
			for _, a := range amounts {
				c.IfMatch, c.HoldFor, c.Amount = m, time.Duration(h), a
				out2 = append(out2, c)
			}
		}
	}
	return out2, nil
}

// entryMatches reports whether the stored entry is the replayed one (en,
// leaving the account a): what entryTexts compares, without formatting it.
func entryMatches(e *storedEntry, en *ledger.Entry, a *ledger.Account) bool {
	return e.version == en.Version && e.commandID == en.CommandID && e.kind == string(en.Kind) &&
		e.amount == en.Amount && e.balanceAfter == en.BalanceAfter &&
		(e.statusAfter == nil || *e.statusAfter == string(a.Status)) &&
		(e.heldAfter == nil || *e.heldAfter == a.Held) &&
		(e.inFlightAfter == nil || *e.inFlightAfter == a.InFlight) &&
		(e.overdraftAfter == nil || *e.overdraftAfter == a.OverdraftLimit)
}

// accountMatches reports whether two account states are equal in what
// accountText shows.
func accountMatches(a, b ledger.Account) bool {
	return a.Currency == b.Currency && a.Balance == b.Balance && a.Held == b.Held && a.InFlight == b.InFlight &&
		a.OverdraftLimit == b.OverdraftLimit && a.Status == b.Status && a.Version == b.Version
}

// entryTexts describe the stored entry and the replayed one the same way,
// the state columns only where the stored row has them (rows written before
// migration 0008 have none), so that comparing the texts compares the
// entries.
func entryTexts(e *storedEntry, en *ledger.Entry, a *ledger.Account) (got, want string) {
	got = fmt.Sprintf("v%d entry %s %s of %d, balance_after %d", e.version, e.commandID, e.kind, e.amount, e.balanceAfter)
	want = fmt.Sprintf("v%d entry %s %s of %d, balance_after %d", en.Version, en.CommandID, en.Kind, en.Amount, en.BalanceAfter)
	if e.statusAfter != nil {
		got += ", status_after " + *e.statusAfter
		want += ", status_after " + string(a.Status)
	}
	for _, c := range []struct {
		name string
		got  *int64
		want int64
	}{{"held_after", e.heldAfter, a.Held}, {"in_flight_after", e.inFlightAfter, a.InFlight}, {"overdraft_limit_after", e.overdraftAfter, a.OverdraftLimit}} {
		if c.got != nil {
			got += fmt.Sprintf(", %s %d", c.name, *c.got)
			want += fmt.Sprintf(", %s %d", c.name, c.want)
		}
	}
	return got, want
}

func accountText(a ledger.Account) string {
	return fmt.Sprintf("%s balance %d, held %d, in_flight %d, overdraft_limit %d, status %s, version %d",
		a.Currency, a.Balance, a.Held, a.InFlight, a.OverdraftLimit, a.Status, a.Version)
}

// outcomeText describes the parts of an outcome the replay compares: the
// account after (except for a transfer, whose stored outcome is replaced
// by the saga's final one), and the hold or transfer.
func outcomeText(kind ledger.Kind, o ledger.Outcome) string {
	var b strings.Builder
	if o.Account != nil && kind != ledger.KindTransfer {
		b.WriteString("account " + accountText(*o.Account))
	}
	if h := o.Hold; h != nil {
		fmt.Fprintf(&b, " hold %s of %d, captured %d, %s, created %s, expires %s", h.ID, h.Amount, h.Captured, h.Status,
			h.CreatedAt.UTC().Format(time.RFC3339Nano), h.ExpiresAt.UTC().Format(time.RFC3339Nano))
		if h.SettledAt != nil {
			b.WriteString(", settled " + h.SettledAt.UTC().Format(time.RFC3339Nano))
		}
	}
	if t := o.Transfer; t != nil {
		fmt.Fprintf(&b, " transfer %s %s->%s of %d %s, created %s", t.ID, t.From, t.To, t.Amount, t.Currency, t.CreatedAt.UTC().Format(time.RFC3339Nano))
		if kind != ledger.KindTransfer {
			fmt.Fprintf(&b, ", %s %s", t.Status, t.Reason)
			if t.CompletedAt != nil {
				b.WriteString(", completed " + t.CompletedAt.UTC().Format(time.RFC3339Nano))
			}
		}
	}
	return b.String()
}
