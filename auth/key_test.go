package auth

import (
	"context"
	"crypto/ecdsa"
	"crypto/ed25519"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/rsa"
	"crypto/x509"
	"encoding/base64"
	"encoding/json"
	"encoding/pem"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// RFC 8037 appendix A: the Ed25519 key of A.1 and A.2, and its RFC 7638
// thumbprint from A.3.
const (
	rfc8037X          = "11qYAYKxCrfVS_7TyWQHOg7hcvPapiMlrwIaaPcHURo"
	rfc8037D          = "nWGxne_9WmC6hEr0kuwsxERJxWl7MmkZcDusAxyuf2A"
	rfc8037Thumbprint = "kPrK_qmxVWaYVA9wwBF6Iuo3vVzz7TxHCTwXBygrS4k"
)

func TestThumbprintRFC8037(t *testing.T) {
	got, err := Thumbprint([]byte(`{"kty":"OKP","crv":"Ed25519","x":"` + rfc8037X + `"}`))
	if err != nil || got != rfc8037Thumbprint {
		t.Errorf("Thumbprint = %q, %v; want %q", got, err, rfc8037Thumbprint)
	}
	x, _ := base64.RawURLEncoding.DecodeString(rfc8037X)
	k, err := NewKey(ed25519.PublicKey(x))
	if err != nil || k.ID() != rfc8037Thumbprint {
		t.Errorf("NewKey(public).ID() = %q, %v; want %q", k.ID(), err, rfc8037Thumbprint)
	}
	// The private key of A.1 gets the same kid.
	set, err := ParseJWKS([]byte(`{"kty":"OKP","crv":"Ed25519","d":"` + rfc8037D + `","x":"` + rfc8037X + `"}`))
	if err != nil {
		t.Fatal(err)
	}
	if sk, _ := set.SigningKey(context.Background()); sk.ID() != rfc8037Thumbprint {
		t.Errorf("private key kid %q", sk.ID())
	}
	// The member order of the input does not matter; the hash input does.
	if got, _ := Thumbprint([]byte(`{"x":"` + rfc8037X + `","crv":"Ed25519","kty":"OKP","kid":"ignored"}`)); got != rfc8037Thumbprint {
		t.Errorf("reordered members: %q", got)
	}
}

// TestThumbprintEC checks the EC form against a thumbprint computed by hand
// from RFC 7638's rules (members crv, kty, x, y in that order).
func TestThumbprintEC(t *testing.T) {
	priv, _ := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	k, _ := NewKey(&priv.PublicKey)
	raw, _ := priv.PublicKey.Bytes()
	want := fmt.Sprintf(`{"crv":"P-256","kty":"EC","x":"%s","y":"%s"}`, b64(raw[1:33]), b64(raw[33:]))
	if k.ID() != thumbprintOf(want) {
		t.Errorf("EC kid %s, want %s", k.ID(), thumbprintOf(want))
	}
}

func thumbprintOf(s string) string {
	return thumbprint(mustMembers(s))
}

func mustMembers(s string) jwkMembers {
	var m struct{ Kty, Crv, X, Y string }
	json.Unmarshal([]byte(s), &m)
	return jwkMembers{Kty: m.Kty, Crv: m.Crv, X: m.X, Y: m.Y}
}

func TestParseJWKS(t *testing.T) {
	ed := mustKey(t, EdDSA)
	ec := mustKey(t, ES256)
	edJWK, _ := ed.PublicJWK()
	ecJWK, _ := ec.PublicJWK()
	set, err := ParseJWKS([]byte(`{"keys":[` + string(edJWK) + `,` + string(ecJWK) + `]}`))
	if err != nil {
		t.Fatal(err)
	}
	for _, want := range []*Key{ed, ec} {
		k, err := set.VerificationKey(context.Background(), want.ID())
		if err != nil || k.Algorithm() != want.Algorithm() || k.CanSign() {
			t.Errorf("key %s: %v %v", want.ID(), k, err)
		}
	}
	if _, err := set.SigningKey(context.Background()); err == nil {
		t.Error("a public-only set offers a signing key")
	}

	secret := randomBytes(32)
	seed := ed.private.(ed25519.PrivateKey).Seed()
	hs, err := ParseJWKS([]byte(`{"keys":[{"kty":"oct","alg":"HS256","kid":"h1","k":"` + b64(secret) + `"}]}`))
	if err != nil {
		t.Fatal(err)
	}
	if k, _ := hs.VerificationKey(context.Background(), "h1"); k == nil || k.Algorithm() != HS256 {
		t.Error("HS256 JWK with kid h1 not found")
	}
	if pub, _ := hs.PublicKeys(context.Background()); len(pub) != 0 {
		t.Error("an HS256 key is offered as a public key")
	}

	otherSeed := randomBytes(32)
	bad := map[string]string{
		"oct without alg":   `{"keys":[{"kty":"oct","k":"` + b64(secret) + `"}]}`,
		"oct too short":     `{"keys":[{"kty":"oct","alg":"HS256","k":"` + b64(secret[:16]) + `"}]}`,
		"d does not match":  `{"keys":[{"kty":"OKP","crv":"Ed25519","x":"` + rfc8037X + `","d":"` + b64(otherSeed) + `"}]}`,
		"wrong alg for key": `{"keys":[{"kty":"OKP","crv":"Ed25519","alg":"HS256","x":"` + rfc8037X + `"}]}`,
		"RSA":               `{"keys":[{"kty":"RSA","n":"AQAB","e":"AQAB"}]}`,
		"X25519":            `{"keys":[{"kty":"OKP","crv":"X25519","x":"` + rfc8037X + `"}]}`,
		"use enc":           `{"keys":[{"kty":"OKP","crv":"Ed25519","use":"enc","x":"` + rfc8037X + `"}]}`,
		"short x":           `{"keys":[{"kty":"OKP","crv":"Ed25519","x":"AAAA"}]}`,
		"duplicate kid":     `{"keys":[` + string(edJWK) + `,` + string(edJWK) + `]}`,
		"empty":             `{"keys":[]}`,
		"not JSON":          `{"keys":`,
		"EC off curve":      `{"keys":[{"kty":"EC","crv":"P-256","x":"` + b64(make([]byte, 32)) + `","y":"` + b64(make([]byte, 32)) + `"}]}`,
		"x as number":       `{"keys":[{"kty":"OKP","crv":"Ed25519","x":5}]}`,
	}
	for name, data := range bad {
		_, err := ParseJWKS([]byte(data))
		if !errors.Is(err, ErrInvalidKey) {
			t.Errorf("%s: err = %v, want ErrInvalidKey", name, err)
		}
		assertNoLeak(t, err, b64(secret), b64(otherSeed), b64(seed), b64(secret[:16]))
	}
}

func TestParsePEM(t *testing.T) {
	_, edPriv, _ := ed25519.GenerateKey(rand.Reader)
	ecPriv, _ := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	der1, _ := x509.MarshalPKCS8PrivateKey(edPriv)
	der2, _ := x509.MarshalPKIXPublicKey(&ecPriv.PublicKey)
	data := append(pem.EncodeToMemory(&pem.Block{Type: "PRIVATE KEY", Bytes: der1}),
		pem.EncodeToMemory(&pem.Block{Type: "PUBLIC KEY", Bytes: der2})...)
	set, err := ParsePEM(data)
	if err != nil {
		t.Fatal(err)
	}
	want1, _ := NewKey(edPriv)
	want2, _ := NewKey(&ecPriv.PublicKey)
	keys := set.Keys()
	if len(keys) != 2 || keys[0].ID() != want1.ID() || keys[1].ID() != want2.ID() || !keys[0].CanSign() || keys[1].CanSign() {
		t.Fatalf("keys %v", keys)
	}
	if sk, _ := set.SigningKey(context.Background()); sk.ID() != want1.ID() {
		t.Error("the private PEM key does not sign")
	}

	rsaPriv, _ := rsa.GenerateKey(rand.Reader, 2048)
	rsaDER, _ := x509.MarshalPKCS8PrivateKey(rsaPriv)
	p384, _ := ecdsa.GenerateKey(elliptic.P384(), rand.Reader)
	p384DER, _ := x509.MarshalPKCS8PrivateKey(p384)
	sec1, _ := x509.MarshalECPrivateKey(ecPriv)
	for name, data := range map[string][]byte{
		"RSA":       pem.EncodeToMemory(&pem.Block{Type: "PRIVATE KEY", Bytes: rsaDER}),
		"P-384":     pem.EncodeToMemory(&pem.Block{Type: "PRIVATE KEY", Bytes: p384DER}),
		"SEC 1":     pem.EncodeToMemory(&pem.Block{Type: "EC PRIVATE KEY", Bytes: sec1}),
		"garbage":   pem.EncodeToMemory(&pem.Block{Type: "PRIVATE KEY", Bytes: []byte("nope")}),
		"no PEM":    []byte("hello"),
		"empty":     nil,
		"truncated": data[:40],
	} {
		if _, err := ParsePEM(data); !errors.Is(err, ErrInvalidKey) {
			t.Errorf("%s: err = %v, want ErrInvalidKey", name, err)
		}
	}
}

func TestLoadKeySet(t *testing.T) {
	k := mustKey(t, EdDSA)
	der, _ := x509.MarshalPKCS8PrivateKey(k.private)
	pemData := pem.EncodeToMemory(&pem.Block{Type: "PRIVATE KEY", Bytes: der})
	seed := k.private.(ed25519.PrivateKey).Seed()
	jwkData := `{"keys":[{"kty":"OKP","crv":"Ed25519","x":"` + b64(k.private.(ed25519.PrivateKey).Public().(ed25519.PublicKey)) + `","d":"` + b64(seed) + `"}]}`

	dir := t.TempDir()
	for name, data := range map[string][]byte{"key.pem": pemData, "jwks.json": []byte("\n " + jwkData)} {
		path := filepath.Join(dir, name)
		os.WriteFile(path, data, 0o600)
		set, err := LoadKeySet(path)
		if err != nil {
			t.Fatalf("%s: %v", name, err)
		}
		if sk, _ := set.SigningKey(context.Background()); sk.ID() != k.ID() {
			t.Errorf("%s: kid %s, want %s", name, sk.ID(), k.ID())
		}
	}
	big := filepath.Join(dir, "big")
	os.WriteFile(big, make([]byte, MaxKeyFileSize+1), 0o600)
	if _, err := LoadKeySet(big); err == nil {
		t.Error("a file over MaxKeyFileSize was read")
	}
	if _, err := LoadKeySet(filepath.Join(dir, "missing")); err == nil {
		t.Error("a missing file gave no error")
	}

	t.Setenv("AUTH_TEST_KEYS", string(pemData))
	if set, err := KeySetFromEnv("AUTH_TEST_KEYS"); err != nil || set.Keys()[0].ID() != k.ID() {
		t.Errorf("from env: %v", err)
	}
	t.Setenv("AUTH_TEST_KEYS", strings.Replace(jwkData, `"d":"`, `"d":"A`, 1))
	_, err := KeySetFromEnv("AUTH_TEST_KEYS")
	if err == nil || !strings.Contains(err.Error(), "AUTH_TEST_KEYS") {
		t.Errorf("bad env value: err = %v, want one naming the variable", err)
	}
	assertNoLeak(t, err, b64(seed))
	if _, err := KeySetFromEnv("AUTH_TEST_UNSET_VARIABLE"); err == nil {
		t.Error("an unset variable gave no error")
	}
}

// TestKeyRedacted: printing or logging a key shows its kid, not its material.
func TestKeyRedacted(t *testing.T) {
	k := mustKey(t, EdDSA)
	seed := k.private.(ed25519.PrivateKey).Seed()
	var log strings.Builder
	slog.New(slog.NewTextHandler(&log, nil)).Info("key", "key", k)
	for _, s := range []string{fmt.Sprint(k), fmt.Sprintf("%v", k), log.String()} {
		if !strings.Contains(s, k.ID()) || strings.Contains(s, b64(seed)) || strings.Contains(s, fmt.Sprint(seed[:4])) {
			t.Errorf("key printed as %q", s)
		}
	}
	hk, _ := NewHMACKey(randomBytes(40))
	if _, err := hk.PublicJWK(); err == nil {
		t.Error("an HS256 key has a public JWK")
	}
	if hk.Public() != nil {
		t.Error("an HS256 key has a public half")
	}
	if _, err := NewHMACKey(randomBytes(31)); err == nil {
		t.Error("a 31-byte HMAC secret was accepted")
	}
	if _, err := NewKey(struct{}{}); !errors.Is(err, ErrInvalidKey) {
		t.Error("an unsupported material type was accepted")
	}
	if _, err := GenerateKey("none"); err == nil {
		t.Error("GenerateKey(none) succeeded")
	}
}
