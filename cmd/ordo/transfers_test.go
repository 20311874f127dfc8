package main

import (
	"context"
	"encoding/json"
	"fmt"
	"math/rand/v2"
	"net/http"
	"sync"
	"sync/atomic"
	"syscall"
	"testing"
	"time"
)

type transferAnswer struct {
	Transfer struct {
		ID     string `json:"id"`
		Status string `json:"status"`
		Reason string `json:"reason"`
	} `json:"transfer"`
}

func transferOf(t testing.TB, r response) transferAnswer {
	t.Helper()
	var a transferAnswer
	if err := json.Unmarshal(r.Raw, &a); err != nil || a.Transfer.ID == "" {
		t.Fatalf("got %d %s, want a transfer in the answer", r.Status, r.Raw)
	}
	return a
}

// moneyTotals are the sums that must balance: the balances plus the money
// in flight, against the opening balances plus deposits minus withdrawals.
func (e *env) moneyTotals() (balances, inFlight int64) {
	e.t.Helper()
	if err := e.pool.QueryRow(context.Background(), `SELECT coalesce(sum(balance), 0), coalesce(sum(in_flight), 0) FROM accounts`).Scan(&balances, &inFlight); err != nil {
		e.t.Fatal(err)
	}
	return balances, inFlight
}

// transferLoad runs count random transfers among accounts, from workers
// clients through the APIs, with deposits and withdrawals mixed in (one in
// five). It returns the net external money (deposits minus withdrawals) and
// each transfer's final answer by its transfer ID. step, if set, runs after
// each command.
func (e *env) transferLoad(apis, accounts []string, workers, count int, step func(n int64)) (external int64, answers map[string]string) {
	t := e.t
	var (
		mu   sync.Mutex
		done atomic.Int64
		wg   sync.WaitGroup
	)
	answers = map[string]string{}
	deadline := time.Now().Add(4 * time.Minute)
	for w := range workers {
		wg.Add(1)
		go func() {
			defer wg.Done()
			rng := rand.New(rand.NewPCG(uint64(w), 7))
			for i := 0; i < count/workers && time.Now().Before(deadline); i++ {
				api := apis[(w+i)%len(apis)]
				key := fmt.Sprintf("w%d-%d", w, i)
				from := accounts[rng.IntN(len(accounts))]
				amount := int64(1 + rng.IntN(20))
				switch rng.IntN(10) {
				case 0:
					if r := decided(t, api+"/v1/accounts/"+from+"/deposits", fmt.Sprintf(`{"amount":%d}`, amount), key, deadline); r.Status == http.StatusOK {
						mu.Lock()
						external += amount
						mu.Unlock()
					}
				case 1:
					if r := decided(t, api+"/v1/accounts/"+from+"/withdrawals", fmt.Sprintf(`{"amount":%d}`, amount), key, deadline); r.Status == http.StatusOK {
						mu.Lock()
						external -= amount
						mu.Unlock()
					}
				default:
					to := accounts[rng.IntN(len(accounts))]
					if to == from {
						to = accounts[(rng.IntN(len(accounts)-1)+1+indexOf(accounts, from))%len(accounts)]
					}
					r := decided(t, api+"/v1/transfers", fmt.Sprintf(`{"from":%q,"to":%q,"amount":%d,"currency":"USD"}`, from, to, amount), key, deadline)
					switch r.Status {
					case http.StatusOK:
						a := transferOf(t, r)
						mu.Lock()
						answers[a.Transfer.ID] = a.Transfer.Status
						mu.Unlock()
					case http.StatusUnprocessableEntity:
						if r.Code != "insufficient_funds" {
							t.Errorf("transfer %s: got %d %s", key, r.Status, r.Raw)
						}
					default:
						t.Errorf("transfer %s: got %d %s", key, r.Status, r.Raw)
					}
				}
				if step != nil {
					step(done.Add(1))
				}
			}
		}()
	}
	wg.Wait()
	return external, answers
}

func indexOf(s []string, v string) int {
	for i, x := range s {
		if x == v {
			return i
		}
	}
	return -1
}

// checkTransfers waits until no money is in flight, then checks that money
// was conserved and every answer matches the transfer's final state.
func (e *env) checkTransfers(opening, external int64, answers map[string]string) {
	e.t.Helper()
	waitFor(e.t, 90*time.Second, func() bool { _, f := e.moneyTotals(); return f == 0 })
	balances, _ := e.moneyTotals()
	if balances != opening+external {
		e.t.Errorf("got balances summing to %d, want %d (opening %d + external %d): money was created or destroyed", balances, opening+external, opening, external)
	}
	for id, status := range answers {
		var stored string
		if err := e.pool.QueryRow(context.Background(), `SELECT status FROM transfers WHERE id = $1`, id).Scan(&stored); err != nil || stored != status {
			e.t.Errorf("transfer %s: answered %s, stored %q (%v)", id, status, stored, err)
		}
	}
	var pending int
	_ = e.pool.QueryRow(context.Background(), `SELECT count(*) FROM transfers WHERE status = 'pending'`).Scan(&pending)
	if pending != 0 {
		e.t.Errorf("%d transfers still pending with nothing in flight", pending)
	}
	e.auditLedger()
}

func openMany(t *testing.T, api string, n int, balance int64) []string {
	t.Helper()
	accounts := make([]string, n)
	for i := range accounts {
		accounts[i] = fmt.Sprintf("acct-%02d", i)
		openAccount(t, api, accounts[i], balance)
	}
	return accounts
}

// TestTransfersConserveMoney: 2,000 random commands (four in five
// transfers) among 50 accounts on every partition, from 16 clients through
// two API instances: money is conserved, no leg is applied twice, and every
// answer matches the final state.
func TestTransfersConserveMoney(t *testing.T) {
	e := newEnv(t, 12)
	apis := []string{e.startAPI(), e.startAPI()}
	e.startConsumer()
	e.waitClaimed()
	accounts := openMany(t, apis[0], 50, 100)
	started := time.Now()
	external, answers := e.transferLoad(apis, accounts, 16, 2000, nil)
	t.Logf("%d transfers answered in %s", len(answers), time.Since(started).Round(time.Millisecond))
	if len(answers) < 1000 {
		t.Fatalf("got %d transfers answered, want most of 1600", len(answers))
	}
	e.checkTransfers(50*100, external, answers)
}

// TestTransfersSurviveConsumerKill: the same load, while one of two
// consumer processes is SIGKILLed and another started.
func TestTransfersSurviveConsumerKill(t *testing.T) {
	e := newEnv(t, 6)
	apis := []string{e.startAPI(), e.startAPI()}
	victim := e.startConsumerProcess()
	e.startConsumerProcess()
	e.waitClaimed()
	accounts := openMany(t, apis[0], 20, 100)
	var once sync.Once
	external, answers := e.transferLoad(apis, accounts, 8, 600, func(n int64) {
		if n == 150 {
			once.Do(func() {
				_ = victim.Process.Signal(syscall.SIGKILL)
				_, _ = victim.Process.Wait()
				e.startConsumerProcess()
			})
		}
	})
	e.checkTransfers(20*100, external, answers)
}

// TestTransferToMissingAccountRefunded: a transfer to an account that does
// not exist is refunded exactly once and answered refunded.
func TestTransferToMissingAccountRefunded(t *testing.T) {
	e := newEnv(t, 4)
	a := e.startAPI()
	e.startConsumer()
	e.waitClaimed()
	openAccount(t, a, "payer", 100)
	r := post(t, a+"/v1/transfers", `{"from":"payer","to":"nobody","amount":40,"currency":"USD"}`, map[string]string{"Idempotency-Key": "refund-me"})
	ans := transferOf(t, r)
	if r.Status != http.StatusOK || ans.Transfer.Status != "refunded" || ans.Transfer.Reason != "account_not_found" {
		t.Fatalf("got %d %s, want 200 refunded (account_not_found)", r.Status, r.Raw)
	}
	again := post(t, a+"/v1/transfers", `{"from":"payer","to":"nobody","amount":40,"currency":"USD"}`, map[string]string{"Idempotency-Key": "refund-me"})
	if again.Status != http.StatusOK || transferOf(t, again).Transfer.ID != ans.Transfer.ID {
		t.Fatalf("retry: got %d %s, want the same refunded transfer", again.Status, again.Raw)
	}
	g := do(t, http.MethodGet, a+"/v1/transfers/"+ans.Transfer.ID, "", nil)
	var doc struct {
		Transfer struct {
			Status string            `json:"status"`
			Legs   []json.RawMessage `json:"legs"`
		} `json:"transfer"`
	}
	if err := json.Unmarshal(g.Raw, &doc); err != nil || doc.Transfer.Status != "refunded" || len(doc.Transfer.Legs) != 3 {
		t.Fatalf("GET: got %d %s, want refunded with 3 legs", g.Status, g.Raw)
	}
	if bal, _ := e.balance("payer"); bal != 100 {
		t.Fatalf("got balance %d, want 100 after the refund", bal)
	}
	e.auditLedger()
}

// TestOppositeTransfers: A->B and B->A at once, many times: no deadlock,
// every transfer completes.
func TestOppositeTransfers(t *testing.T) {
	e := newEnv(t, 4)
	apis := []string{e.startAPI(), e.startAPI()}
	e.startConsumer()
	e.waitClaimed()
	openAccount(t, apis[0], "left", 1000)
	openAccount(t, apis[0], "right", 1000)
	var completed atomic.Int64
	concurrently(40, func(i int) {
		from, to := "left", "right"
		if i%2 == 1 {
			from, to = to, from
		}
		r := decided(t, apis[i%2]+"/v1/transfers", fmt.Sprintf(`{"from":%q,"to":%q,"amount":5,"currency":"USD"}`, from, to), fmt.Sprintf("x-%d", i), time.Now().Add(time.Minute))
		if r.Status == http.StatusOK && transferOf(t, r).Transfer.Status == "completed" {
			completed.Add(1)
		} else {
			t.Errorf("transfer %d: got %d %s", i, r.Status, r.Raw)
		}
	})
	l, _ := e.balance("left")
	rt, _ := e.balance("right")
	if completed.Load() != 40 || l != 1000 || rt != 1000 {
		t.Fatalf("got %d completed, balances %d and %d; want 40, 1000 and 1000", completed.Load(), l, rt)
	}
	e.auditLedger()
}
