// Package urlsecret is the one implementation of this module's rule for
// the secrets a store URL may hold: the userinfo password, and the values
// of query parameters whose names speak of a password, secret, token or key.
// store.RedactURL and store/driver's Scrub and URLSecrets are its public
// faces; nothing else in the module decides what a secret is.
package urlsecret

import (
	"net/url"
	"strings"
)

// Mask replaces a secret in redacted text.
const Mask = "xxxxx"

// Param reports whether a query parameter of this name holds a secret:
// its lower-cased name contains "pass", "secret", "token" or "key"
// (password, sslpassword, sentinel_password, auth_token, sslkey, ...).
func Param(name string) bool {
	n := strings.ToLower(name)
	for _, w := range []string{"pass", "secret", "token", "key"} {
		if strings.Contains(n, w) {
			return true
		}
	}
	return false
}

// Of returns the secrets rawURL holds, each both as written and
// %-decoded: the userinfo password and the values of secret parameters
// (see Param). It works on text that net/url refuses, such as a list of
// hosts ("h1:7000,h2:7001") or a password with an unescaped '/', '?' or
// '#', so that a malformed URL's secrets are still known.
func Of(rawURL string) []string {
	var out []string
	add := func(s string) {
		if s == "" {
			return
		}
		out = append(out, s)
		if d, err := url.PathUnescape(s); err == nil && d != s {
			out = append(out, d)
		}
		if d, err := url.QueryUnescape(s); err == nil && d != s {
			out = append(out, d)
		}
	}
	rest := rawURL
	if i := strings.Index(rest, "://"); i >= 0 {
		rest = rest[i+3:]
	}
	// The authority ends at the first '/', '?' or '#'. A password holding
	// one of those unescaped ends it early: then an '@' follows later in
	// the text, and the userinfo runs up to that '@' instead. Both
	// readings are taken, so neither can hide the password.
	end := strings.IndexAny(rest, "/?#")
	if end < 0 {
		end = len(rest)
	}
	for _, userinfo := range []string{userinfoOf(rest[:end]), userinfoOf(rest)} {
		if _, pw, ok := strings.Cut(userinfo, ":"); ok {
			add(pw)
		}
	}
	query := ""
	if i := strings.IndexByte(rawURL, '?'); i >= 0 {
		query = rawURL[i+1:]
		if j := strings.IndexByte(query, '#'); j >= 0 {
			query = query[:j]
		}
	}
	for pair := range strings.SplitSeq(query, "&") {
		k, v, _ := strings.Cut(pair, "=")
		if dk, err := url.QueryUnescape(k); err == nil {
			k = dk
		}
		if Param(k) {
			add(v)
		}
	}
	return out
}

// userinfoOf returns what precedes the last '@' of s, or "".
func userinfoOf(s string) string {
	if at := strings.LastIndexByte(s, '@'); at >= 0 {
		return s[:at]
	}
	return ""
}

// Scrub returns msg with every secret replaced by Mask, in the forms a
// library may print it: as given, %-encoded for a query and for a path.
// Longer secrets go first, so that one holding another is not left half
// masked.
func Scrub(msg string, secrets []string) string {
	var forms []string
	for _, s := range secrets {
		if s == "" {
			continue
		}
		forms = append(forms, s, url.QueryEscape(s), url.PathEscape(s))
	}
	// Sort by length, longest first (a few items: insertion sort).
	for i := 1; i < len(forms); i++ {
		for j := i; j > 0 && len(forms[j]) > len(forms[j-1]); j-- {
			forms[j], forms[j-1] = forms[j-1], forms[j]
		}
	}
	for _, f := range forms {
		msg = strings.ReplaceAll(msg, f, Mask)
	}
	return msg
}

// Redact returns rawURL with its secrets masked, for logs and errors. A URL
// that net/url refuses is reduced to its scheme (given by schemeOf, which
// returns "" if there is none), since the unparsed text might hold a
// password.
func Redact(rawURL string, schemeOf func(string) string) string {
	u, err := url.Parse(rawURL)
	if err != nil {
		if scheme := schemeOf(rawURL); scheme != "" {
			return scheme + "://(unparsable URL)"
		}
		return "(unparsable URL)"
	}
	if u.RawQuery != "" {
		q := u.Query()
		for k := range q {
			if Param(k) {
				q[k] = []string{Mask}
			}
		}
		u.RawQuery = q.Encode()
	}
	r := u.Redacted()
	// url.URL drops the "//" of an empty authority ("memory://" would print
	// as "memory:"); keep the form the user wrote.
	if u.Host == "" && u.User == nil && strings.HasPrefix(rawURL[len(u.Scheme):], "://") && !strings.HasPrefix(r[len(u.Scheme):], "://") {
		r = u.Scheme + "://" + r[len(u.Scheme)+1:]
	}
	// Whatever net/url did not see as a secret but the rule does (a
	// password in a host list it read as a host, say) goes too.
	return Scrub(r, Of(rawURL))
}
