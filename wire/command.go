package wire

import (
	"bytes"
	"fmt"
	"strconv"
	"time"

	json "github.com/goccy/go-json"

	"github.com/ordo-dev/ordo/ledger"
)

// The command record format on the commands topic, version 1.
//
// Any Kafka client may submit commands:
//
//   - key: the account ID, partitioned with Kafka's default murmur2 key
//     hashing (Java clients' default; librdkafka needs partitioner=murmur2_random).
//     A record whose key or partition does not match its account is rejected
//     as "misrouted", because a second partition would be a second writer.
//   - value: the JSON envelope below.
//   - headers (all optional): HeaderCommandID (else the command ID is
//     "kafka:<partition>:<offset>"), and HeaderReplyTopic,
//     HeaderReplyPartition and HeaderReplyTo to have the outcome published
//     to a reply topic (see Reply).
const (
	EnvelopeVersion = 1

	HeaderCommandID      = "ordo-command-id"
	HeaderReplyTopic     = "ordo-reply-topic"
	HeaderReplyPartition = "ordo-reply-partition"
	HeaderReplyTo        = "ordo-reply-to"
)

// Envelope is the JSON value of a command record.
//
//	{"v":1,"kind":"deposit","account_id":"alice","amount":100}
//	{"v":1,"kind":"open_account","account_id":"alice","currency":"USD","overdraft_limit":0}
//	{"v":1,"kind":"withdrawal","account_id":"alice","amount":25,"deadline":"2026-11-30T13:00:00.000Z"}
//
// deadline (optional, RFC 3339): the last moment the command may be
// decided; decided later, it is refused as "expired". Without it, the
// consumer takes the record's timestamp plus its default deadline.
type Envelope struct {
	V              int         `json:"v"`
	Kind           ledger.Kind `json:"kind"`
	AccountID      string      `json:"account_id"`
	Amount         int64       `json:"amount,omitempty"`
	Currency       string      `json:"currency,omitempty"`
	OverdraftLimit int64       `json:"overdraft_limit,omitempty"`
	Deadline       string      `json:"deadline,omitempty"`
}

// deadlineLayout writes deadlines in UTC with milliseconds.
const deadlineLayout = "2006-01-02T15:04:05.000Z07:00"

// EncodeCommand returns the record value for cmd.
func EncodeCommand(cmd ledger.Command) ([]byte, error) {
	env := Envelope{
		V: EnvelopeVersion, Kind: cmd.Kind, AccountID: cmd.AccountID,
		Amount: cmd.Amount, Currency: cmd.Currency, OverdraftLimit: cmd.OverdraftLimit,
	}
	if !cmd.Deadline.IsZero() {
		env.Deadline = cmd.Deadline.UTC().Format(deadlineLayout)
	}
	return json.Marshal(env)
}

// DecodeCommand parses a record value into a validated command with the
// given ID. Any failure wraps ledger.ErrInvalid.
func DecodeCommand(id string, value []byte) (ledger.Command, error) {
	var env Envelope
	dec := json.NewDecoder(bytes.NewReader(value))
	dec.DisallowUnknownFields()
	if err := dec.Decode(&env); err != nil {
		return ledger.Command{}, fmt.Errorf("decode envelope: %v: %w", err, ledger.ErrInvalid)
	}
	if dec.More() {
		return ledger.Command{}, fmt.Errorf("decode envelope: trailing data: %w", ledger.ErrInvalid)
	}
	if env.V != EnvelopeVersion {
		return ledger.Command{}, fmt.Errorf("envelope version %d unsupported (want %d): %w", env.V, EnvelopeVersion, ledger.ErrInvalid)
	}
	cmd := ledger.Command{
		ID: id, Kind: env.Kind, AccountID: env.AccountID, Amount: env.Amount,
		Currency: env.Currency, OverdraftLimit: env.OverdraftLimit,
	}
	if env.Deadline != "" {
		d, err := time.Parse(time.RFC3339Nano, env.Deadline)
		if err != nil {
			return ledger.Command{}, &ledger.FieldError{Field: "deadline", Reason: "must be an RFC 3339 timestamp such as 2026-11-30T13:00:00Z"}
		}
		cmd.Deadline = d
	}
	if err := cmd.Validate(); err != nil {
		return ledger.Command{}, err
	}
	return cmd, nil
}

// DefaultCommandID is the ID of a record submitted without HeaderCommandID:
// stable across redeliveries of the same record.
func DefaultCommandID(partition int32, offset int64) string {
	return "kafka:" + strconv.Itoa(int(partition)) + ":" + strconv.FormatInt(offset, 10)
}

// EncodeOutcome returns the JSON form of an outcome: the value of a reply
// record and the outcome stored with a decided command.
func EncodeOutcome(out ledger.Outcome) ([]byte, error) {
	return json.Marshal(out)
}

// DecodeOutcome parses what EncodeOutcome returned.
func DecodeOutcome(value []byte) (ledger.Outcome, error) {
	var out ledger.Outcome
	err := json.Unmarshal(value, &out)
	return out, err
}
