package strictjson

import (
	"errors"
	"testing"

	"github.com/go-json-experiment/json/jsontext"

	"github.com/ordo-dev/ordo/ledger"
)

type target struct {
	Name  jsontext.Value `json:"name"`
	Count jsontext.Value `json:"count"`
}

func TestUnmarshal(t *testing.T) {
	tests := []struct {
		name, in string
		field    string // "" when accepted
	}{
		{"object", `{"name":"a","count":1}`, ""},
		{"empty object", `{}`, ""},
		{"surrounding whitespace", " \n{\"name\":\"a\"}\n ", ""},
		{"empty", ``, "body"},
		{"whitespace", "  \n", "body"},
		{"null", `null`, "body"},
		{"array", `[{"name":"a"}]`, "body"},
		{"string", `"a"`, "body"},
		{"truncated", `{"name":"a"`, "body"},
		{"malformed", `{"name":"a",}`, "body"},
		{"trailing object", `{"name":"a"}{}`, "body"},
		{"trailing garbage", `{"name":"a"} x`, "body"},
		{"invalid UTF-8", "{\"name\":\"\xff\"}", "body"},
		{"duplicate", `{"name":"a","name":"b"}`, "name"},
		{"duplicate by escape", `{"name":"a","n\u0061me":"b"}`, "name"},
		{"unknown", `{"name":"a","colour":"red"}`, "colour"},
		{"other case", `{"Name":"a"}`, "Name"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var dst target
			err := Unmarshal("body", []byte(tt.in), &dst)
			if tt.field == "" {
				if err != nil {
					t.Fatalf("got %v, want it accepted", err)
				}
				return
			}
			var fe *ledger.FieldError
			if !errors.As(err, &fe) || fe.Field != tt.field || !errors.Is(err, ledger.ErrInvalid) {
				t.Fatalf("got %v, want a FieldError on %q", err, tt.field)
			}
		})
	}
}

func TestMembers(t *testing.T) {
	tests := []struct {
		name string
		read func() error
		ok   bool
	}{
		{"string", func() error { _, err := String("f", jsontext.Value(`"a"`)); return err }, true},
		{"escaped string", func() error {
			s, err := String("f", jsontext.Value(`"\u0061\n"`))
			if err == nil && s != "a\n" {
				return errors.New("got " + s)
			}
			return err
		}, true},
		{"absent string", func() error { _, err := String("f", nil); return err }, false},
		{"null string", func() error { _, err := String("f", jsontext.Value(`null`)); return err }, false},
		{"number as string", func() error { _, err := String("f", jsontext.Value(`1`)); return err }, false},
		{"amount", func() error { _, err := Amount("f", jsontext.Value(`12`)); return err }, true},
		{"absent amount", func() error { _, err := Amount("f", nil); return err }, false},
		{"null amount", func() error { _, err := Amount("f", jsontext.Value(`null`)); return err }, false},
		{"absent limit", func() error { _, err := Limit("f", nil); return err }, true},
		{"zero limit", func() error { _, err := Limit("f", jsontext.Value(`0`)); return err }, true},
		{"null limit", func() error { _, err := Limit("f", jsontext.Value(`null`)); return err }, false},
		{"absent", func() error { return Absent("f", nil, "x") }, true},
		{"present though absent", func() error { return Absent("f", jsontext.Value(`null`), "x") }, false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			err := tt.read()
			if (err == nil) != tt.ok {
				t.Fatalf("got %v, want ok=%v", err, tt.ok)
			}
			if err != nil && !errors.Is(err, ledger.ErrInvalid) {
				t.Fatalf("got %v, want a ledger.ErrInvalid", err)
			}
		})
	}
}
