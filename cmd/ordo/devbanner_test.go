package main

import (
	"bytes"
	"context"
	"log/slog"
	"net/url"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

// TestDevBannerMasksPassword: ordo dev on a user-supplied DATABASE_URL
// never prints its password, and its banner says the API is open on this
// machine only.
func TestDevBannerMasksPassword(t *testing.T) {
	dir := t.TempDir()
	for d := dir; d != filepath.Clean(os.TempDir()) && d != "/"; d = filepath.Dir(d) {
		_ = os.Chmod(d, 0o755)
	}
	dbURL := pg.NewDatabase(t)
	u, err := url.Parse(dbURL)
	if err != nil {
		t.Fatal(err)
	}
	password, ok := u.User.Password()
	if !ok || password == "" {
		t.Fatalf("the test database URL %s has no password to mask", u.Redacted())
	}
	o := defaultOptions()
	o.DataDir = dir
	o.DatabaseURL = dbURL
	o.HTTPAddr = "127.0.0.1:0"
	o.OpsAddr = ""
	o.Partitions, o.ReplyPartitions = 1, 1
	o.SessionTimeout, o.Heartbeat = 6*time.Second, 500*time.Millisecond
	var logs bytes.Buffer
	d, err := NewDev(context.Background(), o, slog.New(slog.NewTextHandler(&logs, nil)))
	if err != nil {
		t.Fatalf("ordo dev: %v", err)
	}
	defer d.Close()
	var banner bytes.Buffer
	d.Banner(&banner)
	// The password as a URL carries it (it may equal the user name).
	secret := ":" + password + "@"
	if strings.Contains(banner.String(), secret) || strings.Contains(logs.String(), secret) {
		t.Fatalf("the banner or the logs print the database password:\n%s\n%s", banner.String(), logs.String())
	}
	if !strings.Contains(banner.String(), u.Redacted()) {
		t.Errorf("banner:\n%s\nwant the masked URL %s", banner.String(), u.Redacted())
	}
	if !strings.Contains(banner.String(), "open, no API key") || !strings.Contains(banner.String(), "this machine only") {
		t.Errorf("banner:\n%s\nwant it to say the API is open, on this machine only", banner.String())
	}
}
