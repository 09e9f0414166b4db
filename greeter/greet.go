package greeter

import (
	"encoding/json"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"unicode/utf8"
)

// MaxNameLen is the longest name /greet accepts, in bytes after
// percent-decoding. A longer one is a 400, so that a response's size is
// bounded by the service, not by whatever a client sends.
const MaxNameLen = 256

var (
	bodyBadEscape = errorBody("malformed query string: % must be followed by two hex digits (encode a literal % as %25)")
	bodySemicolon = errorBody("malformed query string: parameters are separated by &, not ; (encode a literal ; as %3B)")
	bodyTooLong   = errorBody("name is longer than " + strconv.Itoa(MaxNameLen) + " bytes")
	bodyNotUTF8   = errorBody("name is not valid UTF-8")
)

// greet answers GET /greet: Hello to the first "name" query parameter as
// sent, percent-decoded ("+" is a space), or to World without one. An empty
// name is a name: "?name=" greets "Hello, !", as the Python seed does.
func (h *handler) greet(w http.ResponseWriter, r *http.Request) {
	name, found, bad := nameParam(r.URL.RawQuery)
	switch {
	case bad != nil:
		writeJSON(w, r, http.StatusBadRequest, bad)
	case !found:
		if sub, ok := h.tokenSubject(r); ok {
			writeJSON(w, r, http.StatusOK, greeting(make([]byte, 0, len(sub)+32), sub))
			return
		}
		if name, ok := h.sessionName(r); ok {
			writeJSON(w, r, http.StatusOK, greeting(make([]byte, 0, len(name)+32), name))
			return
		}
		writeJSON(w, r, http.StatusOK, bodyWorld)
	default:
		writeJSON(w, r, http.StatusOK, greeting(make([]byte, 0, len(name)+32), name))
	}
}

// nameParam finds the first "name" parameter of a raw query string. It
// reads the query exactly as url.ParseQuery does (the fuzz test holds it to
// that), but a malformed query is an error rather than a pair silently
// dropped, and it allocates nothing unless the name itself is escaped.
//
// bad is nil, or the body of the 400 that explains what is wrong.
func nameParam(query string) (name string, found bool, bad []byte) {
	var raw string
	for query != "" {
		var pair string
		pair, query, _ = strings.Cut(query, "&")
		if strings.IndexByte(pair, ';') >= 0 {
			// ParseQuery refuses ";" since proxies disagree on whether it
			// separates parameters; so do we.
			return "", false, bodySemicolon
		}
		if pair == "" {
			continue
		}
		key, value, _ := strings.Cut(pair, "=")
		if !validEscapes(key) || !validEscapes(value) {
			return "", false, bodyBadEscape
		}
		if !found && isNameKey(key) {
			raw, found = value, true
		}
	}
	if !found {
		return "", false, nil
	}
	// Each decoded byte takes one to three raw bytes, so a raw value this
	// long is too long decoded: refuse it without decoding.
	if len(raw) > 3*MaxNameLen {
		return "", false, bodyTooLong
	}
	name, err := url.QueryUnescape(raw)
	if err != nil { // cannot happen: the escapes were checked
		return "", false, bodyBadEscape
	}
	if len(name) > MaxNameLen {
		return "", false, bodyTooLong
	}
	if !utf8.ValidString(name) {
		return "", false, bodyNotUTF8
	}
	return name, true, nil
}

// isNameKey reports whether a raw query key decodes to "name".
func isNameKey(key string) bool {
	if key == "name" {
		return true
	}
	// Only %XX escapes can spell "name" another way ("+" decodes to a
	// space), and then in at most 12 raw bytes.
	if len(key) > 3*len("name") || strings.IndexByte(key, '%') < 0 {
		return false
	}
	k, err := url.QueryUnescape(key)
	return err == nil && k == "name"
}

// validEscapes reports whether every % in s starts a %XX escape, which is
// the only way url.QueryUnescape can fail.
func validEscapes(s string) bool {
	for i := strings.IndexByte(s, '%'); i >= 0; {
		if i+2 >= len(s) || !isHex(s[i+1]) || !isHex(s[i+2]) {
			return false
		}
		s = s[i+3:]
		i = strings.IndexByte(s, '%')
	}
	return true
}

func isHex(c byte) bool {
	return '0' <= c && c <= '9' || 'a' <= c && c <= 'f' || 'A' <= c && c <= 'F'
}

// greeting appends the /greet body for name, which must be valid UTF-8:
// {"message":"Hello, <name>!"} and a newline.
func greeting(dst []byte, name string) []byte {
	dst = append(dst, `{"message":"Hello, `...)
	dst = appendJSONString(dst, name)
	return append(dst, "!\"}\n"...)
}

// appendJSONString appends s, valid UTF-8, as the inside of a JSON string.
// Printable ASCII other than " \ < > & is copied as is; anything else sends
// the whole string through encoding/json. We keep encoding/json's default
// HTML-safe escaping: <, > and & become \u003c, \u003e and \u0026 (and
// U+2028, U+2029 are escaped too), so a body pasted into HTML or a script
// cannot end a tag. Any JSON decoder still reads back exactly s.
func appendJSONString(dst []byte, s string) []byte {
	for i := 0; i < len(s); i++ {
		if c := s[i]; c < 0x20 || c > 0x7e || c == '"' || c == '\\' || c == '<' || c == '>' || c == '&' {
			b, _ := json.Marshal(s) // a string cannot fail to encode
			return append(dst, b[1:len(b)-1]...)
		}
	}
	return append(dst, s...)
}
