package main

import (
	"context"
	"fmt"
	"net/http"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kgo"

	"github.com/ordo-dev/ordo/wire"
)

// TestAbortedTransactionsNotApplied: a transactional Kafka producer that
// writes a withdrawal and aborts has submitted nothing; one that commits
// has. HTTP commands on the same account, before, between and after the
// transactions, apply in log order.
func TestAbortedTransactionsNotApplied(t *testing.T) {
	e := newEnv(t, 2)
	a := e.startAPI()
	e.startConsumer()
	e.waitClaimed()
	openAccount(t, a, "alice", 100)

	cl, err := kgo.NewClient(kgo.SeedBrokers(e.opts.Brokers...), kgo.DefaultProduceTopic(e.opts.CommandsTopic),
		kgo.TransactionalID(e.opts.CommandsTopic+"-txn"))
	if err != nil {
		t.Fatal(err)
	}
	defer cl.Close()
	ctx := context.Background()
	// txn produces a withdrawal in a transaction and ends it; during the
	// open transaction, an HTTP deposit of 10 on the same account is sent.
	txn := func(id string, amount int64, end kgo.TransactionEndTry) response {
		t.Helper()
		if err := cl.BeginTransaction(); err != nil {
			t.Fatal(err)
		}
		rec := &kgo.Record{Key: []byte("alice"), Value: fmt.Appendf(nil, `{"v":1,"kind":"withdrawal","account_id":"alice","amount":%d}`, amount),
			Headers: []kgo.RecordHeader{{Key: wire.HeaderCommandID, Value: []byte(id)}}}
		if err := cl.ProduceSync(ctx, rec).FirstErr(); err != nil {
			t.Fatal(err)
		}
		deposit := make(chan response, 1)
		go func() { deposit <- post(t, a+"/v1/accounts/alice/deposits", `{"amount":10}`, nil) }()
		// Give the deposit time to land in the log behind the open
		// transaction (it cannot be decided before the transaction ends).
		waitFor(t, 10*time.Second, func() bool {
			return e.logEnd(rec.Partition) > rec.Offset+1
		})
		if err := cl.EndTransaction(ctx, end); err != nil {
			t.Fatal(err)
		}
		return <-deposit
	}

	if r := txn("txn-aborted", 60, kgo.TryAbort); r.Status != http.StatusOK || r.Account == nil || r.Account.Balance != 110 {
		t.Fatalf("deposit after the aborted withdrawal: got %d %s, want 200 with balance 110", r.Status, r.Raw)
	}
	if r := txn("txn-committed", 30, kgo.TryCommit); r.Status != http.StatusOK || r.Account == nil || r.Account.Balance != 90 {
		t.Fatalf("deposit after the committed withdrawal of 30: got %d %s, want 200 with balance 90", r.Status, r.Raw)
	}
	if r := post(t, a+"/v1/accounts/alice/withdrawals", `{"amount":5}`, nil); r.Status != http.StatusOK || r.Account == nil || r.Account.Balance != 85 {
		t.Fatalf("withdrawal after both transactions: got %d %s, want 200 with balance 85", r.Status, r.Raw)
	}
	if g := do(t, http.MethodGet, a+"/v1/commands/txn-aborted", "", nil); g.Status != http.StatusNotFound {
		t.Errorf("aborted command: got %d %s, want 404 (never submitted)", g.Status, g.Raw)
	}
	if g := do(t, http.MethodGet, a+"/v1/commands/txn-committed", "", nil); g.Status != http.StatusOK || g.State != "applied" {
		t.Errorf("committed command: got %d %s, want 200 applied", g.Status, g.Raw)
	}
	if bal, _ := e.balance("alice"); bal != 85 {
		t.Fatalf("got balance %d, want 85", bal)
	}
	e.auditLedger()
}

// logEnd is a commands partition's high watermark (uncommitted records
// included), or -1 when it cannot be read.
func (e *env) logEnd(partition int32) int64 {
	e.t.Helper()
	cl, err := kgo.NewClient(kgo.SeedBrokers(e.opts.Brokers...))
	if err != nil {
		e.t.Fatal(err)
	}
	defer cl.Close()
	ends, err := kadm.NewClient(cl).ListEndOffsets(context.Background(), e.opts.CommandsTopic)
	if err != nil {
		return -1
	}
	o, ok := ends.Lookup(e.opts.CommandsTopic, partition)
	if !ok || o.Err != nil {
		return -1
	}
	return o.Offset
}
