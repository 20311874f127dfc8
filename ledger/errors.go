package ledger

import (
	"errors"
	"fmt"
)

// Error kinds. Adapters wrap their failures in one of these so that the edges
// (HTTP, logs) can decide what a failure means with errors.Is.
var (
	// ErrInvalid means the input breaks a validation rule.
	ErrInvalid = errors.New("invalid input")
	// ErrNotFound means the account or command does not exist (yet).
	ErrNotFound = errors.New("not found")
	// ErrConflict means the request clashes with existing state, such as an
	// account that already exists or an idempotency key reused for another
	// request.
	ErrConflict = errors.New("conflict")
	// ErrClaimLost means a consumer tried to write for a partition whose
	// claim a newer one (a higher epoch) has replaced: another consumer owns
	// it now. The write was rolled back.
	ErrClaimLost = errors.New("partition claim lost to a newer claim")
	// ErrStaleGeneration means a claim was refused because the partition is
	// already claimed for a newer consumer-group generation: the claimant
	// was assigned the partition and has lost it again since.
	ErrStaleGeneration = errors.New("partition claimed for a newer group generation")
	// ErrGuardFailed means a write guard tripped: state a partition owner
	// decided against (an account's version, the partition's stored offset)
	// changed under it. The write was rolled back.
	ErrGuardFailed = errors.New("write guard failed")
	// ErrUnavailable means a dependency (broker, database) could not be reached.
	ErrUnavailable = errors.New("unavailable")
	// ErrTopicRecreated means a partition's stored offsets belong to another
	// incarnation of the topic (another Kafka topic ID): it was deleted and
	// created again. Resuming would skip or replay records, so the
	// partition stays stopped until an operator decides. It wraps
	// ErrConflict.
	// ErrPartitionCountChanged means the commands topic has another
	// partition count than the deployment was started with: accounts would
	// move between partitions, and their single writer with them. It wraps
	// ErrConflict.
	ErrPartitionCountChanged = fmt.Errorf("the commands topic's partition count changed: %w", ErrConflict)
	ErrTopicRecreated        = fmt.Errorf("stored offsets belong to another incarnation of the topic (it was recreated): %w", ErrConflict)
)

// FencedError reports the partitions whose claims are no longer the stored
// ones: a batch of several partitions failed because of these. It wraps
// ErrClaimLost.
type FencedError struct {
	Partitions []int32
}

func (e *FencedError) Error() string {
	return fmt.Sprintf("partitions %v: %v", e.Partitions, ErrClaimLost)
}

// Unwrap makes errors.Is(err, ErrClaimLost) true.
func (e *FencedError) Unwrap() error { return ErrClaimLost }

// FieldError is a validation failure tied to one input field.
type FieldError struct {
	Field  string // JSON name of the field, e.g. "amount"
	Reason string // human readable, e.g. "must be a positive integer"
}

func (e *FieldError) Error() string { return e.Field + ": " + e.Reason }

// Unwrap makes errors.Is(err, ErrInvalid) true for every FieldError.
func (e *FieldError) Unwrap() error { return ErrInvalid }
