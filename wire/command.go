package wire

import (
	"fmt"
	"slices"
	"strconv"
	"strings"
	"time"

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
//     to a reply topic (see Reply). The consumer copies HeaderFingerprint
//     into the reply (empty when the record has none): the API sets it to
//     the hex-encoded ledger.Command.Fingerprint of the record's command,
//     so that a reply answers only a request for that very command.
//     HeaderReplyFormats lists the reply formats the requester reads (see
//     reply.go); without it, replies are version 1.
const (
	EnvelopeVersion = 1

	HeaderCommandID      = "ordo-command-id"
	HeaderReplyTopic     = "ordo-reply-topic"
	HeaderReplyPartition = "ordo-reply-partition"
	HeaderReplyTo        = "ordo-reply-to"
	HeaderFingerprint    = "ordo-fingerprint"
)

// The envelope is the JSON value of a command record:
//
//	{"v":1,"kind":"deposit","account_id":"alice","amount":100}
//	{"v":1,"kind":"open_account","account_id":"alice","currency":"USD","overdraft_limit":0}
//	{"v":1,"kind":"hold","account_id":"alice","amount":30,"expires_in":"15m0s"}
//	{"v":1,"kind":"capture","account_id":"alice","hold_id":"hold-…","amount":20,"if_match":7}
//	{"v":1,"kind":"withdrawal","account_id":"alice","amount":25,"deadline":"2026-11-30T13:00:00.000Z"}
//	{"v":1,"kind":"deposit","account_id":"alice","amount":100,"counterparty":"bank:acme","reference":"inv-7","metadata":{"order":"42"}}
//
// It is read under the rules of package strictjson, the same as the HTTP
// bodies: exact names, no duplicates, no nulls, integers as plain digits.
// Each kind has its own members (kindMembers); a member of another kind is
// refused, not ignored. Every kind takes the optional journal members
// reference (a string) and metadata (a flat object of strings, in any key
// order), and deposit, withdrawal and capture an optional external
// counterparty; envelopes written before these members existed read as
// before. Every kind may also carry:
//
//   - if_match (optional): the account version the command requires where
//     it is applied, or "*" for "the account exists"; otherwise it is
//     refused as precondition_failed.
//   - deadline (optional, RFC 3339): the last moment the command may be
//     decided; decided later, it is refused as "expired". Its precision is
//     milliseconds: finer digits are dropped. Without it, the
//     consumer takes the record's timestamp plus its default deadline.
//
// rawEnvelope is the envelope as read, before its members are checked.
type rawEnvelope struct {
	V              jsontext.Value `json:"v"`
	Kind           jsontext.Value `json:"kind"`
	AccountID      jsontext.Value `json:"account_id"`
	Amount         jsontext.Value `json:"amount"`
	Currency       jsontext.Value `json:"currency"`
	OverdraftLimit jsontext.Value `json:"overdraft_limit"`
	HoldID         jsontext.Value `json:"hold_id"`
	ExpiresIn      jsontext.Value `json:"expires_in"`
	Counterparty   jsontext.Value `json:"counterparty"`
	TransferID     jsontext.Value `json:"transfer_id"`
	Reason         jsontext.Value `json:"reason"`
	Reference      jsontext.Value `json:"reference"`
	Metadata       jsontext.Value `json:"metadata"`
	IfMatch        jsontext.Value `json:"if_match"`
	Deadline       jsontext.Value `json:"deadline"`
}

// kindMembers are the members each kind takes besides v, kind, account_id,
// if_match and deadline; a required one is marked with a '!'.
var kindMembers = map[ledger.Kind][]string{
	ledger.KindOpenAccount:       {"!currency", "overdraft_limit", "reference", "metadata"},
	ledger.KindDeposit:           {"!amount", "counterparty", "reference", "metadata"},
	ledger.KindWithdrawal:        {"!amount", "counterparty", "reference", "metadata"},
	ledger.KindHold:              {"!amount", "expires_in", "reference", "metadata"},
	ledger.KindCapture:           {"!hold_id", "amount", "counterparty", "reference", "metadata"},
	ledger.KindRelease:           {"!hold_id", "reference", "metadata"},
	ledger.KindExpireHold:        {"!hold_id", "reference", "metadata"},
	ledger.KindSetOverdraftLimit: {"!overdraft_limit", "reference", "metadata"},
	ledger.KindFreeze:            {"reference", "metadata"},
	ledger.KindUnfreeze:          {"reference", "metadata"},
	ledger.KindClose:             {"reference", "metadata"},
	ledger.KindTransfer:          {"!amount", "!currency", "!counterparty", "reference", "metadata"},
	ledger.KindTransferCredit:    {"!amount", "!currency", "!counterparty", "!transfer_id", "reference", "metadata"},
	ledger.KindTransferSettle:    {"!transfer_id", "reason", "reference", "metadata"},
}

// member returns the raw value of one of kindMemberNames (a switch, not a
// map: this runs for every record).
func (env *rawEnvelope) member(name string) jsontext.Value {
	switch name {
	case "amount":
		return env.Amount
	case "currency":
		return env.Currency
	case "overdraft_limit":
		return env.OverdraftLimit
	case "hold_id":
		return env.HoldID
	case "expires_in":
		return env.ExpiresIn
	case "counterparty":
		return env.Counterparty
	case "transfer_id":
		return env.TransferID
	case "reason":
		return env.Reason
	case "reference":
		return env.Reference
	case "metadata":
		return env.Metadata
	}
	return nil
}

// kindMemberNames are the members of kindMembers, in the order they are
// checked.
var kindMemberNames = []string{"amount", "currency", "overdraft_limit", "hold_id", "expires_in", "counterparty", "transfer_id", "reason", "reference", "metadata"}

// deadlineLayout writes deadlines in UTC with milliseconds.
const deadlineLayout = "2006-01-02T15:04:05.000Z07:00"

// EncodeCommand returns the record value for cmd: the members of its kind,
// in the order of kindMembers. It is on every request's path, so it
// appends rather than reflects (see BenchmarkCodec).
func EncodeCommand(cmd ledger.Command) ([]byte, error) {
	members, ok := kindMembers[cmd.Kind]
	if !ok {
		return nil, fmt.Errorf("encode command %s: unknown kind %q", cmd.ID, cmd.Kind)
	}
	b := make([]byte, 0, 128)
	b = append(b, `{"v":`...)
	b = strconv.AppendInt(b, EnvelopeVersion, 10)
	str := func(name, v string) error {
		var err error
		b = append(b, `,"`...)
		b = append(b, name...)
		b = append(b, `":`...)
		b, err = jsontext.AppendQuote(b, v)
		return err
	}
	num := func(name string, v int64) {
		b = append(b, `,"`...)
		b = append(b, name...)
		b = append(b, `":`...)
		b = strconv.AppendInt(b, v, 10)
	}
	err := str("kind", string(cmd.Kind))
	if err == nil {
		err = str("account_id", cmd.AccountID)
	}
	for _, m := range members {
		if err != nil {
			break
		}
		required := m[0] == '!'
		switch strings.TrimPrefix(m, "!") {
		case "amount":
			if required || cmd.Amount != 0 {
				num("amount", cmd.Amount)
			}
		case "currency":
			err = str("currency", cmd.Currency)
		case "overdraft_limit":
			if required || cmd.OverdraftLimit != 0 {
				num("overdraft_limit", cmd.OverdraftLimit)
			}
		case "hold_id":
			err = str("hold_id", cmd.HoldID)
		case "expires_in":
			if cmd.HoldFor != 0 {
				err = str("expires_in", cmd.HoldFor.String())
			}
		case "counterparty":
			if required || cmd.Counterparty != "" {
				err = str("counterparty", cmd.Counterparty)
			}
		case "transfer_id":
			err = str("transfer_id", cmd.TransferID)
		case "reason":
			if cmd.Reason != "" {
				err = str("reason", string(cmd.Reason))
			}
		case "reference":
			if cmd.Reference != "" {
				err = str("reference", cmd.Reference)
			}
		case "metadata":
			if cmd.Metadata != "" {
				// Already a JSON object, in the canonical form
				// ledger.NewMetadata makes; any other is refused
				// where the record is decoded (Command.Validate).
				b = append(b, `,"metadata":`...)
				b = append(b, cmd.Metadata...)
			}
		}
	}
	switch {
	case err != nil:
	case cmd.IfMatch == ledger.IfMatchExists:
		err = str("if_match", "*")
	case cmd.IfMatch > 0:
		num("if_match", cmd.IfMatch)
	}
	if err == nil && !cmd.Deadline.IsZero() {
		err = str("deadline", cmd.Deadline.UTC().Format(deadlineLayout))
	}
	if err != nil {
		return nil, fmt.Errorf("encode command %s: %w", cmd.ID, err)
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
	members, ok := kindMembers[cmd.Kind]
	if !ok {
		return ledger.Command{}, cmd.Validate() // names the kinds there are
	}
	of := "a " + kind + " command"
	for _, name := range kindMemberNames {
		if !slices.Contains(members, name) && !slices.Contains(members, "!"+name) {
			if err := strictjson.Absent(name, env.member(name), of); err != nil {
				return ledger.Command{}, err
			}
		}
	}
	for _, m := range members {
		name := strings.TrimPrefix(m, "!")
		v := env.member(name)
		if len(v) == 0 && m[0] != '!' {
			continue
		}
		switch name {
		case "amount":
			cmd.Amount, err = strictjson.Amount(name, v)
		case "currency":
			cmd.Currency, err = strictjson.String(name, v)
		case "overdraft_limit":
			if len(v) == 0 {
				err = &ledger.FieldError{Field: name, Reason: "is required"}
			} else {
				cmd.OverdraftLimit, err = strictjson.Limit(name, v)
			}
		case "hold_id":
			cmd.HoldID, err = strictjson.String(name, v)
		case "expires_in":
			cmd.HoldFor, err = Duration(name, v)
		case "counterparty":
			if cmd.Counterparty, err = strictjson.String(name, v); err == nil && cmd.Counterparty == "" {
				err = &ledger.FieldError{Field: name, Reason: "must not be empty (leave it out for the default, " + ledger.DefaultCounterparty + ")"}
			}
		case "transfer_id":
			cmd.TransferID, err = strictjson.String(name, v)
		case "reason":
			var r string
			r, err = strictjson.String(name, v)
			cmd.Reason = ledger.Code(r)
		case "reference":
			cmd.Reference, err = strictjson.String(name, v)
		case "metadata":
			var m map[string]string
			if m, err = strictjson.StringMap(name, v); err == nil {
				cmd.Metadata, err = ledger.NewMetadata(name, m)
			}
		}
		if err != nil {
			return ledger.Command{}, err
		}
	}
	if cmd.IfMatch, err = ifMatch(env.IfMatch); err != nil {
		return ledger.Command{}, err
	}
	if len(env.Deadline) > 0 {
		s, err := strictjson.String("deadline", env.Deadline)
		if err != nil {
			return ledger.Command{}, err
		}
		if cmd.Deadline, err = time.Parse(time.RFC3339Nano, s); err != nil {
			return ledger.Command{}, &ledger.FieldError{Field: "deadline", Reason: "must be an RFC 3339 timestamp such as 2026-11-30T13:00:00Z"}
		}
		// Deadlines have the envelope's precision, milliseconds: finer
		// digits are dropped (never extending the deadline), so a
		// command re-encoded keeps its deadline exactly.
		cmd.Deadline = cmd.Deadline.Truncate(time.Millisecond)
	}
	if err := cmd.Validate(); err != nil {
		return ledger.Command{}, err
	}
	return cmd, nil
}

// Duration reads a Go duration written as a JSON string, such as "15m".
func Duration(field string, v jsontext.Value) (time.Duration, error) {
	s, err := strictjson.String(field, v)
	if err != nil {
		return 0, err
	}
	d, err := time.ParseDuration(s)
	if err != nil {
		return 0, &ledger.FieldError{Field: field, Reason: "must be a duration such as 90s, 15m or 24h"}
	}
	return d, nil
}

// ifMatch reads the optional if_match member: a version or "*".
func ifMatch(v jsontext.Value) (int64, error) {
	if len(v) == 0 {
		return ledger.IfMatchNone, nil
	}
	if v.Kind() == '"' {
		if string(v) != `"*"` {
			return 0, &ledger.FieldError{Field: "if_match", Reason: `must be an account version or "*"`}
		}
		return ledger.IfMatchExists, nil
	}
	return strictjson.Amount("if_match", v)
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
