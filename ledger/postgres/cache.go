package postgres

import (
	"sync"
	"sync/atomic"

	"github.com/ordo-dev/ordo/ledger"
)

// DefaultCacheAccounts is how many accounts a partition's cache holds unless
// told otherwise (Options.CacheAccounts).
const DefaultCacheAccounts = 100_000

// DefaultCacheCommands is how many decided command IDs a partition's cache
// remembers unless told otherwise (Options.CacheCommands).
const DefaultCacheCommands = 10_000

// cache is a partition owner's memory of its own commits under one claim:
// the partition's next offset, the state of the accounts it has read or
// written, and the command IDs it has decided (or found decided) with their
// fingerprints and stored outcomes. The owner is the only writer of its
// partition's accounts, so while its claim holds, what it committed last is
// what the database holds; and a decided command's row never changes.
//
// A batch whose accounts are all cached is decided without reading anything
// and written in one round trip (BEGIN, the writes, the offset and COMMIT
// pipelined), guarded inside the server: the partition's epoch and next
// offset must still be the cached ones, every account update must land on
// the cached version, a new account must not exist, and every command ID
// not remembered here must be new (the commands table's primary key). A
// remembered command ID is answered from memory and writes nothing: a
// keyed retry costs no fallback. If any guard fails, nothing of that
// attempt commits, and the batch is applied the careful way (lock the
// partition row, read, decide, write), which also refills the cache.
//
// A cache belongs to one claim epoch (see caches): a new claim of the
// partition starts a fresh one, and a batch under an older epoch never uses
// or updates it. Only the holder of a cache (caches.take) touches it.
type cache struct {
	key   cacheKey
	epoch int64
	busy  bool // taken by a batch; guarded by caches.mu

	// next is the partition's stored next offset (-1: nothing applied yet);
	// valid only when known.
	next        int64
	known       bool
	accounts    map[string]*ledger.Account // a nil value: known not to exist
	maxAccounts int
	// holds are the holds this owner created or read, as it left them;
	// cleared with the accounts.
	holds map[string]*ledger.Hold
	// transfers are the transfers this owner started or read, as it left
	// them; cleared with the accounts.
	transfers map[string]*ledger.Transfer

	// decided remembers command IDs; order is a ring of them, oldest at
	// pos once full.
	decided     map[string]priorCommand
	order       []string
	pos         int
	maxCommands int
}

type cacheKey struct {
	topic     string
	partition int32
}

// caches holds one cache per partition, for the newest claim epoch this
// store has seen. A partition that moved to another consumer keeps its
// cache here until it is claimed here again (a fresh one replaces it) or a
// batch of it is found fenced (it is dropped): at most one per partition.
type caches struct {
	mu          sync.Mutex
	byPartition map[cacheKey]*cache
	maxAccounts int // < 0: caching off
	maxCommands int
}

func newCaches(maxAccounts, maxCommands int) *caches {
	if maxAccounts == 0 {
		maxAccounts = DefaultCacheAccounts
	}
	if maxCommands <= 0 {
		maxCommands = DefaultCacheCommands
	}
	return &caches{byPartition: map[cacheKey]*cache{}, maxAccounts: maxAccounts, maxCommands: maxCommands}
}

func (cs *caches) fresh(c ledger.Claim) *cache {
	return &cache{
		key: cacheKey{c.Topic, c.Partition}, epoch: c.Epoch,
		accounts: map[string]*ledger.Account{}, maxAccounts: cs.maxAccounts, holds: map[string]*ledger.Hold{},
		transfers: map[string]*ledger.Transfer{},
		decided:   map[string]priorCommand{}, maxCommands: cs.maxCommands,
	}
}

// claimed starts a fresh cache for a claim this store made: it knows the
// partition's next offset, read under the partition row's lock.
func (cs *caches) claimed(c ledger.Claim) {
	if cs.maxAccounts < 0 {
		return
	}
	cs.mu.Lock()
	defer cs.mu.Unlock()
	k := cacheKey{c.Topic, c.Partition}
	if old := cs.byPartition[k]; old != nil && old.epoch >= c.Epoch {
		return
	}
	fc := cs.fresh(c)
	fc.next, fc.known = c.NextOffset, true
	cs.byPartition[k] = fc
}

// take hands the cache of a batch's claim to the caller until give. It
// returns nil, and the batch goes without, when caching is off, when the
// partition's cache belongs to a newer epoch, or when another batch holds
// it. A claim newer than the cached one (made through another store)
// replaces it with an empty cache, which the locked way fills.
func (cs *caches) take(c ledger.Claim) *cache {
	if cs.maxAccounts < 0 {
		return nil
	}
	cs.mu.Lock()
	defer cs.mu.Unlock()
	k := cacheKey{c.Topic, c.Partition}
	cur := cs.byPartition[k]
	switch {
	case cur == nil || cur.epoch < c.Epoch:
		cur = cs.fresh(c)
		cs.byPartition[k] = cur
	case cur.epoch > c.Epoch || cur.busy:
		return nil
	}
	cur.busy = true
	return cur
}

// give returns taken caches.
func (cs *caches) give(taken []*cache) {
	cs.mu.Lock()
	defer cs.mu.Unlock()
	for _, c := range taken {
		if c != nil {
			c.busy = false
		}
	}
}

// drop forgets a cache whose claim was found fenced.
func (cs *caches) drop(c *cache) {
	if c == nil {
		return
	}
	cs.mu.Lock()
	defer cs.mu.Unlock()
	if cs.byPartition[c.key] == c {
		delete(cs.byPartition, c.key)
	}
}

// reset forgets the offset and the accounts: after a failed attempt the
// database may hold something else than the cache. Decided command IDs
// stay: a decided command's stored outcome never changes.
func (c *cache) reset() {
	if c == nil {
		return
	}
	c.known = false
	clear(c.accounts)
	clear(c.holds)
	clear(c.transfers)
}

// covers reports whether the cache can decide recs without reading: it knows
// the partition's next offset and, for every record not yet applied, its
// command ID or its account.
func (c *cache) covers(recs []ledger.Record) bool {
	if c == nil || !c.known {
		return false
	}
	for _, r := range recs {
		if r.Offset < c.next || r.Code != "" {
			continue
		}
		if _, ok := c.decided[r.CommandID]; ok {
			continue
		}
		if _, ok := c.accounts[r.Command.AccountID]; !ok {
			return false
		}
		if _, ok := c.holds[r.Command.HoldID]; r.Command.HoldID != "" && !ok {
			return false
		}
		if _, ok := c.transfers[r.Command.TransferID]; r.Command.Kind == ledger.KindTransferSettle && !ok {
			return false
		}
	}
	return true
}

// committed records what a committed batch of recs left in the database:
// the partition's next offset, the accounts recs name and the outcomes of
// their command IDs.
func (c *cache) committed(next int64, recs []ledger.Record, st *batchState) {
	if c == nil {
		return
	}
	c.next, c.known = next, true
	for _, r := range recs {
		if p, ok := st.prior[r.CommandID]; ok {
			c.remember(r.CommandID, p)
		}
		as, ok := st.accounts[r.Command.AccountID]
		if r.Code != "" || !ok {
			continue
		}
		if _, cached := c.accounts[r.Command.AccountID]; !cached && len(c.accounts) >= c.maxAccounts {
			clear(c.accounts)
			clear(c.holds)
		}
		c.accounts[r.Command.AccountID] = as.current
	}
	for id, ts := range st.transfers {
		if ts.current == nil {
			continue
		}
		if _, cached := c.transfers[id]; !cached && len(c.transfers) >= c.maxAccounts {
			clear(c.transfers)
		}
		c.transfers[id] = ts.current
	}
	// A saga's end replaces its starting command's stored outcome; so does
	// the memory of it.
	for _, final := range st.finals {
		if p, ok := c.decided[final.CommandID]; ok {
			p.outcome = *final
			c.decided[final.CommandID] = p
		}
	}
	for id, hs := range st.holds {
		if hs.current == nil {
			continue
		}
		if _, cached := c.holds[id]; !cached && len(c.holds) >= c.maxAccounts {
			clear(c.holds)
		}
		c.holds[id] = hs.current
	}
}

// remember adds a decided command ID, forgetting the oldest when full.
func (c *cache) remember(id string, p priorCommand) {
	if _, ok := c.decided[id]; ok {
		return
	}
	if len(c.order) < c.maxCommands {
		c.order = append(c.order, id)
	} else {
		delete(c.decided, c.order[c.pos])
		c.order[c.pos] = id
		c.pos = (c.pos + 1) % len(c.order)
	}
	c.decided[id] = p
}

type applyCounters struct{ cached, locked, fallbacks atomic.Int64 }

// Stats returns how this store's batches were applied so far.
func (s *Store) Stats() ledger.ApplyStats {
	return ledger.ApplyStats{Cached: s.stats.cached.Load(), Locked: s.stats.locked.Load(), Fallbacks: s.stats.fallbacks.Load()}
}
