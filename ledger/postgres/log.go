package postgres

import (
	"context"
	"log/slog"

	"github.com/jackc/pgx/v5/tracelog"
)

// queryTracer logs pgx's events through log: failed statements at warn,
// and, when log is enabled at debug, every statement at debug.
func queryTracer(log *slog.Logger) *tracelog.TraceLog {
	level := tracelog.LogLevelError
	if log.Enabled(context.Background(), slog.LevelDebug) {
		level = tracelog.LogLevelInfo
	}
	log = log.With("component", "pgx")
	return &tracelog.TraceLog{
		LogLevel: level,
		Logger: tracelog.LoggerFunc(func(ctx context.Context, l tracelog.LogLevel, msg string, data map[string]any) {
			attrs := make([]slog.Attr, 0, len(data))
			for k, v := range data {
				attrs = append(attrs, slog.Any(k, v))
			}
			log.LogAttrs(ctx, slogLevel(l), msg, attrs...)
		}),
	}
}

// slogLevel maps pgx's levels to slog's: an error of one statement is a
// warning for the process (the caller decides what it means).
func slogLevel(l tracelog.LogLevel) slog.Level {
	switch {
	case l <= tracelog.LogLevelWarn:
		return slog.LevelWarn
	case l == tracelog.LogLevelInfo:
		return slog.LevelDebug
	default:
		return slog.LevelDebug - 4
	}
}
