package main

import (
	"net/url"
	"strings"

	"github.com/stateless-go/stateless/store"
)

// scrub replaces in msg every secret the store URL holds: the userinfo
// password and the values of query parameters named like a password,
// secret, token or key (the ones store.RedactURL hides).
func scrub(msg, rawURL string) string {
	var secrets []string
	u, err := url.Parse(rawURL)
	if err != nil {
		// Unparsable: take whatever sits between the user's colon and the
		// last @ of the authority as the password.
		if _, rest, ok := strings.Cut(rawURL, "://"); ok {
			if i := strings.IndexAny(rest, "/?#"); i >= 0 {
				rest = rest[:i]
			}
			if at := strings.LastIndexByte(rest, '@'); at >= 0 {
				if _, pw, ok := strings.Cut(rest[:at], ":"); ok && pw != "" {
					secrets = append(secrets, pw)
				}
			}
		}
		return replaceAll(msg, secrets)
	}
	if pw, ok := u.User.Password(); ok && pw != "" {
		secrets = append(secrets, pw, url.PathEscape(pw), url.QueryEscape(pw))
	}
	for k, vs := range u.Query() {
		if store.SecretParam(k) {
			for _, v := range vs {
				if v != "" {
					secrets = append(secrets, v, url.QueryEscape(v))
				}
			}
		}
	}
	return replaceAll(msg, secrets)
}

func replaceAll(msg string, secrets []string) string {
	for _, s := range secrets {
		msg = strings.ReplaceAll(msg, s, "xxxxx")
	}
	return msg
}
