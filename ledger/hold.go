package ledger

import (
	"crypto/sha256"
	"encoding/hex"
	"time"
)

// HoldStatus is where a hold is in its life. A hold is settled at most
// once: it leaves open for exactly one of the other statuses and never
// changes again.
type HoldStatus string

// The hold statuses.
const (
	HoldOpen     HoldStatus = "open"
	HoldCaptured HoldStatus = "captured"
	HoldReleased HoldStatus = "released"
	HoldExpired  HoldStatus = "expired"
)

// Hold durations: a hold lasts DefaultHoldFor unless its command asks for
// between MinHoldFor and MaxHoldFor.
const (
	DefaultHoldFor = 7 * 24 * time.Hour
	MinHoldFor     = time.Second
	MaxHoldFor     = 30 * 24 * time.Hour
)

// Hold reserves part of an account's available balance until it is
// captured (the captured part leaves the balance, the rest returns),
// released, or expires. Times are log times: the timestamps of the command
// records that created and settled it, never a decider's clock, so a replay
// of the log decides every hold the same way.
type Hold struct {
	ID        string     `json:"id"`
	AccountID string     `json:"account_id"`
	Amount    int64      `json:"amount"`
	Captured  int64      `json:"captured"`
	Status    HoldStatus `json:"status"`
	CreatedAt time.Time  `json:"created_at"`
	ExpiresAt time.Time  `json:"expires_at"`
	// SettledAt is when it was captured, released or expired.
	SettledAt *time.Time `json:"settled_at,omitempty"`
}

// ExpiredAt reports whether an open hold has run out at log time t: from
// ExpiresAt on, it can no longer be captured or released, only expired.
func (h Hold) ExpiredAt(t time.Time) bool {
	return h.Status == HoldOpen && !t.Before(h.ExpiresAt)
}

// AsOf is the hold as a reader at log time t should see it: an open hold
// past its expiry shows as expired, although the expiry command that
// releases its money may not have been applied yet.
func (h Hold) AsOf(t time.Time) Hold {
	if h.ExpiredAt(t) {
		h.Status = HoldExpired
	}
	return h
}

// HoldIDFor is the ID of the hold a command creates: derived from the
// command ID, so a retry with the same Idempotency-Key names the same hold.
func HoldIDFor(commandID string) string {
	sum := sha256.Sum256([]byte("hold\x00" + commandID))
	return "hold-" + hex.EncodeToString(sum[:12])
}
