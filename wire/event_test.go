package wire_test

import (
	"bytes"
	"encoding/json"
	"errors"
	"os"
	"reflect"
	"slices"
	"testing"
	"time"

	"github.com/pb33f/jsonschema/v6"

	"github.com/ordo-dev/ordo/internal/testinfra"
	"github.com/ordo-dev/ordo/ledger"
	"github.com/ordo-dev/ordo/wire"
)

func sampleEvents() map[string]ledger.Decided {
	at := time.Date(2026, 11, 30, 4, 0, 0, 123456000, time.UTC)
	acct := &ledger.Account{ID: "acct-1", Currency: "USD", Status: ledger.AccountActive, Balance: 1500, Available: 1200, Held: 300, Version: 4}
	settled := at.Add(time.Minute)
	return map[string]ledger.Decided{
		"applied deposit": {Partition: 3, Offset: 17, DecidedAt: at, Outcome: ledger.Outcome{
			CommandID: "c1", Kind: ledger.KindDeposit, AccountID: "acct-1", Status: ledger.StatusApplied, Account: acct}},
		"refused withdrawal": {Partition: 3, Offset: 18, DecidedAt: at, Outcome: ledger.Outcome{
			CommandID: "c2", Kind: ledger.KindWithdrawal, AccountID: "acct-1", Status: ledger.StatusRejected,
			Code: ledger.CodeInsufficientFunds, Detail: "balance too low", Account: acct}},
		"refused, no account": {Partition: 0, Offset: 0, DecidedAt: at, Outcome: ledger.Outcome{
			CommandID: "c3", Kind: ledger.KindDeposit, AccountID: "nobody", Status: ledger.StatusRejected, Code: ledger.CodeAccountNotFound}},
		"undecodable record": {Partition: 1, Offset: 9, DecidedAt: at, Outcome: ledger.Outcome{
			CommandID: "kafka:1:9", AccountID: `"\x00"`, Status: ledger.StatusRejected, Code: ledger.CodeInvalidCommand, Detail: "not JSON"}},
		"captured hold": {Partition: 3, Offset: 19, DecidedAt: at, Outcome: ledger.Outcome{
			CommandID: "c4", Kind: ledger.KindCapture, AccountID: "acct-1", Status: ledger.StatusApplied, Account: acct,
			Hold: &ledger.Hold{ID: "h1", AccountID: "acct-1", Amount: 300, Captured: 300, Status: ledger.HoldCaptured,
				CreatedAt: at, ExpiresAt: at.Add(time.Hour), SettledAt: &settled}}},
		"pending transfer": {Partition: 3, Offset: 20, DecidedAt: at, Outcome: ledger.Outcome{
			CommandID: "c5", Kind: ledger.KindTransfer, AccountID: "acct-1", Status: ledger.StatusApplied, Account: acct,
			Transfer: &ledger.Transfer{ID: "t1", From: "acct-1", To: "acct-2", Amount: 5, Currency: "USD", Status: ledger.TransferPending, CreatedAt: at}}},
	}
}

func TestEventEncoding(t *testing.T) {
	schema := testinfra.JSONSchema(t, "../docs/events.schema.json")
	for name, d := range sampleEvents() {
		t.Run(name, func(t *testing.T) {
			e := wire.NewEvent("ordo.commands", d)
			if e.EventID != d.Outcome.CommandID || e.CommandID != d.Outcome.CommandID {
				t.Errorf("got event_id %q, command_id %q, want both %q", e.EventID, e.CommandID, d.Outcome.CommandID)
			}
			if want := (wire.EventSource{Topic: "ordo.commands", Partition: d.Partition, Offset: d.Offset}); e.Source != want {
				t.Errorf("got source %+v, want %+v", e.Source, want)
			}
			value, err := wire.EncodeEvent(e)
			if err != nil {
				t.Fatal(err)
			}
			doc, err := jsonschema.UnmarshalJSON(bytes.NewReader(value))
			if err != nil {
				t.Fatal(err)
			}
			if err := schema.Validate(doc); err != nil {
				t.Errorf("event %s does not validate against docs/events.schema.json: %v", value, err)
			}
			back, err := wire.DecodeEvent(value)
			if err != nil {
				t.Fatal(err)
			}
			if !reflect.DeepEqual(back, e) {
				t.Errorf("round trip: got %+v, want %+v", back, e)
			}
			version, offset := wire.EventHeaders(e)
			if version != "1" {
				t.Errorf("got version header %q, want 1", version)
			}
			if n, err := wire.ParseSourceOffset(offset); err != nil || n != d.Offset {
				t.Errorf("got source offset header %q (%d, %v), want %d", offset, n, err, d.Offset)
			}
		})
	}
}

// TestEventSchemaRefuses shows the schema is not vacuous: each broken event
// fails it.
func TestEventSchemaRefuses(t *testing.T) {
	schema := testinfra.JSONSchema(t, "../docs/events.schema.json")
	good, err := wire.EncodeEvent(wire.NewEvent("ordo.commands", sampleEvents()["applied deposit"]))
	if err != nil {
		t.Fatal(err)
	}
	for name, breakIt := range map[string]func(m map[string]any){
		"no source":             func(m map[string]any) { delete(m, "source") },
		"other schema version":  func(m map[string]any) { m["schema_version"] = 2 },
		"unknown status":        func(m map[string]any) { m["status"] = "pending" },
		"applied with a code":   func(m map[string]any) { m["code"] = "insufficient_funds" },
		"rejected without code": func(m map[string]any) { m["status"] = "rejected" },
		"decided_at not a time": func(m map[string]any) { m["decided_at"] = "yesterday" },
		"version zero":          func(m map[string]any) { m["account"].(map[string]any)["version"] = 0 },
	} {
		t.Run(name, func(t *testing.T) {
			var m map[string]any
			if err := json.Unmarshal(good, &m); err != nil {
				t.Fatal(err)
			}
			breakIt(m)
			if err := schema.Validate(m); err == nil {
				t.Errorf("got valid, want the schema to refuse %v", m)
			}
		})
	}
}

func TestEventSchemaKnowsEveryKind(t *testing.T) {
	raw, err := os.ReadFile("../docs/events.schema.json")
	if err != nil {
		t.Fatal(err)
	}
	var doc struct {
		Properties struct {
			Kind struct {
				Enum []string `json:"enum"`
			} `json:"kind"`
		} `json:"properties"`
	}
	if err := json.Unmarshal(raw, &doc); err != nil {
		t.Fatal(err)
	}
	for _, k := range ledger.Kinds {
		if !slices.Contains(doc.Properties.Kind.Enum, string(k)) {
			t.Errorf("kind %q is missing from the schema's kind enum %v", k, doc.Properties.Kind.Enum)
		}
	}
}

func TestDecodeEventRefusesUnknownVersion(t *testing.T) {
	_, err := wire.DecodeEvent([]byte(`{"schema_version":2,"event_id":"c1"}`))
	if !errors.Is(err, wire.ErrEventVersion) {
		t.Errorf("got %v, want ErrEventVersion", err)
	}
}
