// Package apikey is the format, scopes and hashing of Ordo's API keys.
//
// A key is "ordo_<id>_<secret>": the id (16 hex digits) names the key in
// listings, logs and the api_keys table; the secret (32 random bytes,
// base64url) is shown once when the key is created and stored only as an
// argon2id hash. Every comparison of secret material is constant-time.
package apikey
