package postgres

import (
	"sync/atomic"

	"github.com/ordo-dev/ordo/ledger"
)

// DefaultCacheAccounts is how many accounts a Cache holds unless told
// otherwise.
const DefaultCacheAccounts = 100_000

// Cache is a partition owner's memory of its own commits: the partition's
// next offset and the state of the accounts it has read or written. The
// owner is the only writer of its partition's accounts, so while its claim
// holds, what it committed last is what the database holds.
//
// A batch whose accounts are all cached is decided without reading anything
// and written in one round trip (BEGIN, the writes, the offset and COMMIT
// pipelined), guarded inside the server: the partition's epoch and next
// offset must still be the cached ones, every account update must land on
// the cached version, a new account must not exist, and every command ID
// must be new (the commands table's primary key). If any guard fails,
// nothing of that attempt commits, the cache is cleared and the batch is
// applied the careful way (lock the partition row, read, decide, write),
// which also refills the cache.
//
// A Cache belongs to one claim: a new claim of the partition starts with a
// new Cache, so nothing cached under an earlier assignment is ever trusted.
// It is not safe for concurrent use; one goroutine applies a partition.
type Cache struct {
	// next is the partition's stored next offset (-1: nothing applied yet);
	// valid only when known.
	next     int64
	known    bool
	accounts map[string]*ledger.Account // a nil value: known not to exist
	max      int
}

// NewCache returns an empty cache for a claim, holding at most maxAccounts
// accounts (0 or less: DefaultCacheAccounts). When full it starts over.
func NewCache(claim Claim, maxAccounts int) *Cache {
	if maxAccounts <= 0 {
		maxAccounts = DefaultCacheAccounts
	}
	return &Cache{next: claim.NextOffset, known: true, accounts: map[string]*ledger.Account{}, max: maxAccounts}
}

// Len is the number of accounts cached.
func (c *Cache) Len() int { return len(c.accounts) }

// reset forgets everything: after a failed attempt the database may hold
// something else than the cache.
func (c *Cache) reset() {
	if c == nil {
		return
	}
	c.known = false
	clear(c.accounts)
}

// covers reports whether the cache can decide recs without reading: it knows
// the partition's next offset and every account that a record not yet
// applied names.
func (c *Cache) covers(recs []Record) bool {
	if c == nil || !c.known {
		return false
	}
	for _, r := range recs {
		if r.Offset < c.next || r.Code != "" {
			continue
		}
		if _, ok := c.accounts[r.Command.AccountID]; !ok {
			return false
		}
	}
	return true
}

// committed records what a committed batch of recs left in the database:
// the partition's next offset and the accounts recs name.
func (c *Cache) committed(next int64, recs []Record, accounts map[string]*accountState) {
	if c == nil {
		return
	}
	c.next, c.known = next, true
	for _, r := range recs {
		st, ok := accounts[r.Command.AccountID]
		if r.Code != "" || !ok {
			continue
		}
		if _, cached := c.accounts[r.Command.AccountID]; !cached && len(c.accounts) >= c.max {
			clear(c.accounts)
		}
		c.accounts[r.Command.AccountID] = st.current
	}
}

// ApplyStats counts batch transactions by how they were applied.
type ApplyStats struct {
	Cached    int64 // decided from the cache, committed in one round trip
	Locked    int64 // locked and read first: two round trips
	Fallbacks int64 // cached attempts a guard (or an error) sent back to the locked way
}

type applyCounters struct{ cached, locked, fallbacks atomic.Int64 }

// Stats returns how this store's batches were applied so far.
func (s *Store) Stats() ApplyStats {
	return ApplyStats{Cached: s.stats.cached.Load(), Locked: s.stats.locked.Load(), Fallbacks: s.stats.fallbacks.Load()}
}
