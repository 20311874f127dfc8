package main

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"slices"
	"syscall"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kgo"

	"github.com/ordo-dev/ordo/ledger"
	"github.com/ordo-dev/ordo/ledger/postgres"
	"github.com/ordo-dev/ordo/wire"
)

// TestConsumerKilledMidLoad: a consumer process is SIGKILLed while load
// runs and another starts; every command still applies exactly once.
func TestConsumerKilledMidLoad(t *testing.T) {
	e := newEnv(t, 4)
	apis := []string{e.startAPI(), e.startAPI()}
	victim := e.startConsumerProcess()
	e.waitClaimed()
	accounts := []string{"k0", "k1", "k2", "k3", "k4", "k5"}
	for _, a := range accounts {
		openAccount(t, apis[0], a, 500)
	}
	killed := make(chan struct{})
	var appliedBefore int64
	step := func(done int) {
		if done == 80 {
			// Commands are in flight at this moment: the clients keep sending.
			if err := victim.Process.Signal(syscall.SIGKILL); err != nil {
				t.Errorf("kill: %v", err)
			}
			_, _ = victim.Process.Wait()
			_ = e.pool.QueryRow(context.Background(), `SELECT count(*) FROM entries`).Scan(&appliedBefore)
			e.startConsumerProcess()
			close(killed)
		}
	}
	all := deposits(t, "load", apis, accounts, 6, 40, time.Now().Add(4*time.Minute), step)
	select {
	case <-killed:
	default:
		t.Fatal("the consumer was never killed")
	}
	if len(all) != 240 {
		t.Fatalf("sent %d commands, want 240", len(all))
	}
	e.checkDeposits(all, accounts, 500)
	var total int64
	_ = e.pool.QueryRow(context.Background(), `SELECT count(*) FROM entries`).Scan(&total)
	if appliedBefore <= int64(2*len(accounts)) || total <= appliedBefore {
		t.Fatalf("got %d entries before the kill and %d after: want progress on both sides", appliedBefore, total)
	}
}

// TestZombieConsumerCannotCommit: a running consumer whose partitions were
// claimed by another member (as after a rebalance it slept through) applies
// nothing more and drops them.
func TestZombieConsumerCannotCommit(t *testing.T) {
	e := newEnv(t, 2)
	e.opts.WaitBudget = 2 * time.Second
	a := e.startAPI()
	zombie, _ := e.startConsumer()
	e.waitClaimed()
	openAccount(t, a, "alice", 100)
	part := int32(zombie.proc.PartitionOf("alice"))

	store, err := postgres.Open(context.Background(), e.opts.DatabaseURL, postgres.Options{MaxConns: 2})
	if err != nil {
		t.Fatal(err)
	}
	defer store.Close()
	before, _ := store.Partitions(context.Background(), e.opts.CommandsTopic)
	for p := int32(0); p < 2; p++ {
		if _, err := store.ClaimPartition(context.Background(), e.opts.CommandsTopic, p, 1<<30, "new-owner", false, ""); err != nil {
			t.Fatal(err)
		}
	}
	r := post(t, a+"/v1/accounts/alice/withdrawals", `{"amount":100}`, nil)
	if r.Status != http.StatusAccepted || r.Header.Get("Location") != "/v1/commands/"+r.CommandID {
		t.Fatalf("got %d %s, want 202 with a Location: the zombie must not answer", r.Status, r.Raw)
	}
	// The zombie tried, was fenced, and dropped the partition.
	waitFor(t, 30*time.Second, func() bool { return !slices.Contains(zombie.proc.Owned(), part) })
	// It stays stopped, counted, and its claims are refused: the new owner's
	// generation is newer than any this member has.
	waitFor(t, 10*time.Second, func() bool { return zombie.proc.Stops()[part] == "stale_generation" })
	if bal, ver := e.balance("alice"); bal != 100 || ver != 2 {
		t.Fatalf("got balance %d version %d, want 100 and 2: the zombie committed", bal, ver)
	}
	after, _ := store.Partitions(context.Background(), e.opts.CommandsTopic)
	for i := range after {
		if after[i].NextOffset != before[i].NextOffset {
			t.Errorf("partition %d: stored offset moved from %d to %d under a zombie", i, before[i].NextOffset, after[i].NextOffset)
		}
	}
	if g := do(t, http.MethodGet, a+"/v1/commands/"+r.CommandID, "", nil); g.Status != http.StatusOK || g.State != "pending" {
		t.Errorf("got %d %s for the zombie's command, want 200 pending (never decided)", g.Status, g.Raw)
	}
}

// TestAcceptedThenApplied: with no consumer, a command is answered 202 after
// the wait budget; it applies once a consumer starts, and GET shows it.
func TestAcceptedThenApplied(t *testing.T) {
	e := newEnv(t, 2)
	e.opts.WaitBudget = 300 * time.Millisecond
	a := e.startAPI()
	r := post(t, a+"/v1/accounts", `{"id":"late","currency":"EUR"}`, nil)
	if r.Status != http.StatusAccepted || r.State != "pending" || r.Header.Get("Location") == "" {
		t.Fatalf("got %d %s, want 202 pending with a Location", r.Status, r.Raw)
	}
	if g := do(t, http.MethodGet, a+r.Header.Get("Location"), "", nil); g.Status != http.StatusOK || g.State != "pending" {
		t.Fatalf("before any consumer: got %d %s, want 200 pending", g.Status, g.Raw)
	}
	e.startConsumer()
	waitFor(t, 60*time.Second, func() bool {
		g := do(t, http.MethodGet, a+r.Header.Get("Location"), "", nil)
		return g.Status == http.StatusOK && g.State == "applied"
	})
	if g := do(t, http.MethodGet, a+"/v1/accounts/late", "", nil); g.Status != http.StatusOK || g.Header.Get("ETag") != `"1"` {
		t.Fatalf("got %d %s etag %q, want 200 with ETag \"1\"", g.Status, g.Raw, g.Header.Get("ETag"))
	}
}

// TestForeignRecords: records other clients produce are checked. An
// undecodable record and a misrouted one are recorded as rejected and do not
// block their partition; a well-formed one from any client applies.
func TestForeignRecords(t *testing.T) {
	e := newEnv(t, 4)
	a := e.startAPI()
	c, _ := e.startConsumer()
	e.waitClaimed()
	openAccount(t, a, "alice", 10)

	cl, err := kgo.NewClient(kgo.SeedBrokers(e.opts.Brokers...), kgo.DefaultProduceTopic(e.opts.CommandsTopic),
		kgo.RecordPartitioner(kgo.ManualPartitioner()))
	if err != nil {
		t.Fatal(err)
	}
	defer cl.Close()
	right := int32(c.proc.PartitionOf("alice"))
	wrong := (right + 1) % 4
	recs := []*kgo.Record{
		{Key: []byte("alice"), Partition: right, Value: []byte(`{not json`), Headers: []kgo.RecordHeader{{Key: wire.HeaderCommandID, Value: []byte("bad-json")}}},
		{Key: []byte("alice"), Partition: wrong, Value: []byte(`{"v":1,"kind":"deposit","account_id":"alice","amount":5}`), Headers: []kgo.RecordHeader{{Key: wire.HeaderCommandID, Value: []byte("misrouted")}}},
		{Key: []byte("bob"), Partition: right, Value: []byte(`{"v":1,"kind":"deposit","account_id":"alice","amount":5}`), Headers: []kgo.RecordHeader{{Key: wire.HeaderCommandID, Value: []byte("wrong-key")}}},
		// Keys Postgres text cannot hold must not fail the batch forever.
		{Key: []byte("al\x00ice"), Partition: right, Value: []byte(`{"v":1,"kind":"deposit","account_id":"alice","amount":5}`), Headers: []kgo.RecordHeader{{Key: wire.HeaderCommandID, Value: []byte("nul-key")}}},
		{Key: []byte("\xff\xfe"), Partition: right, Value: []byte("\x00\xff"), Headers: []kgo.RecordHeader{{Key: wire.HeaderCommandID, Value: []byte("bad-utf8")}}},
		{Key: []byte("alice"), Partition: right, Value: []byte(`{"v":1,"kind":"deposit","account_id":"alice","amount":7}`)},
	}
	if err := cl.ProduceSync(context.Background(), recs...).FirstErr(); err != nil {
		t.Fatal(err)
	}
	want := map[string]string{"bad-json": "invalid_command", "misrouted": "misrouted", "wrong-key": "misrouted",
		"nul-key": "misrouted", "bad-utf8": "invalid_command", wire.DefaultCommandID(right, recs[5].Offset): ""}
	for id, code := range want {
		waitFor(t, 30*time.Second, func() bool {
			g := do(t, http.MethodGet, a+"/v1/commands/"+id, "", nil)
			return g.Status == http.StatusOK && g.Code == code
		})
	}
	if bal, _ := e.balance("alice"); bal != 17 {
		t.Fatalf("got balance %d, want 17: only the well-formed record applies", bal)
	}
	e.auditLedger()
}

// TestStoredOffsetPastLogEnd: if Postgres says a partition is further along
// than the log (the topic was recreated), the consumer stops that partition
// with an error instead of skipping or replaying.
func TestStoredOffsetPastLogEnd(t *testing.T) {
	e := newEnv(t, 1)
	if _, err := e.pool.Exec(context.Background(), `INSERT INTO consumer_partitions (topic, partition, next_offset, epoch, generation, member)
		VALUES ($1, 0, 1000, 1, 0, 'old-member')`, e.opts.CommandsTopic); err != nil {
		t.Fatal(err)
	}
	e.opts.WaitBudget = 500 * time.Millisecond
	a := e.startAPI()
	c, _ := e.startConsumer()
	r := post(t, a+"/v1/accounts", `{"id":"alice","currency":"USD"}`, nil)
	if r.Status != http.StatusAccepted {
		t.Fatalf("got %d %s, want 202: nothing may apply", r.Status, r.Raw)
	}
	waitFor(t, 30*time.Second, func() bool { return c.proc.Stopped()[0] != nil })
	if err := c.proc.Stopped()[0]; !errors.Is(err, kerr.OffsetOutOfRange) {
		t.Fatalf("partition stopped with %v, want OffsetOutOfRange", err)
	}
	var next int64
	if err := e.pool.QueryRow(context.Background(), `SELECT next_offset FROM consumer_partitions WHERE topic = $1`, e.opts.CommandsTopic).Scan(&next); err != nil || next != 1000 {
		t.Fatalf("got stored offset %d (%v), want 1000 untouched", next, err)
	}
	var n int
	_ = e.pool.QueryRow(context.Background(), `SELECT count(*) FROM commands`).Scan(&n)
	if n != 0 {
		t.Fatalf("got %d commands decided, want none", n)
	}
}

// TestStoredOffsetFromRecreatedTopic: offsets stored for an earlier
// incarnation of the topic (another topic ID) stop the partition, even when
// the new log reaches past them, instead of skipping its first records.
func TestStoredOffsetFromRecreatedTopic(t *testing.T) {
	e := newEnv(t, 1)
	e.opts.WaitBudget = 500 * time.Millisecond
	a := e.startAPI() // creates the topic
	// Two records in the new log, and a stored offset of 1 from the old one:
	// resuming at 1 would skip the first record.
	for i := 0; i < 2; i++ {
		post(t, a+"/v1/accounts", fmt.Sprintf(`{"id":"acc-%d","currency":"USD"}`, i), nil)
	}
	if _, err := e.pool.Exec(context.Background(), `INSERT INTO consumer_partitions (topic, partition, next_offset, epoch, generation, member, topic_id)
		VALUES ($1, 0, 1, 1, 0, 'old-member', 'an-earlier-topic-id')`, e.opts.CommandsTopic); err != nil {
		t.Fatal(err)
	}
	c, _ := e.startConsumer()
	waitFor(t, 30*time.Second, func() bool { return c.proc.Stopped()[0] != nil })
	if err := c.proc.Stopped()[0]; !errors.Is(err, ledger.ErrTopicRecreated) {
		t.Fatalf("partition stopped with %v, want ErrTopicRecreated", err)
	}
	var n int
	_ = e.pool.QueryRow(context.Background(), `SELECT count(*) FROM commands`).Scan(&n)
	if n != 0 {
		t.Fatalf("got %d commands decided, want none", n)
	}
}
