package ledger

import (
	"errors"
	"strings"
	"testing"
)

func TestParseAmount(t *testing.T) {
	tests := []struct {
		literal string
		want    int64
		ok      bool
	}{
		{"1", 1, true},
		{"100", 100, true},
		{"9007199254740991", MaxAmount, true},
		{"9007199254740992", 0, false},
		{"99999999999999999999999", 0, false},
		{"0", 0, false},
		{"-1", 0, false},
		{"1.0", 0, false},
		{"1.5", 0, false},
		{"1e2", 0, false},
		{"01", 0, false},
		{"", 0, false},
		{`"5"`, 0, false},
	}
	for _, tt := range tests {
		t.Run(tt.literal, func(t *testing.T) {
			got, err := ParseAmount("amount", tt.literal)
			if tt.ok {
				if err != nil || got != tt.want {
					t.Fatalf("got %d, %v; want %d", got, err, tt.want)
				}
				return
			}
			var fe *FieldError
			if !errors.As(err, &fe) || fe.Field != "amount" || !errors.Is(err, ErrInvalid) {
				t.Fatalf("got %v, want a FieldError for amount", err)
			}
		})
	}
}

func TestParseLimit(t *testing.T) {
	tests := []struct {
		literal string
		want    int64
		ok      bool
	}{
		{"0", 0, true},
		{"1", 1, true},
		{"9007199254740991", MaxAmount, true},
		{"9007199254740992", 0, false},
		{"-1", 0, false},
		{"-0", 0, false},
		{"00", 0, false},
		{"1.5", 0, false},
		{"0.0", 0, false},
		{"1e2", 0, false},
		{"", 0, false},
		{"null", 0, false},
	}
	for _, tt := range tests {
		t.Run(tt.literal, func(t *testing.T) {
			got, err := ParseLimit("overdraft_limit", tt.literal)
			if tt.ok {
				if err != nil || got != tt.want {
					t.Fatalf("got %d, %v; want %d", got, err, tt.want)
				}
				return
			}
			var fe *FieldError
			if !errors.As(err, &fe) || fe.Field != "overdraft_limit" || !errors.Is(err, ErrInvalid) {
				t.Fatalf("got %v, want a FieldError for overdraft_limit", err)
			}
		})
	}
}

func TestValidateAccountID(t *testing.T) {
	tests := []struct {
		id string
		ok bool
	}{
		{"alice", true},
		{"acc-1", true},
		{"A.b_c:d-9", true},
		{strings.Repeat("x", 64), true},
		{strings.Repeat("x", 65), false},
		{"", false},
		{"has space", false},
		{"slash/no", false},
		{"ünï", false},
		{".", false},
		{"..", false},
		{"...", false},
		{".a", true},
		{"a..", true},
		{"..-", true},
	}
	for _, tt := range tests {
		t.Run(tt.id, func(t *testing.T) {
			err := ValidateAccountID("id", tt.id)
			if (err == nil) != tt.ok {
				t.Fatalf("got %v, want ok=%v", err, tt.ok)
			}
		})
	}
}

func TestValidateCurrency(t *testing.T) {
	for c, ok := range map[string]bool{"USD": true, "EUR": true, "usd": false, "US": false, "USDT": false, "": false} {
		if err := ValidateCurrency("currency", c); (err == nil) != ok {
			t.Errorf("%q: got %v, want ok=%v", c, err, ok)
		}
	}
}

func TestValidateCommandID(t *testing.T) {
	tests := []struct {
		name, id string
		ok       bool
	}{
		{"uuid", "0190f3e4-7c1a-7b5e-9d2f-3a4b5c6d7e8f", true},
		{"keyed", "idem-00112233445566778899aabbccddeeff", true},
		{"punctuation", "a.b_c:d-9", true},
		{"longest", strings.Repeat("x", 128), true},
		{"too long", strings.Repeat("x", 129), false},
		{"empty", "", false},
		{"trailing newline", "abc\n", false},
		{"NUL", "a\x00b", false},
		{"space", "a b", false},
		{"non-ASCII", "ünï", false},
		{"dot", ".", false},
		{"dot dot", "..", false},
		{"dots only", "....", false},
		{"dots and a letter", "..a", true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if err := ValidateCommandID("command_id", tt.id); (err == nil) != tt.ok {
				t.Fatalf("got %v, want ok=%v", err, tt.ok)
			}
		})
	}
}
