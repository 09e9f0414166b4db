package main

import (
	"bytes"
	"crypto/rand"
	"encoding/base64"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/url"
	"os"
	"os/exec"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/stateless-go/stateless/internal/testenv"
)

// TestMain stops the containers the store tests start.
func TestMain(m *testing.M) { testenv.Main(m) }

// sessionCookie and tokenHeader are the greeter's defaults (package
// session's).
const (
	sessionCookie = "session"
	tokenHeader   = "X-Session-Token"
)

// newClient returns a client without a cookie jar (tests send the token
// themselves), with a bound on every request so that a hung server fails
// the test instead of stalling it, and enough idle connections kept for 16
// concurrent requests to each of two servers.
func newClient(t *testing.T) *http.Client {
	tr := &http.Transport{MaxIdleConns: 64, MaxIdleConnsPerHost: 32, DisableCompression: true}
	t.Cleanup(tr.CloseIdleConnections)
	return &http.Client{Transport: tr, Timeout: 10 * time.Second}
}

// carry says how a request carries its session token.
type carry int

const (
	byNone carry = iota
	byCookie
	byHeader
)

func (c carry) String() string {
	return [...]string{"no token", "cookie", "header"}[c]
}

// call sends one request and returns its status and body; err is a
// transport error (a refused connection, a timeout).
func call(c *http.Client, method, url, body, token string, how carry) (int, string, http.Header, error) {
	var rd io.Reader
	if body != "" {
		rd = strings.NewReader(body)
	}
	req, err := http.NewRequest(method, url, rd)
	if err != nil {
		return 0, "", nil, err
	}
	if body != "" {
		req.Header.Set("Content-Type", "application/json")
	}
	switch how {
	case byCookie:
		req.AddCookie(&http.Cookie{Name: sessionCookie, Value: token})
	case byHeader:
		req.Header.Set(tokenHeader, token)
	}
	resp, err := c.Do(req)
	if err != nil {
		return 0, "", nil, err
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	return resp.StatusCode, string(b), resp.Header, err
}

// mustCall is call for the test goroutine: a transport error fails the test.
func mustCall(t *testing.T, c *http.Client, method, url, body, token string, how carry) (int, string) {
	t.Helper()
	status, b, _, err := call(c, method, url, body, token, how)
	if err != nil {
		t.Fatalf("%s %s (%v): %v", method, url, how, err)
	}
	return status, b
}

// login logs name in on base and returns the session token, checking the
// 201, the body and that the cookie and the header carry the same token.
func login(t *testing.T, c *http.Client, base, name string) string {
	t.Helper()
	status, body, hdr, err := call(c, http.MethodPost, base+"/session", `{"name":"`+name+`"}`, "", byNone)
	if err != nil {
		t.Fatalf("POST /session: %v", err)
	}
	if want := `{"name":"` + name + `","visits":0}` + "\n"; status != http.StatusCreated || body != want {
		t.Fatalf("POST /session: %d %q, want 201 %q", status, body, want)
	}
	token := hdr.Get(tokenHeader)
	if token == "" {
		t.Fatalf("POST /session: no %s header", tokenHeader)
	}
	var cookie string
	for _, ck := range (&http.Response{Header: hdr}).Cookies() {
		if ck.Name == sessionCookie {
			cookie = ck.Value
		}
	}
	if cookie != token {
		t.Fatalf("POST /session: cookie %q and header %q differ", cookie, token)
	}
	return token
}

// visitBody decodes GET /session's body.
type visitBody struct {
	Name   string `json:"name"`
	Visits *int64 `json:"visits"`
}

// visits counts one visit (POST /session/visits) and returns the visit
// count it shows.
func visits(t *testing.T, c *http.Client, base, token string, how carry) int64 {
	t.Helper()
	status, body := mustCall(t, c, http.MethodPost, base+"/session/visits", "", token, how)
	var v visitBody
	if status != http.StatusOK || json.Unmarshal([]byte(body), &v) != nil || v.Visits == nil {
		t.Fatalf("POST /session/visits (%v): %d %q, want 200 and a visit count", how, status, body)
	}
	return *v.Visits
}

// checkJSONError checks that body is the greeter's JSON error object.
func checkJSONError(t *testing.T, what, body string) {
	t.Helper()
	var m map[string]string
	if err := json.Unmarshal([]byte(body), &m); err != nil || m["error"] == "" {
		t.Errorf("%s: body %q, want a JSON {\"error\":…}", what, body)
	}
}

// checkLogs fails the test if a server's log shows a panic or a token.
func checkLogs(t *testing.T, s *server, tokens ...string) {
	t.Helper()
	logs := s.stderr.String()
	for _, bad := range []string{"panic", "goroutine "} {
		if strings.Contains(logs, bad) {
			t.Errorf("server log holds %q:\n%s", bad, logs)
		}
	}
	for _, tok := range tokens {
		if tok != "" && strings.Contains(logs, tok) {
			t.Errorf("server log holds a session token:\n%s", logs)
		}
	}
}

// stopServer stops s and checks that run returned 0.
func stopServer(t *testing.T, s *server) {
	t.Helper()
	if code := s.stop(); code != 0 {
		t.Errorf("%s: exit code %d after cancel, want 0; log:\n%s", s.url, code, s.stderr.String())
	}
}

// randomHex returns n random bytes in hex.
func randomHex(t *testing.T, n int) string {
	b := make([]byte, n)
	if _, err := rand.Read(b); err != nil {
		t.Fatal(err)
	}
	return hex.EncodeToString(b)
}

// withTable adds table=NAME to a Postgres URL, keeping its other
// parameters.
func withTable(t *testing.T, raw, table string) string {
	t.Helper()
	u, err := url.Parse(raw)
	if err != nil {
		t.Fatalf("testenv's Postgres URL does not parse") // no %v: it holds a password
	}
	q := u.Query()
	q.Set("table", table)
	u.RawQuery = q.Encode()
	return u.String()
}

// TestTwoInstancesShareAStore is issue 4's acceptance run over every
// backend: 2000 POST /session/visits on one session, 16 at a time, alternating
// between two greeter instances that share the store, half of the calls
// carrying the token in the cookie and half in the header. No visit may be
// lost or counted twice, and logging out on one instance must end the
// session on the other at once.
func TestTwoInstancesShareAStore(t *testing.T) {
	backends := []struct {
		name string
		url  func(t *testing.T) string
	}{
		{"redis", func(t *testing.T) string { return testenv.RedisURL(t) }},
		{"memcache", func(t *testing.T) string { return "memcache://" + testenv.MemcacheAddrs(t, 1)[0] }},
		{"postgres", func(t *testing.T) string {
			// A table of its own, so runs never share rows or schema.
			return withTable(t, testenv.PostgresURL(t), "greeter_it_"+randomHex(t, 6))
		}},
	}
	for _, b := range backends {
		t.Run(b.name, func(t *testing.T) {
			storeURL := b.url(t)
			a := start(t, hooks{}, "-store", storeURL, "-log-level", "warn", "-login-rate", "0")
			bb := start(t, hooks{}, "-store", storeURL, "-log-level", "warn", "-login-rate", "0")
			servers := [2]*server{a, bb}
			c := newClient(t)

			token := login(t, c, a.url, "Alice")
			res := hammer(c, servers, token, 2000, 16)
			res.check(t)

			// A logout on A ends the session on B at once.
			if status, body := mustCall(t, c, http.MethodDelete, a.url+"/session", "", token, byHeader); status != http.StatusNoContent {
				t.Errorf("DELETE /session on A: %d %q, want 204", status, body)
			}
			for _, how := range []carry{byHeader, byCookie} {
				status, body := mustCall(t, c, http.MethodGet, bb.url+"/session", "", token, how)
				if status != http.StatusUnauthorized {
					t.Errorf("GET /session on B (%v) right after logout on A: %d %q, want 401", how, status, body)
				}
				checkJSONError(t, "GET /session after logout", body)
			}

			stopServer(t, a)
			stopServer(t, bb)
			checkLogs(t, a, token)
			checkLogs(t, bb, token)
		})
	}
}

// hammerResult tallies a hammer run.
type hammerResult struct {
	n, ok, serverErrs, otherStatus, transportErrs int
	statuses                                      map[int]int
	seen                                          map[int64]int // visit number → 2xx answers showing it
	badBodies                                     []string
	firstErr                                      error
	final                                         int64 // visits shown by one more GET after the run
	elapsed                                       time.Duration
}

// hammer sends n GET /session with token, conc at a time: request i goes
// to servers[i%2], by cookie when (i/2)%2 is 0, else by header, so each
// server sees both. Then one more GET reads the final count.
func hammer(c *http.Client, servers [2]*server, token string, n, conc int) *hammerResult {
	type result struct {
		status int
		body   string
		err    error
	}
	results := make([]result, n)
	jobs := make(chan int)
	var wg sync.WaitGroup
	began := time.Now()
	for range conc {
		wg.Go(func() {
			for i := range jobs {
				how := byCookie
				if (i/2)%2 == 1 {
					how = byHeader
				}
				status, body, _, err := call(c, http.MethodPost, servers[i%2].url+"/session/visits", "", token, how)
				results[i] = result{status, body, err}
			}
		})
	}
	for i := range n {
		jobs <- i
	}
	close(jobs)
	wg.Wait()

	r := &hammerResult{n: n, statuses: map[int]int{}, seen: map[int64]int{}, final: -1, elapsed: time.Since(began)}
	for _, res := range results {
		switch {
		case res.err != nil:
			r.transportErrs++
			if r.firstErr == nil {
				r.firstErr = res.err
			}
			continue
		case res.status >= 500:
			r.serverErrs++
		case res.status >= 200 && res.status < 300:
			r.ok++
			var v visitBody
			if err := json.Unmarshal([]byte(res.body), &v); err != nil || v.Visits == nil || v.Name != "Alice" {
				r.badBodies = append(r.badBodies, res.body)
			} else {
				r.seen[*v.Visits]++
			}
		default:
			r.otherStatus++
		}
		r.statuses[res.status]++
	}
	status, body, _, err := call(c, http.MethodGet, servers[0].url+"/session", "", token, byHeader)
	var v visitBody
	if err == nil && status == http.StatusOK && json.Unmarshal([]byte(body), &v) == nil && v.Visits != nil {
		r.final = *v.Visits
	} else {
		r.badBodies = append(r.badBodies, fmt.Sprintf("final GET: %d %q %v", status, body, err))
	}
	return r
}

func (r *hammerResult) check(t *testing.T) {
	t.Helper()
	t.Logf("%d POST /session/visits in %v: %d 2xx, %d 5xx, %d other statuses, %d transport errors; statuses %v; final visits %d",
		r.n, r.elapsed.Round(time.Millisecond), r.ok, r.serverErrs, r.otherStatus, r.transportErrs, r.statuses, r.final)
	if r.transportErrs > 0 {
		t.Errorf("%d requests failed in transport; first: %v", r.transportErrs, r.firstErr)
	}
	if r.serverErrs > 0 {
		t.Errorf("%d answers were 5xx, want none", r.serverErrs)
	}
	if r.ok*100 < r.n*99 {
		t.Errorf("%d of %d answers were 2xx, want at least 99%%", r.ok, r.n)
	}
	if len(r.badBodies) > 0 {
		t.Errorf("%d unexpected bodies, first %q", len(r.badBodies), r.badBodies[0])
	}
	if r.final != int64(r.ok) {
		t.Errorf("final visits %d != %d 2xx answers: visits lost or counted twice", r.final, r.ok)
	}
	dups := 0
	for v, k := range r.seen {
		if k > 1 {
			if dups == 0 {
				t.Errorf("visit number %d shown by %d answers", v, k)
			}
			dups++
		}
		if v < 1 || v > int64(r.ok) {
			t.Errorf("visit number %d outside 1..%d", v, r.ok)
		}
	}
	if dups > 0 {
		t.Errorf("%d visit numbers shown by more than one answer, want each 2xx to show its own", dups)
	}
}

// redisProc is a native redis-server on a loopback port, without
// persistence, that a test can kill and start again on the same port.
type redisProc struct {
	bin    string
	port   int
	dir    string
	mu     sync.Mutex
	cmd    *exec.Cmd
	exited chan struct{}
	out    *syncBuffer
}

// newRedisProc finds redis-server and picks a free port, starting nothing.
// Without redis-server it skips, or fails under TEST_REQUIRE_STORES.
func newRedisProc(t *testing.T) *redisProc {
	t.Helper()
	bin, err := exec.LookPath("redis-server")
	if err != nil {
		if v := os.Getenv("TEST_REQUIRE_STORES"); v != "" && v != "0" && v != "false" {
			t.Fatalf("redis-server not in PATH (%v); TEST_REQUIRE_STORES is set, so failing instead of skipping", err)
		}
		t.Skipf("redis-server not in PATH (%v): install it (apt-get install redis-server) to run this test", err)
	}
	p := &redisProc{bin: bin, port: freePort(t), dir: t.TempDir(), out: &syncBuffer{}}
	t.Cleanup(p.kill)
	return p
}

func freePort(t *testing.T) int {
	t.Helper()
	_, port, err := net.SplitHostPort(freeAddr(t))
	if err != nil {
		t.Fatal(err)
	}
	n, err := strconv.Atoi(port)
	if err != nil {
		t.Fatal(err)
	}
	return n
}

func (p *redisProc) addr() string { return "127.0.0.1:" + strconv.Itoa(p.port) }

// start runs redis-server on p's port and waits until it answers PING.
func (p *redisProc) start(t *testing.T) {
	t.Helper()
	cmd := exec.Command(p.bin, "--port", strconv.Itoa(p.port), "--bind", "127.0.0.1",
		"--save", "", "--appendonly", "no", "--dir", p.dir, "--daemonize", "no", "--loglevel", "warning")
	cmd.Stdout, cmd.Stderr = p.out, p.out
	cmd.SysProcAttr = dieWithParent()
	if err := cmd.Start(); err != nil {
		t.Fatalf("starting redis-server: %v", err)
	}
	exited := make(chan struct{})
	go func() {
		cmd.Wait()
		close(exited)
	}()
	p.mu.Lock()
	p.cmd, p.exited = cmd, exited
	p.mu.Unlock()

	deadline := time.Now().Add(10 * time.Second)
	for {
		select {
		case <-exited:
			t.Fatalf("redis-server on port %d exited at start:\n%s", p.port, p.out.String())
		default:
		}
		if pingRedis(p.addr()) {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("redis-server on port %d does not answer PING after 10s:\n%s", p.port, p.out.String())
		}
		time.Sleep(10 * time.Millisecond)
	}
}

// kill stops redis-server at once (SIGKILL), as a crash would, and waits
// for it to exit. It does nothing if none is running.
func (p *redisProc) kill() {
	p.mu.Lock()
	cmd, exited := p.cmd, p.exited
	p.cmd = nil
	p.mu.Unlock()
	if cmd == nil {
		return
	}
	cmd.Process.Signal(syscall.SIGKILL) // an error only if it already exited
	<-exited
}

// pingRedis reports whether a Redis server at addr answers PING.
func pingRedis(addr string) bool {
	c, err := net.DialTimeout("tcp", addr, time.Second)
	if err != nil {
		return false
	}
	defer c.Close()
	c.SetDeadline(time.Now().Add(time.Second))
	if _, err := io.WriteString(c, "PING\r\n"); err != nil {
		return false
	}
	buf := make([]byte, 7)
	n, _ := io.ReadFull(c, buf)
	return bytes.Equal(buf[:n], []byte("+PONG\r\n"))
}

// waitReadyz polls /readyz every 20ms until it answers want, and returns
// how long that took from since; it fails the test after limit.
func waitReadyz(t *testing.T, c *http.Client, base string, want int, since time.Time, limit time.Duration) time.Duration {
	t.Helper()
	for {
		status, body, _, err := call(c, http.MethodGet, base+"/readyz", "", "", byNone)
		if err != nil {
			t.Fatalf("GET /readyz: %v", err)
		}
		if status == want {
			return time.Since(since)
		}
		if status != http.StatusOK && status != http.StatusServiceUnavailable {
			t.Fatalf("GET /readyz: %d %q, want 200 or 503", status, body)
		}
		if time.Since(since) > limit {
			t.Fatalf("GET /readyz still %d %v after the change, want %d", status, limit, want)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// checkStoreFreeRoutes checks the routes that must not depend on the store
// while it is down: /greet with a name, /greet with a token but no name
// (greets World rather than failing), /healthz.
func checkStoreFreeRoutes(t *testing.T, c *http.Client, base, token string) {
	t.Helper()
	for i := range 5 {
		name := "X" + strconv.Itoa(i)
		status, body := mustCall(t, c, http.MethodGet, base+"/greet?name="+name, "", "", byNone)
		if want := `{"message":"Hello, ` + name + `!"}` + "\n"; status != http.StatusOK || body != want {
			t.Errorf("GET /greet?name=%s with the store down: %d %q, want 200 %q", name, status, body, want)
		}
	}
	if token != "" {
		status, body := mustCall(t, c, http.MethodGet, base+"/greet", "", token, byCookie)
		if want := `{"message":"Hello, World!"}` + "\n"; status != http.StatusOK || body != want {
			t.Errorf("GET /greet with a session and the store down: %d %q, want 200 %q", status, body, want)
		}
	}
	if status, body := mustCall(t, c, http.MethodGet, base+"/healthz", "", "", byNone); status != http.StatusOK {
		t.Errorf("GET /healthz with the store down: %d %q, want 200", status, body)
	}
}

// TestRedisOutage is issue 3's acceptance: Redis dies under a running
// greeter and comes back on the same address. /greet keeps answering,
// /readyz turns 503 within a second, sessions answer 503 (not a hang, not
// a panic), and everything recovers without restarting the greeter.
func TestRedisOutage(t *testing.T) {
	rp := newRedisProc(t)
	rp.start(t)
	s := start(t, hooks{}, "-store", "redis://"+rp.addr()+"/0", "-log-level", "warn", "-login-rate", "0")
	c := newClient(t)

	if status, body := mustCall(t, c, http.MethodGet, s.url+"/readyz", "", "", byNone); status != http.StatusOK {
		t.Fatalf("GET /readyz with Redis up: %d %q", status, body)
	}
	token := login(t, c, s.url, "Alice")
	if n := visits(t, c, s.url, token, byHeader); n != 1 {
		t.Fatalf("first visit %d, want 1", n)
	}

	killed := time.Now()
	rp.kill()
	down := waitReadyz(t, c, s.url, http.StatusServiceUnavailable, killed, 5*time.Second)
	t.Logf("/readyz answered 503 %v after Redis was killed", down.Round(time.Millisecond))
	if down >= time.Second {
		t.Errorf("/readyz took %v to turn 503, want under a second", down)
	}

	checkStoreFreeRoutes(t, c, s.url, token)
	for i, how := range []carry{byHeader, byCookie, byHeader, byCookie} {
		status, body, _, err := call(c, http.MethodGet, s.url+"/session", "", token, how)
		if err != nil {
			t.Fatalf("GET /session #%d (%v) with Redis down: %v; want a 503, not a hang", i, how, err)
		}
		if status != http.StatusServiceUnavailable {
			t.Errorf("GET /session #%d (%v) with Redis down: %d %q, want 503", i, how, status, body)
		}
		checkJSONError(t, "GET /session with Redis down", body)
	}
	// A login cannot be stored: an error, never a 201 for a session that
	// does not exist.
	if status, body, _, err := call(c, http.MethodPost, s.url+"/session", `{"name":"Bob"}`, "", byNone); err != nil {
		t.Fatalf("POST /session with Redis down: %v", err)
	} else if status != http.StatusServiceUnavailable {
		t.Errorf("POST /session with Redis down: %d %q, want 503", status, body)
	} else {
		checkJSONError(t, "POST /session with Redis down", body)
	}
	if status, _ := mustCall(t, c, http.MethodGet, s.url+"/readyz", "", "", byNone); status != http.StatusServiceUnavailable {
		t.Errorf("GET /readyz later in the outage: %d, want 503", status)
	}

	restarted := time.Now()
	rp.start(t)
	up := waitReadyz(t, c, s.url, http.StatusOK, restarted, 10*time.Second)
	t.Logf("/readyz answered 200 %v after Redis answered PING again", up.Round(time.Millisecond))

	checkStoreFreeRoutes(t, c, s.url, "")
	// Redis kept nothing (no persistence), so the old session is gone: a
	// 401, not an error.
	if status, body := mustCall(t, c, http.MethodGet, s.url+"/session", "", token, byHeader); status != http.StatusUnauthorized {
		t.Errorf("GET /session with the token from before the outage: %d %q, want 401 (Redis lost it)", status, body)
	}
	token2 := login(t, c, s.url, "Carol")
	for want := int64(1); want <= 3; want++ {
		how := byCookie
		if want%2 == 0 {
			how = byHeader
		}
		if n := visits(t, c, s.url, token2, how); n != want {
			t.Errorf("visit after recovery: %d, want %d", n, want)
		}
	}
	if status, body := mustCall(t, c, http.MethodGet, s.url+"/greet", "", token2, byHeader); status != http.StatusOK || body != `{"message":"Hello, Carol!"}`+"\n" {
		t.Errorf("GET /greet with the new session: %d %q, want Hello, Carol!", status, body)
	}

	stopServer(t, s)
	checkLogs(t, s, token, token2)
	if logs := s.stderr.String(); !strings.Contains(logs, "store not ready") {
		t.Errorf("the log does not say the store was not ready:\n%s", logs)
	}
}

// TestRedisDownAtStart: a greeter whose Redis is not up yet starts anyway,
// serves /greet, reports 503 on /readyz, and turns ready by itself when
// Redis comes up.
func TestRedisDownAtStart(t *testing.T) {
	rp := newRedisProc(t) // its port is free: nothing listens there yet
	s := start(t, hooks{}, "-store", "redis://"+rp.addr()+"/0", "-log-level", "warn", "-login-rate", "0")
	c := newClient(t)

	if status, body := mustCall(t, c, http.MethodGet, s.url+"/readyz", "", "", byNone); status != http.StatusServiceUnavailable {
		t.Errorf("GET /readyz with Redis not started: %d %q, want 503", status, body)
	}
	checkStoreFreeRoutes(t, c, s.url, "")
	// A token of the right shape (256 bits, base64url), so that the
	// session layer does ask the store.
	someToken := base64.RawURLEncoding.EncodeToString([]byte(randomHex(t, 16)))
	status, body := mustCall(t, c, http.MethodGet, s.url+"/session", "", someToken, byHeader)
	if status != http.StatusServiceUnavailable {
		t.Errorf("GET /session with Redis not started: %d %q, want 503", status, body)
	}
	checkJSONError(t, "GET /session with Redis not started", body)

	started := time.Now()
	rp.start(t)
	up := waitReadyz(t, c, s.url, http.StatusOK, started, 10*time.Second)
	t.Logf("/readyz answered 200 %v after Redis started", up.Round(time.Millisecond))

	token := login(t, c, s.url, "Dave")
	if n := visits(t, c, s.url, token, byCookie); n != 1 {
		t.Errorf("first visit %d, want 1", n)
	}
	stopServer(t, s)
	checkLogs(t, s, token)
}
