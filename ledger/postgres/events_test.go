package postgres_test

import (
	"context"
	"reflect"
	"testing"

	"github.com/ordo-dev/ordo/ledger"
)

// TestDecidedAfter: exactly the decisions stored as commands rows are
// marked Stored (not skipped records, not retries answered from a stored
// outcome), and DecidedAfter reads them back in offset order, equal to what
// the results carried: an event built from memory and one read from the
// outbox (the commands table) are the same.
func TestDecidedAfter(t *testing.T) {
	for _, way := range ways {
		t.Run(way.name, func(t *testing.T) {
			s, _ := newStoreOptions(t, way.opts)
			c := claim(t, s, 1, "m1")
			first := apply(t, s, c, rec(0, "open", open("alice")), rec(1, "k1", deposit("alice", 10)))
			res := apply(t, s, c,
				rec(1, "k1", deposit("alice", 10)),  // below the stored offset: skipped
				rec(2, "k1", deposit("alice", 10)),  // a keyed retry: the stored outcome
				rec(4, "k2", withdraw("alice", 50)), // refused, stored
				rec(5, "k3", deposit("alice", 1)),
			)
			var want []ledger.Decided
			recs := []int64{0, 1, 1, 2, 4, 5}
			for i, r := range append(first, res...) {
				if wantStored := i != 2 && i != 3; r.Stored != wantStored {
					t.Errorf("result %d (offset %d): got Stored %v, want %v", i, recs[i], r.Stored, wantStored)
				}
				if r.Stored {
					want = append(want, ledger.Decided{Outcome: r.Outcome, Partition: 0, Offset: recs[i], DecidedAt: r.DecidedAt})
				}
			}
			ctx := context.Background()
			got, err := s.DecidedAfter(ctx, "cmds", 0, -1, 100)
			if err != nil {
				t.Fatal(err)
			}
			if !reflect.DeepEqual(got, want) {
				t.Errorf("DecidedAfter(-1):\n got %+v\nwant %+v", got, want)
			}
			if got, err := s.DecidedAfter(ctx, "cmds", 0, 1, 1); err != nil || len(got) != 1 || got[0].Offset != 4 {
				t.Errorf("DecidedAfter(1, limit 1): got %+v, %v, want the row at offset 4", got, err)
			}
			if got, err := s.DecidedAfter(ctx, "cmds", 1, -1, 100); err != nil || len(got) != 0 {
				t.Errorf("another partition: got %+v, %v, want nothing", got, err)
			}
		})
	}
}
