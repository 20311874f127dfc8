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

// responseOptions: responses are written from structs and maps, where no
// name can repeat, so the encoder does not track names; a detail may quote
// what a client sent, so invalid UTF-8 is replaced rather than refused.
var responseOptions = json.JoinOptions(jsontext.AllowDuplicateNames(true), jsontext.AllowInvalidUTF8(true))

func (jsonSerializer) Serialize(c echo.Context, i any, indent string) error {
	opts := responseOptions
	if indent != "" {
		opts = json.JoinOptions(opts, jsontext.WithIndent(indent))
	}
	if err := json.MarshalWrite(c.Response(), i, opts); err != nil {
		return err
	}
	_, err := c.Response().Write(newline)
	return err
}
