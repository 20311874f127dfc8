package postgres_test

import (
	"context"
	"fmt"
	"testing"

	"github.com/ordo-dev/ordo/ledger"
	"github.com/ordo-dev/ordo/ledger/postgres"
)

// BenchmarkApplyBatch applies batches of 25 deposits and withdrawals over
// 1,000 accounts of one partition, the locked way (two round trips, reads)
// and from the owner's cache (one round trip, no reads). It needs the test
// Postgres, as every test here does.
//
//	go test -run '^$' -bench ApplyBatch -benchtime 2000x ./ledger/postgres/
func BenchmarkApplyBatch(b *testing.B) {
	const accounts, perBatch = 1000, 25
	for _, mode := range []string{"locked", "cached"} {
		b.Run(mode, func(b *testing.B) {
			o := postgres.Options{MaxConns: 8}
			if mode == "locked" {
				o.CacheAccounts = -1
			}
			s, _ := newStoreOptions(b, o)
			ctx := context.Background()
			c, err := s.ClaimPartition(ctx, "cmds", 0, 1, "m1", false, "")
			if err != nil {
				b.Fatal(err)
			}
			var off int64
			next := func(r ledger.Record) ledger.Record { // at the next offset
				r.Offset = off
				off++
				return r
			}
			setup := make([]ledger.Record, 0, 2*accounts)
			for i := 0; i < accounts; i++ {
				acc := fmt.Sprintf("acct-%d", i)
				setup = append(setup,
					next(rec(0, "open-"+acc, open(acc))),
					next(rec(0, "fund-"+acc, deposit(acc, 1_000_000))))
			}
			if _, err := s.ApplyBatches(ctx, []ledger.PartitionBatch{{Claim: c, Records: setup}}); err != nil {
				b.Fatal(err)
			}
			b.ResetTimer()
			for i := 0; i < b.N; i++ {
				recs := benchBatch(i, perBatch, accounts, next)
				if _, err := s.ApplyBatches(ctx, []ledger.PartitionBatch{{Claim: c, Records: recs}}); err != nil {
					b.Fatal(err)
				}
			}
			b.ReportMetric(float64(b.N*perBatch)/b.Elapsed().Seconds(), "records/s")
			st := s.Stats()
			if mode == "cached" && st.Fallbacks != 0 {
				b.Fatalf("got %d fallbacks, want none: %+v", st.Fallbacks, st)
			}
		})
	}
}

// benchBatch is batch i of the apply benchmarks: perBatch records at the
// next offsets, alternating deposits of 7 and withdrawals of 5, spread over
// the accounts acct-0 .. acct-(accounts-1).
func benchBatch(i, perBatch, accounts int, next func(ledger.Record) ledger.Record) []ledger.Record {
	recs := make([]ledger.Record, perBatch)
	for j := range recs {
		acc := fmt.Sprintf("acct-%d", (i*perBatch+j*37)%accounts)
		id := fmt.Sprintf("b%d-%d", i, j)
		if j%2 == 0 {
			recs[j] = next(rec(0, id, deposit(acc, 7)))
		} else {
			recs[j] = next(rec(0, id, withdraw(acc, 5)))
		}
	}
	return recs
}
