package postgres_test

import (
	"context"
	"fmt"
	"math"
	"slices"
	"sync/atomic"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/ordo-dev/ordo/ledger"
	"github.com/ordo-dev/ordo/ledger/postgres"
)

// prunePass runs PruneOutcomes batch after batch like the consumer does and
// returns how many rows went and in how many batches.
func prunePass(t *testing.T, s *postgres.Store, partition int32, below int64, cutoff time.Time, batch int) (deleted int64, batches int) {
	t.Helper()
	for more := true; more; batches++ {
		n, m, err := s.PruneOutcomes(context.Background(), "cmds", partition, below, cutoff, batch)
		if err != nil {
			t.Fatal(err)
		}
		deleted, more = deleted+n, m
		if batches > 100 {
			t.Fatal("prune does not end")
		}
	}
	return deleted, batches
}

func offsetsLeft(t *testing.T, conn *pgx.Conn, partition int32) []int64 {
	t.Helper()
	rows, err := conn.Query(context.Background(), `SELECT "offset" FROM commands WHERE topic = 'cmds' AND partition = $1 ORDER BY "offset"`, partition)
	if err != nil {
		t.Fatal(err)
	}
	offs, err := pgx.CollectRows(rows, pgx.RowTo[int64])
	if err != nil {
		t.Fatal(err)
	}
	return offs
}

// TestPruneOutcomes: a prune deletes, in batches, only the given
// partition's commands rows older than the cutoff and below the offset
// bound, keeps a pending transfer's command and an unpublished outbox row's
// command, records its watermark, leaves the journal alone; verify stays
// clean and replay calls the pruned accounts not replayable.
func TestPruneOutcomes(t *testing.T) {
	s, url := newStoreURL(t)
	ctx := context.Background()
	p0, p1 := claimP(t, s, 0), claimP(t, s, 1)
	apply(t, s, p0, rec(0, "oa", open("alice")), rec(1, "d1", deposit("alice", 100)), rec(2, "d2", deposit("alice", 1)),
		rec(3, "d3", deposit("alice", 1)), rec(4, "req", transferCmd("alice", "bob", 40)), rec(5, "d5", deposit("alice", 1)),
		rec(6, "d6", deposit("alice", 1)))
	apply(t, s, p1, rec(0, "ob", open("bob")))
	conn, err := pgx.Connect(ctx, url)
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close(ctx)
	// Everything but alice's last deposit is two days old; d2 is also the
	// command of an unpublished outbox row.
	execConn(t, conn,
		`UPDATE commands SET created_at = now() - interval '2 days' WHERE command_id <> 'd6'`,
		`UPDATE entries SET created_at = now() - interval '2 days' WHERE command_id <> 'd6'`,
		`INSERT INTO outbox (command_id, topic, partition, account_id, value) VALUES ('d2', 'cmds', 0, 'alice', '')`)
	var entries int
	if err := conn.QueryRow(ctx, `SELECT count(*) FROM entries`).Scan(&entries); err != nil {
		t.Fatal(err)
	}
	cutoff := time.Now().Add(-24 * time.Hour).UTC().Truncate(time.Microsecond)

	// Events published through offset 4: offsets 0-4 may go, but d2 and
	// the pending transfer's req stay.
	deleted, batches := prunePass(t, s, 0, 5, cutoff, 2)
	if deleted != 3 || batches != 3 {
		t.Fatalf("got %d rows deleted in %d batches, want 3 in 3 (2 rows a batch)", deleted, batches)
	}
	if got := offsetsLeft(t, conn, 0); !slices.Equal(got, []int64{2, 4, 5, 6}) {
		t.Fatalf("partition 0 keeps offsets %v, want [2 4 5 6]", got)
	}
	if got := offsetsLeft(t, conn, 1); !slices.Equal(got, []int64{0}) {
		t.Fatalf("partition 1 keeps offsets %v, want [0]: not pruned", got)
	}
	var before time.Time
	var through int64
	if err := conn.QueryRow(ctx, `SELECT pruned_before, pruned_through_offset FROM outcome_retention WHERE topic = 'cmds' AND partition = 0`).Scan(&before, &through); err != nil {
		t.Fatal(err)
	}
	if !before.Equal(cutoff) || through != 4 {
		t.Fatalf("watermark %s through %d, want %s through 4", before, through, cutoff)
	}

	// Without a bound (events off): d5 is old enough, d6 is not.
	if deleted, _ := prunePass(t, s, 0, math.MaxInt64, cutoff, 500); deleted != 1 {
		t.Fatalf("got %d deleted without a bound, want 1 (d5)", deleted)
	}
	if got := offsetsLeft(t, conn, 0); !slices.Equal(got, []int64{2, 4, 6}) {
		t.Fatalf("partition 0 keeps offsets %v, want [2 4 6]", got)
	}
	var after int
	if err := conn.QueryRow(ctx, `SELECT count(*) FROM entries`).Scan(&after); err != nil {
		t.Fatal(err)
	}
	if after != entries {
		t.Fatalf("%d entries after the prune, want all %d", after, entries)
	}

	if f := failed(verify(t, s)); len(f) > 0 {
		t.Fatalf("verify after a prune failed %v, want clean", f)
	}
	res, err := s.Replay(ctx, postgres.ReplayOptions{})
	if err != nil {
		t.Fatal(err)
	}
	if res.Count != 0 || res.NotReplayable != 1 {
		t.Fatalf("replay: %d violations %v, %d not replayable; want 0 and alice not replayable", res.Count, res.Violations, res.NotReplayable)
	}
}

// BenchmarkApplyWhilePruning is BenchmarkApplyBatch's cached mode over a
// partition holding 100,000 old commands rows, alone ("idle") and with a
// prune loop deleting them as the consumer does (500 rows a statement,
// 100ms between statements) ("pruning").
//
//	go test -run '^$' -bench ApplyWhilePruning -benchtime 2000x ./ledger/postgres/
func BenchmarkApplyWhilePruning(b *testing.B) {
	const accounts, perBatch, old = 1000, 25, 100_000
	for _, mode := range []string{"idle", "pruning"} {
		b.Run(mode, func(b *testing.B) {
			s, url := newStoreOptions(b, postgres.Options{MaxConns: 8})
			ctx := context.Background()
			conn, err := pgx.Connect(ctx, url)
			if err != nil {
				b.Fatal(err)
			}
			defer conn.Close(ctx)
			if _, err := conn.Exec(ctx, `INSERT INTO commands (command_id, account_id, kind, fingerprint, status, outcome, topic, partition, "offset", created_at)
				SELECT 'old-' || i, 'acct-' || (i % 1000), 'deposit', '\x00', 'applied', '{}', 'cmds', 0, i, now() - interval '2 days'
				FROM generate_series(0, $1 - 1) i`, old); err != nil {
				b.Fatal(err)
			}
			c, err := s.ClaimPartition(ctx, "cmds", 0, 1, "m1", false, "")
			if err != nil {
				b.Fatal(err)
			}
			off := int64(old)
			next := func(r ledger.Record) ledger.Record {
				r.Offset = off
				off++
				return r
			}
			setup := make([]ledger.Record, 0, 2*accounts)
			for i := 0; i < accounts; i++ {
				acc := fmt.Sprintf("acct-%d", i)
				setup = append(setup, next(rec(0, "open-"+acc, open(acc))), next(rec(0, "fund-"+acc, deposit(acc, 1_000_000))))
			}
			if _, err := s.ApplyBatches(ctx, []ledger.PartitionBatch{{Claim: c, Records: setup}}); err != nil {
				b.Fatal(err)
			}
			pruneCtx, stop := context.WithCancel(ctx)
			var pruned atomic.Int64
			done := make(chan struct{})
			go func() {
				defer close(done)
				for mode == "pruning" && pruneCtx.Err() == nil {
					n, more, err := s.PruneOutcomes(pruneCtx, "cmds", 0, math.MaxInt64, time.Now().Add(-24*time.Hour), 500)
					if err != nil || !more {
						return
					}
					pruned.Add(n)
					select {
					case <-pruneCtx.Done():
					case <-time.After(100 * time.Millisecond):
					}
				}
			}()
			b.ResetTimer()
			for i := 0; i < b.N; i++ {
				recs := benchBatch(i, perBatch, accounts, next)
				if _, err := s.ApplyBatches(ctx, []ledger.PartitionBatch{{Claim: c, Records: recs}}); err != nil {
					b.Fatal(err)
				}
			}
			b.StopTimer()
			stop()
			<-done
			b.ReportMetric(float64(b.N*perBatch)/b.Elapsed().Seconds(), "records/s")
			b.ReportMetric(float64(pruned.Load()), "pruned")
		})
	}
}
