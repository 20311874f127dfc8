package wire_test

import (
	"bytes"
	"reflect"
	"testing"

	"github.com/ordo-dev/ordo/ledger"
	"github.com/ordo-dev/ordo/wire"
)

func sampleReplies() []wire.Reply {
	return []wire.Reply{
		{Fingerprint: []byte{0xde, 0xad, 0xbe, 0xef}, Outcome: ledger.Outcome{CommandID: "c1", Kind: ledger.KindDeposit, AccountID: "alice", Status: ledger.StatusApplied,
			Account: &ledger.Account{ID: "alice", Currency: "USD", Balance: 150, Available: 150, Version: 3}}},
		{Fingerprint: []byte{0x01}, Outcome: ledger.Outcome{CommandID: "c2", Kind: ledger.KindWithdrawal, AccountID: "alice", Status: ledger.StatusRejected,
			Code: ledger.CodeInsufficientFunds, Detail: "balance 5 < 10 \"quoted\" é ,]["}},
		{Fingerprint: bytes.Repeat([]byte{0xab}, 32), Outcome: ledger.Outcome{CommandID: "c3", Status: ledger.StatusRejected, Code: ledger.CodeInvalidCommand}},
	}
}

func TestRepliesRoundTrip(t *testing.T) {
	for _, n := range []int{1, 2, 3} {
		want := sampleReplies()[:n]
		value, err := wire.EncodeReplies(want)
		if err != nil {
			t.Fatal(err)
		}
		got, err := wire.DecodeReplies(value)
		if err != nil {
			t.Fatalf("decode %s: %v", value, err)
		}
		if !reflect.DeepEqual(got, want) {
			t.Errorf("%d replies: got %+v, want %+v", n, got, want)
		}
	}
}

// TestRepliesJoin: JoinReplies of EncodeReply elements is EncodeReplies.
func TestRepliesJoin(t *testing.T) {
	rs := sampleReplies()
	var elems [][]byte
	for _, r := range rs {
		e, err := wire.EncodeReply(r)
		if err != nil {
			t.Fatal(err)
		}
		elems = append(elems, e)
	}
	want, err := wire.EncodeReplies(rs)
	if err != nil {
		t.Fatal(err)
	}
	if got := wire.JoinReplies(elems); !bytes.Equal(got, want) {
		t.Errorf("got %s, want %s", got, want)
	}
}

func TestEncodeRepliesRefuses(t *testing.T) {
	for name, rs := range map[string][]wire.Reply{
		"none":           nil,
		"no fingerprint": {{Outcome: ledger.Outcome{CommandID: "c1", Status: ledger.StatusApplied}}},
	} {
		t.Run(name, func(t *testing.T) {
			if v, err := wire.EncodeReplies(rs); err == nil {
				t.Errorf("got %s, want an error", v)
			}
		})
	}
}

func TestDecodeRepliesRejects(t *testing.T) {
	for name, value := range map[string]string{
		"empty":              ``,
		"truncated":          `[{"fingerprint":"01","outcome":{"command_id":"c1","status":"applied"}}`,
		"not an array":       `{"fingerprint":"01","outcome":{"command_id":"c1","status":"applied"}}`,
		"a v1 outcome":       `{"command_id":"c1","status":"applied"}`,
		"null":               `null`,
		"empty array":        `[]`,
		"missing fp":         `[{"outcome":{"command_id":"c1","status":"applied"}}]`,
		"empty fp":           `[{"fingerprint":"","outcome":{"command_id":"c1","status":"applied"}}]`,
		"fp not hex":         `[{"fingerprint":"zz","outcome":{"command_id":"c1","status":"applied"}}]`,
		"fp odd length":      `[{"fingerprint":"abc","outcome":{"command_id":"c1","status":"applied"}}]`,
		"missing outcome":    `[{"fingerprint":"01"}]`,
		"null outcome":       `[{"fingerprint":"01","outcome":null}]`,
		"no command id":      `[{"fingerprint":"01","outcome":{"status":"applied"}}]`,
		"no status":          `[{"fingerprint":"01","outcome":{"command_id":"c1"}}]`,
		"one bad of two":     `[{"fingerprint":"01","outcome":{"command_id":"c1","status":"applied"}},{"fingerprint":"","outcome":{"command_id":"c2","status":"applied"}}]`,
		"element not object": `[1]`,
	} {
		t.Run(name, func(t *testing.T) {
			if got, err := wire.DecodeReplies([]byte(value)); err == nil {
				t.Errorf("got %+v, want an error", got)
			}
		})
	}
}

func TestAcceptsBatch(t *testing.T) {
	for _, tt := range []struct {
		formats string
		want    bool
	}{
		{"", false},
		{"1", false},
		{"1,2", true},
		{wire.ReplyFormats, true},
		{"2", true},
		{" 1 , 2 ", true},
		{"12", false},
		{"1,3", false},
	} {
		if got := wire.AcceptsBatch(tt.formats); got != tt.want {
			t.Errorf("AcceptsBatch(%q) = %v, want %v", tt.formats, got, tt.want)
		}
	}
}

// FuzzDecodeReplies: whatever the value, DecodeReplies either refuses it or
// returns replies that each carry a fingerprint and a command ID, and that
// encode and decode to themselves.
func FuzzDecodeReplies(f *testing.F) {
	v, err := wire.EncodeReplies(sampleReplies())
	if err != nil {
		f.Fatal(err)
	}
	f.Add(v)
	f.Add([]byte(`[{"fingerprint":"01","outcome":{"command_id":"c1","status":"applied"}}]`))
	f.Add([]byte(`{"command_id":"c1","status":"applied"}`))
	f.Add([]byte(`[]`))
	f.Fuzz(func(t *testing.T, value []byte) {
		rs, err := wire.DecodeReplies(value)
		if err != nil {
			return
		}
		for _, r := range rs {
			if len(r.Fingerprint) == 0 || r.Outcome.CommandID == "" {
				t.Fatalf("decoded %+v from %q", r, value)
			}
		}
		again, err := wire.EncodeReplies(rs)
		if err != nil {
			t.Fatalf("re-encode %+v: %v", rs, err)
		}
		back, err := wire.DecodeReplies(again)
		if err != nil || !reflect.DeepEqual(back, rs) {
			t.Fatalf("round trip of %q: got %+v (%v), want %+v", again, back, err, rs)
		}
	})
}
