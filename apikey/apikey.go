package apikey

import (
	"crypto/rand"
	"crypto/sha256"
	"crypto/subtle"
	"encoding/base64"
	"encoding/hex"
	"errors"
	"fmt"
	"strings"
	"time"

	"golang.org/x/crypto/argon2"
)

// Prefix starts every key, so that secret scanners and people recognise it.
const Prefix = "ordo_"

// Sizes of a key's parts, in random bytes.
const (
	idBytes     = 8  // 16 hex digits
	secretBytes = 32 // 256 bits: not guessable, whatever the hash
	saltBytes   = 16
)

// ErrMalformed is a token that is not an Ordo API key.
var ErrMalformed = errors.New("apikey: not an Ordo API key (want ordo_<id>_<secret>)")

// Scope is what a key may do.
type Scope string

// The scopes, each allowing what the one before it does.
const (
	// ScopeRead allows reads (GET, HEAD).
	ScopeRead Scope = "read"
	// ScopeWrite allows reads and commands.
	ScopeWrite Scope = "write"
	// ScopeAdmin allows everything, the main listener's /metrics included.
	ScopeAdmin Scope = "admin"
)

func (s Scope) rank() int {
	switch s {
	case ScopeRead:
		return 1
	case ScopeWrite:
		return 2
	case ScopeAdmin:
		return 3
	}
	return 0
}

// Valid reports whether s is one of the scopes.
func (s Scope) Valid() bool { return s.rank() > 0 }

// Allows reports whether a key of scope s may do what needs scope need.
func (s Scope) Allows(need Scope) bool { return s.rank() > 0 && s.rank() >= need.rank() }

// ParseScope reads a scope name.
func ParseScope(name string) (Scope, error) {
	s := Scope(name)
	if !s.Valid() {
		return "", fmt.Errorf("scope %q: want read, write or admin", name)
	}
	return s, nil
}

// Key is a key as stored: never its secret, only the secret's hash.
type Key struct {
	ID    string
	Name  string
	Scope Scope
	// AccountPrefix limits the key to the accounts whose IDs start with
	// it; "" is every account.
	AccountPrefix string
	// Hash is the secret's argon2id hash in the PHC string format.
	Hash      string
	CreatedAt time.Time
	RevokedAt *time.Time // nil while the key is valid
}

// CoversAccount reports whether the key may act on the account.
func (k Key) CoversAccount(id string) bool { return strings.HasPrefix(id, k.AccountPrefix) }

// Generate returns a new key's token (shown once to its owner), its id and
// its secret's hash.
func Generate() (token, id, hash string, err error) {
	idb := make([]byte, idBytes)
	sec := make([]byte, secretBytes)
	if _, err := rand.Read(idb); err != nil {
		return "", "", "", fmt.Errorf("apikey: %w", err)
	}
	if _, err := rand.Read(sec); err != nil {
		return "", "", "", fmt.Errorf("apikey: %w", err)
	}
	id = hex.EncodeToString(idb)
	secret := base64.RawURLEncoding.EncodeToString(sec)
	hash, err = Hash(secret)
	if err != nil {
		return "", "", "", err
	}
	return Prefix + id + "_" + secret, id, hash, nil
}

// Parse splits a token into its id and secret. It checks the form only.
func Parse(token string) (id, secret string, err error) {
	rest, ok := strings.CutPrefix(token, Prefix)
	if !ok {
		return "", "", ErrMalformed
	}
	id, secret, ok = strings.Cut(rest, "_")
	if !ok || len(id) != 2*idBytes || secret == "" || len(secret) > 256 {
		return "", "", ErrMalformed
	}
	if _, err := hex.DecodeString(id); err != nil || strings.ToLower(id) != id {
		return "", "", ErrMalformed
	}
	return id, secret, nil
}

// The argon2id parameters of new hashes: OWASP's first recommendation
// (19 MiB, 2 passes, 1 lane). A hash records its own parameters, so they
// can change without invalidating keys.
const (
	argonTime    = 2
	argonMemory  = 19 * 1024 // KiB
	argonThreads = 1
	argonKeyLen  = 32
)

// Hash returns the argon2id hash of secret with a fresh random salt, in the
// PHC string format: $argon2id$v=19$m=19456,t=2,p=1$<salt>$<hash>.
func Hash(secret string) (string, error) {
	salt := make([]byte, saltBytes)
	if _, err := rand.Read(salt); err != nil {
		return "", fmt.Errorf("apikey: %w", err)
	}
	sum := argon2.IDKey([]byte(secret), salt, argonTime, argonMemory, argonThreads, argonKeyLen)
	b64 := base64.RawStdEncoding
	return fmt.Sprintf("$argon2id$v=%d$m=%d,t=%d,p=%d$%s$%s", argon2.Version, argonMemory, argonTime, argonThreads, b64.EncodeToString(salt), b64.EncodeToString(sum)), nil
}

// Bounds on the parameters Verify accepts, so that a corrupt or hostile
// row cannot make one verification take unbounded memory or time.
const (
	maxArgonMemory = 256 * 1024 // KiB
	maxArgonTime   = 10
)

// Verify reports whether secret hashes to hash (as Hash writes it). The
// final comparison is constant-time.
func Verify(hash, secret string) bool {
	parts := strings.Split(hash, "$")
	if len(parts) != 6 || parts[0] != "" || parts[1] != "argon2id" {
		return false
	}
	var version int
	if _, err := fmt.Sscanf(parts[2], "v=%d", &version); err != nil || version != argon2.Version {
		return false
	}
	var mem, passes uint32
	var threads uint8
	if _, err := fmt.Sscanf(parts[3], "m=%d,t=%d,p=%d", &mem, &passes, &threads); err != nil {
		return false
	}
	if mem < 8 || mem > maxArgonMemory || passes < 1 || passes > maxArgonTime || threads < 1 {
		return false
	}
	b64 := base64.RawStdEncoding
	salt, err := b64.DecodeString(parts[4])
	if err != nil {
		return false
	}
	want, err := b64.DecodeString(parts[5])
	if err != nil || len(want) < 16 || len(want) > 64 {
		return false
	}
	got := argon2.IDKey([]byte(secret), salt, passes, mem, threads, uint32(len(want)))
	return constantTimeCompare(got, want) == 1
}

// Digest is a fast fingerprint of a verified secret, kept in memory so
// that a key's later requests are checked without the slow hash.
type Digest [sha256.Size]byte

// DigestOf returns the digest of secret.
func DigestOf(secret string) Digest { return sha256.Sum256([]byte(secret)) }

// Matches reports, in constant time, whether secret has digest d.
func (d Digest) Matches(secret string) bool {
	got := sha256.Sum256([]byte(secret))
	return constantTimeCompare(got[:], d[:]) == 1
}

// constantTimeCompare compares secret material; a variable so that a test
// can see that every comparison goes through it.
var constantTimeCompare = subtle.ConstantTimeCompare
