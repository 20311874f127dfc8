package ledger

import "time"

// The types a partition's consumer and its store exchange: the claim that
// makes a consumer the partition's only writer, the records it hands over in
// log order, and what applying them produced. They carry no behaviour; the
// store (ledger/postgres) decides records with Decide and persists them.

// Claim is a consumer's ownership of one partition of the commands topic.
// Epoch is the fencing token: every claim increments it, and a batch
// commits only while the stored epoch is still the claim's.
type Claim struct {
	Topic      string
	Partition  int32
	Epoch      int64
	Generation int32
	// NextOffset is the next log offset to apply, or -1 when the partition
	// has never been applied (start at the log start).
	NextOffset int64
}

// Record is one consumed command record, ready to apply.
type Record struct {
	Offset    int64
	CommandID string
	AccountID string  // the record key
	Command   Command // valid when Code is empty
	// Code, when set, rejects the record before it is decided: it could not
	// be decoded (CodeInvalidCommand) or sits on the wrong partition
	// (CodeMisrouted). Detail says why.
	Code   Code
	Detail string
	// Carry are headers to copy onto the record of the step this record's
	// decision emits (a transfer's reply route travels with its saga).
	Carry []Header
}

// Header is a record header carried from one saga step to the next.
type Header struct{ Key, Value string }

// Outbound is a saga step to publish to the commands topic: a command
// for another account, stored in the outbox by the transaction that
// decided the step before it. Value is the record value, encoded.
type Outbound struct {
	CommandID string
	AccountID string // the record key
	Value     []byte
	Headers   []Header
}

// PartitionBatch is a run of records from one partition, in offset order,
// under its claim.
type PartitionBatch struct {
	Claim   Claim
	Records []Record
}

// Result is what applying one record produced.
type Result struct {
	Outcome Outcome
	// Skipped is true for a record below the stored offset: it was applied
	// by an earlier batch and must not be answered again.
	Skipped bool
	// Emit is the saga step the decision stored in the outbox, to publish
	// at once (the outbox keeps it until it is).
	Emit *Outbound
	// Final, on the record that ends a saga, is the outcome to answer the
	// request that started it with.
	Final *Outcome
	// Stored is true when the decision was stored as a new commands row
	// (written in the batch's transaction, with DecidedAt as its time);
	// false for a skipped record and for a retry answered from an earlier
	// decision. Exactly the stored decisions become events.
	Stored    bool
	DecidedAt time.Time
}

// PartitionState is the stored state of one partition, for operators and
// tests.
type PartitionState struct {
	Partition  int32
	NextOffset int64 // -1 when nothing was applied yet
	Epoch      int64
	Generation int32
	Member     string
}

// ApplyStats counts batch transactions by how the store applied them.
type ApplyStats struct {
	Cached    int64 // decided from the owner's memory, committed in one round trip
	Locked    int64 // partition rows locked and state read first: two round trips
	Fallbacks int64 // cached attempts a guard (or an error) sent back to the locked way
}
