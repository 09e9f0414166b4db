package auth

import (
	"encoding/json"
	"fmt"
	"slices"
	"strings"
	"time"

	"github.com/golang-jwt/jwt/v5"
)

// TokenType is the typ header of every access token this package signs and
// the one its Verifier requires (RFC 9068 §2.1). "application/at+jwt" is
// accepted too, and the comparison ignores case (RFC 7515 §4.1.9).
const TokenType = "at+jwt"

// MaxTokenSize is the longest token, in bytes, a Verifier parses and a
// Signer produces: 8 KiB. Longer tokens are refused before any decoding.
const MaxTokenSize = 8 << 10

// Claims are the claims of an access token (RFC 9068): the registered ones,
// the session it is bound to (sid) and its scope. A Verifier returns them
// only for a token that passed every check; callers must treat them as
// read-only.
//
// Custom claims travel beside these, at the top level of the token's
// payload: sign them with SignWith and read them with Extra, VerifyWith or
// FromContextWith.
type Claims struct {
	Issuer    string    // iss: set by the Signer
	Subject   string    // sub: required
	Audience  []string  // aud: the Signer's default when empty
	ExpiresAt time.Time // exp: set by the Signer (now + lifetime) unless earlier
	NotBefore time.Time // nbf: optional
	IssuedAt  time.Time // iat: set by the Signer
	ID        string    // jti: 128 random bits, base64url, unless given
	SessionID string    // sid: the session's stable ID ("" if none)
	Scope     string    // scope: space-separated scope tokens (RFC 9068 §2.2.3, RFC 8693 §4.2)
	ClientID  string    // client_id (RFC 9068 §2.2): optional here

	payload []byte // the verified payload, which Extra decodes
}

// Scopes returns the scope tokens.
func (c *Claims) Scopes() []string { return strings.Fields(c.Scope) }

// HasScope reports whether scope is one of the token's scope tokens.
func (c *Claims) HasScope(scope string) bool {
	for s := range strings.FieldsSeq(c.Scope) {
		if s == scope {
			return true
		}
	}
	return false
}

// clone copies c so that a caller's changes never reach the cache.
func (c *Claims) clone() *Claims {
	d := new(Claims)
	c.copyTo(d)
	return d
}

// copyTo makes *d a copy of c that shares nothing a caller can change.
func (c *Claims) copyTo(d *Claims) {
	*d = *c
	d.Audience = slices.Clone(c.Audience)
}

func (c *Claims) revocationSubject() RevocationSubject {
	return RevocationSubject{Subject: c.Subject, SID: c.SessionID, JTI: c.ID, IssuedAt: c.IssuedAt}
}

// Extra decodes the custom claims of verified claims into a T (a struct or
// a map, as encoding/json decodes a JSON object). The whole payload is
// decoded, so T may also name registered claims; members T does not name
// are ignored. Claims built by hand (not by a Verifier) have no custom
// claims and decode into T's zero value.
func Extra[T any](c *Claims) (T, error) {
	var t T
	if c == nil {
		return t, ErrTokenMissing
	}
	if c.payload == nil {
		return t, nil
	}
	if err := json.Unmarshal(c.payload, &t); err != nil {
		var zero T
		// json's message can quote a value from the token; name the type only.
		return zero, fmt.Errorf("%w: custom claims do not decode into %T", ErrTokenClaims, t)
	}
	return t, nil
}

// registered are the claim names Claims owns; custom claims may not use them.
var registered = map[string]bool{
	"iss": true, "sub": true, "aud": true, "exp": true, "nbf": true, "iat": true,
	"jti": true, "sid": true, "scope": true, "client_id": true,
}

// wireClaims is the payload as JSON: jwt's registered claims plus ours. It
// keeps the raw payload it was decoded from, for Extra.
type wireClaims struct {
	jwt.RegisteredClaims
	SessionID string `json:"sid,omitempty"`
	Scope     string `json:"scope,omitempty"`
	ClientID  string `json:"client_id,omitempty"`

	raw []byte
}

type plainWireClaims wireClaims

func (w *wireClaims) UnmarshalJSON(b []byte) error {
	if err := json.Unmarshal(b, (*plainWireClaims)(w)); err != nil {
		return err
	}
	w.raw = append([]byte(nil), b...)
	return nil
}

func (w *wireClaims) claims() *Claims {
	c := &Claims{
		Issuer:    w.Issuer,
		Subject:   w.Subject,
		Audience:  []string(w.Audience),
		ID:        w.ID,
		SessionID: w.SessionID,
		Scope:     w.Scope,
		ClientID:  w.ClientID,
		payload:   w.raw,
	}
	if w.ExpiresAt != nil {
		c.ExpiresAt = w.ExpiresAt.Time
	}
	if w.NotBefore != nil {
		c.NotBefore = w.NotBefore.Time
	}
	if w.IssuedAt != nil {
		c.IssuedAt = w.IssuedAt.Time
	}
	return c
}

func toWire(c *Claims) *wireClaims {
	w := &wireClaims{
		RegisteredClaims: jwt.RegisteredClaims{
			Issuer:   c.Issuer,
			Subject:  c.Subject,
			Audience: jwt.ClaimStrings(c.Audience),
			ID:       c.ID,
		},
		SessionID: c.SessionID,
		Scope:     c.Scope,
		ClientID:  c.ClientID,
	}
	if !c.ExpiresAt.IsZero() {
		w.ExpiresAt = jwt.NewNumericDate(c.ExpiresAt)
	}
	if !c.NotBefore.IsZero() {
		w.NotBefore = jwt.NewNumericDate(c.NotBefore)
	}
	if !c.IssuedAt.IsZero() {
		w.IssuedAt = jwt.NewNumericDate(c.IssuedAt)
	}
	return w
}

// checkScope reports whether s is a valid scope (RFC 6749 §3.3: scope
// tokens of %x21 / %x23-5B / %x5D-7E separated by single spaces) and returns
// it with redundant spaces removed.
func checkScope(s string) (string, error) {
	if s == "" {
		return "", nil
	}
	fields := strings.Fields(s)
	for _, f := range fields {
		for i := 0; i < len(f); i++ {
			b := f[i]
			if b < 0x21 || b == 0x22 || b == 0x5c || b > 0x7e {
				return "", fmt.Errorf("auth: scope holds a character outside RFC 6749 §3.3's scope-token")
			}
		}
	}
	return strings.Join(fields, " "), nil
}

// mergeExtra appends the members of the JSON object extra to the JSON object
// payload, refusing registered names and anything but an object.
func mergeExtra(payload, extra []byte) ([]byte, error) {
	var members map[string]json.RawMessage
	if err := json.Unmarshal(extra, &members); err != nil || members == nil {
		return nil, fmt.Errorf("auth: custom claims must encode as a JSON object")
	}
	for name := range members {
		if registered[name] {
			return nil, fmt.Errorf("auth: custom claim %q collides with a registered claim", name)
		}
	}
	if len(members) == 0 {
		return payload, nil
	}
	// Both are compact objects from json.Marshal: "{...}" + "," + "...}".
	out := make([]byte, 0, len(payload)+len(extra))
	out = append(out, payload[:len(payload)-1]...)
	if len(payload) > 2 {
		out = append(out, ',')
	}
	return append(out, extra[1:]...), nil
}
