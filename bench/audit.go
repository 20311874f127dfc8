package bench

import (
	"context"
	"fmt"
	"slices"
	"sync"
)

// Audit compares each account's final balance with its opening balance plus
// every change the clients were told was applied, each command once however
// often it was replayed, and counts the replays answered differently from
// their original.
type Audit struct {
	// Accounts is how many accounts the audit read: every account in play,
	// or with Config.Preloaded only those the run sent a command to.
	Accounts int `json:"accounts"`
	// InPlay, with Config.Preloaded, is how many accounts the workload
	// had in play, of which the audit read Accounts; 0 otherwise.
	InPlay     int `json:"in_play,omitempty"`
	Mismatches int `json:"mismatches"`
	Unresolved int `json:"unresolved"` // requests whose outcome could not be learnt
	// ReplayMismatches counts the replays whose answer was not the
	// original's (Config.ReplayPercent).
	ReplayMismatches int      `json:"replay_mismatches"`
	Examples         []string `json:"examples,omitempty"`
	OK               bool     `json:"ok"`
}

// audit reads the final balance of every account in play, whose balance
// before the run is start[i]; with start nil (Config.Preloaded), of every
// account the run touched, whose balance before the run is w.Opening.
func audit(ctx context.Context, cl *client, w *Workload, start []int64, r *Result) {
	var (
		accounts []int
		before   func(i int) int64
	)
	if start == nil {
		for i := range r.touched {
			accounts = append(accounts, i)
		}
		slices.Sort(accounts)
		before = func(int) int64 { return w.Opening }
		r.Audit.InPlay = w.accountsInPlay()
	} else {
		accounts = make([]int, len(start))
		for i := range accounts {
			accounts[i] = i
		}
		before = func(i int) int64 { return start[i] }
	}
	var mu sync.Mutex
	r.Audit.Accounts = len(accounts)
	err := parallel(ctx, len(accounts), 32, func(k int) error {
		i := accounts[k]
		got, err := cl.balance(ctx, w.accountID(i))
		if err != nil {
			return err
		}
		want := before(i) + r.net[i]
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
		msg := "audit incomplete: " + err.Error()
		if start == nil {
			msg += fmt.Sprintf(" (preloaded: do accounts %s..%s exist, each with %d?)", w.accountID(0), w.accountID(w.accountsInPlay()-1), w.Opening)
		}
		r.Audit.Examples = append(r.Audit.Examples, msg)
		r.Audit.Mismatches++
	}
	r.Audit.OK = r.Audit.Mismatches == 0 && r.Audit.Unresolved == 0 && r.Audit.ReplayMismatches == 0
}
