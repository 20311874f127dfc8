package api

import (
	"crypto/rand"
	"encoding/hex"
	"log/slog"
	"strconv"
	"sync/atomic"

	"github.com/labstack/echo/v4"
)

// Request IDs made here are a random per-process prefix and a counter:
// unique across instances with overwhelming probability, and cheaper than a
// random UUID per request.
var (
	requestIDPrefix = func() string {
		b := make([]byte, 8)
		_, _ = rand.Read(b)
		return hex.EncodeToString(b) + "-"
	}()
	requestIDSeq atomic.Uint64
)

func newRequestID() string {
	return requestIDPrefix + strconv.FormatUint(requestIDSeq.Add(1), 10)
}

// requestIDKey is where requestID keeps a request's ID in its echo context.
const requestIDKey = "ordo.request_id"

// requestID gives every request an ID, answered in X-Request-Id and put on
// every log line about the request (with the command ID where there is
// one). A client's own X-Request-Id is kept when it is a plausible ID (1 to
// 128 characters of letters, digits and ._:-), so that a gateway's ID
// follows the request; anything else is replaced, never logged.
func requestID(next echo.HandlerFunc) echo.HandlerFunc {
	return func(c echo.Context) error {
		id := c.Request().Header.Get(echo.HeaderXRequestID)
		if !plausibleRequestID(id) {
			id = newRequestID()
		}
		c.Set(requestIDKey, id)
		c.Response().Header().Set(echo.HeaderXRequestID, id)
		return next(c)
	}
}

func plausibleRequestID(id string) bool {
	if len(id) == 0 || len(id) > 128 {
		return false
	}
	for i := 0; i < len(id); i++ {
		switch ch := id[i]; {
		case ch >= 'a' && ch <= 'z', ch >= 'A' && ch <= 'Z', ch >= '0' && ch <= '9', ch == '.', ch == '_', ch == ':', ch == '-':
		default:
			return false
		}
	}
	return true
}

// logFor is the server's logger with the request's ID.
func (s *Server) logFor(c echo.Context) *slog.Logger {
	if id, ok := c.Get(requestIDKey).(string); ok {
		return s.log.With("request_id", id)
	}
	return s.log
}
