package main

import "testing"

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
		{"no retry backoff cap", func(o *Options) { o.RetryBackoffMax = 0 }, false},
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
