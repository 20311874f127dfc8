package wire

import (
	"bytes"
	"fmt"
	"strconv"

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
//     to a reply topic (see Reply). The consumer copies HeaderFingerprint
//     into the reply (empty when the record has none): the API sets it to
//     the hex-encoded ledger.Command.Fingerprint of the record's command,
//     so that a reply answers only a request for that very command.
const (
	EnvelopeVersion = 1

	HeaderCommandID      = "ordo-command-id"
	HeaderReplyTopic     = "ordo-reply-topic"
	HeaderReplyPartition = "ordo-reply-partition"
	HeaderReplyTo        = "ordo-reply-to"
	HeaderFingerprint    = "ordo-fingerprint"
)

// Envelope is the JSON value of a command record.
//
//	{"v":1,"kind":"deposit","account_id":"alice","amount":100}
//	{"v":1,"kind":"open_account","account_id":"alice","currency":"USD","overdraft_limit":0}
type Envelope struct {
	V              int         `json:"v"`
	Kind           ledger.Kind `json:"kind"`
	AccountID      string      `json:"account_id"`
	Amount         int64       `json:"amount,omitempty"`
	Currency       string      `json:"currency,omitempty"`
	OverdraftLimit int64       `json:"overdraft_limit,omitempty"`
}

// EncodeCommand returns the record value for cmd.
func EncodeCommand(cmd ledger.Command) ([]byte, error) {
	return json.Marshal(Envelope{
		V: EnvelopeVersion, Kind: cmd.Kind, AccountID: cmd.AccountID,
		Amount: cmd.Amount, Currency: cmd.Currency, OverdraftLimit: cmd.OverdraftLimit,
	})
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
