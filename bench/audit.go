package bench

import (
	"context"
	"fmt"
	"sync"
)

// Audit compares each account's final balance with its opening balance plus
// every change the clients were told was applied, each command once however
// often it was replayed, and counts the replays answered differently from
// their original.
type Audit struct {
	Accounts   int `json:"accounts"`
	Mismatches int `json:"mismatches"`
	Unresolved int `json:"unresolved"` // requests whose outcome could not be learnt
	// ReplayMismatches counts the replays whose answer was not the
	// original's (Config.ReplayPercent).
	ReplayMismatches int      `json:"replay_mismatches"`
	Examples         []string `json:"examples,omitempty"`
	OK               bool     `json:"ok"`
}

func audit(ctx context.Context, cl *client, w *Workload, start []int64, r *Result) {
	var mu sync.Mutex
	r.Audit.Accounts = len(start)
	err := parallel(ctx, len(start), 32, func(i int) error {
		got, err := cl.balance(ctx, w.accountID(i))
		if err != nil {
			return err
		}
		want := start[i] + r.net[i]
		if got != want {
			mu.Lock()
			r.Audit.Mismatches++
			if len(r.Audit.Examples) < 10 {
				r.Audit.Examples = append(r.Audit.Examples, fmt.Sprintf("%s: balance %d, clients saw %d", w.accountID(i), got, want))
			}
			mu.Unlock()
		}
		return nil
	})
	if err != nil {
		r.Audit.Examples = append(r.Audit.Examples, "audit incomplete: "+err.Error())
		r.Audit.Mismatches++
	}
	r.Audit.OK = r.Audit.Mismatches == 0 && r.Audit.Unresolved == 0 && r.Audit.ReplayMismatches == 0
}
