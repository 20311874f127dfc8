package bench

import (
	"fmt"
	"math/rand/v2"
)

// Distribution says how requests pick accounts.
type Distribution string

// The distributions.
const (
	Uniform Distribution = "uniform" // every account equally likely
	Hot     Distribution = "hot"     // only the first HotAccounts accounts
	Zipf    Distribution = "zipf"    // a few accounts take most requests (s=1.1)
)

// Workload describes what the clients send.
type Workload struct {
	Accounts    int          // accounts in play. Default 10000.
	Dist        Distribution // default Uniform
	HotAccounts int          // for Hot: how many. Default 8.
	// WithdrawPercent of the commands are withdrawals, the rest deposits
	// (0-100; `ordo bench` defaults it to 50).
	WithdrawPercent int
	// MaxAmount: amounts are uniform in 1..MaxAmount. Default 100.
	MaxAmount int64
	// Opening balance deposited into each account at setup, or, with
	// Config.Preloaded, each account's balance as loaded. Default 1,000,000.
	Opening int64
	// Prefix of the account IDs, so runs do not share accounts. Default "bench".
	Prefix string
}

func (w *Workload) setDefaults() error {
	if w.Accounts <= 0 {
		w.Accounts = 10000
	}
	if w.Dist == "" {
		w.Dist = Uniform
	}
	if w.HotAccounts <= 0 {
		w.HotAccounts = 8
	}
	if w.WithdrawPercent < 0 || w.WithdrawPercent > 100 {
		return fmt.Errorf("withdraw percent %d: want 0-100", w.WithdrawPercent)
	}
	if w.MaxAmount <= 0 {
		w.MaxAmount = 100
	}
	if w.Opening <= 0 {
		w.Opening = 1_000_000
	}
	if w.Prefix == "" {
		w.Prefix = "bench"
	}
	switch w.Dist {
	case Uniform, Zipf:
	case Hot:
		if w.HotAccounts > w.Accounts {
			w.Accounts = w.HotAccounts
		}
	default:
		return fmt.Errorf("distribution %q: want uniform, hot or zipf", w.Dist)
	}
	return nil
}

// accountsInPlay is how many accounts setup must create.
func (w *Workload) accountsInPlay() int {
	if w.Dist == Hot {
		return w.HotAccounts
	}
	return w.Accounts
}

func (w *Workload) accountID(i int) string { return fmt.Sprintf("%s-%d", w.Prefix, i) }

// picker draws commands for one client.
type picker struct {
	w    *Workload
	rng  *rand.Rand
	zipf *rand.Zipf
}

func newPicker(w *Workload, seed uint64) *picker {
	rng := rand.New(rand.NewPCG(seed, 0x6f72646f))
	p := &picker{w: w, rng: rng}
	if w.Dist == Zipf {
		p.zipf = rand.NewZipf(rng, 1.1, 1, uint64(w.Accounts-1))
	}
	return p
}

type command struct {
	account  int
	withdraw bool
	amount   int64
}

func (p *picker) next() command {
	var acc int
	switch p.w.Dist {
	case Hot:
		acc = p.rng.IntN(p.w.HotAccounts)
	case Zipf:
		acc = int(p.zipf.Uint64())
	default:
		acc = p.rng.IntN(p.w.Accounts)
	}
	return command{
		account:  acc,
		withdraw: p.rng.IntN(100) < p.w.WithdrawPercent,
		amount:   1 + p.rng.Int64N(p.w.MaxAmount),
	}
}
