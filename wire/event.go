package wire

import (
	"errors"
	"fmt"
	"strconv"
	"time"

	goccy "github.com/goccy/go-json"

	"github.com/ordo-dev/ordo/ledger"
)

// The event record format on the events topic, version 1 (JSON Schema:
// docs/events.schema.json).
//
// Every command the consumer decides and stores, applied or refused,
// becomes one event: exactly one per command ID, published after its
// decision committed, in the order of the commands topic.
//
//   - key: the account ID. The event of a command from commands partition p
//     is on events partition p, so an account's events are in one partition,
//     in decision order.
//   - value: the JSON Event below.
//   - headers: HeaderEventVersion (EventSchemaVersion) and
//     HeaderSourceOffset, the command's offset in its commands partition in
//     decimal (the publisher resumes after the last one it committed).
const (
	EventSchemaVersion = 1

	HeaderEventVersion = "ordo-event-version"
	HeaderSourceOffset = "ordo-source-offset"
)

// Event is one decided command as the events topic carries it.
type Event struct {
	SchemaVersion int `json:"schema_version"`
	// EventID is the command ID: consumers deduplicate on it.
	EventID   string        `json:"event_id"`
	CommandID string        `json:"command_id"`
	AccountID string        `json:"account_id"`
	Kind      ledger.Kind   `json:"kind"`   // "" for a record that could not be decoded
	Status    ledger.Status `json:"status"` // applied or rejected
	Code      ledger.Code   `json:"code"`   // why it was rejected; "" when applied
	Detail    string        `json:"detail,omitempty"`
	// Account is the account after the command (as it stands, for a
	// refusal); absent when the account does not exist.
	Account  *ledger.Account  `json:"account,omitempty"`
	Hold     *ledger.Hold     `json:"hold,omitempty"`
	Transfer *ledger.Transfer `json:"transfer,omitempty"`
	// Source is where the command is in the commands topic.
	Source    EventSource `json:"source"`
	DecidedAt time.Time   `json:"decided_at"`
}

// EventSource is a command's place in the commands topic.
type EventSource struct {
	Topic     string `json:"topic"`
	Partition int32  `json:"partition"`
	Offset    int64  `json:"offset"`
}

// NewEvent is the event of a stored decision of the commands topic.
func NewEvent(topic string, d ledger.Decided) Event {
	o := d.Outcome
	return Event{
		SchemaVersion: EventSchemaVersion,
		EventID:       o.CommandID, CommandID: o.CommandID, AccountID: o.AccountID,
		Kind: o.Kind, Status: o.Status, Code: o.Code, Detail: o.Detail,
		Account: o.Account, Hold: o.Hold, Transfer: o.Transfer,
		Source:    EventSource{Topic: topic, Partition: d.Partition, Offset: d.Offset},
		DecidedAt: d.DecidedAt.UTC(),
	}
}

// EncodeEvent returns an event's record value.
func EncodeEvent(e Event) ([]byte, error) { return goccy.Marshal(e) }

// DecodeEvent parses an event record's value. It refuses a schema version
// it does not know.
func DecodeEvent(value []byte) (Event, error) {
	var e Event
	if err := goccy.Unmarshal(value, &e); err != nil {
		return Event{}, fmt.Errorf("decode event: %w", err)
	}
	if e.SchemaVersion != EventSchemaVersion {
		return Event{}, fmt.Errorf("event schema version %d: %w", e.SchemaVersion, ErrEventVersion)
	}
	return e, nil
}

// ErrEventVersion: the event has a schema version this build does not know.
var ErrEventVersion = errors.New("unknown event schema version")

var eventVersionLiteral = strconv.Itoa(EventSchemaVersion)

// EventHeaders are the headers of an event record (see the format above).
func EventHeaders(e Event) (version, sourceOffset string) {
	return eventVersionLiteral, strconv.FormatInt(e.Source.Offset, 10)
}

// ParseSourceOffset reads HeaderSourceOffset.
func ParseSourceOffset(v string) (int64, error) {
	n, err := strconv.ParseInt(v, 10, 64)
	if err != nil || n < 0 {
		return 0, fmt.Errorf("%s header %q: not an offset", HeaderSourceOffset, v)
	}
	return n, nil
}
