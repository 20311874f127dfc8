package main

import (
	"context"
	"errors"
	"net/http"
	"os"
	"os/exec"
	"strings"
	"testing"

	"github.com/ordo-dev/ordo/ledger/postgres"
)

// verifyOrdo runs `ordo verify` in-process on the env's database.
func (e *env) verifyOrdo(args ...string) (string, error) {
	e.t.Helper()
	cmd := newRootCmd()
	var out strings.Builder
	cmd.SetOut(&out)
	cmd.SetErr(&strings.Builder{})
	cmd.SetArgs(append([]string{"verify", "--database-url", e.opts.DatabaseURL, "--log-level", "warn"}, args...))
	err := cmd.Execute()
	return out.String(), err
}

// verifyExit runs the ordo binary's verify on the env's database and
// returns its output and exit status.
func (e *env) verifyExit(args ...string) (string, int) {
	e.t.Helper()
	return ordoExit(e.t, append([]string{"verify", "--database-url", e.opts.DatabaseURL}, args...)...)
}

// ordoExit runs the ordo binary and returns its standard output and exit
// status.
func ordoExit(t *testing.T, args ...string) (string, int) {
	t.Helper()
	out, err := exec.Command(ordoBin, args...).Output()
	var exit *exec.ExitError
	switch {
	case err == nil:
		return string(out), 0
	case errors.As(err, &exit):
		return string(out), exit.ExitCode()
	default:
		t.Fatal(err)
		return "", -1
	}
}

// TestVerifyCommand: `ordo verify` passes every check on a ledger the
// system wrote (deposits, withdrawals, holds captured, released and open)
// and exits 0; after the balance of one account is changed behind
// Ordo's back, it names the check and the account and exits 1.
func TestVerifyCommand(t *testing.T) {
	e := newEnv(t, 2)
	a := e.startAPI()
	e.startConsumer()
	e.waitClaimed()
	openAccount(t, a, "alice", 100)
	openAccount(t, a, "bob", 50)
	h1 := holdOf(t, post(t, a+"/v1/accounts/alice/holds", `{"amount":30}`, nil))
	h2 := holdOf(t, post(t, a+"/v1/accounts/alice/holds", `{"amount":10}`, nil))
	holdOf(t, post(t, a+"/v1/accounts/bob/holds", `{"amount":5}`, nil))
	for _, path := range []string{"/v1/accounts/alice/holds/" + h1.ID + "/capture", "/v1/accounts/alice/holds/" + h2.ID + "/release"} {
		if r := post(t, a+path, ``, nil); r.Status != http.StatusOK {
			t.Fatalf("%s: got %d %s, want 200", path, r.Status, r.Raw)
		}
	}
	if r := post(t, a+"/v1/accounts/bob/withdrawals", `{"amount":20}`, nil); r.Status != http.StatusOK {
		t.Fatalf("withdrawal: got %d %s, want 200", r.Status, r.Raw)
	}
	e.auditLedger()

	out, err := e.verifyOrdo()
	var line string
	if err != nil {
		t.Fatalf("clean ledger: got %v, want no error; output:\n%s", err, out)
	}
	for _, c := range postgres.Checks() {
		if !strings.Contains(out, "ok    "+c.Name+" ") {
			t.Errorf("clean ledger: got no ok line for %s in:\n%s", c.Name, out)
		}
	}
	if out, code := e.verifyExit(); code != 0 {
		t.Fatalf("clean ledger: got exit status %d, want 0; output:\n%s", code, out)
	}
	out, code := e.verifyExit("--replay")
	if code != 0 || !strings.Contains(out, "ok    replay ") || !strings.Contains(out, "replay: decided 10 applied commands of 2 accounts again in ") {
		t.Fatalf("clean ledger, --replay: got exit status %d, output\n%s\nwant 0, the replay ok, 10 commands of 2 accounts", code, out)
	}

	// A change only the replay sees: the checks pass, the replay names
	// the account and its version.
	// (Its last entry's state too, or the entry_state check sees it.)
	if _, err := e.pool.Exec(context.Background(), `UPDATE accounts SET status = 'frozen' WHERE id = 'alice';
		UPDATE entries SET status_after = 'frozen' WHERE account_id = 'alice' AND version = (SELECT max(version) FROM entries WHERE account_id = 'alice')`); err != nil {
		t.Fatal(err)
	}
	if out, code := e.verifyExit(); code != 0 {
		t.Fatalf("frozen behind Ordo's back: got exit status %d, want 0 without --replay; output:\n%s", code, out)
	}
	line = "status_after frozen, held_after 0, in_flight_after 0, overdraft_limit_after 0; want v6 entry "
	out, err = e.verifyOrdo("--replay")
	if !errors.Is(err, errViolations) || !strings.Contains(out, "FAIL  replay ") || !strings.Contains(out, line) {
		t.Fatalf("frozen behind Ordo's back, --replay: got %v, output\n%s\nwant violations and %q", err, out, line)
	}
	if out, code := e.verifyExit("--replay"); code != 1 || !strings.Contains(out, line) {
		t.Fatalf("frozen behind Ordo's back, --replay: got exit status %d, output\n%s\nwant 1 and %q", code, out, line)
	}
	if _, err := e.pool.Exec(context.Background(), `UPDATE accounts SET status = 'active' WHERE id = 'alice';
		UPDATE entries SET status_after = 'active' WHERE account_id = 'alice' AND version = (SELECT max(version) FROM entries WHERE account_id = 'alice')`); err != nil {
		t.Fatal(err)
	}

	if _, err := e.pool.Exec(context.Background(), `UPDATE accounts SET balance = balance + 1 WHERE id = 'bob'`); err != nil {
		t.Fatal(err)
	}
	out, err = e.verifyOrdo()
	if !errors.Is(err, errViolations) || !strings.Contains(err.Error(), "2 violations in 2 of") {
		t.Fatalf("corrupted ledger: got %v, want 2 violations in 2 checks (the balance and money conserved)", err)
	}
	want := "FAIL  journal_balance "
	line = "      account bob: got balance 31, entries sum to 30, last balance_after 30; want all three equal\n"
	if !strings.Contains(out, want) || !strings.Contains(out, line) {
		t.Fatalf("corrupted ledger: got output\n%s\nwant %q and %q", out, want, line)
	}
	if out, code := e.verifyExit(); code != 1 || !strings.Contains(out, line) {
		t.Fatalf("corrupted ledger: got exit status %d, output\n%s\nwant 1 and %q", code, out, line)
	}
}

// TestVerifyCouldNotCheck: when the checks cannot run (bad flags, no
// database, nothing listening, no schema), `ordo verify` says why and
// exits 2, never 1, which means violations.
func TestVerifyCouldNotCheck(t *testing.T) {
	empty := pg.NewDatabase(t) // not migrated: every check's query fails
	for _, tt := range []struct {
		name string
		args []string
		env  string // DATABASE_URL
	}{
		{"unknown flag", []string{"verify", "--no-such-flag"}, ""},
		{"no database URL", []string{"verify", "--replay"}, ""},
		{"nothing listening", []string{"verify", "--database-url", "postgres://ordo@127.0.0.1:1/ordo?connect_timeout=5"}, ""},
		{"no schema", []string{"verify"}, empty},
		{"no schema, replay", []string{"verify", "--replay"}, empty},
	} {
		t.Run(tt.name, func(t *testing.T) {
			cmd := exec.Command(ordoBin, tt.args...)
			cmd.Env = append(os.Environ(), "DATABASE_URL="+tt.env)
			var stderr strings.Builder
			cmd.Stderr = &stderr
			err := cmd.Run()
			var exit *exec.ExitError
			if !errors.As(err, &exit) || exit.ExitCode() != 2 || !strings.HasPrefix(stderr.String(), "ordo: ") {
				t.Fatalf("got %v, stderr %q; want exit status 2 with the reason", err, stderr.String())
			}
		})
	}
}

func TestVerifyNeedsDatabase(t *testing.T) {
	t.Setenv("DATABASE_URL", "")
	cmd := newRootCmd()
	cmd.SetOut(&strings.Builder{})
	cmd.SetArgs([]string{"verify"})
	if err := cmd.Execute(); err == nil || errors.Is(err, errViolations) || !strings.Contains(err.Error(), "--database-url") {
		t.Fatalf("got %v, want --database-url required", err)
	}
}

func TestPrintVerify(t *testing.T) {
	check := func(name string) postgres.Check { return postgres.Check{Name: name, Description: "d"} }
	tests := []struct {
		name    string
		res     []postgres.CheckResult
		want    string
		wantErr string
	}{
		{"all ok", []postgres.CheckResult{{Check: check("a")}, {Check: check("held")}},
			"ok    a     d\nok    held  d\n", ""},
		{"some listed", []postgres.CheckResult{
			{Check: check("a")},
			{Check: check("held"), Count: 3, Violations: []postgres.Violation{{Subject: "account x", Got: "held 1", Want: "held 0"}}},
			{Check: check("b"), Count: 1, Violations: []postgres.Violation{{Subject: "hold h", Got: "g", Want: "w"}}},
		},
			"ok    a     d\nFAIL  held  d: 3 violations\n      account x: got held 1; want held 0\n      ... and 2 more\n" +
				"FAIL  b     d: 1 violation\n      hold h: got g; want w\n",
			"4 violations in 2 of 3 checks"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var out strings.Builder
			err := printVerify(&out, tt.res)
			if out.String() != tt.want {
				t.Errorf("got output\n%s\nwant\n%s", out.String(), tt.want)
			}
			switch {
			case tt.wantErr == "" && err != nil:
				t.Errorf("got %v, want no error", err)
			case tt.wantErr != "" && (!errors.Is(err, errViolations) || !strings.HasPrefix(err.Error(), tt.wantErr)):
				t.Errorf("got %v, want %q wrapping errViolations", err, tt.wantErr)
			}
		})
	}
}
