package api

import (
	json "github.com/goccy/go-json"
	"github.com/labstack/echo/v4"
)

// jsonSerializer writes response bodies with goccy/go-json, a drop-in for
// encoding/json without its per-call reflection cost (see docs/bench/history.md;
// BenchmarkSerializer: several times faster than go-json-experiment/json
// here). Responses are Ordo's output; request bodies are parsed by
// decodeBody under the strict rules, never by echo's Bind, so Deserialize
// stays echo's own.
type jsonSerializer struct {
	echo.DefaultJSONSerializer
}

func (jsonSerializer) Serialize(c echo.Context, i any, indent string) error {
	enc := json.NewEncoder(c.Response())
	if indent != "" {
		enc.SetIndent("", indent)
	}
	return enc.Encode(i)
}
