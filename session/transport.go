package session

import (
	"net/http"
	"strings"
	"time"
)

// Transport says where a Manager reads tokens from and sends them to.
type Transport uint8

const (
	// CookieTransport (the default) carries the token in the session
	// cookie only. The token never appears where page scripts can read
	// it, as long as the cookie stays HttpOnly.
	CookieTransport Transport = iota
	// HeaderTransport carries the token in Options.Header only, for API
	// clients without cookies: read from the request header, and sent in
	// the response header whenever it changes.
	HeaderTransport
	// CookieAndHeaderTransport reads the token from the header (an API
	// client's explicit choice) or else the cookie, and sends it in the
	// cookie; also in the response header only with Options.EchoToken.
	CookieAndHeaderTransport
)

func (t Transport) cookie() bool { return t != HeaderTransport }
func (t Transport) header() bool { return t != CookieTransport }

// tokenFrom finds the request's token by the manager's transport. A value
// of the wrong shape counts as no token, without a store lookup.
func (c *config) tokenFrom(r *http.Request) (token string, hadCookie bool) {
	if c.transport.header() {
		if vs := r.Header[c.header]; len(vs) > 0 {
			if t := strings.TrimSpace(vs[0]); validToken(t) {
				return t, false
			}
			return "", false
		}
	}
	if c.transport.cookie() {
		for _, line := range r.Header["Cookie"] {
			if v, ok := cookieValue(line, c.cookie.Name); ok {
				if validToken(v) {
					return v, true
				}
				return "", true
			}
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

// sendToken puts the session's token in the response, by the transport.
// Responses that carry a token must not be cached. s.mu must be held.
func (s *Session) sendToken(now int64) {
	if s.out == nil {
		return // outside HTTP: the caller hands Token() over itself
	}
	c := &s.m.c
	if c.transport.cookie() {
		maxAge := 0
		if s.stored.hdr.flags&flagPersist != 0 {
			maxAge = int((time.Duration(s.m.end(s.stored.hdr)-now) * time.Millisecond).Seconds())
			maxAge = max(maxAge, 1)
		}
		s.setCookie(s.token, maxAge)
	}
	if c.echo {
		s.out.Set(c.header, s.token)
	}
	s.out.Set("Cache-Control", "no-store")
}

// clearToken tells the client its session has ended. s.mu must be held.
func (s *Session) clearToken() {
	if s.out == nil {
		return
	}
	if s.m.c.transport.cookie() && (s.hadCookie || s.stored.exists) {
		s.setCookie("", -1)
	}
	s.out.Del(s.m.c.header)
}

// setCookie sets the session cookie; maxAge < 0 deletes it, 0 makes it a
// browser-session cookie.
func (s *Session) setCookie(value string, maxAge int) {
	c := &s.m.c.cookie
	ck := http.Cookie{
		Name: c.Name, Value: value, Path: c.Path, Domain: c.Domain, MaxAge: maxAge,
		Secure: c.Secure, HttpOnly: !c.ScriptReadable, SameSite: c.SameSite, Partitioned: c.Partitioned,
	}
	// Replace, not add: a renewed session must not send its old cookie too.
	prefix := c.Name + "="
	cookies := s.out["Set-Cookie"][:0:0]
	for _, v := range s.out["Set-Cookie"] {
		if !strings.HasPrefix(v, prefix) {
			cookies = append(cookies, v)
		}
	}
	s.out["Set-Cookie"] = append(cookies, ck.String())
}
