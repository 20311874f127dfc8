package postgres_test

import (
	"bytes"
	"context"
	"log/slog"
	"strings"
	"testing"

	"github.com/ordo-dev/ordo/ledger/postgres"
)

// TestQueryTracerLogsThroughSlog: a failed statement is logged at warn
// through the store's logger, in its format; successful ones only at debug.
func TestQueryTracerLogsThroughSlog(t *testing.T) {
	for _, tt := range []struct {
		level      slog.Level
		wantOKLine bool
	}{{slog.LevelInfo, false}, {slog.LevelDebug, true}} {
		var buf bytes.Buffer
		log := slog.New(slog.NewJSONHandler(&buf, &slog.HandlerOptions{Level: tt.level}))
		s := openStore(t, pg.NewDatabase(t), postgres.Options{MaxConns: 1, Logger: log})
		ctx := context.Background()
		// Not migrated yet: the table is missing.
		if _, err := s.Partitions(ctx, "t"); err == nil {
			t.Fatal("reading partitions before migrating succeeded")
		}
		if _, err := s.Migrate(ctx); err != nil {
			t.Fatal(err)
		}
		out := buf.String()
		if !strings.Contains(out, `"level":"WARN"`) || !strings.Contains(out, `"component":"pgx"`) || !strings.Contains(out, "consumer_partitions") {
			t.Errorf("at %v: the failed statement is not logged at warn through slog:\n%s", tt.level, out)
		}
		if got := strings.Contains(out, `"level":"DEBUG"`); got != tt.wantOKLine {
			t.Errorf("at %v: successful statements logged: %v, want %v:\n%.2000s", tt.level, got, tt.wantOKLine, out)
		}
	}
}
