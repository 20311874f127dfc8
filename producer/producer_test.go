package producer

import (
	"context"
	"errors"
	"testing"
	"time"

	"github.com/ordo-dev/ordo/ledger"
	"github.com/ordo-dev/ordo/wire"
)

// TestPartitioningMatchesJavaClient: records land where Kafka's Java client
// (murmur2, high bit masked) would put them. The hashes are the expected
// values of Utils.murmur2 in Apache Kafka's own UtilsTest.
func TestPartitioningMatchesJavaClient(t *testing.T) {
	const partitions = 12
	_, p, ctx := newTestProducer(t, partitions)

	for _, tt := range []struct {
		key     string
		javaMur int32
	}{
		{"21", -973932308},
		{"foobar", -790332482},
		{"a-little-bit-long-string", -985981536},
		{"a-little-bit-longer-string", -1486304829},
	} {
		t.Run(tt.key, func(t *testing.T) {
			want := int32((uint32(tt.javaMur) & 0x7fffffff) % partitions)
			got, err := p.Submit(ctx, ledger.Command{ID: "c-" + tt.key, Kind: ledger.KindDeposit, AccountID: tt.key, Amount: 1}, wire.Route{})
			if err != nil {
				t.Fatal(err)
			}
			if got.Partition != want {
				t.Fatalf("got partition %d, want %d (Java murmur2)", got.Partition, want)
			}
		})
	}
}

func TestSubmitSetsHeaders(t *testing.T) {
	c, p, ctx := newTestProducer(t, 3)
	cmd := ledger.Command{ID: "cmd-1", Kind: ledger.KindWithdrawal, AccountID: "alice", Amount: 5}
	sub, err := p.Submit(ctx, cmd, wire.Route{Topic: "replies", Partition: 2, To: "inst-1", Formats: wire.ReplyFormats})
	if err != nil {
		t.Fatal(err)
	}
	fetched := fetchOne(t, c.ListenAddrs(), "cmds", sub.Partition, sub.Offset)
	want := map[string]string{wire.HeaderCommandID: "cmd-1", wire.HeaderReplyTopic: "replies", wire.HeaderReplyPartition: "2", wire.HeaderReplyTo: "inst-1", wire.HeaderReplyFormats: "1,2"}
	for _, h := range fetched.Headers {
		if w, ok := want[h.Key]; ok && w == string(h.Value) {
			delete(want, h.Key)
		}
	}
	if len(want) != 0 {
		t.Fatalf("missing or wrong headers: %v (got %v)", want, fetched.Headers)
	}
	got, err := wire.DecodeCommand("cmd-1", fetched.Value)
	if err != nil || got != cmd || string(fetched.Key) != "alice" {
		t.Fatalf("got %+v key %q (%v), want %+v keyed alice", got, fetched.Key, err, cmd)
	}
}

// TestSubmitAdvertisesOnlyGivenFormats: a route without reply formats (an
// API that reads format 1 only) puts no HeaderReplyFormats on the record,
// so consumers answer it in format 1.
func TestSubmitAdvertisesOnlyGivenFormats(t *testing.T) {
	c, p, ctx := newTestProducer(t, 3)
	cmd := ledger.Command{ID: "cmd-1", Kind: ledger.KindDeposit, AccountID: "alice", Amount: 5}
	sub, err := p.Submit(ctx, cmd, wire.Route{Topic: "replies", Partition: 2, To: "inst-1"})
	if err != nil {
		t.Fatal(err)
	}
	for _, h := range fetchOne(t, c.ListenAddrs(), "cmds", sub.Partition, sub.Offset).Headers {
		if h.Key == wire.HeaderReplyFormats {
			t.Fatalf("got header %s: %q, want none", h.Key, h.Value)
		}
	}
}

// TestSubmitFailsWhenBrokerGone: with the brokers gone, Submit returns an
// ErrUnavailable when its context ends instead of waiting for ever.
func TestSubmitFailsWhenBrokerGone(t *testing.T) {
	c, p, ctx := newTestProducer(t, 3)
	cmd := ledger.Command{ID: "c1", Kind: ledger.KindDeposit, AccountID: "alice", Amount: 1}
	if _, err := p.Submit(ctx, cmd, wire.Route{}); err != nil {
		t.Fatal(err)
	}
	c.Close()
	short, cancel := context.WithTimeout(ctx, 500*time.Millisecond)
	defer cancel()
	start := time.Now()
	cmd.ID = "c2"
	_, err := p.Submit(short, cmd, wire.Route{})
	if !errors.Is(err, ledger.ErrUnavailable) {
		t.Fatalf("got %v, want ErrUnavailable", err)
	}
	if took := time.Since(start); took > 5*time.Second {
		t.Fatalf("took %s, want about the 500ms deadline", took)
	}
}
