package wire

import (
	"bytes"
	"encoding/json"
	"errors"
	"reflect"
	"slices"
	"strings"
	"testing"

	"github.com/ordo-dev/ordo/ledger"
)

// FuzzDecodeCommand feeds the envelope decoder arbitrary record values.
// It must never panic; a refusal is a *ledger.FieldError (ledger.ErrInvalid);
// an accepted value is a valid command of only its kind's members, which
// encodes to a value that decodes to the same command and encodes to the
// same bytes again.
//
// Seeds: the f.Add calls below and testdata/fuzz/FuzzDecodeCommand.
func FuzzDecodeCommand(f *testing.F) {
	for _, v := range []string{
		`{"v":1,"kind":"deposit","account_id":"alice","amount":100}`,
		`{"v":1,"kind":"withdrawal","account_id":"alice","amount":25,"deadline":"2026-11-30T13:00:00.000Z"}`,
		`{"v":1,"kind":"open_account","account_id":"alice","currency":"USD","overdraft_limit":0}`,
		`{"v":1,"kind":"open_account","account_id":"alice","currency":"EUR","overdraft_limit":500}`,
		`{"v":1,"kind":"hold","account_id":"alice","amount":30,"expires_in":"15m0s"}`,
		`{"v":1,"kind":"capture","account_id":"alice","hold_id":"hold-1","amount":20,"if_match":7}`,
		`{"v":1,"kind":"capture","account_id":"alice","hold_id":"hold-1"}`,
		`{"v":1,"kind":"release","account_id":"alice","hold_id":"hold-1","if_match":"*"}`,
		`{"v":1,"kind":"expire_hold","account_id":"alice","hold_id":"hold-1"}`,
		`{"v":1,"kind":"set_overdraft_limit","account_id":"alice","overdraft_limit":0}`,
		`{"v":1,"kind":"freeze","account_id":"alice"}`,
		`{"v":1,"kind":"unfreeze","account_id":"alice"}`,
		`{"v":1,"kind":"close","account_id":"alice"}`,
		`{"v":1,"kind":"transfer","account_id":"alice","amount":5,"currency":"USD","counterparty":"bob"}`,
		`{"v":1,"kind":"transfer_credit","account_id":"bob","amount":5,"currency":"USD","counterparty":"alice","transfer_id":"xfer-1"}`,
		`{"v":1,"kind":"transfer_settle","account_id":"alice","transfer_id":"xfer-1","reason":"account_closed"}`,
		`{"v":1,"kind":"deposit","account_id":"alice","amount":9007199254740992}`,
		`{"v":1,"kind":"deposit","account_id":"alice","amount":1,"amount":2}`,
		`{"v":2,"kind":"deposit","account_id":"alice","amount":1}`,
		`{"v":1,"kind":"deposit","account_id":"alice","amount":1,"currency":"USD"}`,
		`{"v":1,"kind":"hold","account_id":"alice","amount":1,"expires_in":"-1s"}`,
		`{"v":1,"kind":"deposit","account_id":"alice","amount":1,"deadline":"2026-11-30T13:00:00+02:00"}`,
		`{"v":1,"kind":"deposit","account_id":"alice","amount":1,"deadline":"2026-11-30T13:00:00.123456789Z"}`,
		`{"v":1,"kind":"deposit","account_id":"\u0061lice","amount":1}`,
		`{"v":1,"kind":"nope","account_id":"alice"}`,
		`null`, `[]`, `{}`, ``,
	} {
		f.Add("c1", []byte(v))
	}
	f.Fuzz(func(t *testing.T, id string, value []byte) {
		cmd, err := DecodeCommand(id, value)
		if err != nil {
			var fe *ledger.FieldError
			if !errors.As(err, &fe) || !errors.Is(err, ledger.ErrInvalid) {
				t.Fatalf("got error %T %v, want a *ledger.FieldError", err, err)
			}
			return
		}
		if err := cmd.Validate(); err != nil {
			t.Fatalf("decoded %+v, which Validate refuses: %v", cmd, err)
		}
		if cmd.ID != id {
			t.Fatalf("got command ID %q, want %q", cmd.ID, id)
		}
		checkMembers(t, cmd, value)

		enc, err := EncodeCommand(cmd)
		if err != nil {
			t.Fatalf("encode %+v: %v", cmd, err)
		}
		again, err := DecodeCommand(id, enc)
		if err != nil {
			t.Fatalf("decode(encode(x)) = %s: %v", enc, err)
		}
		if !sameCommand(cmd, again) {
			t.Fatalf("decode(encode(x)) changed the command:\n got %+v\nwant %+v\n(encoded %s)", again, cmd, enc)
		}
		if !bytes.Equal(cmd.Fingerprint(), again.Fingerprint()) {
			t.Fatalf("decode(encode(x)) changed the fingerprint of %+v", cmd)
		}
		enc2, err := EncodeCommand(again)
		if err != nil || !bytes.Equal(enc, enc2) {
			t.Fatalf("encoding is not canonical: %s then %s (%v)", enc, enc2, err)
		}
	})
}

// checkMembers checks an accepted value against kindMembers: every member
// is v, kind, account_id, if_match, deadline or one of the kind's, and
// every required member of the kind is there.
func checkMembers(t *testing.T, cmd ledger.Command, value []byte) {
	t.Helper()
	var members map[string]json.RawMessage
	if err := json.Unmarshal(value, &members); err != nil {
		t.Fatalf("accepted %q, which encoding/json does not read as an object: %v", value, err)
	}
	allowed := kindMembers[cmd.Kind]
	for name := range members {
		switch name {
		case "v", "kind", "account_id", "if_match", "deadline":
			continue
		}
		if !slices.Contains(allowed, name) && !slices.Contains(allowed, "!"+name) {
			t.Fatalf("accepted member %q in a %s command (%s)", name, cmd.Kind, value)
		}
	}
	for _, m := range allowed {
		if name, required := strings.CutPrefix(m, "!"); required {
			if _, ok := members[name]; !ok {
				t.Fatalf("accepted a %s command without its required member %q (%s)", cmd.Kind, name, value)
			}
		}
	}
}

// sameCommand compares two commands, their times by instant.
func sameCommand(a, b ledger.Command) bool {
	if !a.Deadline.Equal(b.Deadline) || !a.At.Equal(b.At) {
		return false
	}
	a.Deadline, a.At = b.Deadline, b.At
	return reflect.DeepEqual(a, b)
}
