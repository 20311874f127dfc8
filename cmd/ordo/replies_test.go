package main

import (
	"context"
	"encoding/hex"
	"fmt"
	"net/http"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kgo"

	"github.com/ordo-dev/ordo/ledger"
	"github.com/ordo-dev/ordo/wire"
)

// replyStats is the number of reply records so far and their bytes (keys,
// values and headers).
func (e *env) replyStats() (records, bytes int) {
	e.t.Helper()
	for _, r := range e.replyRecords() {
		records++
		bytes += len(r.Key) + len(r.Value)
		for _, h := range r.Headers {
			bytes += len(h.Key) + len(h.Value)
		}
	}
	return records, bytes
}

// replyRecords reads every record on the replies topic so far.
func (e *env) replyRecords() []*kgo.Record {
	e.t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	admCl, err := kgo.NewClient(kgo.SeedBrokers(e.opts.Brokers...))
	if err != nil {
		e.t.Fatal(err)
	}
	defer admCl.Close()
	ends, err := kadm.NewClient(admCl).ListEndOffsets(ctx, e.opts.RepliesTopic)
	if err != nil {
		e.t.Fatal(err)
	}
	want := 0
	ends.Each(func(o kadm.ListedOffset) { want += int(o.Offset) })
	if want == 0 {
		return nil
	}
	cl, err := kgo.NewClient(kgo.SeedBrokers(e.opts.Brokers...), kgo.ConsumeTopics(e.opts.RepliesTopic),
		kgo.ConsumeResetOffset(kgo.NewOffset().AtStart()))
	if err != nil {
		e.t.Fatal(err)
	}
	defer cl.Close()
	var recs []*kgo.Record
	for len(recs) < want {
		fs := cl.PollFetches(ctx)
		if ctx.Err() != nil {
			e.t.Fatalf("read %d of the %d reply records: %v", len(recs), want, ctx.Err())
		}
		recs = append(recs, fs.Records()...)
	}
	return recs
}

func recordHeader(r *kgo.Record, key string) (string, bool) {
	for _, h := range r.Headers {
		if h.Key == key {
			return string(h.Value), true
		}
	}
	return "", false
}

// TestRepliesBatchedPerInstance: the commands of one committed batch that
// one API instance waits for are answered in ONE reply record carrying
// every outcome, each with its own command's fingerprint; another
// instance's get a record of their own; and a command record that does not
// advertise the batched format (from an API older than it) is answered
// alone in format 1, as before.
func TestRepliesBatchedPerInstance(t *testing.T) {
	e := newEnv(t, 2)
	e.opts.OpsAddr = "127.0.0.1:0"
	e.startAPI() // creates the topics; its listener is not the one answered here

	type sent struct {
		cmd     ledger.Command
		to      string
		formats string
	}
	cmds := []sent{{ledger.Command{ID: "open", Kind: ledger.KindOpenAccount, AccountID: "alice", Currency: "USD"}, "me", wire.ReplyFormats}}
	for i := 1; i <= 4; i++ {
		cmds = append(cmds, sent{ledger.Command{ID: fmt.Sprint("dep-", i), Kind: ledger.KindDeposit, AccountID: "alice", Amount: int64(i)}, "me", wire.ReplyFormats})
	}
	cmds = append(cmds,
		sent{ledger.Command{ID: "dep-other", Kind: ledger.KindDeposit, AccountID: "alice", Amount: 5}, "other", wire.ReplyFormats},
		sent{ledger.Command{ID: "dep-old", Kind: ledger.KindDeposit, AccountID: "alice", Amount: 6}, "me", ""},
		sent{ledger.Command{ID: "dep-overdraw", Kind: ledger.KindWithdrawal, AccountID: "alice", Amount: 1000}, "me", wire.ReplyFormats},
	)
	cl, err := kgo.NewClient(kgo.SeedBrokers(e.opts.Brokers...), kgo.DefaultProduceTopic(e.opts.CommandsTopic),
		kgo.RecordPartitioner(wire.Partitioner()), kgo.ProducerLinger(50*time.Millisecond))
	if err != nil {
		t.Fatal(err)
	}
	defer cl.Close()
	var recs []*kgo.Record
	fingerprints := map[string]string{}
	for _, s := range cmds {
		value, err := wire.EncodeCommand(s.cmd)
		if err != nil {
			t.Fatal(err)
		}
		fp := hex.EncodeToString(s.cmd.Fingerprint())
		fingerprints[s.cmd.ID] = fp
		r := &kgo.Record{Key: []byte("alice"), Value: value, Headers: []kgo.RecordHeader{
			{Key: wire.HeaderCommandID, Value: []byte(s.cmd.ID)}, {Key: wire.HeaderFingerprint, Value: []byte(fp)},
			{Key: wire.HeaderReplyTopic, Value: []byte(e.opts.RepliesTopic)}, {Key: wire.HeaderReplyPartition, Value: []byte("1")},
			{Key: wire.HeaderReplyTo, Value: []byte(s.to)}}}
		if s.formats != "" {
			r.Headers = append(r.Headers, kgo.RecordHeader{Key: wire.HeaderReplyFormats, Value: []byte(s.formats)})
		}
		recs = append(recs, r)
	}
	// All produced before the consumer starts: its first fetch holds them
	// all, so they are decided in one transaction.
	if err := cl.ProduceSync(context.Background(), recs...).FirstErr(); err != nil {
		t.Fatal(err)
	}
	c, _ := e.startConsumer()
	waitFor(t, 60*time.Second, func() bool {
		return metricValue(t, consumerMetrics(t, c), "ordo_consumer_replies_total") == float64(len(cmds))
	})
	text := consumerMetrics(t, c)
	if got := metricValue(t, text, "ordo_consumer_transaction_commands_count"); got != 1 {
		t.Fatalf("%v transactions, want the %d commands decided in one (the test's premise)", got, len(cmds))
	}
	for series, want := range map[string]float64{
		`ordo_consumer_reply_records_total{format="1"}`: 1,
		`ordo_consumer_reply_records_total{format="2"}`: 2,
	} {
		if got := metricValue(t, text, series); got != want {
			t.Errorf("%s = %v, want %v", series, got, want)
		}
	}

	replies := e.replyRecords()
	if len(replies) != 3 {
		t.Fatalf("got %d reply records, want 3: one batched for me, one batched for other, one format 1 for the old record", len(replies))
	}
	type answer struct {
		to, fingerprint string
		out             ledger.Outcome
	}
	answers := map[string]answer{}
	for _, r := range replies {
		to, _ := recordHeader(r, wire.HeaderReplyTo)
		switch format, _ := recordHeader(r, wire.HeaderReplyFormat); format {
		case "2":
			rs, err := wire.DecodeReplies(r.Value)
			if err != nil {
				t.Fatalf("format 2 record %s: %v", r.Value, err)
			}
			for _, rep := range rs {
				answers[rep.Outcome.CommandID] = answer{to, hex.EncodeToString(rep.Fingerprint), rep.Outcome}
			}
			if want := map[string]int{"me": 6, "other": 1}[to]; len(rs) != want {
				t.Errorf("format 2 record for %q carries %d outcomes, want %d", to, len(rs), want)
			}
		case "":
			out, err := wire.DecodeOutcome(r.Value)
			if err != nil {
				t.Fatalf("format 1 record %s: %v", r.Value, err)
			}
			fp, _ := recordHeader(r, wire.HeaderFingerprint)
			if out.CommandID != "dep-old" {
				t.Errorf("format 1 record answers %s, want only dep-old (the record without the format header)", out.CommandID)
			}
			if string(r.Key) != out.CommandID {
				t.Errorf("format 1 record keyed %q, want its command ID %q", r.Key, out.CommandID)
			}
			answers[out.CommandID] = answer{to, fp, out}
		default:
			t.Fatalf("reply record in format %q", format)
		}
	}
	balance := int64(0)
	for _, s := range cmds {
		a, ok := answers[s.cmd.ID]
		if !ok {
			t.Errorf("%s: no answer", s.cmd.ID)
			continue
		}
		if a.to != s.to || a.fingerprint != fingerprints[s.cmd.ID] {
			t.Errorf("%s: answered to %q with fingerprint %s, want %q with %s", s.cmd.ID, a.to, a.fingerprint, s.to, fingerprints[s.cmd.ID])
		}
		wantStatus := ledger.StatusApplied
		if s.cmd.Kind == ledger.KindWithdrawal {
			wantStatus = ledger.StatusRejected
		} else {
			balance += s.cmd.Amount
		}
		if a.out.Status != wantStatus || (wantStatus == ledger.StatusApplied && (a.out.Account == nil || a.out.Account.Balance != balance)) {
			t.Errorf("%s: got %+v, want %s at balance %d", s.cmd.ID, a.out, wantStatus, balance)
		}
	}
}

// TestRollingUpgradeReplies: an API instance older than batched replies
// (it does not advertise them) and a current one, side by side against a
// current consumer, each get every answer: the old one in format 1, the new
// one in format 2.
func TestRollingUpgradeReplies(t *testing.T) {
	e := newEnv(t, 2)
	e.opts.OpsAddr = "127.0.0.1:0"
	e.opts.v1Replies = true
	old := e.startAPI()
	e.opts.v1Replies = false
	e.opts.OpsAddr = "127.0.0.1:0"
	cur := e.startAPI()
	c, _ := e.startConsumer()
	e.waitClaimed()
	openAccount(t, cur, "alice", 0)
	const each = 20
	var wg sync.WaitGroup
	for _, base := range []string{old, cur} {
		for i := range each {
			wg.Go(func() {
				r, took, err := timed("POST", base+"/v1/accounts/alice/deposits", `{"amount":1}`, map[string]string{"Idempotency-Key": fmt.Sprint(base, i)}, 60*time.Second)
				if err != nil || r.Status != http.StatusOK {
					t.Errorf("deposit via %s: %d %s %v", base, r.Status, r.Raw, err)
				}
				if took >= e.opts.WaitBudget {
					t.Errorf("deposit via %s answered after %s, its whole wait budget: not from its reply", base, took)
				}
			})
		}
	}
	wg.Wait()
	records := func(format string) float64 {
		return metricValue(t, consumerMetrics(t, c), `ordo_consumer_reply_records_total{format="`+format+`"}`)
	}
	v1, v2 := records("1"), records("2")
	if v1 != each {
		t.Errorf("format 1 records: got %v, want %d (one per command of the old instance)", v1, each)
	}
	if v2 < 1 {
		t.Errorf("format 2 records: got %v, want some (the current instance's)", v2)
	}
	if bal, _ := e.balance("alice"); bal != 2*each {
		t.Errorf("balance %d, want %d", bal, 2*each)
	}

	// A transfer's end answers its request through the saga's carried
	// headers: in format 2 for the current instance, 1 for the old one.
	openAccount(t, cur, "bob", 0)
	v1, v2 = records("1"), records("2")
	for _, tt := range []struct {
		base, format string
	}{{cur, "2"}, {old, "1"}} {
		r, took, err := timed("POST", tt.base+"/v1/transfers", `{"from":"alice","to":"bob","amount":1,"currency":"USD"}`,
			map[string]string{"Idempotency-Key": "xfer-" + tt.format}, 60*time.Second)
		if err != nil || r.Status != http.StatusOK || took >= e.opts.WaitBudget {
			t.Errorf("transfer via the format %s instance: %d %s %v after %s, want 200 from its reply", tt.format, r.Status, r.Raw, err, took)
		}
	}
	if got1, got2 := records("1"), records("2"); got1 != v1+1 || got2 != v2+1 {
		t.Errorf("transfers answered with %v format 1 and %v format 2 records, want 1 and 1", got1-v1, got2-v2)
	}
}

// TestReplyRecordsPerCommand counts the reply topic's records and bytes per
// command for 2,000 deposits from 16 clients, with format 1 only (an API
// older than batched replies: exactly one record per command) and with
// batched replies (fewer records than commands), and logs the figures that
// BENCHMARKS.md reports:
//
//	go test -count=1 -run TestReplyRecordsPerCommand -v ./cmd/ordo/
func TestReplyRecordsPerCommand(t *testing.T) {
	const commands, clients, accounts = 2000, 16, 16
	for _, v1 := range []bool{true, false} {
		t.Run(fmt.Sprint("v1only=", v1), func(t *testing.T) {
			e := newEnv(t, 4)
			e.opts.v1Replies = v1
			base := e.startAPI()
			e.startConsumer()
			e.waitClaimed()
			for a := range accounts {
				openAccount(t, base, fmt.Sprint("acct-", a), 0)
			}
			openedRecs, openedBytes := e.replyStats()
			var next, failed atomic.Int64
			var wg sync.WaitGroup
			start := time.Now()
			for w := range clients {
				wg.Go(func() {
					for n := next.Add(1); n <= commands; n = next.Add(1) {
						r, err := tryPost(fmt.Sprintf("%s/v1/accounts/acct-%d/deposits", base, (int(n)+w)%accounts), `{"amount":1}`, fmt.Sprint("m-", n))
						if err != nil || r.Status != http.StatusOK {
							failed.Add(1)
						}
					}
				})
			}
			wg.Wait()
			took := time.Since(start)
			if failed.Load() > 0 {
				t.Errorf("%d of %d deposits not answered 200", failed.Load(), commands)
			}
			recs, bytes := e.replyStats()
			recs, bytes = recs-openedRecs, bytes-openedBytes
			t.Logf("%d commands, %d clients, %s: %d reply records (%.3f per command), %d bytes of keys, values and headers (%.1f per command)",
				commands, clients, took.Round(time.Millisecond), recs, float64(recs)/commands, bytes, float64(bytes)/commands)
			if v1 && recs != commands {
				t.Errorf("format 1 only: %d reply records for %d commands, want one each", recs, commands)
			}
			if !v1 && recs >= commands {
				t.Errorf("batched: %d reply records for %d commands, want fewer", recs, commands)
			}
		})
	}
}
