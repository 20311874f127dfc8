// Package client is a Go client for Ordo's HTTP API, for services that move
// money through Ordo.
//
// Every command method (OpenAccount, Deposit, Withdraw, CreateHold,
// CaptureHold, ReleaseHold, SetOverdraftLimit, Freeze, Unfreeze, Close,
// Transfer) is one logical call: it returns the decided outcome, or an
// error. Behind it:
//
//   - Idempotency. Each call carries an Idempotency-Key, a fresh UUIDv7
//     unless IdempotencyKey gives one, and every retry and re-send of the
//     call uses that same key. Ordo derives the command ID from the account
//     and the key, so the command applies at most once however often it is
//     sent.
//   - Retries. A 503 (unavailable: nothing submitted; outcome_unknown: the
//     command may be in the log) and a network error are retried with
//     capped, jittered exponential backoff (WithBackoff), waiting at least
//     the Retry-After the server asked for, up to WithMaxAttempts attempts
//     in a row and never past the context. A refusal (any other problem
//     document: insufficient funds, a failed If-Match, a bad request) is
//     final and is never retried.
//   - 202 Accepted. When the outcome is not back within the server's wait
//     budget, Ordo answers 202 with a Location (/v1/commands/{id}, or
//     /v1/transfers/{id} for a transfer on its way). The client follows it
//     until the outcome is final or the context ends, by re-sending the
//     same request with the same key rather than polling the Location:
//     a re-send returns the stored outcome once the command is decided, in
//     the same shape as the first answer, on any API instance (GET
//     /v1/commands/{id} knows a command is pending only on the instance that
//     answered its 202; elsewhere it is 404 until decided); it waits the
//     server's wait budget for the outcome, so it is a long poll, not a busy
//     loop; and the same loop serves a 503 outcome_unknown, whose command
//     may never have reached the log, where a poll would wait in vain until
//     its deadline. A re-send of a decided command never applies it twice.
//     Its cost: each re-send is one more record on the commands topic,
//     answered from the stored outcome, so re-sends are spaced by the same
//     backoff as retries. If the context ends first,
//     the error is a *PendingError that names the command and its Location,
//     for Command or TransferByID later.
//
// Refusals are *Problem errors, the RFC 9457 document Ordo sent. Match
// them with errors.As, or by code with errors.Is and the Err* sentinels:
//
//	_, err := c.Withdraw(ctx, "alice", 500)
//	if errors.Is(err, client.ErrInsufficientFunds) { ... }
//
// Reads (Account, Hold, Holds, TransferByID, Command) are retried the same
// way and return the domain types of package ledger.
package client
