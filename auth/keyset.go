package auth

import (
	"bytes"
	"context"
	"crypto/x509"
	"encoding/json"
	"encoding/pem"
	"fmt"
	"io"
	"os"
)

// The bounds on a JWK set, from a file, an environment variable, a remote
// server or the store.
const (
	// MaxJWKSKeys is the most keys a set may hold.
	MaxJWKSKeys = 100
	// MaxKeyFileSize is the largest key file or environment value read.
	MaxKeyFileSize = 1 << 20
)

// KeySet is a fixed set of keys, for those who manage keys themselves:
// from Go values (NewKeySet), a JWK set (ParseJWKS), PEM (ParsePEM), a file
// (LoadKeySet) or an environment variable (KeySetFromEnv). It signs with its
// first key that has a private half and verifies with any of its keys. It is
// immutable and safe for concurrent use; to rotate, build a new one.
type KeySet struct {
	keys   []*Key
	byID   map[string]*Key
	signer *Key
}

var (
	_ SigningKeys      = (*KeySet)(nil)
	_ VerificationKeys = (*KeySet)(nil)
	_ PublicKeySource  = (*KeySet)(nil)
)

// NewKeySet returns a set of the given keys, which must have distinct IDs.
func NewKeySet(keys ...*Key) (*KeySet, error) {
	if len(keys) == 0 {
		return nil, fmt.Errorf("%w: an empty key set", ErrInvalidKey)
	}
	if len(keys) > MaxJWKSKeys {
		return nil, fmt.Errorf("%w: %d keys, more than %d", ErrInvalidKey, len(keys), MaxJWKSKeys)
	}
	s := &KeySet{byID: make(map[string]*Key, len(keys))}
	for i, k := range keys {
		if k == nil {
			return nil, fmt.Errorf("%w: key %d is nil", ErrInvalidKey, i)
		}
		if _, dup := s.byID[k.id]; dup {
			return nil, fmt.Errorf("%w: two keys with kid %q", ErrInvalidKey, k.id)
		}
		s.byID[k.id] = k
		s.keys = append(s.keys, k)
		if s.signer == nil && k.CanSign() {
			s.signer = k
		}
	}
	return s, nil
}

// Keys returns the set's keys, in order.
func (s *KeySet) Keys() []*Key { return append([]*Key(nil), s.keys...) }

// SigningKey returns the set's first key with a private half.
func (s *KeySet) SigningKey(context.Context) (*Key, error) {
	if s.signer == nil {
		return nil, fmt.Errorf("%w: the key set holds no private key to sign with", ErrInvalidKey)
	}
	return s.signer, nil
}

// VerificationKey returns the key whose ID is kid, or ErrUnknownKey.
func (s *KeySet) VerificationKey(_ context.Context, kid string) (*Key, error) {
	if k := s.byID[kid]; k != nil {
		return k, nil
	}
	return nil, ErrUnknownKey
}

// PublicKeys returns the public halves of the set's asymmetric keys.
func (s *KeySet) PublicKeys(context.Context) ([]*Key, error) {
	var out []*Key
	for _, k := range s.keys {
		if p := k.Public(); p != nil {
			out = append(out, p)
		}
	}
	return out, nil
}

// jwkSet is the JSON of a JWK set (RFC 7517 §5).
type jwkSet struct {
	Keys []json.RawMessage `json:"keys"`
}

// ParseJWKS reads a JWK set ({"keys":[…]}) or a single JWK. Keys may be
// public or private (OKP Ed25519, EC P-256), or symmetric (oct) when they
// say "alg":"HS256". A key without kid gets its RFC 7638 thumbprint. Every
// key must be usable: anything else is an error naming the key's index.
func ParseJWKS(data []byte) (*KeySet, error) {
	keys, err := parseJWKSet(data, true, true)
	if err != nil {
		return nil, err
	}
	return NewKeySet(keys...)
}

// parseJWKSet reads a set (or, if single, one JWK). With strict false,
// unusable keys are skipped (a remote set may hold keys for others).
func parseJWKSet(data []byte, allowSecret, strict bool) ([]*Key, error) {
	var probe map[string]json.RawMessage
	if err := json.Unmarshal(data, &probe); err != nil || probe == nil {
		return nil, fmt.Errorf("%w: not a JSON object (a JWK set or a JWK)", ErrInvalidKey)
	}
	if _, single := probe["kty"]; single && strict {
		k, err := parseJWK(data, allowSecret)
		if err != nil {
			return nil, err
		}
		return []*Key{k}, nil
	}
	var set jwkSet
	if err := json.Unmarshal(data, &set); err != nil || set.Keys == nil {
		return nil, fmt.Errorf("%w: not a JWK set: want {\"keys\":[…]}", ErrInvalidKey)
	}
	if len(set.Keys) > MaxJWKSKeys {
		return nil, fmt.Errorf("%w: JWK set of %d keys, more than %d", ErrInvalidKey, len(set.Keys), MaxJWKSKeys)
	}
	var keys []*Key
	seen := make(map[string]bool, len(set.Keys))
	for i, raw := range set.Keys {
		k, err := parseJWK(raw, allowSecret)
		if err != nil {
			if strict {
				return nil, fmt.Errorf("JWK set key %d: %w", i, err)
			}
			continue
		}
		if seen[k.id] {
			return nil, fmt.Errorf("%w: JWK set key %d repeats a kid", ErrInvalidKey, i)
		}
		seen[k.id] = true
		keys = append(keys, k)
	}
	if len(keys) == 0 {
		return nil, fmt.Errorf("%w: the JWK set holds no usable key", ErrInvalidKey)
	}
	return keys, nil
}

// ParsePEM reads PEM blocks: "PRIVATE KEY" (PKCS #8) or "PUBLIC KEY"
// (PKIX), each Ed25519 or ECDSA P-256. Each key's kid is its RFC 7638
// thumbprint. Text around the blocks is ignored; other block types are an
// error.
func ParsePEM(data []byte) (*KeySet, error) {
	var keys []*Key
	for n := 0; ; n++ {
		var block *pem.Block
		block, data = pem.Decode(data)
		if block == nil {
			break
		}
		if n >= MaxJWKSKeys {
			return nil, fmt.Errorf("%w: more than %d PEM blocks", ErrInvalidKey, MaxJWKSKeys)
		}
		var (
			material any
			err      error
		)
		switch block.Type {
		case "PRIVATE KEY":
			material, err = x509.ParsePKCS8PrivateKey(block.Bytes)
		case "PUBLIC KEY":
			material, err = x509.ParsePKIXPublicKey(block.Bytes)
		default:
			return nil, fmt.Errorf("%w: PEM block %d is %q; want PRIVATE KEY (PKCS #8) or PUBLIC KEY (PKIX)", ErrInvalidKey, n, block.Type)
		}
		if err != nil {
			return nil, fmt.Errorf("%w: PEM block %d (%s) does not parse", ErrInvalidKey, n, block.Type)
		}
		k, err := NewKey(material)
		if err != nil {
			return nil, fmt.Errorf("PEM block %d: %w", n, err)
		}
		keys = append(keys, k)
	}
	if len(keys) == 0 {
		return nil, fmt.Errorf("%w: no PEM block found", ErrInvalidKey)
	}
	return NewKeySet(keys...)
}

// parseKeys reads a JWK set or PEM, by the look of the first bytes.
func parseKeys(data []byte) (*KeySet, error) {
	t := bytes.TrimSpace(data)
	if len(t) > 0 && t[0] == '{' {
		return ParseJWKS(t)
	}
	return ParsePEM(t)
}

// LoadKeySet reads a key file: a JWK set (or JWK) in JSON, or PEM, at most
// MaxKeyFileSize bytes. Errors name the path, never the content.
func LoadKeySet(path string) (*KeySet, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, fmt.Errorf("auth: key file: %w", err)
	}
	defer f.Close()
	data, err := io.ReadAll(io.LimitReader(f, MaxKeyFileSize+1))
	if err != nil {
		return nil, fmt.Errorf("auth: key file %s: %w", path, err)
	}
	if len(data) > MaxKeyFileSize {
		return nil, fmt.Errorf("%w: key file %s is larger than %d bytes", ErrInvalidKey, path, MaxKeyFileSize)
	}
	s, err := parseKeys(data)
	if err != nil {
		return nil, fmt.Errorf("key file %s: %w", path, err)
	}
	return s, nil
}

// KeySetFromEnv reads the keys in the environment variable name: a JWK set
// (or JWK) in JSON, or PEM. Errors name the variable, never its value.
func KeySetFromEnv(name string) (*KeySet, error) {
	v, ok := os.LookupEnv(name)
	if !ok || v == "" {
		return nil, fmt.Errorf("%w: environment variable %s is not set", ErrInvalidKey, name)
	}
	if len(v) > MaxKeyFileSize {
		return nil, fmt.Errorf("%w: environment variable %s is larger than %d bytes", ErrInvalidKey, name, MaxKeyFileSize)
	}
	s, err := parseKeys([]byte(v))
	if err != nil {
		return nil, fmt.Errorf("environment variable %s: %w", name, err)
	}
	return s, nil
}
