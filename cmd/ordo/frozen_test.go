package main

import (
	"context"
	"fmt"
	"net/http"
	"sync"
	"syscall"
	"testing"
	"time"
)

// TestConsumerFrozenMidTransaction: an `ordo consumer` process is stopped
// (SIGSTOP) inside a batch transaction, holding its partition rows locked,
// and stays stopped. Postgres ends its session after
// --db-idle-in-transaction-timeout, so the consumer that takes over claims
// every partition and applies the commands sent meanwhile; when the frozen
// one wakes it commits nothing, and every command applied exactly once.
func TestConsumerFrozenMidTransaction(t *testing.T) {
	e := newEnv(t, 2)
	// The child process reads these; --cache-accounts 1 sends most
	// batches the locked way, whose two round trips leave the transaction
	// idle in between.
	t.Setenv("ORDO_DB_IDLE_IN_TRANSACTION_TIMEOUT", "2s")
	t.Setenv("ORDO_CACHE_ACCOUNTS", "1")
	base := e.startAPI()
	victim := e.startConsumerProcess()
	e.waitClaimed()
	var accounts []string
	for i := range 12 {
		accounts = append(accounts, fmt.Sprint("fz", i))
		openAccount(t, base, accounts[i], 100)
	}

	// Load: keyed deposits, each retried until decided, until stopped.
	var (
		mu      sync.Mutex
		all     []sent
		frozeAt time.Time
		after   = map[string]bool{} // accounts with a deposit decided after the freeze
		wg      sync.WaitGroup
	)
	stop := make(chan struct{})
	deadline := time.Now().Add(3 * time.Minute)
	for w := range 4 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := 0; ; i++ {
				select {
				case <-stop:
					return
				default:
				}
				s := sent{account: accounts[(w*5+i)%len(accounts)], key: fmt.Sprintf("fz-w%d-%d", w, i), amount: int64(1 + i%9)}
				began := time.Now()
				s.res = decided(t, base+"/v1/accounts/"+s.account+"/deposits", fmt.Sprintf(`{"amount":%d}`, s.amount), s.key, deadline)
				mu.Lock()
				all = append(all, s)
				if !frozeAt.IsZero() && began.After(frozeAt) && s.res.Status == http.StatusOK {
					after[s.account] = true
				}
				mu.Unlock()
			}
		}()
	}
	stopLoad := sync.OnceFunc(func() { close(stop); wg.Wait() })
	defer stopLoad()

	// Freeze the consumer while one of its sessions is idle inside a
	// transaction: stop it, look, and let it go on if it was not.
	inTx := func() bool {
		var n int
		err := e.pool.QueryRow(context.Background(), `SELECT count(*) FROM pg_stat_activity
			WHERE datname = current_database() AND state = 'idle in transaction' AND pid <> pg_backend_pid()`).Scan(&n)
		return err == nil && n > 0
	}
	frozen := false
	for try := 0; try < 2000 && !frozen; try++ {
		if err := victim.Process.Signal(syscall.SIGSTOP); err != nil {
			t.Fatal(err)
		}
		time.Sleep(10 * time.Millisecond) // let the stop land: what the server shows then stays
		if frozen = inTx(); !frozen {
			_ = victim.Process.Signal(syscall.SIGCONT)
			time.Sleep(time.Duration(try%7) * time.Millisecond)
		}
	}
	if !frozen {
		t.Fatal("never caught the consumer inside a transaction")
	}
	defer func() { _ = victim.Process.Signal(syscall.SIGCONT) }()
	mu.Lock()
	frozeAt = time.Now()
	mu.Unlock()

	e.startConsumer()
	// Liveness, not speed: without the timeout the frozen transaction
	// keeps its partitions' rows locked for as long as it stays frozen.
	waitFor(t, 90*time.Second, func() bool {
		mu.Lock()
		defer mu.Unlock()
		return len(after) == len(accounts)
	})
	if err := victim.Process.Signal(syscall.SIGCONT); err != nil {
		t.Fatal(err)
	}
	// The woken consumer's batch fails and its retry is fenced: more load
	// with it awake, then every command applied once.
	mu.Lock()
	n := len(all)
	mu.Unlock()
	waitFor(t, 60*time.Second, func() bool {
		mu.Lock()
		defer mu.Unlock()
		return len(all) >= n+40
	})
	stopLoad()
	e.checkDeposits(all, accounts, 100)
}
