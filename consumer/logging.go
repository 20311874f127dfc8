package consumer

import (
	"context"
	"log/slog"
)

// quietBelow is a handler that drops records below min, whatever the
// handler it wraps would take.
type quietBelow struct {
	slog.Handler
	min slog.Level
}

func (h quietBelow) Enabled(ctx context.Context, l slog.Level) bool {
	return l >= h.min && h.Handler.Enabled(ctx, l)
}

func (h quietBelow) WithAttrs(attrs []slog.Attr) slog.Handler {
	return quietBelow{h.Handler.WithAttrs(attrs), h.min}
}

func (h quietBelow) WithGroup(name string) slog.Handler {
	return quietBelow{h.Handler.WithGroup(name), h.min}
}

// chattyClientLogger is the logger for a Kafka client that logs at info on
// the hot path: franz-go logs three info lines for every transaction it
// begins and ends, and the events publisher ends hundreds a second under
// load (150,000 lines a minute from `ordo dev` at 3,000 commands/s). It
// says only warnings and errors, unless log is at debug, where it says
// everything.
func chattyClientLogger(log *slog.Logger) *slog.Logger {
	if log.Enabled(context.Background(), slog.LevelDebug) {
		return log
	}
	return slog.New(quietBelow{log.Handler(), slog.LevelWarn})
}
