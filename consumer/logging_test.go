package consumer

import (
	"bytes"
	"log/slog"
	"strings"
	"testing"

	"github.com/twmb/franz-go/pkg/kgo"
	"github.com/twmb/franz-go/plugin/kslog"
)

// TestChattyClientLogger: a Kafka client logging through it says warnings
// and errors but not its per-transaction info lines, unless the logger is at
// debug.
func TestChattyClientLogger(t *testing.T) {
	tests := []struct {
		level     slog.Level
		wantLevel kgo.LogLevel
		wantInfo  bool
	}{
		{slog.LevelInfo, kgo.LogLevelWarn, false},
		{slog.LevelWarn, kgo.LogLevelWarn, false},
		{slog.LevelError, kgo.LogLevelError, false},
		{slog.LevelDebug, kgo.LogLevelDebug, true},
	}
	for _, tt := range tests {
		t.Run(tt.level.String(), func(t *testing.T) {
			var out bytes.Buffer
			base := slog.New(slog.NewTextHandler(&out, &slog.HandlerOptions{Level: tt.level})).With("component", "events")
			l := kslog.New(chattyClientLogger(base))
			if got := l.Level(); got != tt.wantLevel {
				t.Errorf("level: got %v, want %v", got, tt.wantLevel)
			}
			l.Log(kgo.LogLevelInfo, "beginning transaction")
			l.Log(kgo.LogLevelError, "produce failed")
			if got := strings.Contains(out.String(), "beginning transaction"); got != tt.wantInfo {
				t.Errorf("info line logged: %v, want %v:\n%s", got, tt.wantInfo, out.String())
			}
			if !strings.Contains(out.String(), "produce failed") || !strings.Contains(out.String(), "component=events") {
				t.Errorf("error line missing or without its attributes:\n%s", out.String())
			}
		})
	}
}
