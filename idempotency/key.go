package idempotency

import (
	"crypto/sha256"
	"encoding/base64"
	"encoding/binary"
	"errors"
	"strings"
)

// HeaderKey is the request header that carries the key
// (draft-ietf-httpapi-idempotency-key-header).
const HeaderKey = "Idempotency-Key"

// HeaderReplayed marks a replayed response, with the value "true".
const HeaderReplayed = "Idempotent-Replayed"

// MaxKeyLen is the longest key, in characters, once unquoted.
const MaxKeyLen = 255

// The ways a key header can be malformed. Their messages go to clients, so
// none of them quotes the header.
var (
	errKeyDuplicate = errors.New("the Idempotency-Key header is given more than once")
	errKeyList      = errors.New("the Idempotency-Key header holds a list; it takes one key")
	errKeyParams    = errors.New("the Idempotency-Key header has parameters, which are not supported")
	errKeyEmpty     = errors.New("the Idempotency-Key is empty")
	errKeyTooLong   = errors.New("the Idempotency-Key is longer than 255 characters")
	errKeyChars     = errors.New("the Idempotency-Key must be visible ASCII characters, as an RFC 8941 string (\"…\") or a bare token")
	errKeyQuote     = errors.New("the Idempotency-Key string is not terminated, or has an escape other than \\\" or \\\\")
)

// parseKey reads the key from the values of the Idempotency-Key header:
// present is false when there is none. The value is an RFC 8941 sf-string
// ("abc", with \" and \\ escapes) or, as many clients send UUIDs, the bare
// characters; either way the key is 1 to MaxKeyLen visible ASCII
// characters (0x21–0x7E), and "abc" and abc are the same key. A list, a
// duplicate header, or RFC 8941 parameters are refused rather than guessed
// at.
func parseKey(vals []string) (key string, present bool, err error) {
	switch len(vals) {
	case 0:
		return "", false, nil
	case 1:
		key, err = parseKeyValue(vals[0])
		return key, true, err
	}
	return "", true, errKeyDuplicate
}

func parseKeyValue(s string) (string, error) {
	s = strings.Trim(s, " \t")
	if s == "" {
		return "", errKeyEmpty
	}
	if s[0] != '"' {
		return parseBare(s)
	}
	key, rest, err := parseString(s)
	if err != nil {
		return "", err
	}
	switch rest = strings.TrimLeft(rest, " \t"); {
	case rest == "":
	case rest[0] == ',':
		return "", errKeyList
	case rest[0] == ';':
		return "", errKeyParams
	default:
		return "", errKeyChars
	}
	switch {
	case key == "":
		return "", errKeyEmpty
	case len(key) > MaxKeyLen:
		return "", errKeyTooLong
	}
	return key, nil
}

// parseBare reads an unquoted key: visible ASCII but for the characters
// that would make it a list, parameters or a string.
func parseBare(s string) (string, error) {
	for i := 0; i < len(s); i++ {
		switch c := s[i]; {
		case c == ',':
			return "", errKeyList
		case c == ';':
			return "", errKeyParams
		case c <= 0x20 || c >= 0x7f || c == '"' || c == '\\':
			return "", errKeyChars
		}
	}
	if len(s) > MaxKeyLen {
		return "", errKeyTooLong
	}
	return s, nil
}

// parseString reads the RFC 8941 sf-string at the start of s (s[0] is the
// opening quote) and returns it unescaped with what follows it. Without
// escapes the key is a substring of s: no allocation.
func parseString(s string) (key, rest string, err error) {
	var buf []byte
	escaped := false
	last := 1 // start of the run not yet copied into buf
	for i := 1; i < len(s); i++ {
		switch c := s[i]; {
		case c == '"':
			if !escaped {
				return s[1:i], s[i+1:], nil
			}
			buf = append(buf, s[last:i]...)
			return string(buf), s[i+1:], nil
		case c == '\\':
			if i+1 == len(s) || s[i+1] != '"' && s[i+1] != '\\' {
				return "", "", errKeyQuote
			}
			if !escaped {
				buf = make([]byte, 0, len(s))
				escaped = true
			}
			buf = append(buf, s[last:i]...)
			last = i + 1 // the escaped character starts the next run
			i++
		case c <= 0x20 || c >= 0x7f:
			// RFC 8941 allows a space inside a string; a key does not.
			return "", "", errKeyChars
		}
	}
	return "", "", errKeyQuote
}

// storePrefix starts every key this package writes.
const storePrefix = "idem:"

// storageKey is the store key of (scope, key): storePrefix and the
// unpadded base64url SHA-256 of the two, each preceded by its length so no
// (scope, key) pair can be spelt as another. The client's key never
// reaches the store, its logs or its keyspace listings; the result is 48
// bytes, well within store.MaxKeyLen.
func storageKey(scope, key string) string {
	var arr [2*binary.MaxVarintLen64 + MaxKeyLen + 64]byte
	b := binary.AppendUvarint(arr[:0], uint64(len(scope)))
	b = append(b, scope...)
	b = binary.AppendUvarint(b, uint64(len(key)))
	b = append(b, key...)
	sum := sha256.Sum256(b)
	var out [len(storePrefix) + 43]byte
	copy(out[:], storePrefix)
	base64.RawURLEncoding.Encode(out[len(storePrefix):], sum[:])
	return string(out[:])
}
