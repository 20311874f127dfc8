package apikey

import (
	"strings"
	"testing"
)

func TestGenerateParseVerify(t *testing.T) {
	token, id, hash, err := Generate()
	if err != nil {
		t.Fatal(err)
	}
	gotID, secret, err := Parse(token)
	if err != nil || gotID != id {
		t.Fatalf("Parse(%q): got %q, %v, want id %q", token, gotID, err, id)
	}
	if strings.Contains(hash, secret) {
		t.Fatalf("hash %q contains the secret", hash)
	}
	if !strings.HasPrefix(hash, "$argon2id$v=19$m=19456,t=2,p=1$") {
		t.Fatalf("hash %q: want an argon2id PHC string", hash)
	}
	if !Verify(hash, secret) {
		t.Fatal("Verify(hash, secret): got false, want true")
	}
	for name, wrong := range map[string]string{
		"other secret":   secret[:len(secret)-1] + "x",
		"empty":          "",
		"secret + extra": secret + "a",
	} {
		if wrong == secret {
			continue
		}
		if Verify(hash, wrong) {
			t.Errorf("%s: Verify: got true, want false", name)
		}
	}
	// A second key of the same secret gets another salt.
	if h2, _ := Hash(secret); h2 == hash || !Verify(h2, secret) {
		t.Errorf("Hash twice: got %q and %q, want two salts that both verify", hash, h2)
	}
}

func TestParseRejects(t *testing.T) {
	for _, tok := range []string{
		"", "ordo_", "ordo_0123456789abcdef", "ordo_0123456789abcdef_", "xordo_0123456789abcdef_s",
		"ordo_0123456789ABCDEF_s", "ordo_0123456789abcdeg_s", "ordo_0123_s", "Bearer ordo_0123456789abcdef_s",
		"ordo_0123456789abcdef_" + strings.Repeat("s", 257),
	} {
		if _, _, err := Parse(tok); err == nil {
			t.Errorf("Parse(%q): got nil, want ErrMalformed", tok)
		}
	}
	if id, sec, err := Parse("ordo_0123456789abcdef_a_b-c"); err != nil || id != "0123456789abcdef" || sec != "a_b-c" {
		t.Errorf("Parse: got %q %q %v, want the secret after the first underscore", id, sec, err)
	}
}

func TestVerifyRejectsBadHashes(t *testing.T) {
	for _, h := range []string{
		"", "plain", "$argon2i$v=19$m=19456,t=2,p=1$c2FsdHNhbHRzYWx0$aGFzaGhhc2hoYXNoaGFzaA",
		"$argon2id$v=19$m=999999999,t=2,p=1$c2FsdHNhbHRzYWx0$aGFzaGhhc2hoYXNoaGFzaA", // unbounded memory
		"$argon2id$v=19$m=19456,t=2,p=1$c2FsdHNhbHRzYWx0$",
	} {
		if Verify(h, "secret") {
			t.Errorf("Verify(%q): got true, want false", h)
		}
	}
}

// TestComparisonsAreConstantTime: both the slow check and the cached one
// compare through subtle.ConstantTimeCompare.
func TestComparisonsAreConstantTime(t *testing.T) {
	calls := 0
	orig := constantTimeCompare
	constantTimeCompare = func(x, y []byte) int { calls++; return orig(x, y) }
	t.Cleanup(func() { constantTimeCompare = orig })

	hash, err := Hash("s3cret")
	if err != nil {
		t.Fatal(err)
	}
	if !Verify(hash, "s3cret") || Verify(hash, "other") {
		t.Fatal("Verify: wrong answers")
	}
	if calls != 2 {
		t.Fatalf("Verify: got %d constant-time comparisons, want 2", calls)
	}
	d := DigestOf("s3cret")
	if !d.Matches("s3cret") || d.Matches("other") {
		t.Fatal("Digest.Matches: wrong answers")
	}
	if calls != 4 {
		t.Fatalf("Digest.Matches: got %d constant-time comparisons in all, want 4", calls)
	}
}

func TestScopes(t *testing.T) {
	tests := []struct {
		have, need Scope
		want       bool
	}{
		{ScopeRead, ScopeRead, true}, {ScopeRead, ScopeWrite, false}, {ScopeRead, ScopeAdmin, false},
		{ScopeWrite, ScopeRead, true}, {ScopeWrite, ScopeWrite, true}, {ScopeWrite, ScopeAdmin, false},
		{ScopeAdmin, ScopeRead, true}, {ScopeAdmin, ScopeWrite, true}, {ScopeAdmin, ScopeAdmin, true},
		{Scope("root"), ScopeRead, false}, {Scope(""), Scope(""), false},
	}
	for _, tt := range tests {
		if got := tt.have.Allows(tt.need); got != tt.want {
			t.Errorf("%q.Allows(%q): got %v, want %v", tt.have, tt.need, got, tt.want)
		}
	}
	if _, err := ParseScope("superuser"); err == nil {
		t.Error("ParseScope(superuser): got nil error")
	}
}

func TestCoversAccount(t *testing.T) {
	k := Key{AccountPrefix: "shop-a:"}
	if !k.CoversAccount("shop-a:alice") || k.CoversAccount("shop-b:alice") || k.CoversAccount("shop-a") {
		t.Error("prefix shop-a: covers the wrong accounts")
	}
	if !(Key{}).CoversAccount("anything") {
		t.Error("no prefix: want every account")
	}
}

func BenchmarkVerify(b *testing.B) {
	hash, _ := Hash("s3cret")
	for b.Loop() {
		Verify(hash, "s3cret")
	}
}

func BenchmarkDigestMatches(b *testing.B) {
	d := DigestOf("s3cret")
	for b.Loop() {
		d.Matches("s3cret")
	}
}
