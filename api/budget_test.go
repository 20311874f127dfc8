package api

import (
	"context"
	"errors"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/ordo-dev/ordo/ledger"
)

// stalledStore is a Postgres that takes the request and never answers, as
// under a table lock: every call blocks until its context ends.
type stalledStore struct{ noHolds }

func (stalledStore) Account(ctx context.Context, _ string) (ledger.Account, error) {
	<-ctx.Done()
	return ledger.Account{}, errors.Join(ctx.Err(), ledger.ErrUnavailable)
}

func (stalledStore) Outcome(ctx context.Context, _ string) (ledger.Outcome, []byte, error) {
	<-ctx.Done()
	return ledger.Outcome{}, nil, errors.Join(ctx.Err(), ledger.ErrUnavailable)
}

func (stalledStore) Ping(ctx context.Context) error {
	<-ctx.Done()
	return errors.Join(ctx.Err(), ledger.ErrUnavailable)
}

// TestReadsBoundedWhenStoreStalls: reads from a Postgres that does not
// answer end with 503 and Retry-After, not a hang. The bound checked is a
// liveness bound, far above the read timeout.
func TestReadsBoundedWhenStoreStalls(t *testing.T) {
	_, ts := newScriptedServer(t, Config{ReadTimeout: 200 * time.Millisecond}, stalledStore{}, &scriptedSubmitter{})
	tests := []struct {
		name, path string
		retryAfter bool
	}{
		{"account", "/v1/accounts/alice", true},
		{"command", "/v1/commands/some-command", true},
		{"readiness", "/readyz", false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			start := time.Now()
			got := send(context.Background(), ts, "GET", tt.path, "")
			if got.err != nil {
				t.Fatalf("got %v, want an answer", got.err)
			}
			if took := time.Since(start); took > 5*time.Second {
				t.Errorf("answered after %s, want within 5s", took)
			}
			if got.status != http.StatusServiceUnavailable || got.doc["code"] != codeUnavailable {
				t.Errorf("got %d %v, want 503 unavailable", got.status, got.doc)
			}
			if tt.retryAfter && got.header.Get("Retry-After") == "" {
				t.Errorf("got no Retry-After, want one")
			}
		})
	}
}

// TestCommandBoundedWhenStoreStalls: a command whose outcome does not come
// is answered 202 within produce timeout + wait budget + read timeout (plus
// slack), even though the last read of the store never returns.
func TestCommandBoundedWhenStoreStalls(t *testing.T) {
	cfg := Config{ProduceTimeout: time.Second, WaitBudget: 200 * time.Millisecond, ReadTimeout: 200 * time.Millisecond}
	_, ts := newScriptedServer(t, cfg, stalledStore{}, &scriptedSubmitter{})
	start := time.Now()
	got := send(context.Background(), ts, "POST", "/v1/accounts/alice/deposits", `{"amount":5}`)
	if got.err != nil {
		t.Fatalf("got %v, want an answer", got.err)
	}
	if bound := cfg.ProduceTimeout + cfg.WaitBudget + cfg.ReadTimeout + 3*time.Second; time.Since(start) > bound {
		t.Errorf("answered after %s, want within %s", time.Since(start), bound)
	}
	if got.status != http.StatusAccepted || got.header.Get("Location") == "" {
		t.Errorf("got %d %v, want 202 with a Location", got.status, got.doc)
	}
}

// TestProduceTimeoutApartFromWaitBudget: the broker gets the produce
// timeout to acknowledge a command whatever the wait budget, so a tiny
// budget answers 202 once the command is acknowledged; a command the broker
// does not acknowledge in time is 503 outcome_unknown, which says that it
// may have been accepted.
func TestProduceTimeoutApartFromWaitBudget(t *testing.T) {
	tests := []struct {
		name     string
		budget   time.Duration
		ackAfter time.Duration
		status   int
		code     string
	}{
		{"README's 1us budget", time.Microsecond, 0, http.StatusAccepted, ""},
		{"ack slower than the budget", time.Millisecond, 300 * time.Millisecond, http.StatusAccepted, ""},
		{"no ack within the produce timeout", time.Second, time.Hour, http.StatusServiceUnavailable, codeOutcomeUnknown},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			cfg := Config{WaitBudget: tt.budget, ProduceTimeout: time.Second}
			_, ts := newScriptedServer(t, cfg, emptyStore{}, &scriptedSubmitter{ackAfter: tt.ackAfter})
			got := send(context.Background(), ts, "POST", "/v1/accounts/alice/deposits", `{"amount":5}`, HeaderIdempotencyKey, "order-8")
			if got.status != tt.status || (tt.code != "" && got.doc["code"] != tt.code) {
				t.Fatalf("got %d %v %v, want %d %s", got.status, got.doc, got.err, tt.status, tt.code)
			}
			id := keyedCommandID("alice", "order-8")
			if got.doc["command_id"] != id {
				t.Errorf("got command_id %v, want %s", got.doc["command_id"], id)
			}
			if tt.status == http.StatusServiceUnavailable {
				if got.header.Get("Retry-After") == "" {
					t.Errorf("got no Retry-After, want one")
				}
				if detail, _ := got.doc["detail"].(string); !strings.Contains(detail, "may have been accepted") {
					t.Errorf("got detail %q, want it to say the command may have been accepted", detail)
				}
			}
		})
	}
}
