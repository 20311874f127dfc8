package main

import (
	"context"
	"fmt"
	"net/http"
	"slices"
	"testing"
	"time"

	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/ordo-dev/ordo/ledger/postgres"
)

// chaosReport is the outcome of a chaos run's audit.
type chaosReport struct {
	Requests     int64 // HTTP requests made, retries included
	Commands     int   // distinct commands (Idempotency-Keys)
	Acknowledged int   // commands whose first answer decided them (200/201/409/412/422)
	Resolved     int   // commands first answered 202, 503 or not at all, decided by a retry
	Applied      int   // commands found applied in the ledger
	Rejected     int   // commands found rejected in the ledger
	Lost         int   // decided commands missing from the ledger, or with fewer effects than answered
	Duplicated   int   // commands with more than one effect
	LongestStall time.Duration
	Violations   []string
}

func (r *chaosReport) violate(format string, args ...any) {
	r.Violations = append(r.Violations, fmt.Sprintf(format, args...))
}

func (r chaosReport) String() string {
	return fmt.Sprintf("chaos: %d requests, %d commands: %d acknowledged at once, %d resolved after 202/503/no answer; "+
		"ledger: %d applied, %d rejected; lost = %d, duplicated = %d; longest stall %v; %d violations",
		r.Requests, r.Commands, r.Acknowledged, r.Resolved, r.Applied, r.Rejected, r.Lost, r.Duplicated,
		r.LongestStall.Round(10*time.Millisecond), len(r.Violations))
}

// auditChaos checks every command against the ledger in Postgres: each
// decided answer (200/201 applied, 409/412/422 rejected with its code) is
// the stored outcome, an applied command has exactly one journal entry and
// a rejected one none, every command was decided, and all
// balances plus the money in flight equal the external money the clients
// were told moved (deposits - withdrawals - captures). Then it runs the
// checks of `ordo verify`. Transfers must have settled (nothing in flight)
// for the money check to hold.
func auditChaos(ctx context.Context, pool *pgxpool.Pool, cmds []*chaosCmd) chaosReport {
	r := chaosReport{Commands: len(cmds)}
	ids := make([]string, len(cmds))
	for i, c := range cmds {
		ids[i] = c.commandID()
	}
	type row struct{ status, code string }
	stored := map[string]row{}
	rows, err := pool.Query(ctx, `SELECT command_id, status, code FROM commands WHERE command_id = ANY($1)`, ids)
	if err != nil {
		r.violate("read commands: %v", err)
		return r
	}
	for rows.Next() {
		var id string
		var w row
		if err := rows.Scan(&id, &w.status, &w.code); err != nil {
			r.violate("read commands: %v", err)
			return r
		}
		stored[id] = w
	}
	rows.Close()
	entries := map[string]int{}
	rows, err = pool.Query(ctx, `SELECT command_id, count(*) FROM entries WHERE command_id = ANY($1) GROUP BY command_id`, ids)
	if err != nil {
		r.violate("read entries: %v", err)
		return r
	}
	for rows.Next() {
		var id string
		var n int
		if err := rows.Scan(&id, &n); err != nil {
			r.violate("read entries: %v", err)
			return r
		}
		entries[id] = n
	}
	rows.Close()

	var external int64
	for i, c := range cmds {
		id := ids[i]
		for _, a := range c.Answers {
			if a.CommandID != "" && a.CommandID != id {
				r.violate("%s %s: answered for command %s, want %s", c.Kind, c.Key, a.CommandID, id)
			}
			if !acknowledged(a.Status) && !retriable(a.Status) {
				r.violate("%s %s: got HTTP %d %s, want a decided outcome, 202 or 503", c.Kind, c.Key, a.Status, a.Code)
			}
		}
		final, ok := c.final()
		if !ok {
			r.violate("%s %s: never decided after %d attempts (last: HTTP %d %s)", c.Kind, c.Key, len(c.Answers), c.Answers[len(c.Answers)-1].Status, c.Answers[len(c.Answers)-1].Err)
			continue
		}
		if !acknowledged(final.Status) {
			continue // reported above
		}
		if retriable(c.Answers[0].Status) {
			r.Resolved++
		} else {
			r.Acknowledged++
		}
		s, found := stored[id]
		if !found {
			r.Lost++
			r.violate("%s %s: answered HTTP %d %s but not in the ledger", c.Kind, c.Key, final.Status, final.Code)
			continue
		}
		applied := final.Status == http.StatusOK || final.Status == http.StatusCreated
		switch {
		case applied && s.status != "applied":
			r.violate("%s %s: answered HTTP %d (applied), stored %s %s", c.Kind, c.Key, final.Status, s.status, s.code)
			continue
		case !applied && (s.status != "rejected" || s.code != final.Code):
			r.violate("%s %s: answered HTTP %d %s, stored %s %s", c.Kind, c.Key, final.Status, final.Code, s.status, s.code)
			continue
		}
		// Every applied command writes one journal entry on its account
		// (its new version; a transfer's is the debit), a rejected one none.
		want := 0
		if applied {
			r.Applied++
			want = 1
		} else {
			r.Rejected++
		}
		switch got := entries[id]; {
		case got > want:
			r.Duplicated++
			r.violate("%s %s: %d journal entries, want %d", c.Kind, c.Key, got, want)
		case got < want:
			r.Lost++
			r.violate("%s %s: applied but %d journal entries, want %d", c.Kind, c.Key, got, want)
		}
		if applied {
			switch c.Kind {
			case "deposit":
				external += c.Amount
			case "withdrawal", "capture":
				external -= c.Amount
			}
		}
	}

	var balances, inFlight int64
	if err := pool.QueryRow(ctx, `SELECT coalesce(sum(balance), 0), coalesce(sum(in_flight), 0) FROM accounts`).Scan(&balances, &inFlight); err != nil {
		r.violate("read balances: %v", err)
	} else if balances+inFlight != external {
		r.violate("balances %d + in flight %d = %d, want %d: the deposits - withdrawals - captures the clients were answered", balances, inFlight, balances+inFlight, external)
	}

	store, err := postgres.Open(ctx, pool.Config().ConnString(), postgres.Options{MaxConns: 1})
	if err != nil {
		r.violate("open store: %v", err)
		return r
	}
	defer store.Close()
	res, err := store.Verify(ctx)
	if err != nil {
		r.violate("ordo verify: %v", err)
	}
	for _, c := range res {
		if !c.OK() {
			r.violate("ordo verify %s: %d violations, e.g. %v", c.Name, c.Count, c.Violations)
		}
	}
	return r
}

// TestChaosAudit: the chaos audit passes a clean run and reports each kind
// of broken guarantee: a command applied twice, an acknowledged command
// missing from the ledger, an answer other than the stored outcome, a 202
// never resolved, and money created from nothing.
func TestChaosAudit(t *testing.T) {
	e := newEnv(t, 2)
	cl := newChaosClient([]string{e.startAPI()})
	e.startConsumer()
	e.waitClaimed()
	mk := func(kind, acc, key, body string, amount int64) *chaosCmd {
		path := "/v1/accounts/" + acc + "/" + kind + "s"
		if kind == "open" {
			path = "/v1/accounts"
		}
		return &chaosCmd{Kind: kind, Account: acc, Key: key, Path: path, Body: body, Amount: amount}
	}
	cmds := []*chaosCmd{
		mk("open", "a", "open-a", `{"id":"a","currency":"USD"}`, 0),
		mk("deposit", "a", "d1", `{"amount":50}`, 50),
		mk("deposit", "a", "d2", `{"amount":7}`, 7),
		mk("withdrawal", "a", "w1", `{"amount":500}`, 500), // insufficient funds: 422
		mk("withdrawal", "a", "w2", `{"amount":5}`, 5),
	}
	resolve(cl, cmds, 1, time.Now().Add(time.Minute))
	ctx := context.Background()
	if r := auditChaos(ctx, e.pool, cmds); len(r.Violations) != 0 || r.Applied != 4 || r.Rejected != 1 {
		t.Fatalf("clean run: got %s %q, want 4 applied, 1 rejected, no violations", r, r.Violations)
	}
	byKey := func(key string) *chaosCmd {
		for _, c := range cmds {
			if c.Key == key {
				return c
			}
		}
		t.Fatalf("no command %s", key)
		return nil
	}
	exec := func(sql string, args ...any) {
		t.Helper()
		if _, err := e.pool.Exec(ctx, sql, args...); err != nil {
			t.Fatal(err)
		}
	}
	tests := []struct {
		name string
		// break returns the commands to audit after breaking a guarantee,
		// and undoes it.
		breakIt          func() ([]*chaosCmd, func())
		lost, duplicated int
	}{
		{"applied twice", func() ([]*chaosCmd, func()) {
			// d2's entry counted for d1: d1 applied twice, d2 not at all.
			d1, d2 := byKey("d1").commandID(), byKey("d2").commandID()
			exec(`UPDATE entries SET command_id = $1 WHERE command_id = $2`, d1, d2)
			return cmds, func() {
				exec(`UPDATE entries SET command_id = $2 WHERE command_id = $1 AND amount = 7`, d1, d2)
			}
		}, 1, 1},
		{"acknowledged but absent", func() ([]*chaosCmd, func()) {
			ghost := mk("deposit", "a", "never-sent", `{"amount":1}`, 1)
			ghost.Answers = []chaosAnswer{{Status: http.StatusOK}}
			return append(slices.Clone(cmds), ghost), func() {}
		}, 1, 0},
		{"answer differs from the ledger", func() ([]*chaosCmd, func()) {
			w2 := *byKey("w2")
			w2.Answers = []chaosAnswer{{Status: http.StatusUnprocessableEntity, Code: "insufficient_funds"}}
			return append(slices.DeleteFunc(slices.Clone(cmds), func(c *chaosCmd) bool { return c.Key == "w2" }), &w2), func() {}
		}, 0, 0},
		{"202 never resolved", func() ([]*chaosCmd, func()) {
			pending := mk("deposit", "a", "pending", `{"amount":1}`, 1)
			pending.Answers = []chaosAnswer{{Status: http.StatusAccepted}}
			return append(slices.Clone(cmds), pending), func() {}
		}, 0, 0},
		{"money from nothing", func() ([]*chaosCmd, func()) {
			exec(`UPDATE accounts SET balance = balance + 1 WHERE id = 'a'`)
			return cmds, func() { exec(`UPDATE accounts SET balance = balance - 1 WHERE id = 'a'`) }
		}, 0, 0},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			audited, undo := tt.breakIt()
			defer undo()
			r := auditChaos(ctx, e.pool, audited)
			if len(r.Violations) == 0 || r.Lost != tt.lost || r.Duplicated != tt.duplicated {
				t.Errorf("got %s, want violations with lost = %d, duplicated = %d", r, tt.lost, tt.duplicated)
			}
			t.Logf("%s: %q", r, r.Violations)
		})
	}
	if r := auditChaos(ctx, e.pool, cmds); len(r.Violations) != 0 {
		t.Fatalf("after undoing every break: got %q, want no violations", r.Violations)
	}
}
