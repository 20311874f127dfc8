package postgres

import (
	"fmt"
	"testing"

	"github.com/ordo-dev/ordo/ledger"
)

// TestCacheRemembersBoundedCommands: a cache remembers at most its bound of
// command IDs and forgets the oldest first.
func TestCacheRemembersBoundedCommands(t *testing.T) {
	cs := newCaches(0, 3)
	cs.claimed(ledger.Claim{Topic: "t", Partition: 0, Epoch: 1, NextOffset: -1})
	c := cs.take(ledger.Claim{Topic: "t", Partition: 0, Epoch: 1})
	for i := range 5 {
		c.remember(fmt.Sprintf("k%d", i), priorCommand{})
	}
	c.remember("k4", priorCommand{}) // known already: nothing forgotten
	for i, want := range []bool{false, false, true, true, true} {
		if _, got := c.decided[fmt.Sprintf("k%d", i)]; got != want {
			t.Errorf("k%d remembered: got %v, want %v", i, got, want)
		}
	}
	if len(c.decided) != 3 || len(c.order) != 3 {
		t.Fatalf("got %d remembered in a ring of %d, want 3 and 3", len(c.decided), len(c.order))
	}
}

// TestCachesTake: a batch gets its partition's cache only under the
// cache's own epoch and only while no other batch holds it; a newer epoch
// replaces it.
func TestCachesTake(t *testing.T) {
	claimAt := func(epoch int64) ledger.Claim {
		return ledger.Claim{Topic: "t", Partition: 3, Epoch: epoch, NextOffset: 7}
	}
	tests := []struct {
		name      string
		cached    int64 // epoch of the claim this store made
		busy      bool  // another batch holds the cache
		epoch     int64 // the batch's claim
		wantCache bool
		wantKnown bool  // the cache knows the next offset
		wantEpoch int64 // of the partition's cache afterwards
	}{
		{"its own claim", 2, false, 2, true, true, 2},
		{"held by another batch", 2, true, 2, false, false, 2},
		{"an older claim", 2, false, 1, false, false, 2},
		{"a newer claim made elsewhere", 2, false, 3, true, false, 3},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			cs := newCaches(0, 0)
			cs.claimed(claimAt(tt.cached))
			cs.claimed(claimAt(tt.cached - 1)) // an older claim's answer, late: ignored
			if tt.busy {
				cs.take(claimAt(tt.cached))
			}
			c := cs.take(claimAt(tt.epoch))
			if got := c != nil; got != tt.wantCache {
				t.Fatalf("got a cache %v, want %v", got, tt.wantCache)
			}
			if c != nil && c.known != tt.wantKnown {
				t.Errorf("got known %v, want %v", c.known, tt.wantKnown)
			}
			if got := cs.byPartition[cacheKey{"t", 3}].epoch; got != tt.wantEpoch {
				t.Errorf("got the partition's cache at epoch %d, want %d", got, tt.wantEpoch)
			}
			cs.give([]*cache{c})
		})
	}
}
