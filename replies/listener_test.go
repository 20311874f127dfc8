package replies

import (
	"context"
	"encoding/hex"
	"log/slog"
	"reflect"
	"sync"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kfake"
	"github.com/twmb/franz-go/pkg/kgo"

	"github.com/ordo-dev/ordo/ledger"
	"github.com/ordo-dev/ordo/wire"
)

type delivered struct {
	CommandID   string
	Fingerprint string
}

// TestListenerReadsBothFormats: the listener delivers each outcome
// addressed to its instance, from version 1 records (one outcome, the
// fingerprint in a header: what consumers older than batched replies send)
// and version 2 records (several, each with its own fingerprint), and skips
// replies addressed to another instance, undecodable values and formats it
// does not know.
func TestListenerReadsBothFormats(t *testing.T) {
	c, err := kfake.NewCluster(kfake.NumBrokers(1), kfake.SeedTopics(1, "replies"))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(c.Close)
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	l, err := NewListener(ctx, c.ListenAddrs(), "replies", "me", slog.New(slog.DiscardHandler))
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	if got := l.Route().Formats; !wire.AcceptsBatch(got) {
		t.Fatalf("the listener advertises formats %q, want the batched one", got)
	}

	var (
		mu  sync.Mutex
		got []delivered
	)
	done := make(chan struct{})
	go func() {
		defer close(done)
		l.Run(ctx, func(out ledger.Outcome, fp []byte) {
			mu.Lock()
			got = append(got, delivered{out.CommandID, hex.EncodeToString(fp)})
			mu.Unlock()
		})
	}()

	outcome := func(id string) ledger.Outcome {
		return ledger.Outcome{CommandID: id, Kind: ledger.KindDeposit, AccountID: "alice", Status: ledger.StatusApplied}
	}
	v1 := func(to, id, fp string) *kgo.Record {
		value, err := wire.EncodeOutcome(outcome(id))
		if err != nil {
			t.Fatal(err)
		}
		return &kgo.Record{Key: []byte(id), Value: value, Headers: []kgo.RecordHeader{
			{Key: wire.HeaderReplyTo, Value: []byte(to)}, {Key: wire.HeaderFingerprint, Value: []byte(fp)}}}
	}
	v2 := func(to, format string, value []byte) *kgo.Record {
		return &kgo.Record{Key: []byte(to), Value: value, Headers: []kgo.RecordHeader{
			{Key: wire.HeaderReplyTo, Value: []byte(to)}, {Key: wire.HeaderReplyFormat, Value: []byte(format)}}}
	}
	batch := func(ids ...string) []byte {
		var rs []wire.Reply
		for i, id := range ids {
			rs = append(rs, wire.Reply{Fingerprint: []byte{byte(i + 1), 0xf0}, Outcome: outcome(id)})
		}
		value, err := wire.EncodeReplies(rs)
		if err != nil {
			t.Fatal(err)
		}
		return value
	}
	pr, err := kgo.NewClient(kgo.SeedBrokers(c.ListenAddrs()...), kgo.DefaultProduceTopic("replies"))
	if err != nil {
		t.Fatal(err)
	}
	defer pr.Close()
	if err := pr.ProduceSync(ctx,
		v1("me", "old-1", "aa01"),
		v1("me", "old-nofp", ""),
		v1("other", "old-other", "aa02"),
		v2("me", "2", batch("new-1", "new-2", "new-3")),
		v2("other", "2", batch("new-other")),
		v2("me", "2", []byte(`[{"fingerprint":"","outcome":{"command_id":"bad","status":"applied"}}]`)),
		v2("me", "3", batch("future")),
		v1("me", "old-last", "aa03"),
	).FirstErr(); err != nil {
		t.Fatal(err)
	}
	want := []delivered{
		{"old-1", "aa01"},
		{"new-1", "01f0"}, {"new-2", "02f0"}, {"new-3", "03f0"},
		{"old-last", "aa03"},
	}
	for deadline := time.Now().Add(20 * time.Second); ; time.Sleep(20 * time.Millisecond) {
		mu.Lock()
		n := len(got)
		mu.Unlock()
		if n >= len(want) || time.Now().After(deadline) {
			break
		}
	}
	l.Close()
	<-done
	mu.Lock()
	defer mu.Unlock()
	if !reflect.DeepEqual(got, want) {
		t.Errorf("delivered %v, want %v", got, want)
	}
}
