package auth

import (
	"crypto/aes"
	"crypto/cipher"
	"crypto/hkdf"
	"crypto/rand"
	"crypto/sha256"
	"crypto/x509"
	"encoding/base64"
	"encoding/json"
	"fmt"
	"time"
)

// The key ring's record, as JSON under KeyRingOptions.StoreKey:
//
//	{"format":1, "salt":"<32 bytes, base64url>", "token_lifetime":600000000000,
//	 "keys":[{"kid":"…","alg":"EdDSA","activates":"2026-…Z","drops":"2026-…Z",
//	          "sealed":"<base64url(nonce ‖ AES-256-GCM ciphertext ‖ tag)>"}, …]}
//
// Each private key (PKCS #8 DER; for HS256 the raw secret) is sealed with
// AES-256-GCM under
//
//	K = HKDF-SHA256(secret = KeyRingOptions.Secret, salt = the record's salt,
//	                info = "stateless-go/auth keyring v1 AES-256-GCM", length 32)
//
// with a random 96-bit nonce per key and additional data
// "stateless-go/auth keyring v1|<kid>|<alg>", which binds each ciphertext
// to its kid and algorithm. The salt is drawn once when the ring is first
// created. Reading checks that every key decrypts and that its kid is its
// RFC 7638 thumbprint (or, for HS256, the kid NewHMACKey derives).
const (
	ringFormat = 1
	ringInfo   = "stateless-go/auth keyring v1 AES-256-GCM"
	ringAAD    = "stateless-go/auth keyring v1|"
	saltSize   = 32
)

type ringRecord struct {
	Format        int             `json:"format"`
	Salt          string          `json:"salt"`
	TokenLifetime time.Duration   `json:"token_lifetime"` // the longest any writer planned for
	Keys          []ringKeyRecord `json:"keys"`
}

type ringKeyRecord struct {
	Kid       string    `json:"kid"`
	Alg       Algorithm `json:"alg"`
	Activates time.Time `json:"activates"`
	Drops     time.Time `json:"drops,omitzero"`
	Sealed    string    `json:"sealed"`
}

func (rec *ringRecord) encode() ([]byte, error) { return json.Marshal(rec) }

func decodeRecord(value []byte) (*ringRecord, error) {
	var rec ringRecord
	if err := json.Unmarshal(value, &rec); err != nil {
		return nil, fmt.Errorf("%w: the key ring record is not valid JSON", ErrKeysUnavailable)
	}
	if rec.Format != ringFormat {
		return nil, fmt.Errorf("%w: the key ring record has format %d; this version reads %d", ErrKeysUnavailable, rec.Format, ringFormat)
	}
	if len(rec.Keys) == 0 || len(rec.Keys) > MaxRingKeys {
		return nil, fmt.Errorf("%w: the key ring record holds %d keys (want 1 to %d)", ErrKeysUnavailable, len(rec.Keys), MaxRingKeys)
	}
	if rec.TokenLifetime < 0 {
		return nil, fmt.Errorf("%w: the key ring record has a negative token lifetime", ErrKeysUnavailable)
	}
	return &rec, nil
}

// sealer encrypts and decrypts private keys for one record salt.
type sealer struct {
	salt string // base64url, as in the record
	aead cipher.AEAD
}

func newSealer(secret []byte) (*sealer, []byte, error) {
	salt := make([]byte, saltSize)
	rand.Read(salt)
	s, err := sealerFromSalt(secret, b64(salt))
	return s, salt, err
}

func sealerFromSalt(secret []byte, salt string) (*sealer, error) {
	raw, err := base64.RawURLEncoding.Strict().DecodeString(salt)
	if err != nil || len(raw) != saltSize {
		return nil, fmt.Errorf("%w: the key ring record's salt is not %d base64url bytes", ErrKeysUnavailable, saltSize)
	}
	k, err := hkdf.Key(sha256.New, secret, raw, ringInfo, 32)
	if err != nil {
		return nil, fmt.Errorf("auth: deriving the key ring's encryption key failed")
	}
	block, err := aes.NewCipher(k)
	if err != nil {
		return nil, err
	}
	aead, err := cipher.NewGCM(block)
	if err != nil {
		return nil, err
	}
	return &sealer{salt: salt, aead: aead}, nil
}

func aad(kid string, alg Algorithm) []byte { return []byte(ringAAD + kid + "|" + string(alg)) }

func (s *sealer) seal(k *Key, activates time.Time) (ringKeyRecord, error) {
	var plain []byte
	switch p := k.private.(type) {
	case []byte:
		plain = append([]byte(nil), p...)
	case nil:
		return ringKeyRecord{}, fmt.Errorf("%w: a key ring key needs its private half", ErrInvalidKey)
	default:
		var err error
		if plain, err = x509.MarshalPKCS8PrivateKey(p); err != nil {
			return ringKeyRecord{}, fmt.Errorf("%w: the private key does not encode as PKCS #8", ErrInvalidKey)
		}
	}
	defer clear(plain)
	nonce := make([]byte, s.aead.NonceSize(), s.aead.NonceSize()+len(plain)+s.aead.Overhead())
	rand.Read(nonce)
	sealed := s.aead.Seal(nonce, nonce, plain, aad(k.id, k.alg))
	return ringKeyRecord{Kid: k.id, Alg: k.alg, Activates: activates.UTC(), Sealed: b64(sealed)}, nil
}

func (s *sealer) open(kr ringKeyRecord) (*Key, error) {
	if err := kr.Alg.check(); err != nil {
		return nil, fmt.Errorf("%w: the key ring record holds a key of unknown algorithm", ErrKeysUnavailable)
	}
	sealed, err := base64.RawURLEncoding.Strict().DecodeString(kr.Sealed)
	ns := s.aead.NonceSize()
	if err != nil || len(sealed) < ns+s.aead.Overhead() {
		return nil, fmt.Errorf("%w: a sealed key in the key ring record is malformed", ErrKeysUnavailable)
	}
	plain, err := s.aead.Open(nil, sealed[:ns], sealed[ns:], aad(kr.Kid, kr.Alg))
	if err != nil {
		return nil, ErrWrongSecret
	}
	defer clear(plain)
	var k *Key
	if kr.Alg == HS256 {
		k, err = NewHMACKey(plain)
	} else {
		var material any
		if material, err = x509.ParsePKCS8PrivateKey(plain); err == nil {
			k, err = NewKey(material)
		}
	}
	if err != nil {
		return nil, fmt.Errorf("%w: a key in the key ring record does not parse", ErrKeysUnavailable)
	}
	if k.alg != kr.Alg || k.id != kr.Kid {
		return nil, fmt.Errorf("%w: a key in the key ring record does not match its kid or algorithm", ErrKeysUnavailable)
	}
	return k, nil
}
