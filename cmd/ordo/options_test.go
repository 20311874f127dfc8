package main

import (
	"testing"
	"time"
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
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			o := defaultOptions()
			tt.change(&o)
			if err := o.Validate(false, false); (err == nil) != tt.ok {
				t.Fatalf("got %v, want ok=%v", err, tt.ok)
			}
		})
	}
}
