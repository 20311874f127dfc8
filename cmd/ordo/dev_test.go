package main

import (
	"context"
	"log/slog"
	"net/http"
	"os"
	"path/filepath"
	"testing"
	"time"
)

// startDev runs `ordo dev` in-process on a data directory until stop.
func startDev(t *testing.T, dataDir string) (base string, stop func()) {
	t.Helper()
	// As root the private Postgres runs as the postgres user, which must be
	// able to reach the data directory; t.TempDir makes 0700 directories.
	for d := dataDir; d != filepath.Clean(os.TempDir()) && d != "/"; d = filepath.Dir(d) {
		_ = os.Chmod(d, 0o755)
	}
	o := defaultOptions()
	o.DataDir = dataDir
	o.HTTPAddr = "127.0.0.1:0"
	o.Partitions = 3
	o.ReplyPartitions = 2
	o.SessionTimeout = 6 * time.Second
	o.Heartbeat = 500 * time.Millisecond
	ctx, cancel := context.WithCancel(context.Background())
	d, err := NewDev(ctx, o, slog.New(slog.DiscardHandler))
	if err != nil {
		cancel()
		t.Fatalf("ordo dev: %v", err)
	}
	done := make(chan error, 1)
	go func() { done <- d.Run(ctx) }()
	stopped := false
	stop = func() {
		if stopped {
			return
		}
		stopped = true
		cancel()
		if err := <-done; err != nil {
			t.Errorf("ordo dev stopped with %v", err)
		}
		d.Close()
	}
	t.Cleanup(stop)
	return "http://" + d.api.Addr(), stop
}

// TestDevRestartKeepsState: `ordo dev` (what `make run` starts) serves the
// API on its embedded broker and private Postgres, and a restart on the same
// data directory keeps accounts, the log and the consumer's offsets. A
// second instance on another data directory runs beside it.
func TestDevRestartKeepsState(t *testing.T) {
	dir := t.TempDir()
	base, stop := startDev(t, dir)
	openAccount(t, base, "alice", 70)

	other, _ := startDev(t, t.TempDir())
	openAccount(t, other, "alice", 5)

	stop()
	base, _ = startDev(t, dir)
	r := post(t, base+"/v1/accounts/alice/withdrawals", `{"amount":20}`, nil)
	if r.Status != http.StatusOK || r.Account.Balance != 50 || r.Account.Version != 3 {
		t.Fatalf("after restart: got %d %s, want balance 50 at version 3", r.Status, r.Raw)
	}
	if r := post(t, other+"/v1/accounts/alice/deposits", `{"amount":1}`, nil); r.Status != http.StatusOK || r.Account.Balance != 6 {
		t.Fatalf("second instance: got %d %s, want balance 6", r.Status, r.Raw)
	}
}
