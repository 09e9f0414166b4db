package main

import (
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"
)

// fakeClock is a settable clock for a loginLimiter, used from one
// goroutine at a time.
type fakeClock struct{ t time.Time }

func (c *fakeClock) now() time.Time          { return c.t }
func (c *fakeClock) advance(d time.Duration) { c.t = c.t.Add(d) }

// newTestLimiter returns a limiter of perMinute on a fake clock.
func newTestLimiter(perMinute int, trustProxy bool) (*loginLimiter, *fakeClock) {
	l := newLoginLimiter(perMinute, trustProxy)
	c := &fakeClock{t: time.Date(2026, 1, 2, 3, 4, 5, 0, time.UTC)}
	l.now = c.now
	return l, c
}

// loginFrom returns a POST /session from remote, with X-Forwarded-For
// headers xff (none if empty).
func loginFrom(remote string, xff ...string) *http.Request {
	r := httptest.NewRequest(http.MethodPost, "/session", nil)
	r.RemoteAddr = remote
	for _, v := range xff {
		r.Header.Add("X-Forwarded-For", v)
	}
	return r
}

// allowN asks l n times for r and returns how many were allowed, and the
// retryAfter of the last refusal.
func allowN(l *loginLimiter, r *http.Request, n int) (allowed int, retryAfter time.Duration) {
	for range n {
		if ok, d := l.allow(r); ok {
			allowed++
		} else {
			retryAfter = d
		}
	}
	return allowed, retryAfter
}

func TestLoginLimiterBurstThenRefuse(t *testing.T) {
	for _, n := range []int{1, 3, 30, 1000} {
		t.Run(strconv.Itoa(n), func(t *testing.T) {
			l, clock := newTestLimiter(n, false)
			r := loginFrom("192.0.2.1:40000")
			for i := range n {
				if ok, d := l.allow(r); !ok || d != 0 {
					t.Fatalf("login %d of the burst of %d: %v, %v; want allowed", i+1, n, ok, d)
				}
			}
			interval := time.Minute / time.Duration(n)
			ok, d := l.allow(r)
			if ok {
				t.Fatalf("login %d: allowed; want refused after a burst of %d", n+1, n)
			}
			if d <= 0 || d < interval-time.Millisecond || d > interval+time.Millisecond {
				t.Errorf("retryAfter %v, want ≈ 60s/%d = %v", d, n, interval)
			}
			// Refusals give their token back: retrying early does not
			// move the next login further away.
			for range 5 {
				if ok, d2 := l.allow(r); ok || d2 != d {
					t.Errorf("an immediate retry: %v, %v; want refused with the same %v", ok, d2, d)
				}
			}
			// retryAfter is truthful: just before it, still refused;
			// at it (give or take the nanosecond rate's float arithmetic
			// rounds off; greeter rounds up to whole seconds anyway), one
			// login and no more.
			clock.advance(d - time.Millisecond)
			if ok, d2 := l.allow(r); ok || d2 < time.Millisecond-time.Microsecond || d2 > time.Millisecond+time.Microsecond {
				t.Errorf("1ms before retryAfter: %v, %v; want refused with about 1ms left", ok, d2)
			}
			clock.advance(time.Millisecond + time.Microsecond)
			if ok, d2 := l.allow(r); !ok {
				t.Errorf("at retryAfter: refused for %v more, want allowed", d2)
			}
			if ok, _ := l.allow(r); ok {
				t.Errorf("right after the login at retryAfter: allowed, want refused")
			}
			// A minute later the whole burst is back.
			clock.advance(time.Minute)
			if got, _ := allowN(l, r, n+1); got != n {
				t.Errorf("a minute later: %d of %d allowed, want the burst of %d", got, n+1, n)
			}
		})
	}
}

func TestLoginLimiterAddressesIndependent(t *testing.T) {
	l, _ := newTestLimiter(3, false)
	a, b := loginFrom("192.0.2.1:1"), loginFrom("192.0.2.2:1")
	if got, _ := allowN(l, a, 5); got != 3 {
		t.Fatalf("A: %d of 5 allowed, want 3", got)
	}
	if got, _ := allowN(l, b, 5); got != 3 {
		t.Errorf("B after A used its burst: %d of 5 allowed, want 3", got)
	}
	// The port is not part of the address: a new connection is the same
	// client.
	if ok, _ := l.allow(loginFrom("192.0.2.1:2")); ok {
		t.Error("A from another port: allowed, want refused")
	}
}

func TestClientKey(t *testing.T) {
	tests := []struct {
		name   string
		remote string
		xff    []string
		trust  bool
		want   string
	}{
		{"IPv4", "192.0.2.1:1234", nil, false, "192.0.2.1"},
		{"IPv6 keyed by /64", "[2001:db8:1:2:aaaa:bbbb:cccc:dddd]:1234", nil, false, "2001:db8:1:2::/64"},
		{"IPv6 zone dropped", "[fe80::1%eth0]:1234", nil, false, "fe80::/64"},
		{"IPv4-mapped IPv6 is IPv4", "[::ffff:192.0.2.1]:1234", nil, false, "192.0.2.1"},
		{"loopback", "127.0.0.1:5", nil, false, "127.0.0.1"},
		{"no port", "192.0.2.1", nil, false, "192.0.2.1"},
		{"not an address", "@", nil, false, "@"},
		{"XFF ignored without trust", "192.0.2.1:1", []string{"198.51.100.7"}, false, "192.0.2.1"},
		{"XFF ignored without trust, many", "192.0.2.1:1", []string{"203.0.113.9, 198.51.100.7"}, false, "192.0.2.1"},
		{"XFF with trust", "10.0.0.1:1", []string{"198.51.100.7"}, true, "198.51.100.7"},
		{"XFF last entry, spoofed first ignored", "10.0.0.1:1", []string{"203.0.113.9, 198.51.100.7"}, true, "198.51.100.7"},
		{"XFF last header line", "10.0.0.1:1", []string{"203.0.113.9", "198.51.100.7"}, true, "198.51.100.7"},
		{"XFF spaces", "10.0.0.1:1", []string{"203.0.113.9 ,  198.51.100.7  "}, true, "198.51.100.7"},
		{"XFF IPv6 by /64", "10.0.0.1:1", []string{"2001:db8:9:9:1::5"}, true, "2001:db8:9:9::/64"},
		{"XFF IPv6 bracketed", "10.0.0.1:1", []string{"[2001:db8:9:9::5]"}, true, "2001:db8:9:9::/64"},
		{"XFF with a port", "10.0.0.1:1", []string{"198.51.100.7:5555"}, true, "198.51.100.7"},
		{"XFF IPv4-mapped", "10.0.0.1:1", []string{"::ffff:198.51.100.7"}, true, "198.51.100.7"},
		{"XFF absent with trust", "10.0.0.1:1", nil, true, "10.0.0.1"},
		{"XFF garbage last: remote address, never an earlier entry", "10.0.0.1:1", []string{"198.51.100.7, unknown"}, true, "10.0.0.1"},
		{"XFF empty last", "10.0.0.1:1", []string{"198.51.100.7, "}, true, "10.0.0.1"},
		{"XFF empty", "10.0.0.1:1", []string{""}, true, "10.0.0.1"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := clientKey(loginFrom(tt.remote, tt.xff...), tt.trust); got != tt.want {
				t.Errorf("clientKey(RemoteAddr %q, X-Forwarded-For %q, trust %v) = %q, want %q", tt.remote, tt.xff, tt.trust, got, tt.want)
			}
		})
	}
}

func TestLoginLimiterIPv6Slash64SharesABucket(t *testing.T) {
	l, _ := newTestLimiter(2, false)
	allowed := 0
	for i := range 10 {
		if ok, _ := l.allow(loginFrom(fmt.Sprintf("[2001:db8:1:2::%x]:1", i+1))); ok {
			allowed++
		}
	}
	if allowed != 2 {
		t.Errorf("10 addresses of one /64: %d allowed, want 2", allowed)
	}
	if ok, _ := l.allow(loginFrom("[2001:db8:1:3::1]:1")); !ok {
		t.Error("the next /64: refused, want allowed")
	}
}

func TestLoginLimiterTrustProxy(t *testing.T) {
	// Without -trust-proxy one proxy (or one client writing any header it
	// likes) is one address.
	l, _ := newTestLimiter(1, false)
	if ok, _ := l.allow(loginFrom("10.0.0.1:1", "198.51.100.1")); !ok {
		t.Fatal("first login: refused")
	}
	if ok, _ := l.allow(loginFrom("10.0.0.1:1", "198.51.100.2")); ok {
		t.Error("without trust-proxy, a second login with another X-Forwarded-For: allowed, want refused")
	}

	// With it, the last entry decides; a client cannot escape its bucket
	// by putting addresses in front of it.
	l, _ = newTestLimiter(1, true)
	if ok, _ := l.allow(loginFrom("10.0.0.1:1", "198.51.100.1")); !ok {
		t.Fatal("first login: refused")
	}
	if ok, _ := l.allow(loginFrom("10.0.0.1:1", "198.51.100.2")); !ok {
		t.Error("with trust-proxy, another client behind the proxy: refused, want allowed")
	}
	for _, spoof := range []string{"203.0.113.1, 198.51.100.1", "203.0.113.2,198.51.100.1", "1.1.1.1, 2.2.2.2, 198.51.100.1"} {
		if ok, _ := l.allow(loginFrom("10.0.0.1:1", spoof)); ok {
			t.Errorf("with trust-proxy, X-Forwarded-For %q (the first client, spoofed entries in front): allowed, want refused", spoof)
		}
	}
}

func TestLoginLimiterBounded(t *testing.T) {
	const maxAddrs = 1000
	l, clock := newTestLimiter(2, false)
	l.maxAddrs = maxAddrs

	// An address that keeps trying stays remembered (and refused) however
	// many others come and go, since the least recently seen go first.
	busy := loginFrom("198.51.100.1:1")
	allowN(l, busy, 2)
	for i := range 2 * maxAddrs {
		r := loginFrom(fmt.Sprintf("10.%d.%d.%d:1", i>>16&255, i>>8&255, i&255))
		if ok, _ := l.allow(r); !ok {
			t.Fatalf("new address #%d: refused", i)
		}
		if i%100 == 0 {
			if ok, _ := l.allow(busy); ok {
				t.Fatalf("after %d other addresses, the busy one: allowed, want still refused", i+1)
			}
		}
		if n, ln := l.size(), l.lru.Len(); n > maxAddrs || ln != n {
			t.Fatalf("after %d addresses: map %d, list %d; want equal and at most %d", i+1, n, ln, maxAddrs)
		}
	}
	if n := l.size(); n != maxAddrs {
		t.Errorf("after 2×cap addresses: %d remembered, want the cap %d", n, maxAddrs)
	}

	// A forgotten address only gets a fresh, full bucket.
	first := loginFrom("10.0.0.0:1")
	if got, _ := allowN(l, first, 3); got != 2 {
		t.Errorf("the first address, forgotten: %d of 3 allowed, want a fresh burst of 2", got)
	}

	// Once traffic stops, idle addresses (whose buckets are full again)
	// are dropped, a few per call.
	clock.advance(loginRefill)
	for range maxAddrs {
		l.allow(busy)
	}
	if n := l.size(); n > 1 {
		t.Errorf("after a minute of only one address: %d remembered, want 1", n)
	}
}

// TestLoginLimiterConcurrent runs many logins from one address at once on
// the real clock: the burst and no more (give or take one token earned
// while the test runs), and none at all lost to a race.
func TestLoginLimiterConcurrent(t *testing.T) {
	l := newLoginLimiter(30, false)
	var wg sync.WaitGroup
	var mu sync.Mutex
	allowed := map[string]int{}
	for g := range 16 {
		wg.Go(func() {
			for i := range 50 {
				addr := fmt.Sprintf("192.0.2.%d:1", (g+i)%4)
				if ok, d := l.allow(loginFrom(addr)); ok {
					mu.Lock()
					allowed[addr[:strings.IndexByte(addr, ':')]]++
					mu.Unlock()
				} else if d <= 0 || d > 2*time.Second {
					t.Errorf("retryAfter %v, want in (0, 2s]", d)
				}
			}
		})
	}
	wg.Wait()
	for a := range 4 {
		addr := fmt.Sprintf("192.0.2.%d", a)
		if n := allowed[addr]; n < 30 || n > 31 {
			t.Errorf("%s: %d of 200 concurrent logins allowed, want 30 (or 31 if a token accrued meanwhile)", addr, n)
		}
	}
}

// postSession does POST /session for name with c, with X-Forwarded-For
// xff if not empty.
func postSession(t *testing.T, c *http.Client, base, name, xff string) (*http.Response, string) {
	t.Helper()
	req, err := http.NewRequest(http.MethodPost, base+"/session", strings.NewReader(`{"name":"`+name+`"}`))
	if err != nil {
		t.Fatal(err)
	}
	req.Header.Set("Content-Type", "application/json")
	if xff != "" {
		req.Header.Set("X-Forwarded-For", xff)
	}
	return fetch(t, c, req)
}

// TestServeLoginRate runs the real server with -login-rate 3: three logins
// from loopback, then 429 with a JSON error and Retry-After, while the
// other routes and the sessions already made go on working.
func TestServeLoginRate(t *testing.T) {
	s := start(t, hooks{}, "-login-rate", "3")
	c := newClient(t)
	var tokens []string
	for i := range 3 {
		resp, body := postSession(t, c, s.url, "Alice", "")
		if resp.StatusCode != http.StatusCreated {
			t.Fatalf("login %d: %d %q, want 201", i+1, resp.StatusCode, body)
		}
		tokens = append(tokens, resp.Header.Get(tokenHeader))
	}
	for i := range 3 {
		resp, body := postSession(t, c, s.url, "Alice", "")
		if resp.StatusCode != http.StatusTooManyRequests {
			t.Fatalf("login %d: %d %q, want 429", 4+i, resp.StatusCode, body)
		}
		if ct := resp.Header.Get("Content-Type"); !strings.HasPrefix(ct, "application/json") {
			t.Errorf("429 Content-Type %q, want application/json", ct)
		}
		var m map[string]string
		if err := json.Unmarshal([]byte(body), &m); err != nil || m["error"] == "" || len(m) != 1 {
			t.Errorf("429 body %q, want {\"error\":…}", body)
		}
		ra := resp.Header.Get("Retry-After")
		// One login every 20 s: the next is at most 20 s away.
		if n, err := strconv.Atoi(ra); err != nil || n < 1 || n > 20 {
			t.Errorf("429 Retry-After %q, want a whole number of seconds in 1..20", ra)
		}
		if resp.Header.Get(tokenHeader) != "" || len(resp.Cookies()) != 0 {
			t.Errorf("429 carries a session token or cookie: %v", resp.Header)
		}
	}
	for range 10 {
		if status, body := get(t, s.url+"/greet?name=Bob"); status != 200 || body != `{"message":"Hello, Bob!"}`+"\n" {
			t.Errorf("GET /greet while logins are limited: %d %q", status, body)
		}
	}
	if n := visits(t, c, s.url, tokens[0], byHeader); n != 1 {
		t.Errorf("a session made before the limit: visits %d, want 1", n)
	}
	if status, body := mustCall(t, c, http.MethodDelete, s.url+"/session", "", tokens[1], byCookie); status != http.StatusNoContent {
		t.Errorf("DELETE /session while logins are limited: %d %q, want 204", status, body)
	}
	// Without -trust-proxy, X-Forwarded-For changes nothing.
	if resp, body := postSession(t, c, s.url, "Mallory", "198.51.100.1"); resp.StatusCode != http.StatusTooManyRequests {
		t.Errorf("login with a made-up X-Forwarded-For: %d %q, want 429", resp.StatusCode, body)
	}
	stopServer(t, s)
	checkLogs(t, s, tokens...)
	for _, l := range s.logLines(t) {
		if l["msg"] == "greeter listening" && l["login_rate"] != 3.0 {
			t.Errorf("start-up line %v, want login_rate 3", l)
		}
	}
}

// TestServeTrustProxy: with -trust-proxy, clients behind the proxy are
// counted apart by the last X-Forwarded-For entry.
func TestServeTrustProxy(t *testing.T) {
	s := start(t, hooks{}, "-login-rate", "1", "-trust-proxy")
	c := newClient(t)
	for _, tt := range []struct {
		xff  string
		want int
	}{
		{"198.51.100.1", 201},
		{"198.51.100.1", 429},
		{"198.51.100.2", 201},
		{"203.0.113.5, 198.51.100.1", 429}, // spoofed entry in front: still 198.51.100.1
		{"198.51.100.1, 198.51.100.3", 201},
		{"", 201},        // no header: loopback's own bucket
		{"garbage", 429}, // unparseable: loopback again
	} {
		if resp, body := postSession(t, c, s.url, "Alice", tt.xff); resp.StatusCode != tt.want {
			t.Errorf("login with X-Forwarded-For %q: %d %q, want %d", tt.xff, resp.StatusCode, body, tt.want)
		}
	}
}

func TestServeLoginRateOff(t *testing.T) {
	s := start(t, hooks{}, "-login-rate", "0")
	c := newClient(t)
	for i := range 50 {
		if resp, body := postSession(t, c, s.url, "Alice", ""); resp.StatusCode != http.StatusCreated {
			t.Fatalf("login %d with -login-rate 0: %d %q, want 201", i+1, resp.StatusCode, body)
		}
	}
}

func TestParseConfigLoginLimit(t *testing.T) {
	tests := []struct {
		name       string
		args       []string
		getenv     func(string) string
		wantRate   int
		wantTrusts bool
	}{
		{"defaults", nil, env(), 30, false},
		{"flags", []string{"-login-rate", "5", "-trust-proxy"}, env(), 5, true},
		{"flag off", []string{"-login-rate=0", "-trust-proxy=false"}, env(), 0, false},
		{"env", nil, env(envLoginRate, "7", envTrustProxy, "true"), 7, true},
		{"env off", nil, env(envLoginRate, "0", envTrustProxy, "0"), 0, false},
		{"env ParseBool forms", nil, env(envTrustProxy, "T"), 30, true},
		{"flags override env", []string{"-login-rate", "9", "-trust-proxy=false"}, env(envLoginRate, "7", envTrustProxy, "true"), 9, false},
		{"a flag given its default still overrides env", []string{"-login-rate", "30", "-trust-proxy=false"}, env(envLoginRate, "0", envTrustProxy, "1"), 30, false},
		{"a flag overrides a bad env value", []string{"-login-rate", "4", "-trust-proxy"}, env(envLoginRate, "lots", envTrustProxy, "maybe"), 4, true},
		{"empty env is unset", nil, env(envLoginRate, "", envTrustProxy, ""), 30, false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			cfg, err := parseConfig(tt.args, tt.getenv, io.Discard)
			if err != nil {
				t.Fatal(err)
			}
			if cfg.loginRate != tt.wantRate || cfg.trustProxy != tt.wantTrusts {
				t.Errorf("login rate %d, trust proxy %v; want %d, %v", cfg.loginRate, cfg.trustProxy, tt.wantRate, tt.wantTrusts)
			}
		})
	}
}

func TestBadLoginLimitConfig(t *testing.T) {
	tests := []struct {
		args     []string
		getenv   func(string) string
		mentions []string
	}{
		{[]string{"-login-rate", "-1"}, env(), []string{"-login-rate", "-1"}},
		{[]string{"-login-rate", "lots"}, env(), []string{"-login-rate", "lots"}},
		{[]string{"-login-rate", "2.5"}, env(), []string{"-login-rate"}},
		{[]string{"-login-rate"}, env(), []string{"-login-rate"}},
		{nil, env(envLoginRate, "-5"), []string{envLoginRate, "-5"}},
		{nil, env(envLoginRate, "lots"), []string{envLoginRate, "lots"}},
		{nil, env(envLoginRate, "99999999999999999999999"), []string{envLoginRate}},
		{[]string{"-trust-proxy=maybe"}, env(), []string{"-trust-proxy", "maybe"}},
		{nil, env(envTrustProxy, "maybe"), []string{envTrustProxy, "maybe"}},
		{nil, env(envTrustProxy, "yes"), []string{envTrustProxy}},
	}
	for _, tt := range tests {
		line := checkOneLine(t, tt.args, tt.getenv)
		for _, m := range tt.mentions {
			if !strings.Contains(line, m) {
				t.Errorf("%q: %q does not mention %q", tt.args, line, m)
			}
		}
	}
}
