package main

import (
	"context"
	"encoding/json"
	"net/http"
	"sync"
	"testing"
)

// TestBaselinesAreCorrect: the comparison means something only if the
// baselines are correct too. Each gets the race from the README (balance
// 100, 50 concurrent withdrawals of 10) and 20 concurrent requests with one
// Idempotency-Key.
func TestBaselinesAreCorrect(t *testing.T) {
	for _, mode := range []string{"rowlock", "optimistic"} {
		t.Run(mode, func(t *testing.T) {
			ctx := context.Background()
			sys, err := startSystem(ctx, mode, pg.NewDatabase(t), benchFlags{baselineConns: 8}, testLogger(t))
			if err != nil {
				t.Fatal(err)
			}
			defer sys.close()
			openAccount(t, sys.url, "alice", 100)

			var (
				mu    sync.Mutex
				codes = map[int]int{}
			)
			concurrently(50, func(int) {
				r := post(t, sys.url+"/v1/accounts/alice/withdrawals", `{"amount":10}`, nil)
				mu.Lock()
				codes[r.Status]++
				mu.Unlock()
			})
			if codes[http.StatusOK] != 10 || codes[http.StatusUnprocessableEntity] != 40 {
				t.Fatalf("got %v, want 10 applied and 40 refused", codes)
			}
			openAccount(t, sys.url, "bob", 100)
			ids := make([]string, 20)
			concurrently(len(ids), func(i int) {
				r := post(t, sys.url+"/v1/accounts/bob/withdrawals", `{"amount":30}`, map[string]string{"Idempotency-Key": "k"})
				if r.Status != http.StatusOK {
					t.Errorf("got %d %s, want 200", r.Status, r.Raw)
				}
				ids[i] = r.CommandID
			})
			for _, acc := range []struct {
				id   string
				want int64
			}{{"alice", 0}, {"bob", 70}} {
				g := do(t, http.MethodGet, sys.url+"/v1/accounts/"+acc.id, "", nil)
				var doc struct{ Account struct{ Balance int64 } }
				_ = json.Unmarshal(g.Raw, &doc)
				if doc.Account.Balance != acc.want {
					t.Errorf("%s: got balance %d, want %d", acc.id, doc.Account.Balance, acc.want)
				}
			}
			for _, id := range ids {
				if id != ids[0] {
					t.Fatalf("got command IDs %v, want one", ids)
				}
			}
		})
	}
}
