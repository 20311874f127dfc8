package wire

import (
	"encoding/hex"
	"errors"
	"fmt"
	"strings"

	goccy "github.com/goccy/go-json"

	"github.com/ordo-dev/ordo/ledger"
)

// The reply record formats on the replies topic.
//
// Every reply record has the headers HeaderReplyTo (the waiting API
// instance's ID, copied from the command record) and, for version 2,
// HeaderReplyFormat.
//
//   - Version 1 (no HeaderReplyFormat, or "1"): one outcome per record. The
//     value is the outcome (EncodeOutcome), the key its command ID, and
//     HeaderFingerprint the hex-encoded fingerprint copied from the command
//     record (empty when it had none).
//   - Version 2 (HeaderReplyFormat "2"): the outcomes of several commands
//     decided in one committed transaction for one API instance. The value
//     is a JSON array of {"fingerprint": hex, "outcome": outcome}, in log
//     order, never empty (EncodeReplies); the key is the reply-to ID.
//
// A consumer sends version 2 only in answer to command records whose
// HeaderReplyFormats lists "2": an API instance that does not set it (one
// older than the format) gets version 1, one record per command.
const (
	HeaderReplyFormat  = "ordo-reply-format"  // on a reply record: its format
	HeaderReplyFormats = "ordo-reply-formats" // on a command record: the reply formats its requester reads

	ReplyFormatBatch = "2"
	// ReplyFormats is what an API instance that reads both formats
	// advertises in HeaderReplyFormats.
	ReplyFormats = "1,2"
)

// AcceptsBatch reports whether a HeaderReplyFormats value lists the batched
// reply format.
func AcceptsBatch(formats string) bool {
	for f := range strings.SplitSeq(formats, ",") {
		if strings.TrimSpace(f) == ReplyFormatBatch {
			return true
		}
	}
	return false
}

// Reply is one outcome in a batched (version 2) reply, with the fingerprint
// of the command it answers.
type Reply struct {
	Fingerprint []byte
	Outcome     ledger.Outcome
}

type replyJSON struct {
	Fingerprint string          `json:"fingerprint"`
	Outcome     *ledger.Outcome `json:"outcome"`
}

// EncodeReply is one element of a version 2 value; JoinReplies makes the
// value of elements, so that a caller can bound each record's size as it
// goes.
func EncodeReply(r Reply) ([]byte, error) {
	if len(r.Fingerprint) == 0 {
		return nil, errors.New("reply without a fingerprint")
	}
	return goccy.Marshal(replyJSON{Fingerprint: hex.EncodeToString(r.Fingerprint), Outcome: &r.Outcome})
}

// JoinReplies is the version 2 value of elements from EncodeReply.
func JoinReplies(elems [][]byte) []byte {
	n := 2
	for _, e := range elems {
		n += len(e) + 1
	}
	b := make([]byte, 0, n)
	b = append(b, '[')
	for i, e := range elems {
		if i > 0 {
			b = append(b, ',')
		}
		b = append(b, e...)
	}
	return append(b, ']')
}

// EncodeReplies is the version 2 value of rs.
func EncodeReplies(rs []Reply) ([]byte, error) {
	if len(rs) == 0 {
		return nil, errors.New("no replies")
	}
	elems := make([][]byte, len(rs))
	for i, r := range rs {
		e, err := EncodeReply(r)
		if err != nil {
			return nil, fmt.Errorf("reply %d: %w", i, err)
		}
		elems[i] = e
	}
	return JoinReplies(elems), nil
}

// DecodeReplies parses a version 2 value. It refuses the whole value if any
// element lacks a fingerprint or an outcome with a command ID and status:
// an element that cannot be matched to its request must not be guessed at.
func DecodeReplies(value []byte) ([]Reply, error) {
	var raw []replyJSON
	if err := goccy.Unmarshal(value, &raw); err != nil {
		return nil, fmt.Errorf("batched reply: %w", err)
	}
	if len(raw) == 0 {
		return nil, errors.New("batched reply: no outcomes")
	}
	out := make([]Reply, len(raw))
	for i, r := range raw {
		fp, err := hex.DecodeString(r.Fingerprint)
		if err != nil || len(fp) == 0 {
			return nil, fmt.Errorf("batched reply %d: fingerprint %q is not hex", i, r.Fingerprint)
		}
		if r.Outcome == nil || r.Outcome.CommandID == "" || r.Outcome.Status == "" {
			return nil, fmt.Errorf("batched reply %d: no outcome with a command ID and status", i)
		}
		out[i] = Reply{Fingerprint: fp, Outcome: *r.Outcome}
	}
	return out, nil
}
