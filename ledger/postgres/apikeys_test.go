package postgres_test

import (
	"context"
	"errors"
	"strings"
	"testing"

	"github.com/jackc/pgx/v5"

	"github.com/ordo-dev/ordo/apikey"
	"github.com/ordo-dev/ordo/ledger"
)

// TestAPIKeysStoreNoSecret: a created key reads back with its hash, which
// verifies its secret, and no column of the table holds the secret.
func TestAPIKeysStoreNoSecret(t *testing.T) {
	s, url := newStoreURL(t)
	ctx := context.Background()
	token, id, hash, err := apikey.Generate()
	if err != nil {
		t.Fatal(err)
	}
	_, secret, _ := apikey.Parse(token)
	k, err := s.CreateAPIKey(ctx, apikey.Key{ID: id, Name: "shop a", Scope: apikey.ScopeWrite, AccountPrefix: "shop-a:", Hash: hash})
	if err != nil {
		t.Fatal(err)
	}
	if k.ID != id || k.Name != "shop a" || k.Scope != apikey.ScopeWrite || k.AccountPrefix != "shop-a:" || k.CreatedAt.IsZero() || k.RevokedAt != nil {
		t.Fatalf("created: got %+v", k)
	}
	if !apikey.Verify(k.Hash, secret) {
		t.Fatal("the stored hash does not verify the secret")
	}

	conn, err := pgx.Connect(ctx, url)
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close(ctx)
	var row string
	if err := conn.QueryRow(ctx, `SELECT t::text FROM api_keys t WHERE id = $1`, id).Scan(&row); err != nil {
		t.Fatal(err)
	}
	if strings.Contains(row, secret) || strings.Contains(row, token) {
		t.Fatalf("the api_keys row %s holds the secret", row)
	}

	if _, err := s.CreateAPIKey(ctx, apikey.Key{ID: id, Name: "again", Scope: apikey.ScopeRead, Hash: hash}); !errors.Is(err, ledger.ErrConflict) {
		t.Errorf("create with a used ID: got %v, want ErrConflict", err)
	}
	if _, err := s.CreateAPIKey(ctx, apikey.Key{ID: "x", Scope: "root", Hash: hash}); !errors.Is(err, ledger.ErrInvalid) {
		t.Errorf("create with scope root: got %v, want ErrInvalid", err)
	}
	if _, err := s.APIKey(ctx, "nope"); !errors.Is(err, ledger.ErrNotFound) {
		t.Errorf("read unknown: got %v, want ErrNotFound", err)
	}
}

func TestAPIKeysListRevoke(t *testing.T) {
	s := newStore(t)
	ctx := context.Background()
	for _, id := range []string{"k1", "k2"} {
		if _, err := s.CreateAPIKey(ctx, apikey.Key{ID: id, Name: id, Scope: apikey.ScopeRead, Hash: "$argon2id$v=19$m=8,t=1,p=1$c2FsdA$aGFzaA"}); err != nil {
			t.Fatal(err)
		}
	}
	at, err := s.RevokeAPIKey(ctx, "k1")
	if err != nil {
		t.Fatal(err)
	}
	again, err := s.RevokeAPIKey(ctx, "k1")
	if err != nil || !again.Equal(at) {
		t.Errorf("revoke twice: got %v, %v, want the first time %v", again, err, at)
	}
	if _, err := s.RevokeAPIKey(ctx, "nope"); !errors.Is(err, ledger.ErrNotFound) {
		t.Errorf("revoke unknown: got %v, want ErrNotFound", err)
	}
	keys, err := s.APIKeys(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if len(keys) != 2 || keys[0].ID != "k1" || keys[0].RevokedAt == nil || !keys[0].RevokedAt.Equal(at) || keys[1].RevokedAt != nil {
		t.Fatalf("list: got %+v, want k1 revoked and k2 valid", keys)
	}
}
