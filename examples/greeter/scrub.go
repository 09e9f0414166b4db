package main

import "github.com/stateless-go/stateless/store/driver"

// scrub replaces in msg every secret the store URL holds, by the rule the
// adapters and store.RedactURL follow (store/driver's URLSecrets and
// Scrub): the userinfo password and the values of query parameters named
// like a password, secret, token or key.
func scrub(msg, rawURL string) string {
	return driver.Scrub(msg, driver.URLSecrets(rawURL))
}
