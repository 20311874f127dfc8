package main

import (
	"context"
	"fmt"
	"net/http"
	"strings"
	"syscall"
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

// consumerMetrics scrapes a consumer's /metrics on its ops address.
func consumerMetrics(t *testing.T, c *Consumer) string {
	t.Helper()
	r := do(t, http.MethodGet, "http://"+c.OpsAddr()+"/metrics", "", nil)
	if r.Status != http.StatusOK {
		t.Fatalf("GET /metrics: got %d %s", r.Status, r.Raw)
	}
	return string(r.Raw)
}

// accountsOnTwoPartitions names two accounts whose commands land on
// different partitions.
func accountsOnTwoPartitions(c *Consumer, prefix string) (a, b string) {
	a = prefix + "-0"
	for i := 1; ; i++ {
		b = fmt.Sprintf("%s-%d", prefix, i)
		if c.proc.PartitionOf(b) != c.proc.PartitionOf(a) {
			return a, b
		}
	}
}

// TestReplyTopicAllowList: a record that asks for its reply on a topic not
// on --reply-topics, or on a partition the reply topic does not have, is
// applied but answered nowhere, and counted.
func TestReplyTopicAllowList(t *testing.T) {
	e := newEnv(t, 2)
	e.opts.OpsAddr = "127.0.0.1:0"
	a := e.startAPI()
	c, _ := e.startConsumer()
	e.waitClaimed()
	openAccount(t, a, "alice", 10)

	cl, err := kgo.NewClient(kgo.SeedBrokers(e.opts.Brokers...), kgo.DefaultProduceTopic(e.opts.CommandsTopic))
	if err != nil {
		t.Fatal(err)
	}
	defer cl.Close()
	victim := e.opts.CommandsTopic + ".victim" // a topic the consumer's credentials could write
	deposit := func(id, topic, partition string) *kgo.Record {
		return &kgo.Record{Key: []byte("alice"), Value: []byte(`{"v":1,"kind":"deposit","account_id":"alice","amount":1}`),
			Headers: []kgo.RecordHeader{{Key: wire.HeaderCommandID, Value: []byte(id)}, {Key: wire.HeaderReplyTopic, Value: []byte(topic)},
				{Key: wire.HeaderReplyPartition, Value: []byte(partition)}, {Key: wire.HeaderReplyTo, Value: []byte("someone")}}}
	}
	if err := cl.ProduceSync(context.Background(),
		deposit("steered", victim, "0"),
		deposit("commands-topic", e.opts.CommandsTopic, "0"),
		deposit("past-the-end", e.opts.RepliesTopic, "4"), // the replies topic has 4 partitions
		deposit("allowed", e.opts.RepliesTopic, "3"),
	).FirstErr(); err != nil {
		t.Fatal(err)
	}
	for _, id := range []string{"steered", "commands-topic", "past-the-end", "allowed"} {
		waitFor(t, 30*time.Second, func() bool {
			return do(t, http.MethodGet, a+"/v1/commands/"+id, "", nil).State == "applied"
		})
	}
	if bal, _ := e.balance("alice"); bal != 14 {
		t.Fatalf("got balance %d, want 14: refused replies do not refuse the commands", bal)
	}
	var text string
	waitFor(t, 10*time.Second, func() bool {
		text = consumerMetrics(t, c)
		return metricValue(t, text, `ordo_consumer_replies_refused_total{reason="topic_not_allowed"}`) == 2
	})
	if got := metricValue(t, text, `ordo_consumer_replies_refused_total{reason="partition_out_of_range"}`); got != 1 {
		t.Errorf("partition_out_of_range: got %v, want 1", got)
	}
	// Nothing reached the commands topic but the four commands and the
	// opening two: no reply was produced onto it.
	part := int32(c.proc.PartitionOf("alice"))
	if end := e.logEnd(part); end != 6 {
		t.Errorf("commands partition %d ends at %d, want 6 (no reply written to it)", part, end)
	}
}

// TestFailingPartitionStopsAlone: a partition whose batches fail (an error,
// or a write guard) stops by itself, shows in the metrics with its reason,
// and is retried with backoff, while the other partition of the same
// applier goes on; once the cause is gone it resumes by itself and nothing
// is lost.
func TestFailingPartitionStopsAlone(t *testing.T) {
	tests := []struct {
		name   string
		raise  string
		reason string
	}{
		{"error", `RAISE EXCEPTION 'test: poisoned account'`, "apply_failed"},
		{"write guard", `PERFORM ordo_assert(false, 'test: guard')`, "guard_failed"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			e := newEnv(t, 2)
			e.opts.OpsAddr = "127.0.0.1:0"
			e.opts.WaitBudget = time.Second
			e.opts.RetryBackoffMax = 2 * time.Second
			a := e.startAPI()
			c, _ := e.startConsumer() // one applier: before the fix, one failing partition held up both
			e.waitClaimed()
			poison, healthy := accountsOnTwoPartitions(c, "acct")
			openAccount(t, a, poison, 10)
			openAccount(t, a, healthy, 10)
			ctx := context.Background()
			if _, err := e.pool.Exec(ctx, fmt.Sprintf(`
				CREATE FUNCTION poison() RETURNS trigger LANGUAGE plpgsql AS $$
				BEGIN
					IF NEW.account_id = %s THEN %s; END IF;
					RETURN NEW;
				END $$;
				CREATE TRIGGER poison BEFORE INSERT ON entries FOR EACH ROW EXECUTE FUNCTION poison();`, quoteLiteral(poison), tt.raise)); err != nil {
				t.Fatal(err)
			}
			stuck := post(t, a+"/v1/accounts/"+poison+"/deposits", `{"amount":5}`, map[string]string{"Idempotency-Key": "stuck"})
			if stuck.Status != http.StatusAccepted {
				t.Fatalf("poisoned deposit: got %d %s, want 202", stuck.Status, stuck.Raw)
			}
			for i := range 3 {
				if r := post(t, a+"/v1/accounts/"+healthy+"/deposits", `{"amount":1}`, nil); r.Status != http.StatusOK {
					t.Fatalf("deposit %d on the healthy partition: got %d %s, want 200", i, r.Status, r.Raw)
				}
			}
			part := c.proc.PartitionOf(poison)
			waitFor(t, 10*time.Second, func() bool { return string(c.proc.Stops()[int32(part)]) == tt.reason })
			series := fmt.Sprintf(`ordo_consumer_partition_retries_total{reason=%q}`, tt.reason)
			waitFor(t, 20*time.Second, func() bool { return metricValue(t, consumerMetrics(t, c), series) >= 2 })
			text := consumerMetrics(t, c)
			if got := metricValue(t, text, "ordo_consumer_partitions_stopped"); got != 1 {
				t.Errorf("partitions_stopped: got %v, want 1", got)
			}
			if got := metricValue(t, text, fmt.Sprintf(`ordo_consumer_partition_stopped{partition="%d",reason=%q}`, part, tt.reason)); got != 1 {
				t.Errorf("partition_stopped: got %v, want 1", got)
			}
			if got := metricValue(t, text, fmt.Sprintf(`ordo_consumer_partition_lag{partition="%d"}`, part)); got != 1 {
				t.Errorf("lag of the stopped partition: got %v, want 1 (the stuck deposit)", got)
			}
			if _, err := e.pool.Exec(ctx, `DROP TRIGGER poison ON entries`); err != nil {
				t.Fatal(err)
			}
			waitFor(t, 30*time.Second, func() bool {
				return do(t, http.MethodGet, a+"/v1/commands/"+stuck.CommandID, "", nil).State == "applied"
			})
			waitFor(t, 10*time.Second, func() bool { return len(c.proc.Stopped()) == 0 })
			if bal, _ := e.balance(poison); bal != 15 {
				t.Fatalf("got balance %d, want 15: the stuck deposit applies once", bal)
			}
			if bal, _ := e.balance(healthy); bal != 13 {
				t.Fatalf("got balance %d, want 13", bal)
			}
			e.auditLedger()
		})
	}
}

func quoteLiteral(s string) string { return "'" + strings.ReplaceAll(s, "'", "''") + "'" }

// TestPartitionReclaimedAfterRelease: a consumer whose claim is fenced off
// while the group still assigns it the partition (here by `ordo partitions
// release`) claims it again by itself and applies what comes next.
func TestPartitionReclaimedAfterRelease(t *testing.T) {
	e := newEnv(t, 2)
	e.opts.OpsAddr = "127.0.0.1:0"
	a := e.startAPI()
	c, _ := e.startConsumer()
	e.waitClaimed()
	openAccount(t, a, "alice", 100)
	part := int32(c.proc.PartitionOf("alice"))
	var before int64
	if err := e.pool.QueryRow(context.Background(), `SELECT epoch FROM consumer_partitions WHERE topic = $1 AND partition = $2`, e.opts.CommandsTopic, part).Scan(&before); err != nil {
		t.Fatal(err)
	}
	e.runOrdo("partitions", "release", fmt.Sprint(part), "--database-url", e.opts.DatabaseURL, "--commands-topic", e.opts.CommandsTopic)

	r := decided(t, a+"/v1/accounts/alice/withdrawals", `{"amount":30}`, "after-release", time.Now().Add(60*time.Second))
	if r.Status != http.StatusOK || r.Account == nil || r.Account.Balance != 70 {
		t.Fatalf("got %d %s, want 200 with balance 70", r.Status, r.Raw)
	}
	var after int64
	_ = e.pool.QueryRow(context.Background(), `SELECT epoch FROM consumer_partitions WHERE topic = $1 AND partition = $2`, e.opts.CommandsTopic, part).Scan(&after)
	if after != before+2 {
		t.Errorf("epoch went from %d to %d, want +2 (the release, then the consumer's own claim)", before, after)
	}
	text := consumerMetrics(t, c)
	if got := metricValue(t, text, `ordo_consumer_partition_retries_total{reason="claim_lost"}`); got < 1 {
		t.Errorf("claim_lost retries: got %v, want at least 1", got)
	}
	if got := metricValue(t, text, "ordo_consumer_partitions_stopped"); got != 0 {
		t.Errorf("partitions_stopped: got %v, want 0", got)
	}
	e.auditLedger()
}

// runOrdo runs an ordo subcommand in-process and returns what it printed.
func (e *env) runOrdo(args ...string) string {
	e.t.Helper()
	cmd := newRootCmd()
	var out strings.Builder
	cmd.SetOut(&out)
	cmd.SetArgs(args)
	if err := cmd.Execute(); err != nil {
		e.t.Fatalf("ordo %v: %v", args, err)
	}
	return out.String()
}

// TestStoppedPartitionReleased: a partition stopped for a reason that needs
// an operator (its stored offset is past the log end) shows in `ordo
// partitions`; once the operator resets the row and releases it, the
// consumer resumes it without a restart, from the log start, skipping
// nothing.
func TestStoppedPartitionReleased(t *testing.T) {
	e := newEnv(t, 1)
	ctx := context.Background()
	if _, err := e.pool.Exec(ctx, `INSERT INTO consumer_partitions (topic, partition, next_offset, epoch, generation, member)
		VALUES ($1, 0, 1000, 1, 0, 'old-member')`, e.opts.CommandsTopic); err != nil {
		t.Fatal(err)
	}
	e.opts.WaitBudget = 500 * time.Millisecond
	e.opts.OpsAddr = "127.0.0.1:0"
	a := e.startAPI()
	c, _ := e.startConsumer()
	r := post(t, a+"/v1/accounts", `{"id":"alice","currency":"USD"}`, nil)
	if r.Status != http.StatusAccepted {
		t.Fatalf("got %d %s, want 202: nothing may apply", r.Status, r.Raw)
	}
	waitFor(t, 30*time.Second, func() bool { return c.proc.Stops()[0] == "offset_out_of_range" })
	if got := metricValue(t, consumerMetrics(t, c), `ordo_consumer_partition_stopped{partition="0",reason="offset_out_of_range"}`); got != 1 {
		t.Errorf("partition_stopped: got %v, want 1", got)
	}
	list := []string{"partitions", "--database-url", e.opts.DatabaseURL, "--commands-topic", e.opts.CommandsTopic,
		"--brokers", strings.Join(e.opts.Brokers, ","), "--group", e.opts.Group}
	out := e.runOrdo(list...)
	t.Logf("ordo partitions:\n%s", out)
	if fields := partitionLine(t, out, 0); fields[4] != "1000" || fields[5] != "1" || fields[6] != "0" {
		t.Errorf("got %v, want next offset 1000, log end 1 and lag 0 (the stored offset is past the end)", fields)
	}
	// Nothing is retried by itself: an operator has to decide.
	if c.proc.Stops()[0] != "offset_out_of_range" {
		t.Fatalf("got %v, want partition 0 still stopped", c.proc.Stops())
	}
	if _, _, err := decidedCommand(e, r.CommandID); err == nil {
		t.Fatalf("the command applied before the release")
	}
	if _, err := e.pool.Exec(ctx, `UPDATE consumer_partitions SET next_offset = NULL WHERE topic = $1`, e.opts.CommandsTopic); err != nil {
		t.Fatal(err)
	}
	e.runOrdo("partitions", "release", "0", "--database-url", e.opts.DatabaseURL, "--commands-topic", e.opts.CommandsTopic)
	waitFor(t, 30*time.Second, func() bool {
		return do(t, http.MethodGet, a+"/v1/commands/"+r.CommandID, "", nil).State == "applied"
	})
	if len(c.proc.Stopped()) != 0 {
		t.Errorf("still stopped: %v", c.proc.Stopped())
	}
	waitFor(t, 10*time.Second, func() bool {
		f := partitionLine(t, e.runOrdo(list...), 0)
		return f[4] == "1" && f[6] == "0" && f[8] == "owned"
	})
}

// decidedCommand reads a command's stored status.
func decidedCommand(e *env, id string) (status string, offset int64, err error) {
	err = e.pool.QueryRow(context.Background(), `SELECT status, "offset" FROM commands WHERE command_id = $1`, id).Scan(&status, &offset)
	return status, offset, err
}

// partitionLine returns the fields of one partition's line of `ordo
// partitions`.
func partitionLine(t *testing.T, out string, partition int) []string {
	t.Helper()
	for _, line := range strings.Split(out, "\n") {
		f := strings.Fields(line)
		if len(f) == 9 && f[0] == fmt.Sprint(partition) {
			return f
		}
	}
	t.Fatalf("no line for partition %d in:\n%s", partition, out)
	return nil
}

// TestFailoverWithDefaultSettings: with the default session timeout and
// heartbeat, a SIGKILLed consumer's partition is applied by the survivor
// within a generous bound; the measured figure is logged (docs/bench/history.md, "Failover after a crash").
func TestFailoverWithDefaultSettings(t *testing.T) {
	e := newEnv(t, 2)
	d := defaultOptions()
	e.opts.SessionTimeout, e.opts.Heartbeat = d.SessionTimeout, d.Heartbeat
	a := e.startAPI()
	survivor, _ := e.startConsumer()
	victim := e.startConsumerProcess()
	// Settled: each consumer holds the claim of one partition.
	waitFor(t, 60*time.Second, func() bool {
		var members int
		err := e.pool.QueryRow(context.Background(), `SELECT count(DISTINCT member) FROM consumer_partitions WHERE topic = $1`, e.opts.CommandsTopic).Scan(&members)
		return err == nil && members == 2 && len(survivor.proc.Owned()) == 1
	})
	var account string
	for i := 0; ; i++ {
		account = fmt.Sprintf("failover-%d", i)
		if int32(survivor.proc.PartitionOf(account)) != survivor.proc.Owned()[0] {
			break
		}
	}
	openAccount(t, a, account, 100)
	if err := victim.Process.Signal(syscall.SIGKILL); err != nil {
		t.Fatal(err)
	}
	_, _ = victim.Process.Wait()
	killed := time.Now()
	answer := make(chan response, 1)
	go func() {
		answer <- decided(t, a+"/v1/accounts/"+account+"/withdrawals", `{"amount":1}`, "failover", killed.Add(90*time.Second))
	}()
	// The withdrawal is the account's third version.
	waitFor(t, 90*time.Second, func() bool { _, v := e.balance(account); return v == 3 })
	took := time.Since(killed)
	t.Logf("failover: the survivor applied a command on the killed consumer's partition %.1f s after the kill (session timeout %s, heartbeat %s)",
		took.Seconds(), e.opts.SessionTimeout, e.opts.Heartbeat)
	if r := <-answer; r.Status != http.StatusOK {
		t.Fatalf("got %d %s, want 200", r.Status, r.Raw)
	}
	if took > 30*time.Second {
		t.Fatalf("failover took %s, want well under 30s with the defaults", took)
	}
}

// TestOpsEndpoints: the API role and `ordo dev` serve /livez, /readyz and
// /metrics on --ops-addr; ordo dev serves both roles' metrics there.
func TestOpsEndpoints(t *testing.T) {
	e := newEnv(t, 2)
	e.opts.OpsAddr = "127.0.0.1:0"
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()

	a, err := NewAPI(ctx, e.opts, e.log)
	if err != nil {
		t.Fatal(err)
	}
	go func() { _ = a.Run(ctx) }()
	defer a.Close()

	o := e.opts
	o.HTTPAddr = "127.0.0.1:0"
	o.DataDir = t.TempDir()
	o.RepliesTopic += ".dev"
	o.Group += ".dev"
	d, err := NewDev(ctx, o, e.log)
	if err != nil {
		t.Fatal(err)
	}
	go func() { _ = d.Run(ctx) }()
	defer d.Close()
	openAccount(t, "http://"+d.api.Addr(), "alice", 10)

	tests := []struct {
		name   string
		addr   string
		series []string
	}{
		{"api", a.OpsAddr(), []string{"go_goroutines"}},
		{"dev", d.ops.Addr(), []string{"go_goroutines", "ordo_consumer_commands_decided_total", `ordo_command_outcomes_total{code="",kind="deposit",status="applied"}`}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			base := "http://" + tt.addr
			if r := do(t, http.MethodGet, base+"/livez", "", nil); r.Status != http.StatusOK {
				t.Errorf("/livez: got %d %s, want 200", r.Status, r.Raw)
			}
			waitFor(t, 30*time.Second, func() bool { return do(t, http.MethodGet, base+"/readyz", "", nil).Status == http.StatusOK })
			r := do(t, http.MethodGet, base+"/metrics", "", nil)
			if r.Status != http.StatusOK {
				t.Fatalf("/metrics: got %d %s, want 200", r.Status, r.Raw)
			}
			for _, s := range tt.series {
				metricValue(t, string(r.Raw), s) // fails the test if absent
			}
		})
	}
	if got := metricValue(t, string(do(t, http.MethodGet, "http://"+d.ops.Addr()+"/metrics", "", nil).Raw), "ordo_consumer_commands_decided_total"); got != 2 {
		t.Errorf("dev: commands decided %v, want 2", got)
	}
}

// TestConsumerNotReadyWithoutPostgres: the consumer's /readyz answers 503
// when Postgres does not answer.
func TestConsumerNotReadyWithoutPostgres(t *testing.T) {
	e := newEnv(t, 1)
	e.opts.OpsAddr = "127.0.0.1:0"
	c, _ := e.startConsumer()
	base := "http://" + c.OpsAddr()
	waitFor(t, 30*time.Second, func() bool { return do(t, http.MethodGet, base+"/readyz", "", nil).Status == http.StatusOK })
	c.store.Close() // as good as an unreachable database, for this process
	r := do(t, http.MethodGet, base+"/readyz", "", nil)
	if r.Status != http.StatusServiceUnavailable || r.Code != "unavailable" || r.Header.Get("Content-Type") != "application/problem+json" {
		t.Fatalf("got %d %s (%s), want 503 problem+json unavailable", r.Status, r.Raw, r.Header.Get("Content-Type"))
	}
}
