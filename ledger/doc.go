// Package ledger is Ordo's domain: accounts, the commands that change them,
// the outcomes those commands produce, and the pure rules that decide a
// command against an account's current state.
//
// Nothing here does I/O. The consumer feeds commands to Decide in log order,
// one partition at a time, and persists what it returns through an adapter
// (ledger/postgres). Because exactly one goroutine decides the commands of an
// account, the rules need no locks and can never see a stale balance.
//
// The package imports only the standard library.
package ledger
