// Package auth issues and checks signed access tokens (JWT, RFC 9068) that
// any instance of a stateless service can verify, with keys every instance
// agrees on through the shared store.Store. It imports store, never
// session: a token is bound to a session only by the session's stable ID,
// the sid claim.
//
// # Signer and Verifier
//
// A Signer (NewSigner) signs; a Verifier (NewVerifier) verifies. Each takes
// a key source: a KeyRing (keys shared through the store, rotated by
// themselves), a KeySet (keys you manage: ParseJWKS, ParsePEM, LoadKeySet,
// KeySetFromEnv, NewKeySet), or, for the Verifier, RemoteKeys (another
// service's JWKS). A service that only verifies needs no private key.
//
// Tokens are compact JWS with the header {"alg":…,"kid":…,"typ":"at+jwt"}
// and the claims of Claims: iss, sub, aud, exp, iat, jti (128 random bits,
// base64url), sid, scope (space-separated, RFC 9068 §2.2.3), optional nbf
// and client_id. Custom claims sit beside them at the top level: SignWith
// writes them from any T that encodes as a JSON object, and VerifyWith,
// Extra and FromContextWith read them back into a T. (Go methods cannot
// have type parameters, hence functions; one Claims type and one Verify
// serve both, and only code that wants custom claims pays for decoding
// them.)
//
// Keys are EdDSA (Ed25519) by default; ES256 and HS256 only when a key is
// made for them (GenerateKey, NewKey, NewHMACKey, a JWK that says so, or
// KeyRingOptions.Algorithm). A key has one algorithm. The Verifier finds the
// key by the token's kid and checks the token with that key's algorithm
// only (jwt.WithValidMethods holding that one algorithm): the token's alg
// must equal it, so "none", and HS256 signed with a public key as the HMAC
// secret, are refused whatever the header says.
//
// Verification is strict: the token is at most MaxTokenSize (8 KiB), checked
// before any parsing; typ must be at+jwt; a crit header is refused; exp,
// iat, iss, aud and sub are required, iss must equal VerifierOptions.Issuer,
// aud must contain VerifierOptions.Audience; exp, nbf and iat are checked
// against the clock (VerifierOptions.Now) with a leeway of at most MaxLeeway
// (30 s, default 5 s); exp - iat may not exceed MaxTokenLifetime. Failures
// are the sentinel errors of this package (ErrTokenExpired, ErrUnknownKey,
// …, all wrapping ErrTokenInvalid), never with claims, and no error or log
// line quotes a token, a claim value, a key or the secret.
//
// # The key ring
//
// NewKeyRing needs only the shared store and a secret. All keys live in one
// record under DefaultKeyRingKey ("auth:keyring"), written with the store's
// compare-and-swap: the first instance Creates it, later writes Replace it
// at the version read, and an instance that loses (ErrExists, ErrConflict)
// reads again and judges again, so two instances starting at once end with
// one ring and only one instance performs each rotation.
//
// Private keys are encrypted in the record with AES-256-GCM under a key
// derived from KeyRingOptions.Secret (at least 32 bytes) by HKDF-SHA256 with
// the record's random 32-byte salt and the info string "stateless-go/auth
// keyring v1 AES-256-GCM"; each key has a random nonce and its kid and
// algorithm as additional data. A wrong secret is ErrWrongSecret, and an
// instance never overwrites a ring it cannot decrypt. Key IDs are RFC 7638
// JWK thumbprints (SHA-256, base64url).
//
// A key's life cycle is next → active → retired → dropped. With R =
// RotateEvery (default 24 h), L = TokenLifetime (longest token life, default
// 10 min), M = JWKSMaxAge (default 5 min), F = RefreshEvery (default 30 s)
// and P = PublishAhead = M + 2F (default 6 min):
//
//   - R - P after a key became active, a next key is added to the ring
//     (and so to the JWKS), to become active R after its predecessor: every
//     instance has read it (within F) and every JWKS cache has let go of a
//     copy without it (within M) before it signs a single token.
//   - When the next key becomes active its predecessor is retired: it
//     signs no more, still verifies, and stays in the ring and the JWKS
//     until L + MaxLeeway after its retirement, when the last token it
//     could have signed has expired; then it is dropped (ignored at once by
//     every instance's clock, removed from the record by the next write).
//   - Each instance re-reads the ring every F, at once (shared, at most once
//     per UnknownKeyRefreshInterval) when a token names an unknown kid, and
//     before signing if its view is older than 2F. It signs only while its
//     last good read is younger than P, so it never signs with a key that
//     another instance has retired.
//
// A ring so holds at most L/R + 3 keys (at most 11: L ≤ 8R is enforced).
// The record is rewritten at each rotation with a TTL of at least 30 days.
// All instances must share the Secret and should share the options.
//
// # JWKS
//
// JWKSHandler (or KeyRing.JWKSHandler) serves the public keys, next, active
// and retired, at /.well-known/jwks.json with Content-Type
// application/jwk-set+json, Cache-Control: public, max-age=M, a strong ETag,
// and 304 Not Modified on a matching If-None-Match. HS256 keys are never
// published.
//
// # Remote verification
//
// NewRemoteKeys verifies with another service's JWKS: each fetch is bounded
// by a timeout (default 5 s) and a body size (default 1 MiB); keys are
// cached and re-fetched in the background every max-age (clamped to [10 s,
// 1 h]) or RefreshEvery; an unknown kid triggers one shared fetch, at most
// one per MinRefreshInterval (default 10 s), then ErrUnknownKey; keys gone
// from the remote set are evicted on the next fetch.
//
// # Middleware
//
// Verifier.Middleware reads the token from the Authorization header only
// ("Bearer", any case) and puts the claims in the request context
// (FromContext). It answers 401 with WWW-Authenticate: Bearer realm="…"
// when there is no token, and with error="invalid_token" when the token is
// refused (no further detail); 400 error="invalid_request" for several
// Authorization headers; 503 with Retry-After when the token could not be
// checked (revocation store or keys unavailable, fail closed). RequireScope
// answers 403 error="insufficient_scope". With Optional, requests without
// Bearer credentials pass through anonymous; a bad token is still a 401.
// Error bodies are application/problem+json.
//
// # Cache
//
// The Verifier keeps verified tokens in memory, keyed by a seeded 64-bit
// hash of the token (a hit is a token equal to the one kept), for at most
// their exp: at most VerifierOptions.CacheSize entries (DefaultCacheSize,
// 10,000), tokens of at most MaxCachedTokenSize (4 KiB), so at most about
// 100 MiB and typically a few MiB. A hit skips parsing and
// the signature but still checks that the key is still in the source and
// asks the RevocationChecker, so a revoked token is refused at once.
// Verifier.Forget drops one entry.
//
// # Revocation
//
// VerifierOptions.Revocation takes a RevocationChecker, asked after the
// signature and the claims pass (and on every cache hit) with the token's
// sub, sid, jti and iat. A revoked token is ErrTokenRevoked; a checker that
// cannot tell makes the Verifier fail closed with ErrRevocationUnavailable
// (503) unless VerifierOptions.RevocationFailOpen is set. Revocation
// entries must outlive VerifierOptions.MaxTokenLifetime.
package auth
