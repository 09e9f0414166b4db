package session

import (
	"crypto/rand"
	"crypto/sha256"
	"encoding/base64"
	"net/http"
	"strings"
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

// validToken reports whether t has the exact shape of a token: 43
// characters of the base64url alphabet that decode canonically, so that two
// spellings never name one session.
func validToken(t string) bool {
	if len(t) != tokenLen {
		return false
	}
	for i := 0; i < len(t); i++ {
		c := t[i]
		if !('A' <= c && c <= 'Z' || 'a' <= c && c <= 'z' || '0' <= c && c <= '9' || c == '-' || c == '_') {
			return false
		}
	}
	var src [tokenLen]byte
	var b [32]byte
	n, err := tokenEncoding.Decode(b[:], src[:copy(src[:], t)])
	return err == nil && n == 32
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

// tokenFrom finds the request's token: the header first (an API client's
// explicit choice), else the cookie. A value of the wrong shape counts as
// no token, without a store lookup.
func tokenFrom(r *http.Request, cookieName, headerName string) (token string, fromCookie bool) {
	if vs := r.Header[headerName]; len(vs) > 0 {
		if t := strings.TrimSpace(vs[0]); validToken(t) {
			return t, false
		}
		return "", false
	}
	for _, line := range r.Header["Cookie"] {
		if v, ok := cookieValue(line, cookieName); ok {
			if validToken(v) {
				return v, true
			}
			return "", true
		}
	}
	return "", false
}

// cookieValue finds name's value in one Cookie header line without
// allocating, as http.Request.Cookie would. Quoted values are unquoted.
func cookieValue(line, name string) (string, bool) {
	for len(line) > 0 {
		var part string
		if i := strings.IndexByte(line, ';'); i >= 0 {
			part, line = line[:i], line[i+1:]
		} else {
			part, line = line, ""
		}
		part = strings.TrimSpace(part)
		k, v, ok := strings.Cut(part, "=")
		if !ok || k != name {
			continue
		}
		if len(v) >= 2 && v[0] == '"' && v[len(v)-1] == '"' {
			v = v[1 : len(v)-1]
		}
		return v, true
	}
	return "", false
}
