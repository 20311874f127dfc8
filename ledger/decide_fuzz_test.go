package ledger_test

import (
	"fmt"
	"reflect"
	"testing"
	"time"

	"github.com/ordo-dev/ordo/ledger"
)

// FuzzDecide turns its input into a sequence of commands on three accounts
// (open, deposit, withdrawal, hold, capture, release, expire_hold,
// set_overdraft_limit, freeze, unfreeze, close, transfer and its saga steps,
// with If-Match and deadlines, the log clock moving on), decides each with
// ledger.DecideAt against an in-memory model, and checks after every step:
//
//   - a refusal changes nothing: no new account state, hold, transfer or
//     entry, and the state handed in is untouched;
//   - versions are contiguous: +1 per applied command, entry versions
//     1, 2, 3, ...;
//   - balance equals the sum of the entries' amounts, and each entry's
//     balance_after is the balance it left;
//   - held equals the sum of the open holds, in_flight the sum of the
//     pending transfers sent; available = balance - held;
//   - available >= -overdraft_limit, always: every debit (withdrawal, hold,
//     transfer) is refused beyond it, capture and the other commands only
//     raise available, and a limit is never set below the overdraft in use
//     (overdraft_in_use), so no rule lets an account past it;
//   - balance + in_flight <= MaxAmount: a refund, which cannot be refused,
//     never takes a balance past the limit; a closed account stays closed
//     and empty; a hold and a transfer are settled once;
//   - money is conserved: the balances plus the money between a transfer's
//     debit and its credit (or refund) equal deposits - withdrawals -
//     captures.
//
// Seeds: the f.Add calls below and testdata/fuzz/FuzzDecide.
func FuzzDecide(f *testing.F) {
	const a, b, c = 0, 1, 2 // accounts a, b, c
	const usd, eur = 0, 1
	for _, seed := range [][]byte{
		// deposit, withdraw, hold, capture part of it, release it again
		ops(open(a, usd, 0), deposit(a, 200), withdraw(a, 50), hold(a, 20, 0), capture(a, 0, 5), release(a, 0)),
		// a transfer a->b and its two steps, and one to a missing account
		ops(open(a, usd, 0), open(b, usd, 0), deposit(a, 100), transfer(a, b, usd, 30), step(0), step(0),
			transfer(a, c, usd, 10), step(0), step(0)),
		// an overdraft used, then lowered: below the debt is refused
		ops(open(a, usd, 100), withdraw(a, 80), setLimit(a, 50), setLimit(a, 80), deposit(a, 80), setLimit(a, 0)),
		// a hold runs out and is expired; freeze, unfreeze, close
		ops(open(a, usd, 0), deposit(a, 9), hold(a, 9, 1), expire(a, 0), clock(1, 2), capture(a, 0, 0), expire(a, 0),
			freeze(a), withdraw(a, 1), unfreeze(a), withdraw(a, 9), close(a), deposit(a, 1)),
		// a refund onto a balance filled up to the limit meanwhile
		ops(open(a, usd, 0), open(b, eur, 0), deposit(a, 100), transfer(a, b, usd, 50), depositMax(a, 60), step(0), step(0)),
		// If-Match, current and stale; a passed deadline
		ops(open(a, usd, 0), flagged(deposit(a, 5), 1), flagged(deposit(a, 5), 1|4), flagged(deposit(a, 5), 2),
			flagged(withdraw(a, 1), 1<<4), flagged(withdraw(a, 1), 3<<4)),
	} {
		f.Add(seed)
	}
	f.Fuzz(func(t *testing.T, data []byte) {
		m := newModel(t)
		in := &input{data: data}
		for step := 0; step < maxSteps && !in.done(); step++ {
			m.step(in)
			m.check()
		}
	})
}

const maxSteps = 300

// The seeds are written with these helpers, one per operation FuzzDecide
// reads (see model.step); each ends with the flags byte where it has one.
func ops(steps ...[]byte) []byte {
	var out []byte
	for _, s := range steps {
		out = append(out, s...)
	}
	return out
}

// small encodes an amount from 1 to 256.
func small(n int) []byte { return []byte{0, byte(n - 1)} }
func lim(n int) []byte   { return append([]byte{1}, small(n)...) }
func open(acc, cur byte, limit int) []byte {
	l := []byte{0}
	if limit > 0 {
		l = lim(limit)
	}
	return ops([]byte{0, acc, cur}, l, []byte{0})
}
func deposit(acc byte, n int) []byte     { return ops([]byte{1, acc}, small(n), []byte{0}) }
func depositMax(acc byte, k byte) []byte { return []byte{1, acc, 1, k, 0} } // MaxAmount - k
func withdraw(acc byte, n int) []byte    { return ops([]byte{2, acc}, small(n), []byte{0}) }
func hold(acc byte, n int, minutes byte) []byte {
	return ops([]byte{3, acc}, small(n), []byte{minutes*2 + 1, 0})
}
func capture(acc, hold byte, n int) []byte {
	if n == 0 {
		return []byte{4, acc, hold, 0, 0}
	}
	return ops([]byte{4, acc, hold, 1}, small(n), []byte{0})
}
func release(acc, hold byte) []byte { return []byte{5, acc, hold, 0} }
func expire(acc, hold byte) []byte  { return []byte{6, acc, hold, 0} }
func setLimit(acc byte, n int) []byte {
	if n == 0 {
		return []byte{7, acc, 0, 0}
	}
	return ops([]byte{7, acc}, lim(n), []byte{0})
}
func freeze(acc byte) []byte   { return []byte{8, acc, 0} }
func unfreeze(acc byte) []byte { return []byte{9, acc, 0} }
func close(acc byte) []byte    { return []byte{10, acc, 0} }
func transfer(from, to, cur byte, n int) []byte {
	return ops([]byte{11, from, to, cur}, small(n), []byte{0})
}
func step(i byte) []byte { return []byte{12, 0, i} }

// clock moves the log clock by n hours.
func clock(_ byte, n byte) []byte { return []byte{13, 0, 1, n} }

// flagged replaces an operation's flags byte (its last).
func flagged(op []byte, flags byte) []byte {
	op = append([]byte(nil), op...)
	op[len(op)-1] = flags
	return op
}

// input reads a fuzz input byte by byte; past its end it reads zeros.
type input struct {
	data []byte
	i    int
}

func (in *input) done() bool { return in.i >= len(in.data) }

func (in *input) byte() byte {
	if in.i >= len(in.data) {
		in.i++
		return 0
	}
	b := in.data[in.i]
	in.i++
	return b
}

// amount reads a positive amount up to MaxAmount, often small, sometimes
// near the limit.
func (in *input) amount() int64 {
	b := in.byte()
	switch b % 4 {
	case 0:
		return int64(in.byte()) + 1
	case 1:
		return ledger.MaxAmount - int64(in.byte())
	case 2:
		var n int64
		for range 7 {
			n = n<<8 | int64(in.byte())
		}
		return n%ledger.MaxAmount + 1
	default:
		return (int64(in.byte()) + 1) * 1000
	}
}

// limit reads an overdraft limit: 0, or an amount.
func (in *input) limit() int64 {
	if in.byte()%2 == 0 {
		return 0
	}
	return in.amount()
}

var (
	accountIDs = []string{"a", "b", "c"}
	currencies = []string{"USD", "EUR"}
)

// model is the ledger as the fuzz test keeps it: what a store would hold.
type model struct {
	t         *testing.T
	now       time.Time
	seq       int
	accounts  map[string]*ledger.Account
	entries   map[string][]ledger.Entry
	holds     map[string]*ledger.Hold
	holdIDs   []string // in creation order
	transfers map[string]*ledger.Transfer
	queue     []ledger.Command // emitted saga steps not decided yet
	external  int64            // deposits - withdrawals - captures
	log       []string         // the steps so far, for failure messages
}

func newModel(t *testing.T) *model {
	return &model{
		t: t, now: time.Date(2026, 11, 30, 12, 0, 0, 0, time.UTC),
		accounts: map[string]*ledger.Account{}, entries: map[string][]ledger.Entry{},
		holds: map[string]*ledger.Hold{}, transfers: map[string]*ledger.Transfer{},
	}
}

func (m *model) fatalf(format string, args ...any) {
	m.t.Helper()
	m.t.Fatalf("after steps:\n  %s\n%s", joinLines(m.log), fmt.Sprintf(format, args...))
}

func joinLines(lines []string) string {
	s := ""
	for i, l := range lines {
		if i > 0 {
			s += "\n  "
		}
		s += l
	}
	return s
}

// step reads one operation and decides it.
func (m *model) step(in *input) {
	op := in.byte() % 14
	acc := accountIDs[int(in.byte())%len(accountIDs)]
	m.seq++
	cmd := ledger.Command{ID: fmt.Sprintf("cmd-%d", m.seq), AccountID: acc}
	switch op {
	case 0:
		cmd.Kind = ledger.KindOpenAccount
		cmd.Currency = currencies[int(in.byte())%len(currencies)]
		cmd.OverdraftLimit = in.limit()
	case 1:
		cmd.Kind, cmd.Amount = ledger.KindDeposit, in.amount()
	case 2:
		cmd.Kind, cmd.Amount = ledger.KindWithdrawal, in.amount()
	case 3:
		cmd.Kind, cmd.Amount = ledger.KindHold, in.amount()
		if b := in.byte(); b%2 == 1 {
			cmd.HoldFor = ledger.MinHoldFor + time.Duration(b)*time.Minute
		}
	case 4:
		cmd.Kind, cmd.HoldID = ledger.KindCapture, m.holdRef(in)
		if b := in.byte(); b%2 == 1 {
			cmd.Amount = in.amount()
		}
	case 5:
		cmd.Kind, cmd.HoldID = ledger.KindRelease, m.holdRef(in)
	case 6:
		cmd.Kind, cmd.HoldID = ledger.KindExpireHold, m.holdRef(in)
	case 7:
		cmd.Kind, cmd.OverdraftLimit = ledger.KindSetOverdraftLimit, in.limit()
	case 8:
		cmd.Kind = ledger.KindFreeze
	case 9:
		cmd.Kind = ledger.KindUnfreeze
	case 10:
		cmd.Kind = ledger.KindClose
	case 11:
		cmd.Kind = ledger.KindTransfer
		cmd.Counterparty = accountIDs[int(in.byte())%len(accountIDs)]
		cmd.Currency = currencies[int(in.byte())%len(currencies)]
		cmd.Amount = in.amount()
	case 12:
		// The next saga step: the oldest emitted one, or another, so that
		// steps of different transfers interleave.
		if len(m.queue) == 0 {
			return
		}
		i := int(in.byte()) % len(m.queue)
		cmd = m.queue[i]
		m.queue = append(m.queue[:i], m.queue[i+1:]...)
		cmd.At = m.now
		m.decide(cmd)
		return
	case 13:
		// The log clock moves on.
		b := in.byte()
		switch b % 3 {
		case 0:
			m.now = m.now.Add(time.Duration(in.byte()) * time.Second)
		case 1:
			m.now = m.now.Add(time.Duration(in.byte()) * time.Hour)
		default:
			m.now = m.now.Add(ledger.DefaultHoldFor)
		}
		m.log = append(m.log, "clock "+m.now.Format(time.RFC3339))
		return
	}
	// Conditions a client may attach.
	flags := in.byte()
	switch flags % 4 {
	case 1:
		cmd.IfMatch = m.version(acc) + int64(flags>>2)%2 // the version, or the next (stale)
		if cmd.IfMatch == 0 {
			cmd.IfMatch = 1
		}
	case 2:
		cmd.IfMatch = ledger.IfMatchExists
	}
	switch (flags >> 4) % 4 {
	case 1:
		cmd.Deadline = m.now.Add(-time.Millisecond) // passed: refused as expired
	case 2:
		cmd.Deadline = m.now.Add(time.Hour)
	case 3:
		cmd.Deadline = m.now // decided right at it: still in time
	}
	cmd.At = m.now
	if err := cmd.Validate(); err != nil {
		// Not a command a client can send (a transfer to itself): no step.
		m.log = append(m.log, fmt.Sprintf("invalid %+v: %v", cmd, err))
		return
	}
	m.decide(cmd)
}

// holdRef names a hold: one created so far, or one that never was.
func (m *model) holdRef(in *input) string {
	b := in.byte()
	if len(m.holdIDs) == 0 || b == 255 {
		return "hold-none"
	}
	return m.holdIDs[int(b)%len(m.holdIDs)]
}

func (m *model) version(acc string) int64 {
	if a := m.accounts[acc]; a != nil {
		return a.Version
	}
	return 0
}

// decide decides cmd against copies of the model's state and applies the
// decision to the model, checking what it may change.
func (m *model) decide(cmd ledger.Command) {
	m.t.Helper()
	var st ledger.State
	var before ledger.State // what st pointed to, to see Decide never wrote to it
	if a := m.accounts[cmd.AccountID]; a != nil {
		c, c2 := *a, *a
		st.Account, before.Account = &c, &c2
	}
	if h := m.holds[cmd.HoldID]; h != nil {
		c, c2 := *h, *h
		st.Hold, before.Hold = &c, &c2
	}
	if tr := m.transfers[cmd.TransferID]; tr != nil {
		c, c2 := *tr, *tr
		st.Transfer, before.Transfer = &c, &c2
	}
	d := ledger.DecideAt(st, cmd, m.now)
	m.log = append(m.log, fmt.Sprintf("%s %s %s amount=%d limit=%d hold=%s to=%s %s if_match=%d deadline=%s -> %s %s",
		cmd.ID, cmd.Kind, cmd.AccountID, cmd.Amount, cmd.OverdraftLimit, cmd.HoldID, cmd.Counterparty, cmd.Currency,
		cmd.IfMatch, cmd.Deadline.Format(time.RFC3339Nano), d.Outcome.Status, d.Outcome.Code))
	if !reflect.DeepEqual(st, before) {
		m.fatalf("Decide changed the state it was given:\n got %+v\nwant %+v", st, before)
	}
	out := d.Outcome
	if out.CommandID != cmd.ID || out.Kind != cmd.Kind || out.AccountID != cmd.AccountID {
		m.fatalf("got outcome for %s %s %s, want %s %s %s", out.CommandID, out.Kind, out.AccountID, cmd.ID, cmd.Kind, cmd.AccountID)
	}
	expired := !cmd.Deadline.IsZero() && m.now.After(cmd.Deadline)
	if expired && (out.Status != ledger.StatusRejected || out.Code != ledger.CodeExpired) {
		m.fatalf("got %s %s for a command past its deadline, want rejected expired", out.Status, out.Code)
	}
	if out.Status == ledger.StatusRejected && out.Code == ledger.CodeExpired && !expired {
		m.fatalf("refused as expired before its deadline")
	}
	if d.Emit != nil {
		if err := d.Emit.Validate(); err != nil {
			m.fatalf("emitted an invalid step %+v: %v", *d.Emit, err)
		}
		m.queue = append(m.queue, *d.Emit)
	}
	switch out.Status {
	case ledger.StatusRejected:
		if out.Code == "" {
			m.fatalf("refused without a code")
		}
		if d.Account != nil || d.Hold != nil || d.Entry != nil || d.Transfer != nil {
			m.fatalf("a refusal changed something: account %v hold %v entry %v transfer %v", d.Account, d.Hold, d.Entry, d.Transfer)
		}
		if d.Emit != nil && cmd.Kind != ledger.KindTransferCredit {
			m.fatalf("a refused %s emitted %+v", cmd.Kind, *d.Emit)
		}
		return
	case ledger.StatusApplied:
	default:
		m.fatalf("got status %q", out.Status)
	}
	if cmd.IfMatch > 0 && cmd.IfMatch != m.version(cmd.AccountID) {
		m.fatalf("applied with If-Match %d at version %d", cmd.IfMatch, m.version(cmd.AccountID))
	}
	next, e := d.Account, d.Entry
	if next == nil || e == nil {
		m.fatalf("applied without a new account state (%v) or an entry (%v)", next, e)
	}
	if next.ID != cmd.AccountID || e.AccountID != cmd.AccountID || e.CommandID != cmd.ID || e.Kind != cmd.Kind {
		m.fatalf("applied to account %q, entry %+v, want account %q command %s", next.ID, *e, cmd.AccountID, cmd.ID)
	}
	if want := m.version(cmd.AccountID) + 1; next.Version != want || e.Version != want {
		m.fatalf("got version %d, entry version %d, want %d", next.Version, e.Version, want)
	}
	if e.BalanceAfter != next.Balance {
		m.fatalf("got entry balance_after %d, want the balance %d", e.BalanceAfter, next.Balance)
	}
	if prev := m.accounts[cmd.AccountID]; prev != nil && prev.Status == ledger.AccountClosed {
		m.fatalf("a closed account changed")
	}
	m.accounts[cmd.AccountID] = next
	m.entries[cmd.AccountID] = append(m.entries[cmd.AccountID], *e)

	switch cmd.Kind {
	case ledger.KindDeposit:
		m.external += cmd.Amount
	case ledger.KindWithdrawal:
		m.external -= cmd.Amount
	}
	if h := d.Hold; h != nil {
		prev, existed := m.holds[h.ID]
		switch {
		case cmd.Kind == ledger.KindHold:
			if existed || h.Status != ledger.HoldOpen || h.AccountID != cmd.AccountID || h.Amount != cmd.Amount {
				m.fatalf("hold created as %+v (existed before: %v)", *h, existed)
			}
			m.holdIDs = append(m.holdIDs, h.ID)
		case !existed || prev.Status != ledger.HoldOpen || h.Status == ledger.HoldOpen:
			m.fatalf("hold settled from %+v to %+v", prev, *h)
		case h.Captured < 0 || h.Captured > h.Amount:
			m.fatalf("hold %+v captured outside 0..amount", *h)
		}
		m.external -= h.Captured
		m.holds[h.ID] = h
	}
	if tr := d.Transfer; tr != nil {
		prev, existed := m.transfers[tr.ID]
		switch {
		case cmd.Kind == ledger.KindTransfer:
			if existed || tr.Status != ledger.TransferPending || tr.From != cmd.AccountID || tr.Amount != cmd.Amount {
				m.fatalf("transfer started as %+v (existed before: %v)", *tr, existed)
			}
		case !existed || prev.Status != ledger.TransferPending || tr.Status == ledger.TransferPending:
			m.fatalf("transfer settled from %+v to %+v", prev, *tr)
		}
		m.transfers[tr.ID] = tr
	}
}

// check verifies the invariants over the whole model.
func (m *model) check() {
	m.t.Helper()
	held := map[string]int64{}
	for _, h := range m.holds {
		if h.Status == ledger.HoldOpen {
			held[h.AccountID] += h.Amount
		}
	}
	inFlight := map[string]int64{}
	for _, tr := range m.transfers {
		if tr.Status == ledger.TransferPending {
			inFlight[tr.From] += tr.Amount
		}
	}
	var total int64
	for id, a := range m.accounts {
		var sum int64
		for i, e := range m.entries[id] {
			if e.Version != int64(i)+1 {
				m.fatalf("account %s: entry %d has version %d, want %d", id, i, e.Version, i+1)
			}
			sum += e.Amount
		}
		switch {
		case a.Version != int64(len(m.entries[id])):
			m.fatalf("account %s: version %d after %d entries", id, a.Version, len(m.entries[id]))
		case a.Balance != sum:
			m.fatalf("account %s: balance %d, entries sum to %d", id, a.Balance, sum)
		case a.Held != held[id]:
			m.fatalf("account %s: held %d, open holds sum to %d", id, a.Held, held[id])
		case a.InFlight != inFlight[id]:
			m.fatalf("account %s: in_flight %d, pending transfers sum to %d", id, a.InFlight, inFlight[id])
		case a.Available != a.Balance-a.Held:
			m.fatalf("account %s: available %d, want balance - held = %d", id, a.Available, a.Balance-a.Held)
		case a.Available < -a.OverdraftLimit:
			m.fatalf("account %s: available %d below -overdraft_limit %d", id, a.Available, -a.OverdraftLimit)
		case a.OverdraftLimit < 0 || a.OverdraftLimit > ledger.MaxAmount:
			m.fatalf("account %s: overdraft_limit %d outside 0..MaxAmount", id, a.OverdraftLimit)
		case a.Balance > ledger.MaxAmount || a.Balance+a.InFlight > ledger.MaxAmount:
			m.fatalf("account %s: balance %d (with %d in flight, which may be refunded) above MaxAmount %d", id, a.Balance, a.InFlight, ledger.MaxAmount)
		case a.Status == ledger.AccountClosed && (a.Balance != 0 || a.Held != 0 || a.InFlight != 0):
			m.fatalf("account %s: closed with balance %d, held %d, in_flight %d", id, a.Balance, a.Held, a.InFlight)
		}
		total += a.Balance
	}
	// Money between a transfer's debit and its credit, or its refund.
	for _, c := range m.queue {
		switch {
		case c.Kind == ledger.KindTransferCredit:
			total += c.Amount
		case c.Kind == ledger.KindTransferSettle && c.Reason != "":
			total += m.transfers[c.TransferID].Amount
		}
	}
	if total != m.external {
		m.fatalf("balances and money in transit sum to %d; deposits - withdrawals - captures = %d", total, m.external)
	}
}
