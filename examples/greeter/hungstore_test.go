package main

import (
	"encoding/json"
	"fmt"
	"maps"
	"net/http"
	"net/url"
	"slices"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/stateless-go/stateless/internal/testenv"
	"github.com/stateless-go/stateless/session"
)

// Bounds of TestHungStore. The greeter runs with session's defaults, so
// every store operation a request makes is cut off after
// session.DefaultStoreTimeout; a request that needs the store must be
// answered within that plus 20 %, one that does not within half of it.
const (
	hungFor         = 3 * time.Second      // how long the store stays frozen under load
	hungRecoverTime = 15 * time.Second     // how long the greeter may take to recover after the thaw
	hungWorkers     = 2                    // concurrent clients per route
	hungPause       = 5 * time.Millisecond // between requests that answered quicker than this
)

var (
	hungStoreLimit = session.DefaultStoreTimeout * 12 / 10
	hungFastLimit  = session.DefaultStoreTimeout / 2
)

// TestHungStore: a store that hangs (here: every byte between the greeter
// and a real server held by a proxy, connections left open) must cost a
// request at most the store timeout, not whatever the client library would
// wait. While it hangs, GET, POST and DELETE /session answer 503 with a
// JSON error within the store timeout plus 20 %, /greet with a name answers
// at once, and /greet with a session cookie falls back to "Hello, World!"
// within the bound. Once the store answers again, the same session works
// without a restart of the greeter, and so does a new login.
func TestHungStore(t *testing.T) {
	backends := []struct {
		name string
		// url returns the store URL of a real server, and the host:port in
		// it the proxy forwards to.
		url func(t *testing.T) (storeURL, target string)
	}{
		{"redis", func(t *testing.T) (string, string) {
			u := testenv.RedisURL(t)
			return u, urlHost(t, u)
		}},
		{"postgres", func(t *testing.T) (string, string) {
			u := withTable(t, testenv.PostgresURL(t), "greeter_hung_"+randomHex(t, 6))
			return u, urlHost(t, u)
		}},
		{"memcache", func(t *testing.T) (string, string) {
			// The client's own timeout well above the store timeout, so
			// that the bound must come from the context.
			a := testenv.MemcacheAddrs(t, 1)[0]
			return "memcache://" + a + "?timeout=5s", a
		}},
	}
	for _, b := range backends {
		t.Run(b.name, func(t *testing.T) {
			storeURL, target := b.url(t)
			px := newFreezeProxy(t, target)
			s := start(t, hooks{}, "-store", withHost(t, storeURL, px.addr()), "-login-rate", "0")
			// Cleanups run last in first: a failed test thaws the store
			// before the greeter shuts down and closes its store.
			t.Cleanup(px.thaw)
			c := newClient(t)

			// Before: two sessions, so that two clients can each read one
			// (GET /session requests of one session queue behind each
			// other on purpose: package session serialises them).
			tokens := []string{login(t, c, s.url, "Alice"), login(t, c, s.url, "Bob")}
			for _, tok := range tokens {
				if n := visits(t, c, s.url, tok, byHeader); n != 1 {
					t.Fatalf("first visit %d, want 1", n)
				}
			}
			if status, body := mustCall(t, c, http.MethodGet, s.url+"/greet", "", tokens[0], byCookie); status != http.StatusOK || body != `{"message":"Hello, Alice!"}`+"\n" {
				t.Fatalf("GET /greet with the session before the freeze: %d %q, want Hello, Alice!", status, body)
			}

			px.freeze()
			stats := hammerHungStore(t, c, s.url, tokens)
			px.thaw()
			thawed := time.Now()

			for _, r := range stats.routes {
				t.Logf("hung %s: %s", b.name, stats.summary(r))
			}

			// After: the same sessions come back, with no restart.
			for i, tok := range tokens {
				want := []string{"Alice", "Bob"}[i]
				took := waitSession(t, c, s.url, tok, want, thawed)
				t.Logf("hung %s: GET /session (%s) answered 200 again %v after the thaw", b.name, want, took.Round(time.Millisecond))
			}
			if status, body := mustCall(t, c, http.MethodGet, s.url+"/greet", "", tokens[0], byCookie); status != http.StatusOK || body != `{"message":"Hello, Alice!"}`+"\n" {
				t.Errorf("GET /greet with the session after the thaw: %d %q, want Hello, Alice!", status, body)
			}
			tok := login(t, c, s.url, "Carol")
			if n := visits(t, c, s.url, tok, byCookie); n != 1 {
				t.Errorf("first visit of a login after the thaw: %d, want 1", n)
			}

			stopServer(t, s)
			checkLogs(t, s, append(tokens, tok)...)
			// The access log tells what the clients got: every answer
			// above reached its client.
			for _, l := range s.logLines(t) {
				if l["msg"] == "request" && (l["aborted"] != nil || l["error"] != nil) {
					t.Errorf("access log line %v says the response did not reach the client; every one did", l)
				}
			}
		})
	}
}

// hungRoute is one kind of request sent while the store hangs.
type hungRoute struct {
	name   string // for messages: "GET /session"
	method string
	// target, body and how build worker w's i-th request.
	target func(w, i int) string
	body   string
	how    carry
	token  func(w int) string
	// check returns what is wrong with an answer, "" if nothing.
	check func(w, i, status int, body string) string
	limit time.Duration
}

// hungStats holds every answer's status and latency, by route.
type hungStats struct {
	routes  []*hungRoute
	mu      sync.Mutex
	samples map[*hungRoute][]hungSample
}

type hungSample struct {
	status int
	took   time.Duration
}

func (st *hungStats) add(r *hungRoute, status int, took time.Duration) {
	st.mu.Lock()
	defer st.mu.Unlock()
	st.samples[r] = append(st.samples[r], hungSample{status, took})
}

// summary reads like "GET /session 503 ×6 max 1.003s median 1.001s".
func (st *hungStats) summary(r *hungRoute) string {
	st.mu.Lock()
	defer st.mu.Unlock()
	ss := st.samples[r]
	if len(ss) == 0 {
		return r.name + ": no answers"
	}
	counts := map[int]int{}
	took := make([]time.Duration, len(ss))
	for i, s := range ss {
		counts[s.status]++
		took[i] = s.took
	}
	slices.Sort(took)
	var statuses []string
	for _, code := range slices.Sorted(maps.Keys(counts)) {
		statuses = append(statuses, fmt.Sprintf("%d ×%d", code, counts[code]))
	}
	return fmt.Sprintf("%s %s max %v median %v (bound %v)", r.name, strings.Join(statuses, ", "),
		roundLatency(took[len(took)-1]), roundLatency(took[len(took)/2]), r.limit)
}

// roundLatency keeps three significant digits or so: 1.003s, 12ms, 250µs.
func roundLatency(d time.Duration) time.Duration {
	switch {
	case d >= time.Second:
		return d.Round(time.Millisecond)
	case d >= 10*time.Millisecond:
		return d.Round(100 * time.Microsecond)
	default:
		return d.Round(time.Microsecond)
	}
}

// hammerHungStore sends every route's requests, hungWorkers clients per
// route, each one request after another (with a pause of hungPause after
// the quick ones, so that they do not starve the rest of the CPU), for
// hungFor, and checks each answer and its latency as it comes.
func hammerHungStore(t *testing.T, c *http.Client, base string, tokens []string) *hungStats {
	t.Helper()
	jsonError := func(want int) func(w, i, status int, body string) string {
		return func(_, _, status int, body string) string {
			var m map[string]string
			if status != want || json.Unmarshal([]byte(body), &m) != nil || m["error"] == "" {
				return fmt.Sprintf("%d %q, want %d and a JSON {\"error\":…}", status, body, want)
			}
			return ""
		}
	}
	greeting := func(name string) string { return `{"message":"Hello, ` + name + `!"}` + "\n" }
	exact := func(want func(w, i int) string) func(w, i, status int, body string) string {
		return func(w, i, status int, body string) string {
			if status != http.StatusOK || body != want(w, i) {
				return fmt.Sprintf("%d %q, want 200 %q", status, body, want(w, i))
			}
			return ""
		}
	}
	fixed := func(s string) func(w, i int) string { return func(int, int) string { return s } }
	named := func(w, i int) string { return "X" + strconv.Itoa(w) + "-" + strconv.Itoa(i) }
	tokenOf := func(w int) string { return tokens[w%len(tokens)] }
	noToken := func(int) string { return "" }

	st := &hungStats{samples: map[*hungRoute][]hungSample{}}
	st.routes = []*hungRoute{
		{name: "GET /session", method: http.MethodGet, target: fixed("/session"), how: byHeader, token: tokenOf,
			check: jsonError(http.StatusServiceUnavailable), limit: hungStoreLimit},
		{name: "POST /session/visits", method: http.MethodPost, target: fixed("/session/visits"), how: byHeader, token: tokenOf,
			check: jsonError(http.StatusServiceUnavailable), limit: hungStoreLimit},
		{name: "POST /session", method: http.MethodPost, target: fixed("/session"), body: `{"name":"Dave"}`, how: byNone, token: noToken,
			check: jsonError(http.StatusServiceUnavailable), limit: hungStoreLimit},
		{name: "DELETE /session", method: http.MethodDelete, target: fixed("/session"), how: byCookie, token: tokenOf,
			check: jsonError(http.StatusServiceUnavailable), limit: hungStoreLimit},
		{name: "GET /greet (cookie)", method: http.MethodGet, target: fixed("/greet"), how: byCookie, token: tokenOf,
			check: exact(fixed(greeting("World"))), limit: hungStoreLimit},
		{name: "GET /greet?name=X", method: http.MethodGet, target: func(w, i int) string { return "/greet?name=" + named(w, i) }, how: byNone, token: noToken,
			check: exact(func(w, i int) string { return greeting(named(w, i)) }), limit: hungFastLimit},
	}

	until := time.Now().Add(hungFor)
	var wg sync.WaitGroup
	for _, r := range st.routes {
		for w := range hungWorkers {
			wg.Go(func() {
				for i := 0; time.Now().Before(until); i++ {
					began := time.Now()
					status, body, _, err := call(c, r.method, base+r.target(w, i), r.body, r.token(w), r.how)
					took := time.Since(began)
					if err != nil {
						t.Errorf("%s with the store hung: %v after %v; want an answer within %v", r.name, err, took.Round(time.Millisecond), r.limit)
						return
					}
					st.add(r, status, took)
					if msg := r.check(w, i, status, body); msg != "" {
						t.Errorf("%s with the store hung: %s", r.name, msg)
					}
					if took > r.limit {
						t.Errorf("%s with the store hung: answered %d after %v, want within %v", r.name, status, took.Round(time.Millisecond), r.limit)
					}
					if took < hungPause {
						time.Sleep(hungPause)
					}
				}
			})
		}
	}
	wg.Wait()
	return st
}

// waitSession polls GET /session with token until it shows the session of
// name, and returns how long after since that was. While the store
// recovers, 503 (and a 409 from a session changed meanwhile) mean "not
// yet"; anything else, such as a 401 for a session lost, fails the test.
func waitSession(t *testing.T, c *http.Client, base, token, name string, since time.Time) time.Duration {
	t.Helper()
	for {
		status, body, _, err := call(c, http.MethodGet, base+"/session", "", token, byHeader)
		if err != nil {
			t.Fatalf("GET /session after the thaw: %v", err)
		}
		var v visitBody
		switch {
		case status == http.StatusOK && json.Unmarshal([]byte(body), &v) == nil && v.Name == name && v.Visits != nil:
			return time.Since(since)
		case status == http.StatusServiceUnavailable || status == http.StatusConflict:
		default:
			t.Fatalf("GET /session (%s) after the thaw: %d %q, want 200 with name %s", name, status, body, name)
		}
		if time.Since(since) > hungRecoverTime {
			t.Fatalf("GET /session (%s) still %d %q %v after the thaw, want 200 again within %v", name, status, body, time.Since(since).Round(time.Millisecond), hungRecoverTime)
		}
		time.Sleep(100 * time.Millisecond)
	}
}

// urlHost returns the host:port of a store URL.
func urlHost(t *testing.T, raw string) string {
	t.Helper()
	u, err := url.Parse(raw)
	if err != nil || u.Host == "" {
		t.Fatalf("store URL does not parse to a host") // no %v: it may hold a password
	}
	return u.Host
}

// withHost returns a store URL with its host:port replaced by hostPort.
func withHost(t *testing.T, raw, hostPort string) string {
	t.Helper()
	u, err := url.Parse(raw)
	if err != nil {
		t.Fatalf("store URL does not parse") // no %v: it may hold a password
	}
	u.Host = hostPort
	return u.String()
}
