package postgres_test

import (
	"net/url"
	"strings"
	"testing"

	"github.com/stateless-go/stateless/store/postgres"
)

// FuzzParseURL: whatever surrounds it, a URL's password never reaches an
// error, and ParseURL never panics. (A "password" that the URL's syntax
// puts somewhere else, in its path say, is not a password to any parser;
// those URLs are still parsed, for the panics.)
func FuzzParseURL(f *testing.F) {
	for _, seed := range []struct{ user, hostport, rest string }{
		{"app", "127.0.0.1:5432", "/db?sslmode=disable"},
		{"app", "127.0.0.1:99999", "/db"},
		{"app", "h1:5432,h2:5433", "/db?target_session_attrs=read-write"},
		{"a@b", "[::1]:5432", "/db?sslmode=bogus&table=x.y.z"},
		{"app", "127.0.0.1", "/db?pool_max_conns=lots&reap_interval=off"},
		{"", "", "/db?host=/var/run/postgresql&password=" + fuzzSecret},
		{"app", "127.0.0.1", "/db?connect_timeout=x&sslpassword=" + fuzzSecret},
	} {
		f.Add(seed.user, seed.hostport, seed.rest)
	}
	f.Fuzz(func(t *testing.T, user, hostport, rest string) {
		raw := "postgres://" + user + ":" + fuzzSecret + "@" + hostport + rest
		_, _, err := postgres.ParseURL(raw)
		u, perr := url.Parse(raw)
		if perr != nil {
			return
		}
		if p, _ := u.User.Password(); p != fuzzSecret {
			return
		}
		if err != nil && strings.Contains(err.Error(), fuzzSecret) {
			t.Fatalf("ParseURL(%q) error shows the password: %v", raw, err)
		}
	})
}

const fuzzSecret = "pw-8c1f0e7d"
