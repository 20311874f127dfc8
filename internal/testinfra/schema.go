package testinfra

import (
	"bytes"
	"os"
	"path/filepath"
	"testing"

	"github.com/pb33f/jsonschema/v6"
)

// JSONSchema compiles the JSON Schema document at path, with formats
// asserted, failing t if it cannot.
func JSONSchema(t testing.TB, path string) *jsonschema.Schema {
	t.Helper()
	raw, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	doc, err := jsonschema.UnmarshalJSON(bytes.NewReader(raw))
	if err != nil {
		t.Fatal(err)
	}
	name := filepath.Base(path)
	c := jsonschema.NewCompiler()
	c.AssertFormat()
	if err := c.AddResource(name, doc); err != nil {
		t.Fatal(err)
	}
	s, err := c.Compile(name)
	if err != nil {
		t.Fatal(err)
	}
	return s
}
