package auth

import (
	"crypto/ecdsa"
	"crypto/ed25519"
	"crypto/elliptic"
	"crypto/hmac"
	"crypto/rand"
	"crypto/sha256"
	"crypto/subtle"
	"encoding/base64"
	"encoding/json"
	"fmt"
	"log/slog"

	"github.com/golang-jwt/jwt/v5"
)

// Algorithm is a JWS signature algorithm (RFC 7518). A Key has exactly one,
// fixed when the key is made; the Verifier checks a token only with the
// algorithm of the key its kid names, never with the one its header claims.
type Algorithm string

// The algorithms a Key can have. EdDSA (Ed25519) is the default everywhere;
// ES256 and HS256 are used only when a key is made for them explicitly.
const (
	EdDSA Algorithm = "EdDSA" // Ed25519 (RFC 8037)
	ES256 Algorithm = "ES256" // ECDSA on P-256 with SHA-256
	HS256 Algorithm = "HS256" // HMAC-SHA256, a shared secret of at least MinHMACKeySize bytes
)

// MinHMACKeySize is the shortest HS256 secret accepted, in bytes: RFC 7518
// §3.2 asks for a key at least as long as the hash output.
const MinHMACKeySize = 32

// maxKIDLen bounds a kid read from a JWK or a token header.
const maxKIDLen = 256

func (a Algorithm) method() jwt.SigningMethod {
	switch a {
	case EdDSA:
		return jwt.SigningMethodEdDSA
	case ES256:
		return jwt.SigningMethodES256
	case HS256:
		return jwt.SigningMethodHS256
	}
	return nil
}

func (a Algorithm) check() error {
	if a.method() == nil {
		return fmt.Errorf("%w: unsupported algorithm %q (want EdDSA, ES256 or HS256)", ErrInvalidKey, string(a))
	}
	return nil
}

// Key is one signing or verification key: an ID (kid), one algorithm, and
// its material. It is immutable and safe to share. Its String and LogValue
// show only the kid and the algorithm, never the material.
type Key struct {
	id      string
	alg     Algorithm
	private any // ed25519.PrivateKey, *ecdsa.PrivateKey, []byte (HS256), or nil
	public  any // ed25519.PublicKey, *ecdsa.PublicKey, or []byte (HS256, the secret itself)
	method  jwt.SigningMethod
	header  string // the encoded JOSE header this key signs with
	jwk     []byte // the public JWK as JSON; nil for HS256
}

// ID returns the key's kid: for an asymmetric key made by this package, its
// RFC 7638 JWK thumbprint (SHA-256, base64url).
func (k *Key) ID() string { return k.id }

// Algorithm returns the one algorithm this key signs and verifies with.
func (k *Key) Algorithm() Algorithm { return k.alg }

// CanSign reports whether the key holds private (or, for HS256, secret)
// material.
func (k *Key) CanSign() bool { return k.private != nil }

// Public returns the key without its private half, or nil for an HS256 key,
// which has no public half.
func (k *Key) Public() *Key {
	if k.alg == HS256 {
		return nil
	}
	if k.private == nil {
		return k
	}
	p := *k
	p.private = nil
	return &p
}

// PublicJWK returns the key's public JWK (RFC 7517) as JSON, with kid, alg
// and "use":"sig". An HS256 key has none and answers an error.
func (k *Key) PublicJWK() ([]byte, error) {
	if k.jwk == nil {
		return nil, fmt.Errorf("%w: an HS256 key has no public JWK", ErrInvalidKey)
	}
	return append([]byte(nil), k.jwk...), nil
}

// String shows the kid and algorithm only.
func (k *Key) String() string { return fmt.Sprintf("auth.Key{kid:%s alg:%s}", k.id, k.alg) }

// LogValue shows the kid and algorithm only.
func (k *Key) LogValue() slog.Value {
	return slog.GroupValue(slog.String("kid", k.id), slog.String("alg", string(k.alg)))
}

// GenerateKey makes a new random key for alg (EdDSA if alg is "").
func GenerateKey(alg Algorithm) (*Key, error) {
	if alg == "" {
		alg = EdDSA
	}
	switch alg {
	case EdDSA:
		_, priv, err := ed25519.GenerateKey(rand.Reader)
		if err != nil {
			return nil, err
		}
		return NewKey(priv)
	case ES256:
		priv, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
		if err != nil {
			return nil, err
		}
		return NewKey(priv)
	case HS256:
		secret := make([]byte, MinHMACKeySize)
		rand.Read(secret)
		return NewHMACKey(secret)
	}
	return nil, alg.check()
}

// NewKey makes a Key from Go key material: an ed25519.PrivateKey or
// ed25519.PublicKey (algorithm EdDSA), or an *ecdsa.PrivateKey or
// *ecdsa.PublicKey on P-256 (algorithm ES256). Its kid is the RFC 7638
// thumbprint of its public key. The Key keeps a reference to the material.
func NewKey(material any) (*Key, error) {
	switch m := material.(type) {
	case ed25519.PrivateKey:
		if len(m) != ed25519.PrivateKeySize {
			return nil, fmt.Errorf("%w: Ed25519 private key of %d bytes", ErrInvalidKey, len(m))
		}
		return newAsymmetric(EdDSA, m, m.Public().(ed25519.PublicKey))
	case ed25519.PublicKey:
		if len(m) != ed25519.PublicKeySize {
			return nil, fmt.Errorf("%w: Ed25519 public key of %d bytes", ErrInvalidKey, len(m))
		}
		return newAsymmetric(EdDSA, nil, m)
	case *ecdsa.PrivateKey:
		if m == nil || m.Curve != elliptic.P256() {
			return nil, fmt.Errorf("%w: ECDSA keys must be on P-256", ErrInvalidKey)
		}
		return newAsymmetric(ES256, m, &m.PublicKey)
	case *ecdsa.PublicKey:
		if m == nil || m.Curve != elliptic.P256() {
			return nil, fmt.Errorf("%w: ECDSA keys must be on P-256", ErrInvalidKey)
		}
		return newAsymmetric(ES256, nil, m)
	}
	return nil, fmt.Errorf("%w: unsupported key type %T (want Ed25519 or ECDSA P-256; HS256 keys come from NewHMACKey)", ErrInvalidKey, material)
}

// NewHMACKey makes an HS256 key from a shared secret of at least
// MinHMACKeySize bytes (which it copies). Its kid is derived from the secret
// by HMAC-SHA256 (so every instance given the secret agrees on it, and it
// reveals nothing a token's own signature does not). HS256 keys are never
// published in a JWKS.
func NewHMACKey(secret []byte) (*Key, error) {
	if len(secret) < MinHMACKeySize {
		return nil, fmt.Errorf("%w: HS256 secret of %d bytes is shorter than %d", ErrInvalidKey, len(secret), MinHMACKeySize)
	}
	s := append([]byte(nil), secret...)
	mac := hmac.New(sha256.New, s)
	mac.Write([]byte("stateless-go/auth HS256 kid"))
	return finish(&Key{
		id:      b64(mac.Sum(nil)),
		alg:     HS256,
		private: s,
		public:  s,
	})
}

func newAsymmetric(alg Algorithm, private, public any) (*Key, error) {
	members, err := publicMembers(public)
	if err != nil {
		return nil, err
	}
	k := &Key{id: thumbprint(members), alg: alg, private: private, public: public}
	return finish(k)
}

// withID returns a copy of k under another kid (a kid given by a JWK).
func (k *Key) withID(kid string) (*Key, error) {
	if kid == "" || kid == k.id {
		return k, nil
	}
	if len(kid) > maxKIDLen {
		return nil, fmt.Errorf("%w: kid longer than %d bytes", ErrInvalidKey, maxKIDLen)
	}
	c := *k
	c.id = kid
	return finish(&c)
}

// finish computes what a key signs with (its header) and publishes (its JWK).
func finish(k *Key) (*Key, error) {
	k.method = k.alg.method()
	h, err := json.Marshal(struct {
		Alg string `json:"alg"`
		Kid string `json:"kid"`
		Typ string `json:"typ"`
	}{string(k.alg), k.id, TokenType})
	if err != nil {
		return nil, err
	}
	k.header = b64(h)
	k.jwk = nil
	if k.alg != HS256 {
		members, err := publicMembers(k.public)
		if err != nil {
			return nil, err
		}
		j := jwk{Kty: members.Kty, Crv: members.Crv, X: members.X, Y: members.Y, Kid: k.id, Alg: string(k.alg), Use: "sig"}
		if k.jwk, err = json.Marshal(j); err != nil {
			return nil, err
		}
	}
	return k, nil
}

// jwkMembers are the required members of a public JWK, the ones an RFC 7638
// thumbprint hashes.
type jwkMembers struct {
	Kty, Crv, X, Y string
}

func publicMembers(public any) (jwkMembers, error) {
	switch p := public.(type) {
	case ed25519.PublicKey:
		return jwkMembers{Kty: "OKP", Crv: "Ed25519", X: b64(p)}, nil
	case *ecdsa.PublicKey:
		raw, err := p.Bytes() // 0x04 || X || Y, each 32 bytes on P-256
		if err != nil || len(raw) != 65 {
			return jwkMembers{}, fmt.Errorf("%w: ECDSA public key is not a P-256 point", ErrInvalidKey)
		}
		return jwkMembers{Kty: "EC", Crv: "P-256", X: b64(raw[1:33]), Y: b64(raw[33:])}, nil
	}
	return jwkMembers{}, fmt.Errorf("%w: unsupported public key type %T", ErrInvalidKey, public)
}

// thumbprint is the RFC 7638 thumbprint: SHA-256 over the required members
// in lexicographic order with no whitespace, base64url without padding. The
// member values are base64url or fixed names, which need no JSON escaping.
func thumbprint(m jwkMembers) string {
	var s string
	switch m.Kty {
	case "OKP":
		s = `{"crv":"` + m.Crv + `","kty":"OKP","x":"` + m.X + `"}`
	case "EC":
		s = `{"crv":"` + m.Crv + `","kty":"EC","x":"` + m.X + `","y":"` + m.Y + `"}`
	}
	sum := sha256.Sum256([]byte(s))
	return b64(sum[:])
}

// Thumbprint returns the RFC 7638 JWK thumbprint (SHA-256, base64url) of the
// public JWK in data (a single key, not a set). Only OKP Ed25519 and EC
// P-256 keys are supported.
func Thumbprint(data []byte) (string, error) {
	k, err := parseJWK(data, false)
	if err != nil {
		return "", err
	}
	members, err := publicMembers(k.public)
	if err != nil {
		return "", err
	}
	return thumbprint(members), nil
}

// jwk is a JSON Web Key as far as this package reads and writes one.
type jwk struct {
	Kty    string   `json:"kty"`
	Crv    string   `json:"crv,omitempty"`
	X      string   `json:"x,omitempty"`
	Y      string   `json:"y,omitempty"`
	D      string   `json:"d,omitempty"`
	K      string   `json:"k,omitempty"`
	Kid    string   `json:"kid,omitempty"`
	Alg    string   `json:"alg,omitempty"`
	Use    string   `json:"use,omitempty"`
	KeyOps []string `json:"key_ops,omitempty"`
}

// parseJWK reads one JWK. With allowSecret false, private and symmetric
// material is refused (a remote JWKS must never carry any). Error messages
// name members, never their values.
func parseJWK(data []byte, allowSecret bool) (*Key, error) {
	var j jwk
	if err := json.Unmarshal(data, &j); err != nil {
		return nil, fmt.Errorf("%w: JWK is not a JSON object with string members", ErrInvalidKey)
	}
	if j.Use != "" && j.Use != "sig" {
		return nil, fmt.Errorf("%w: JWK use %q is not sig", ErrInvalidKey, j.Use)
	}
	if len(j.Kid) > maxKIDLen {
		return nil, fmt.Errorf("%w: JWK kid longer than %d bytes", ErrInvalidKey, maxKIDLen)
	}
	if !allowSecret && (j.D != "" || j.K != "") {
		return nil, fmt.Errorf("%w: JWK carries private or secret material where only public keys belong", ErrInvalidKey)
	}
	var (
		k   *Key
		err error
	)
	switch j.Kty {
	case "OKP":
		k, err = okpKey(&j)
	case "EC":
		k, err = ecKey(&j)
	case "oct":
		k, err = octKey(&j)
	default:
		return nil, fmt.Errorf("%w: unsupported JWK kty %q (want OKP, EC or oct)", ErrInvalidKey, j.Kty)
	}
	if err != nil {
		return nil, err
	}
	return k.withID(j.Kid)
}

func okpKey(j *jwk) (*Key, error) {
	if j.Crv != "Ed25519" {
		return nil, fmt.Errorf("%w: OKP curve %q is not Ed25519", ErrInvalidKey, j.Crv)
	}
	if j.Alg != "" && j.Alg != string(EdDSA) {
		return nil, fmt.Errorf("%w: an Ed25519 JWK with alg %q (want EdDSA)", ErrInvalidKey, j.Alg)
	}
	x, err := unb64(j.X, ed25519.PublicKeySize, "x")
	if err != nil {
		return nil, err
	}
	if j.D == "" {
		return NewKey(ed25519.PublicKey(x))
	}
	d, err := unb64(j.D, ed25519.SeedSize, "d")
	if err != nil {
		return nil, err
	}
	priv := ed25519.NewKeyFromSeed(d)
	if subtle.ConstantTimeCompare(priv.Public().(ed25519.PublicKey), x) != 1 {
		return nil, fmt.Errorf("%w: JWK d does not match x", ErrInvalidKey)
	}
	return NewKey(priv)
}

func ecKey(j *jwk) (*Key, error) {
	if j.Crv != "P-256" {
		return nil, fmt.Errorf("%w: EC curve %q is not P-256", ErrInvalidKey, j.Crv)
	}
	if j.Alg != "" && j.Alg != string(ES256) {
		return nil, fmt.Errorf("%w: a P-256 JWK with alg %q (want ES256)", ErrInvalidKey, j.Alg)
	}
	x, err := unb64(j.X, 32, "x")
	if err != nil {
		return nil, err
	}
	y, err := unb64(j.Y, 32, "y")
	if err != nil {
		return nil, err
	}
	pub, err := ecdsa.ParseUncompressedPublicKey(elliptic.P256(), append(append([]byte{4}, x...), y...))
	if err != nil {
		return nil, fmt.Errorf("%w: JWK x, y is not a P-256 point", ErrInvalidKey)
	}
	if j.D == "" {
		return NewKey(pub)
	}
	d, err := unb64(j.D, 32, "d")
	if err != nil {
		return nil, err
	}
	priv, err := ecdsa.ParseRawPrivateKey(elliptic.P256(), d)
	if err != nil {
		return nil, fmt.Errorf("%w: JWK d is not a P-256 private key", ErrInvalidKey)
	}
	if !priv.PublicKey.Equal(pub) {
		return nil, fmt.Errorf("%w: JWK d does not match x, y", ErrInvalidKey)
	}
	return NewKey(priv)
}

func octKey(j *jwk) (*Key, error) {
	if j.Alg != string(HS256) {
		return nil, fmt.Errorf("%w: a symmetric (oct) JWK must say alg HS256 explicitly", ErrInvalidKey)
	}
	secret, err := base64.RawURLEncoding.Strict().DecodeString(j.K)
	if err != nil {
		return nil, fmt.Errorf("%w: JWK k is not base64url", ErrInvalidKey)
	}
	return NewHMACKey(secret)
}

func b64(b []byte) string { return base64.RawURLEncoding.EncodeToString(b) }

func unb64(s string, size int, member string) ([]byte, error) {
	b, err := base64.RawURLEncoding.Strict().DecodeString(s)
	if err != nil || len(b) != size {
		return nil, fmt.Errorf("%w: JWK %s is not %d base64url bytes", ErrInvalidKey, member, size)
	}
	return b, nil
}
