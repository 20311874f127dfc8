package wire

import (
	"fmt"
	"strconv"

	"github.com/go-json-experiment/json/jsontext"
	goccy "github.com/goccy/go-json"

	"github.com/ordo-dev/ordo/internal/strictjson"
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

// The envelope is the JSON value of a command record:
//
//	{"v":1,"kind":"deposit","account_id":"alice","amount":100}
//	{"v":1,"kind":"open_account","account_id":"alice","currency":"USD","overdraft_limit":0}
//
// It is read under the rules of package strictjson, the same as the HTTP
// bodies: exact names, no duplicates, no nulls, integers as plain digits.
// Each kind has its own members: amount for deposit and withdrawal;
// currency and the optional overdraft_limit (default 0) for open_account.
// A member of another kind is refused, not ignored. rawEnvelope is the
// envelope as read, before its members are checked.
type rawEnvelope struct {
	V              jsontext.Value `json:"v"`
	Kind           jsontext.Value `json:"kind"`
	AccountID      jsontext.Value `json:"account_id"`
	Amount         jsontext.Value `json:"amount"`
	Currency       jsontext.Value `json:"currency"`
	OverdraftLimit jsontext.Value `json:"overdraft_limit"`
}

// EncodeCommand returns the record value for cmd: the members of its kind,
// in the order shown above. It is on every request's path, so it appends
// rather than reflects (see BenchmarkCodec).
func EncodeCommand(cmd ledger.Command) ([]byte, error) {
	b := make([]byte, 0, 96)
	b = append(b, `{"v":`...)
	b = strconv.AppendInt(b, EnvelopeVersion, 10)
	b = append(b, `,"kind":`...)
	b, err := jsontext.AppendQuote(b, cmd.Kind)
	if err == nil {
		b = append(b, `,"account_id":`...)
		b, err = jsontext.AppendQuote(b, cmd.AccountID)
	}
	if err != nil {
		return nil, fmt.Errorf("encode command %s: %w", cmd.ID, err)
	}
	switch cmd.Kind {
	case ledger.KindOpenAccount:
		b = append(b, `,"currency":`...)
		if b, err = jsontext.AppendQuote(b, cmd.Currency); err != nil {
			return nil, fmt.Errorf("encode command %s: %w", cmd.ID, err)
		}
		if cmd.OverdraftLimit != 0 {
			b = append(b, `,"overdraft_limit":`...)
			b = strconv.AppendInt(b, cmd.OverdraftLimit, 10)
		}
	default:
		b = append(b, `,"amount":`...)
		b = strconv.AppendInt(b, cmd.Amount, 10)
	}
	return append(b, '}'), nil
}

// DecodeCommand parses a record value into a validated command with the
// given ID. Any failure is a *ledger.FieldError, so it wraps
// ledger.ErrInvalid.
func DecodeCommand(id string, value []byte) (ledger.Command, error) {
	var env rawEnvelope
	if err := strictjson.Unmarshal("envelope", value, &env); err != nil {
		return ledger.Command{}, err
	}
	if len(env.V) == 0 {
		return ledger.Command{}, &ledger.FieldError{Field: "v", Reason: "is required (the envelope version, 1)"}
	}
	if string(env.V) != envelopeVersionLiteral {
		return ledger.Command{}, &ledger.FieldError{Field: "v", Reason: "envelope version " + string(env.V) + " is not supported (want 1)"}
	}
	kind, err := strictjson.String("kind", env.Kind)
	if err != nil {
		return ledger.Command{}, err
	}
	accountID, err := strictjson.String("account_id", env.AccountID)
	if err != nil {
		return ledger.Command{}, err
	}
	cmd := ledger.Command{ID: id, Kind: ledger.Kind(kind), AccountID: accountID}
	switch cmd.Kind {
	case ledger.KindDeposit, ledger.KindWithdrawal:
		of := "a " + kind + " command"
		if err := strictjson.Absent("currency", env.Currency, of); err != nil {
			return ledger.Command{}, err
		}
		if err := strictjson.Absent("overdraft_limit", env.OverdraftLimit, of); err != nil {
			return ledger.Command{}, err
		}
		if cmd.Amount, err = strictjson.Amount("amount", env.Amount); err != nil {
			return ledger.Command{}, err
		}
	case ledger.KindOpenAccount:
		if err := strictjson.Absent("amount", env.Amount, "an open_account command"); err != nil {
			return ledger.Command{}, err
		}
		if cmd.Currency, err = strictjson.String("currency", env.Currency); err != nil {
			return ledger.Command{}, err
		}
		if cmd.OverdraftLimit, err = strictjson.Limit("overdraft_limit", env.OverdraftLimit); err != nil {
			return ledger.Command{}, err
		}
	}
	if err := cmd.Validate(); err != nil {
		return ledger.Command{}, err
	}
	return cmd, nil
}

var envelopeVersionLiteral = strconv.Itoa(EnvelopeVersion)

// DefaultCommandID is the ID of a record submitted without HeaderCommandID:
// stable across redeliveries of the same record.
func DefaultCommandID(partition int32, offset int64) string {
	return "kafka:" + strconv.Itoa(int(partition)) + ":" + strconv.FormatInt(offset, 10)
}

// EncodeOutcome returns the JSON form of an outcome: the value of a reply
// record and the outcome stored with a decided command. Outcomes are Ordo's
// own output, never client input, so they are written and read with
// goccy/go-json, about twice as fast here as the strict library
// (BenchmarkCodec); client input goes through strictjson.
func EncodeOutcome(out ledger.Outcome) ([]byte, error) {
	return goccy.Marshal(out)
}

// DecodeOutcome parses what EncodeOutcome returned.
func DecodeOutcome(value []byte) (ledger.Outcome, error) {
	var out ledger.Outcome
	err := goccy.Unmarshal(value, &out)
	return out, err
}
