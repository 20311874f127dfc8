package main

import (
	"context"
	"fmt"
	"math/rand/v2"
	"net/http"
	"sync"
	"testing"
	"time"
)

// auditLedger checks the ledger's invariants in Postgres: per account,
// versions are 1..N with no gaps or repeats, the journal sums to the balance,
// and the last entry's balance is the account's; no command has more than
// one journal entry; every entry's command is recorded as applied.
func (e *env) auditLedger() {
	e.t.Helper()
	ctx := context.Background()
	rows, err := e.pool.Query(ctx, `
		SELECT a.id, a.balance, a.version, count(en.version), coalesce(sum(en.amount), 0),
		       coalesce(min(en.version), 0), coalesce(max(en.version), 0),
		       coalesce((SELECT balance_after FROM entries WHERE account_id = a.id ORDER BY version DESC LIMIT 1), 0)
		FROM accounts a LEFT JOIN entries en ON en.account_id = a.id
		GROUP BY a.id, a.balance, a.version`)
	if err != nil {
		e.t.Fatal(err)
	}
	defer rows.Close()
	for rows.Next() {
		var (
			id                               string
			balance, version, n, sum, lo, hi int64
			last                             int64
		)
		if err := rows.Scan(&id, &balance, &version, &n, &sum, &lo, &hi, &last); err != nil {
			e.t.Fatal(err)
		}
		if n != version || lo != 1 || hi != version {
			e.t.Errorf("account %s: version %d but entries %d..%d (%d rows): want 1..version, contiguous", id, version, lo, hi, n)
		}
		if sum != balance || last != balance {
			e.t.Errorf("account %s: balance %d but entries sum to %d, last balance_after %d", id, balance, sum, last)
		}
	}
	var dup int
	if err := e.pool.QueryRow(ctx, `SELECT count(*) FROM (SELECT command_id FROM entries GROUP BY command_id HAVING count(*) > 1) d`).Scan(&dup); err != nil {
		e.t.Fatal(err)
	}
	if dup != 0 {
		e.t.Errorf("%d commands have more than one journal entry", dup)
	}
	var orphan int
	if err := e.pool.QueryRow(ctx, `SELECT count(*) FROM entries en LEFT JOIN commands c USING (command_id)
		WHERE c.command_id IS NULL OR c.status <> 'applied'`).Scan(&orphan); err != nil {
		e.t.Fatal(err)
	}
	if orphan != 0 {
		e.t.Errorf("%d journal entries have no applied command", orphan)
	}
	// Holds: an account's held amount is the sum of its open holds, and no
	// hold was settled by more than one applied command.
	var heldOff int
	if err := e.pool.QueryRow(ctx, `SELECT count(*) FROM accounts a
		WHERE a.held <> coalesce((SELECT sum(amount) FROM holds h WHERE h.account_id = a.id AND h.status = 'open'), 0)`).Scan(&heldOff); err != nil {
		e.t.Fatal(err)
	}
	if heldOff != 0 {
		e.t.Errorf("%d accounts hold another amount than the sum of their open holds", heldOff)
	}
	var twice int
	if err := e.pool.QueryRow(ctx, `SELECT count(*) FROM (SELECT outcome->'hold'->>'id' FROM commands
		WHERE status = 'applied' AND kind IN ('capture', 'release', 'expire_hold') GROUP BY 1 HAVING count(*) > 1) d`).Scan(&twice); err != nil {
		e.t.Fatal(err)
	}
	if twice != 0 {
		e.t.Errorf("%d holds were settled more than once", twice)
	}
	e.auditTransfers()
	e.auditJournal()
}

// auditJournal checks the double entry: per currency the entries, their
// external sides and the money in flight sum to zero, and every entry of a
// deposit, withdrawal or capture that moves money has exactly its mirror
// (the opposite amount, its currency and counterparty), nothing else.
func (e *env) auditJournal() {
	e.t.Helper()
	ctx := context.Background()
	var unbalanced int
	if err := e.pool.QueryRow(ctx, `SELECT count(*) FROM (SELECT currency FROM (
			SELECT a.currency, en.amount FROM entries en JOIN accounts a ON a.id = en.account_id
			UNION ALL SELECT currency, amount FROM external_entries
			UNION ALL SELECT currency, in_flight FROM accounts) u
		GROUP BY currency HAVING sum(amount) <> 0) d`).Scan(&unbalanced); err != nil {
		e.t.Fatal(err)
	}
	if unbalanced != 0 {
		e.t.Errorf("%d currencies' journals do not sum to zero", unbalanced)
	}
	var unmirrored int
	if err := e.pool.QueryRow(ctx, `SELECT count(*) FROM entries en
		JOIN accounts a ON a.id = en.account_id
		FULL JOIN external_entries x ON x.account_id = en.account_id AND x.version = en.version
		WHERE (en.kind IN ('deposit', 'withdrawal', 'capture') AND en.amount <> 0
		       AND (x.account_id IS NULL OR x.amount <> -en.amount OR x.currency <> a.currency OR x.counterparty <> en.counterparty))
		   OR (x.account_id IS NOT NULL AND (en.account_id IS NULL OR en.kind NOT IN ('deposit', 'withdrawal', 'capture') OR en.amount = 0))`).Scan(&unmirrored); err != nil {
		e.t.Fatal(err)
	}
	if unmirrored != 0 {
		e.t.Errorf("%d journal entries lack their external side, or external entries their entry", unmirrored)
	}
}

// auditTransfers checks the transfer invariants: an account's in_flight is
// the sum of its pending outgoing transfers; a completed transfer has
// exactly one credit and no refund, a refunded one one refund and no
// credit, a pending one neither; no leg appears twice.
func (e *env) auditTransfers() {
	e.t.Helper()
	ctx := context.Background()
	var off int
	if err := e.pool.QueryRow(ctx, `SELECT count(*) FROM accounts a
		WHERE a.in_flight <> coalesce((SELECT sum(amount) FROM transfers t WHERE t.from_account = a.id AND t.status = 'pending'), 0)`).Scan(&off); err != nil {
		e.t.Fatal(err)
	}
	if off != 0 {
		e.t.Errorf("%d accounts have another amount in flight than their pending transfers", off)
	}
	var bad int
	if err := e.pool.QueryRow(ctx, `SELECT count(*) FROM transfers t,
		LATERAL (SELECT count(*) FILTER (WHERE en.command_id = 'credit:' || t.id AND en.amount = t.amount) AS credits,
		                count(*) FILTER (WHERE en.command_id = 'settle:' || t.id AND en.amount = t.amount) AS refunds,
		                count(*) FILTER (WHERE en.command_id = t.command_id AND en.amount = -t.amount) AS debits
		         FROM entries en WHERE en.command_id IN (t.command_id, 'credit:' || t.id, 'settle:' || t.id)) l
		WHERE l.debits <> 1
		   OR (t.status = 'completed' AND (l.credits <> 1 OR l.refunds <> 0))
		   OR (t.status = 'refunded' AND (l.credits <> 0 OR l.refunds <> 1))
		   OR (t.status = 'pending' AND l.refunds <> 0)`).Scan(&bad); err != nil {
		e.t.Fatal(err)
	}
	if bad != 0 {
		e.t.Errorf("%d transfers have legs that do not match their status", bad)
	}
}

func (e *env) balance(id string) (balance, version int64) {
	e.t.Helper()
	if err := e.pool.QueryRow(context.Background(), `SELECT balance, version FROM accounts WHERE id = $1`, id).Scan(&balance, &version); err != nil {
		e.t.Fatal(err)
	}
	return balance, version
}

// sent is one command of a load run and its final answer.
type sent struct {
	account string
	key     string
	amount  int64
	res     response
}

// deposits sends count deposits, keyed "<round>-w<worker>-<i>", from each of workers clients, spread over
// accounts and API instances, every one retried with its key until decided.
// progress, if set, is called after each decided command. It is bounded by
// count and by deadline.
func deposits(t *testing.T, round string, bases, accounts []string, workers, count int, deadline time.Time, progress func(done int)) []sent {
	t.Helper()
	var (
		mu   sync.Mutex
		out  []sent
		wg   sync.WaitGroup
		done int
	)
	for w := 0; w < workers; w++ {
		wg.Add(1)
		go func(w int) {
			defer wg.Done()
			rng := rand.New(rand.NewPCG(uint64(w), uint64(len(round))))
			for i := 0; i < count && time.Now().Before(deadline); i++ {
				s := sent{account: accounts[rng.IntN(len(accounts))], key: fmt.Sprintf("%s-w%d-%d", round, w, i), amount: int64(1 + rng.IntN(9))}
				base := bases[(w+i)%len(bases)]
				s.res = decided(t, base+"/v1/accounts/"+s.account+"/deposits", fmt.Sprintf(`{"amount":%d}`, s.amount), s.key, deadline)
				mu.Lock()
				out = append(out, s)
				done++
				n := done
				mu.Unlock()
				if progress != nil {
					progress(n)
				}
			}
		}(w)
	}
	wg.Wait()
	return out
}

// checkDeposits verifies a deposit run end to end: every command was applied
// exactly once (the balance is the opening balance plus exactly the sum the
// clients sent) and no two commands were answered with the same version.
func (e *env) checkDeposits(all []sent, accounts []string, opening int64) {
	e.t.Helper()
	want := map[string]int64{}
	versions := map[string]map[int64]string{}
	for _, a := range accounts {
		want[a] = opening
		versions[a] = map[int64]string{}
	}
	for _, s := range all {
		if s.res.Status != http.StatusOK || s.res.Account == nil {
			e.t.Errorf("deposit %s: got %d %s, want 200", s.key, s.res.Status, s.res.Raw)
			continue
		}
		want[s.account] += s.amount
		if other, ok := versions[s.account][s.res.Account.Version]; ok && other != s.res.CommandID {
			e.t.Errorf("account %s version %d answered for two commands: %s and %s", s.account, s.res.Account.Version, other, s.res.CommandID)
		}
		versions[s.account][s.res.Account.Version] = s.res.CommandID
	}
	for _, a := range accounts {
		if got, _ := e.balance(a); got != want[a] {
			e.t.Errorf("account %s: got balance %d, want %d (opening %d plus every deposit once)", a, got, want[a], opening)
		}
	}
	e.auditLedger()
}
