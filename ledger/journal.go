package ledger

import (
	"bytes"
	"encoding/json"
	"slices"
	"strconv"
	"unicode"
	"unicode/utf8"
)

// The journal is double-entry. Every entry that moves money names the
// other side: another account for the legs of a transfer (debit, credit,
// refund), an external counterparty for deposits, withdrawals and captures.
// External counterparties have no account row and no balance check; their
// side of an entry is stored beside it, with the opposite amount (see
// ledger/postgres), and their balance is a sum computed on read.

// DefaultCounterparty is the external counterparty of a deposit, withdrawal
// or capture that names none.
const DefaultCounterparty = "external"

// Bounds of the journal fields a command may carry.
const (
	// MaxCounterpartyLen is the longest external counterparty name.
	MaxCounterpartyLen = 64
	// MaxReferenceLen is the longest reference, in characters.
	MaxReferenceLen = 128
	// MaxMetadataKeys, MaxMetadataKeyLen and MaxMetadataValueLen bound
	// metadata: at most 16 keys of 1-64 characters of [A-Za-z0-9_.-],
	// each value at most 256 characters.
	MaxMetadataKeys     = 16
	MaxMetadataKeyLen   = 64
	MaxMetadataValueLen = 256
)

// ExternalCounterparty reports whether a kind's entries have an external
// counterparty: money that comes from or goes to outside the ledger.
func (k Kind) ExternalCounterparty() bool {
	switch k {
	case KindDeposit, KindWithdrawal, KindCapture:
		return true
	}
	return false
}

// HasExternalSide reports whether the entry has an external side to be
// recorded beside it: it moves money, and its counterparty is external.
func (e Entry) HasExternalSide() bool {
	return e.Amount != 0 && e.Kind.ExternalCounterparty()
}

// ValidateCounterparty checks an external counterparty's name: 1-64
// characters, lower-case letters, digits and : . _ -, starting with a
// letter or digit ("bank:acme", "card-network.visa").
func ValidateCounterparty(field, name string) error {
	ok := len(name) >= 1 && len(name) <= MaxCounterpartyLen && isLowerOrDigit(name[0])
	for i := 1; ok && i < len(name); i++ {
		c := name[i]
		ok = isLowerOrDigit(c) || c == ':' || c == '.' || c == '_' || c == '-'
	}
	if !ok {
		return &FieldError{Field: field, Reason: "must be 1-64 characters of a-z 0-9 : . _ -, starting with a-z or 0-9"}
	}
	return nil
}

func isLowerOrDigit(c byte) bool { return 'a' <= c && c <= 'z' || '0' <= c && c <= '9' }

// ValidateReference checks a reference: at most 128 printable characters
// (letters, marks, numbers, punctuation, symbols and the ASCII space; no
// control characters, tabs or line breaks). Empty is no reference.
func ValidateReference(field, ref string) error {
	if !printable(ref, MaxReferenceLen) {
		return &FieldError{Field: field, Reason: "must be at most 128 printable characters (no control characters or line breaks)"}
	}
	return nil
}

// printable reports whether s is valid UTF-8 of at most max characters,
// each printable (unicode.IsPrint).
func printable(s string, max int) bool {
	if len(s) > utf8.UTFMax*max || !utf8.ValidString(s) {
		return false
	}
	n := 0
	for _, r := range s {
		n++
		if n > max || !unicode.IsPrint(r) {
			return false
		}
	}
	return true
}

// Metadata is a command's metadata: a flat JSON object of strings, held in
// its canonical form (keys sorted, no insignificant space, no HTML
// escaping), so that a Command stays comparable, two requests with the same
// metadata have the same Fingerprint, and the form is stored as it is. The
// empty string is no metadata. Make one with NewMetadata.
type Metadata string

// NewMetadata checks m (at most MaxMetadataKeys keys of [A-Za-z0-9_.-],
// 1-MaxMetadataKeyLen long; values of at most MaxMetadataValueLen printable
// characters) and returns its canonical form; an empty or nil m is no
// metadata.
func NewMetadata(field string, m map[string]string) (Metadata, error) {
	if len(m) == 0 {
		return "", nil
	}
	if len(m) > MaxMetadataKeys {
		return "", &FieldError{Field: field, Reason: "must have at most " + strconv.Itoa(MaxMetadataKeys) + " keys"}
	}
	keys := make([]string, 0, len(m))
	for k, v := range m {
		if !isMetadataKey(k) {
			return "", &FieldError{Field: field, Reason: "key " + strconv.Quote(k) + " must be 1-64 characters of A-Z a-z 0-9 _ . -"}
		}
		if !printable(v, MaxMetadataValueLen) {
			return "", &FieldError{Field: field, Reason: "value of " + strconv.Quote(k) + " must be at most 256 printable characters (no control characters or line breaks)"}
		}
		keys = append(keys, k)
	}
	slices.Sort(keys)
	var buf bytes.Buffer
	enc := json.NewEncoder(&buf)
	enc.SetEscapeHTML(false)
	buf.WriteByte('{')
	for i, k := range keys {
		if i > 0 {
			buf.WriteByte(',')
		}
		// Keys are plain ASCII; values are valid UTF-8 strings, which
		// the encoder cannot fail on.
		buf.WriteString(strconv.Quote(k))
		buf.WriteByte(':')
		_ = enc.Encode(m[k])
		buf.Truncate(buf.Len() - 1) // Encode's newline
	}
	buf.WriteByte('}')
	return Metadata(buf.String()), nil
}

func isMetadataKey(k string) bool {
	if len(k) == 0 || len(k) > MaxMetadataKeyLen {
		return false
	}
	for i := 0; i < len(k); i++ {
		c := k[i]
		if !('a' <= c && c <= 'z' || 'A' <= c && c <= 'Z' || '0' <= c && c <= '9' || c == '_' || c == '.' || c == '-') {
			return false
		}
	}
	return true
}

// Map returns the metadata as a map (nil for none).
func (m Metadata) Map() (map[string]string, error) {
	if m == "" {
		return nil, nil
	}
	var out map[string]string
	if err := json.Unmarshal([]byte(m), &out); err != nil {
		return nil, &FieldError{Field: "metadata", Reason: "must be a JSON object of strings"}
	}
	return out, nil
}

// validate checks that m is empty or the canonical form of valid metadata,
// as NewMetadata makes it.
func (m Metadata) validate(field string) error {
	if m == "" {
		return nil
	}
	mm, err := m.Map()
	if err == nil && mm == nil {
		err = &FieldError{Field: field, Reason: "must be a JSON object of strings"}
	}
	if err != nil {
		return err
	}
	canon, err := NewMetadata(field, mm)
	if err != nil {
		return err
	}
	if canon != m {
		return &FieldError{Field: field, Reason: "is not in canonical form (make it with ledger.NewMetadata)"}
	}
	return nil
}
