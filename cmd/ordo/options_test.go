package main

import (
	"context"
	"regexp"
	"slices"
	"testing"
	"time"

	"github.com/spf13/cobra"
	"github.com/spf13/pflag"
)

func TestOptionsValidate(t *testing.T) {
	tests := []struct {
		name   string
		change func(*Options)
		ok     bool
	}{
		{"defaults", func(*Options) {}, true},
		{"no partitions", func(o *Options) { o.Partitions = 0 }, false},
		{"no wait budget", func(o *Options) { o.WaitBudget = 0 }, false},
		{"no batch", func(o *Options) { o.MaxBatch = 0 }, false},
		{"no appliers", func(o *Options) { o.Appliers = 0 }, false},
		{"no cached accounts", func(o *Options) { o.CacheAccounts = 0 }, false},
		{"no connections", func(o *Options) { o.DBMaxConns = 0 }, false},
		{"hold expiry scan too often", func(o *Options) { o.HoldExpiryInterval = time.Millisecond }, false},
		{"hold expiry scan too rare", func(o *Options) { o.HoldExpiryInterval = 2 * time.Minute }, false},
		{"outcome retention under a day", func(o *Options) { o.OutcomeRetention = 23 * time.Hour }, false},
		{"outcome retention of a day", func(o *Options) { o.OutcomeRetention = 24 * time.Hour }, true},
		{"deadline under a second", func(o *Options) { o.CommandDeadline = 500 * time.Millisecond; o.WaitBudget = 100 * time.Millisecond }, false},
		{"deadline within the wait budget", func(o *Options) { o.CommandDeadline = 5 * time.Second }, false},
		{"deadline just past a request", func(o *Options) { o.CommandDeadline = o.RequestBound() + time.Millisecond }, true},
		{"deadline as long as a request", func(o *Options) { o.CommandDeadline = o.RequestBound() }, false},
		{"session timeouts off", func(o *Options) {
			o.DBStatementTimeout, o.DBLockTimeout, o.DBIdleInTransactionTimeout = 0, 0, 0
		}, true},
		{"negative statement timeout", func(o *Options) { o.DBStatementTimeout = -1 }, false},
		{"negative lock timeout", func(o *Options) { o.DBLockTimeout = -1 }, false},
		{"negative idle in transaction timeout", func(o *Options) { o.DBIdleInTransactionTimeout = -1 }, false},
		{"no produce timeout", func(o *Options) { o.ProduceTimeout = 0 }, false},
		{"drain shorter than a request", func(o *Options) { o.WaitBudget, o.DrainTimeout = 20*time.Second, 15*time.Second }, false},
		{"drain as long as a request", func(o *Options) { o.DrainTimeout = o.RequestBound() }, true},
		{"no read timeout", func(o *Options) { o.HTTPRead = 0 }, false},
		{"no idle timeout", func(o *Options) { o.HTTPIdle = 0 }, false},
		{"no HTTP connections", func(o *Options) { o.HTTPMaxConns = 0 }, false},
		{"no commands may wait", func(o *Options) { o.MaxWaiting = 0 }, false},
		{"write timeout below a request", func(o *Options) { o.WaitBudget, o.HTTPWrite = 10*time.Second, 8*time.Second }, false},
		{"write timeout within the margin", func(o *Options) { o.HTTPWrite = o.RequestBound() + 4*time.Second }, false},
		{"write timeout at the margin", func(o *Options) {
			o.WaitBudget, o.DrainTimeout = 10*time.Second, time.Minute
			o.HTTPWrite = o.RequestBound() + 5*time.Second
		}, true},
		{"no retry backoff cap", func(o *Options) { o.RetryBackoffMax = 0 }, false},
		{"https", func(o *Options) { o.TLSCert, o.TLSKey = "c.pem", "k.pem" }, true},
		{"tls cert without key", func(o *Options) { o.TLSCert = "c.pem" }, false},
		{"tls key without cert", func(o *Options) { o.TLSKey = "k.pem" }, false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			o := defaultOptions()
			o.Brokers, o.DatabaseURL = []string{"b:9092"}, "postgres://db"
			tt.change(&o)
			if err := o.Validate(roleAPI | roleConsumer); (err == nil) != tt.ok {
				t.Fatalf("got %v, want ok=%v", err, tt.ok)
			}
		})
	}
}

// TestValidationNamesOnlyTheRolesFlags: issue 11 item 20. `ORDO_DB_MAX_CONNS=-1
// ordo api` named --max-batch, --appliers and --cache-accounts, flags the
// api role does not have. Each role's errors name its own flags, every bad
// one of them.
func TestValidationNamesOnlyTheRolesFlags(t *testing.T) {
	bad := map[string]string{
		"db-max-conns": "-1", "partitions": "0", "reply-partitions": "0",
		"wait-budget": "0s", "linger": "-1ms", "http-read-timeout": "0s", "http-write-timeout": "1s",
		"http-idle-timeout": "0s", "http-max-conns": "0",
		"retry-backoff-max": "0s", "session-timeout": "0s", "heartbeat-interval": "0s", "max-batch": "0", "appliers": "0", "cache-accounts": "0",
		"produce-timeout": "0s", "drain-timeout": "1s", "hold-expiry-interval": "1ms", "command-deadline": "500ms",
		"db-statement-timeout": "-1s", "db-lock-timeout": "-1s", "db-idle-in-transaction-timeout": "-1s",
	}
	envOf := regexp.MustCompile(`\(env ([A-Z_]+)\)`)
	for _, tt := range []struct {
		name, role string
		only       []string // flags to make bad; all the role has if empty
	}{
		{"api, db-max-conns", "api", []string{"db-max-conns"}},
		{"api, wait-budget", "api", []string{"wait-budget"}},
		// Every flag but the wait budget, which the write timeout is checked against.
		{"api, every flag", "api", []string{"db-max-conns", "partitions", "reply-partitions", "linger",
			"http-read-timeout", "http-write-timeout", "http-idle-timeout", "http-max-conns", "drain-timeout", "command-deadline",
			"db-statement-timeout", "db-lock-timeout", "db-idle-in-transaction-timeout"}},
		{"consumer, db-max-conns", "consumer", []string{"db-max-conns"}},
		{"consumer, every flag", "consumer", nil},
	} {
		t.Run(tt.name, func(t *testing.T) {
			has := map[string]bool{}
			var want []string
			roleFlags(t, tt.role).VisitAll(func(f *pflag.Flag) {
				has[f.Name] = true
				v, ok := bad[f.Name]
				if !ok || (tt.only != nil && !slices.Contains(tt.only, f.Name)) {
					return
				}
				m := envOf.FindStringSubmatch(f.Usage)
				if m == nil {
					t.Fatalf("flag --%s names no environment variable", f.Name)
				}
				t.Setenv(m[1], v)
				want = append(want, f.Name)
			})
			if len(want) == 0 {
				t.Fatal("no flag to make bad")
			}
			t.Setenv("ORDO_BROKERS", "127.0.0.1:1")
			t.Setenv("DATABASE_URL", "postgres://nobody@127.0.0.1:1/none")
			root := newRootCmd()
			root.SetArgs([]string{tt.role})
			ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
			defer cancel()
			err := root.ExecuteContext(ctx)
			if err == nil {
				t.Fatal("got no error, want the bad settings refused")
			}
			named := map[string]bool{}
			for _, m := range regexp.MustCompile(`--([a-z][a-z-]*)`).FindAllStringSubmatch(err.Error(), -1) {
				named[m[1]] = true
				if !has[m[1]] {
					t.Errorf("got an error naming --%s, which `ordo %s` does not have:\n%v", m[1], tt.role, err)
				}
			}
			for _, f := range want {
				if !named[f] {
					t.Errorf("got no word on --%s=%s:\n%v", f, bad[f], err)
				}
			}
		})
	}
}

func roleFlags(t *testing.T, name string) *pflag.FlagSet {
	t.Helper()
	var cmd *cobra.Command
	for _, c := range newRootCmd().Commands() {
		if c.Name() == name {
			cmd = c
		}
	}
	if cmd == nil {
		t.Fatalf("no command %q", name)
	}
	return cmd.Flags()
}
