package session

import (
	"crypto/rand"
	"crypto/sha256"
	"encoding/base64"
)

// A token is 256 bits from crypto/rand in unpadded base64url: 43 characters.
// The store never sees it: the record's key is a SHA-256 of the token's
// bytes, so a copy of the store (a backup, a replica, a MONITOR stream)
// yields no token that would be accepted.
const tokenLen = 43

var tokenEncoding = base64.RawURLEncoding.Strict()

func newToken() string {
	var b [32]byte
	rand.Read(b[:]) // never fails since Go 1.24
	return tokenEncoding.EncodeToString(b[:])
}

// newID returns a session ID: 128 bits from crypto/rand, unrelated to the
// token, in unpadded base64url (22 characters).
func newID() string {
	var b [16]byte
	rand.Read(b[:])
	return base64.RawURLEncoding.EncodeToString(b[:])
}

// validToken reports whether t has the exact shape of a token: 43
// characters of the base64url alphabet that decode canonically, so that two
// spellings never name one session. 43 characters carry 258 bits: the last
// one's two low bits must be zero. (It checks without decoding; storeKey
// decodes once.)
func validToken(t string) bool {
	if len(t) != tokenLen {
		return false
	}
	var v byte
	for i := 0; i < len(t); i++ {
		switch c := t[i]; {
		case 'A' <= c && c <= 'Z':
			v = c - 'A'
		case 'a' <= c && c <= 'z':
			v = c - 'a' + 26
		case '0' <= c && c <= '9':
			v = c - '0' + 52
		case c == '-':
			v = 62
		case c == '_':
			v = 63
		default:
			return false
		}
	}
	return v&3 == 0
}

// storeKey derives the store key of a valid token.
func storeKey(prefix, token string) string {
	var src [tokenLen]byte
	var raw [32]byte
	tokenEncoding.Decode(raw[:], src[:copy(src[:], token)])
	sum := sha256.Sum256(raw[:])
	var buf [128]byte
	b := append(buf[:0], prefix...)
	b = base64.RawURLEncoding.AppendEncode(b, sum[:])
	return string(b)
}
