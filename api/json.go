package api

import (
	"github.com/go-json-experiment/json"
	"github.com/go-json-experiment/json/jsontext"
	"github.com/labstack/echo/v4"
)

// jsonSerializer writes response bodies with the JSON library the request
// bodies and the Kafka records use (github.com/go-json-experiment/json),
// each followed by a newline. Request bodies are parsed by decodeBody,
// never by echo's Bind, so Deserialize stays echo's own.
type jsonSerializer struct {
	echo.DefaultJSONSerializer
}

var newline = []byte{'\n'}

func (jsonSerializer) Serialize(c echo.Context, i any, indent string) error {
	opts := []json.Options{jsontext.AllowInvalidUTF8(true)} // a detail may quote what a client sent
	if indent != "" {
		opts = append(opts, jsontext.WithIndent(indent))
	}
	if err := json.MarshalWrite(c.Response(), i, opts...); err != nil {
		return err
	}
	_, err := c.Response().Write(newline)
	return err
}
