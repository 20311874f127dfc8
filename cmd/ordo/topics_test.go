package main

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"net/http"
	"os/exec"
	"strings"
	"testing"
	"time"

	"github.com/google/uuid"
	"github.com/twmb/franz-go/pkg/kgo"

	"github.com/ordo-dev/ordo/ledger"
	"github.com/ordo-dev/ordo/ledger/postgres"
	"github.com/ordo-dev/ordo/producer"
	"github.com/ordo-dev/ordo/topics"
	"github.com/ordo-dev/ordo/wire"
)

// TestRolesRefuseMissingTopics: without --create-topics the API and the
// consumer refuse to start on missing topics, saying how to create them;
// `ordo topics create` creates them as specified, after which both start
// and `ordo topics check` passes.
func TestRolesRefuseMissingTopics(t *testing.T) {
	e := newEnv(t, 3)
	e.opts.CreateTopics = false
	ctx := context.Background()
	if _, err := NewAPI(ctx, e.opts, e.log); !errors.Is(err, topics.ErrMissing) || !strings.Contains(err.Error(), "ordo topics create") {
		t.Fatalf("NewAPI on missing topics: %v, want topics.ErrMissing naming `ordo topics create`", err)
	}
	if _, err := NewConsumer(ctx, e.opts, e.log); !errors.Is(err, topics.ErrMissing) {
		t.Fatalf("NewConsumer on missing topics: %v, want topics.ErrMissing", err)
	}
	flags := []string{"--brokers", strings.Join(e.opts.Brokers, ","), "--commands-topic", e.opts.CommandsTopic,
		"--replies-topic", e.opts.RepliesTopic, "--events-topic", e.opts.EventsTopic, "--partitions", "3", "--reply-partitions", "2", "--commands-retention", "48h"}
	ordo := func(args ...string) (string, error) {
		out, err := exec.Command(ordoBin, append(args, flags...)...).CombinedOutput()
		return string(out), err
	}
	if out, err := ordo("topics", "check"); err == nil || !strings.Contains(out, "does not exist") {
		t.Fatalf("ordo topics check before create: err %v, output:\n%s", err, out)
	}
	out, err := ordo("topics", "create")
	if err != nil {
		t.Fatalf("ordo topics create: %v\n%s", err, out)
	}
	// TOPIC PARTITIONS REPLICAS MIN_ISR RETENTION CLEANUP PROBLEMS
	for _, want := range []string{e.opts.CommandsTopic + "  3 ", "48h0m0s", "1h0m0s", "delete"} {
		if !strings.Contains(out, want) {
			t.Errorf("ordo topics create output lacks %q:\n%s", want, out)
		}
	}
	if out, err := ordo("topics", "check"); err != nil {
		t.Fatalf("ordo topics check after create: %v\n%s", err, out)
	}
	// Asking for a longer retention than the topic has is a problem.
	if out, err := exec.Command(ordoBin, append(append([]string{"topics", "check"}, flags...), "--commands-retention", "96h")...).CombinedOutput(); err == nil || !strings.Contains(string(out), "retention.ms 172800000, want at least 345600000") {
		t.Fatalf("ordo topics check with a longer retention wanted: err %v, output:\n%s", err, out)
	}
	e.opts.Partitions, e.opts.ReplyPartitions = 3, 2
	base := e.startAPI()
	e.startConsumer()
	openAccount(t, base, "topics-created", 5)
}

// TestRepartition changes the partition count of a running deployment with
// `ordo topics repartition`: it refuses while consumers run and while a
// command is not applied, then adds the partitions and records the count;
// the roles start on the new count, every account (most of them moved to
// another partition) goes on from its balance, and the ledger verifies.
func TestRepartition(t *testing.T) {
	e := newEnv(t, 4)
	ctx := context.Background()
	apiCtx, stopAPI := context.WithCancel(ctx)
	a, err := NewAPI(apiCtx, e.opts, e.log)
	if err != nil {
		t.Fatal(err)
	}
	apiDone := make(chan struct{})
	go func() { defer close(apiDone); _ = a.Run(apiCtx) }()
	_, stopConsumer := e.startConsumer()
	base := "http://" + a.Addr()
	const accounts = 24
	for i := range accounts {
		openAccount(t, base, fmt.Sprintf("rp-%d", i), 100)
	}
	stopAPI()
	<-apiDone
	a.Close()

	adm, err := newAdmin(e.opts)
	if err != nil {
		t.Fatal(err)
	}
	defer adm.Close()
	store, err := postgres.Open(ctx, e.opts.DatabaseURL, postgres.Options{MaxConns: 2})
	if err != nil {
		t.Fatal(err)
	}
	defer store.Close()
	repartition := func(to int32, dryRun bool) (string, error) {
		var out bytes.Buffer
		err := repartitionTopics(ctx, &out, e.opts, adm, store, to, dryRun)
		return out.String(), err
	}

	if _, err := repartition(8, false); err == nil || !strings.Contains(err.Error(), "stop every consumer") {
		t.Fatalf("repartition with a consumer running: %v, want a refusal", err)
	}
	stopConsumer()
	// A command that reaches the log with no consumer to apply it (an API
	// instance still running) must stop the change.
	p, err := producer.New(producer.Config{Brokers: e.opts.Brokers, Topic: e.opts.CommandsTopic, Logger: e.log})
	if err != nil {
		t.Fatal(err)
	}
	defer p.Close()
	if _, err := p.Submit(ctx, ledger.Command{ID: uuid.NewString(), Kind: ledger.KindDeposit, AccountID: "rp-0", Amount: 7}, wire.Route{}); err != nil {
		t.Fatal(err)
	}
	if _, err := repartition(8, false); err == nil || !strings.Contains(err.Error(), "not drained") {
		t.Fatalf("repartition with a command not applied: %v, want a refusal", err)
	}
	// Drain: a consumer applies it, then stops.
	_, stopConsumer = e.startConsumer()
	waitFor(t, 60*time.Second, func() bool { b, _ := e.balance("rp-0"); return b == 107 })
	stopConsumer()

	if out, err := repartition(8, true); err != nil || !strings.Contains(out, "dry run") {
		t.Fatalf("dry run: %v\n%s", err, out)
	}
	if n, _, _ := store.RecordedPartitionCount(ctx, e.opts.CommandsTopic); n != 4 {
		t.Fatalf("a dry run changed the recorded count to %d", n)
	}
	if _, err := repartition(2, false); err == nil || !strings.Contains(err.Error(), "cannot lower") {
		t.Fatalf("repartition to fewer partitions: %v, want a refusal", err)
	}
	out, err := repartition(8, false)
	if err != nil {
		t.Fatalf("repartition: %v\n%s", err, out)
	}
	if n, _, _ := store.RecordedPartitionCount(ctx, e.opts.CommandsTopic); n != 8 {
		t.Fatalf("recorded count %d after repartition, want 8", n)
	}
	if out, err := repartition(8, false); err != nil || !strings.Contains(out, "nothing to do") {
		t.Fatalf("repartition again: %v\n%s", err, out)
	}

	// The roles start on the new count; every account goes on.
	e.opts.Partitions = 8
	base = e.startAPI()
	e.startConsumer()
	moved := 0
	for i := range accounts {
		id := fmt.Sprintf("rp-%d", i)
		if partitionOf(id, 4) != partitionOf(id, 8) {
			moved++
		}
		if r := post(t, base+"/v1/accounts/"+id+"/withdrawals", `{"amount":30}`, nil); r.Status != http.StatusOK {
			t.Fatalf("withdraw from %s after repartition: %d %s", id, r.Status, r.Raw)
		}
	}
	if moved == 0 {
		t.Fatal("no account moved partition: the test proves nothing")
	}
	for i := range accounts {
		want := int64(70)
		if i == 0 {
			want = 77
		}
		if b, _ := e.balance(fmt.Sprintf("rp-%d", i)); b != want {
			t.Errorf("rp-%d: balance %d, want %d", i, b, want)
		}
	}
	e.auditLedger()
	t.Logf("%d of %d accounts moved partition", moved, accounts)
}

// partitionOf is the partition the producer picks for an account among n.
func partitionOf(account string, n int) int {
	return wire.Partitioner().ForTopic("t").Partition(&kgo.Record{Key: []byte(account)}, n)
}
