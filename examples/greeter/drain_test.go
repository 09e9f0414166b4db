package main

import (
	"bufio"
	"context"
	"io"
	"net"
	"net/http"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"
)

// A bound on waits that should end at once: a failure guard, not a
// measurement.
const promptly = 10 * time.Second

// signalled is one run of the program stopped the way main stops it: by
// a signal, which makes it drain first.
type signalled struct {
	*server
	term     func()        // cancels the context as main does on SIGTERM
	drainEnd chan struct{} // close to end the drain
	endOnce  sync.Once
}

// startSignalled is start with a context that term cancels as a SIGTERM
// would, and a drain that lasts until endDrain (or -drain, if the test
// sets a shorter one).
func startSignalled(t *testing.T, hk hooks, args ...string) *signalled {
	t.Helper()
	ctx, cancel := context.WithCancelCause(t.Context())
	s := &signalled{drainEnd: make(chan struct{})}
	hk.drainEnd = s.drainEnd
	addrc := make(chan net.Addr, 1)
	hk.listening = func(a net.Addr) { addrc <- a }
	s.server = &server{stderr: &syncBuffer{}, cancel: func() { cancel(context.Canceled) }, exited: make(chan struct{})}
	args = append([]string{"-addr", "127.0.0.1:0", "-log-format", "json", "-drain", "1h"}, args...)
	go func() {
		defer close(s.exited)
		s.code = runWith(ctx, args, env(), io.Discard, s.stderr, hk)
	}()
	select {
	case a := <-addrc:
		s.url = "http://" + a.String()
	case <-s.exited:
		t.Fatalf("run exited with %d before listening; stderr:\n%s", s.code, s.stderr.String())
	}
	s.term = func() { cancel(stopSignal{syscall.SIGTERM}) }
	t.Cleanup(func() {
		s.endDrain()
		s.stop()
	})
	return s
}

func (s *signalled) endDrain() { s.endOnce.Do(func() { close(s.drainEnd) }) }

// wait returns run's exit code, failing the test if run does not return
// promptly.
func (s *signalled) wait(t *testing.T) int {
	t.Helper()
	select {
	case <-s.exited:
		return s.code
	case <-time.After(promptly):
		t.Fatalf("run did not return within %v; logs:\n%s", promptly, s.stderr.String())
		return -1
	}
}

// waitDraining polls GET /readyz until it answers 503, and returns that
// answer; anything but 200 before it fails the test.
func waitDraining(t *testing.T, c *http.Client, base string) (*http.Response, string) {
	t.Helper()
	deadline := time.Now().Add(promptly)
	for {
		req, _ := http.NewRequest(http.MethodGet, base+"/readyz", nil)
		resp, body := fetch(t, c, req)
		switch {
		case resp.StatusCode == http.StatusServiceUnavailable:
			return resp, body
		case resp.StatusCode != http.StatusOK:
			t.Fatalf("GET /readyz after SIGTERM: %d %q, want 200 until the drain starts, then 503", resp.StatusCode, body)
		case time.Now().After(deadline):
			t.Fatalf("GET /readyz still 200 %v after SIGTERM", promptly)
		}
		time.Sleep(time.Millisecond)
	}
}

// TestDrain: after SIGTERM, /readyz answers 503 {"error":"draining"} while
// every other route is still served, until the drain ends; then the
// server stops listening and exits 0.
func TestDrain(t *testing.T) {
	s := startSignalled(t, hooks{})
	c := newClient(t)
	if status, body := get(t, s.url+"/readyz"); status != http.StatusOK {
		t.Fatalf("GET /readyz before SIGTERM: %d %q", status, body)
	}

	s.term()
	resp, body := waitDraining(t, c, s.url)
	if body != `{"error":"draining"}`+"\n" || resp.Header.Get("Content-Type") != "application/json" ||
		resp.Header.Get("Cache-Control") != "no-store" || !resp.Close {
		t.Errorf("GET /readyz while draining: %d %q, headers %v (Close %v); want 503 {\"error\":\"draining\"}, JSON, no-store, Connection: close",
			resp.StatusCode, body, resp.Header, resp.Close)
	}

	// Everything else is served as before, each answer asking the client
	// to reconnect (where a load balancer sends it elsewhere).
	head, _ := http.NewRequest(http.MethodHead, s.url+"/readyz", nil)
	if resp, body := fetch(t, c, head); resp.StatusCode != http.StatusServiceUnavailable || body != "" {
		t.Errorf("HEAD /readyz while draining: %d %q, want 503 and no body", resp.StatusCode, body)
	}
	for _, tc := range []struct{ method, path, body, want string }{
		{http.MethodGet, "/greet?name=Drain", "", `{"message":"Hello, Drain!"}` + "\n"},
		{http.MethodGet, "/healthz", "", `{"status":"ok"}` + "\n"},
		{http.MethodPost, "/session", `{"name":"Dana"}`, `{"name":"Dana","visits":0}` + "\n"},
		{http.MethodPost, "/readyz", "", ""}, // 405 from the Greeter, as before
	} {
		var rd io.Reader
		if tc.body != "" {
			rd = strings.NewReader(tc.body)
		}
		req, err := http.NewRequest(tc.method, s.url+tc.path, rd)
		if err != nil {
			t.Fatal(err)
		}
		resp, got := fetch(t, c, req)
		wantStatus := map[string]int{"/greet?name=Drain": 200, "/healthz": 200, "/session": 201, "/readyz": 405}[tc.path]
		if resp.StatusCode != wantStatus || (tc.want != "" && got != tc.want) {
			t.Errorf("%s %s while draining: %d %q, want %d %q", tc.method, tc.path, resp.StatusCode, got, wantStatus, tc.want)
		}
		if !resp.Close {
			t.Errorf("%s %s while draining: no Connection: close", tc.method, tc.path)
		}
	}
	select {
	case <-s.exited:
		t.Fatalf("run returned %d during the drain", s.code)
	default:
	}

	s.endDrain()
	if code := s.wait(t); code != 0 {
		t.Errorf("exit code %d after the drain, want 0; logs:\n%s", code, s.stderr.String())
	}
	if _, err := net.Dial("tcp", strings.TrimPrefix(s.url, "http://")); err == nil {
		t.Error("still listening after run returned")
	}
	var msgs []string
	for _, l := range s.logLines(t) {
		msgs = append(msgs, l["msg"].(string))
		if l["msg"] == "request" && l["path"] == "/readyz" && l["status"] == 503.0 {
			msgs[len(msgs)-1] = "request /readyz 503"
		}
	}
	order := []string{"greeter listening", "draining", "request /readyz 503", "shutting down", "greeter stopped"}
	i := 0
	for _, m := range msgs {
		if i < len(order) && strings.HasPrefix(m, order[i]) {
			i++
		}
	}
	if i < len(order) {
		t.Errorf("log lines %q lack %q in order %q", msgs, order[i], order)
	}
}

// TestNoDrain: -drain 0 skips the drain, and a context cancelled other
// than by a signal (a test's, an embedding program's) stops at once too.
func TestNoDrain(t *testing.T) {
	t.Run("-drain 0", func(t *testing.T) {
		s := startSignalled(t, hooks{}, "-drain", "0")
		s.term()
		if code := s.wait(t); code != 0 {
			t.Errorf("exit code %d, want 0", code)
		}
		if strings.Contains(s.stderr.String(), "draining:") {
			t.Errorf("drained with -drain 0:\n%s", s.stderr.String())
		}
	})
	t.Run("cancelled, not signalled", func(t *testing.T) {
		s := startSignalled(t, hooks{}) // -drain 1h
		s.cancel()
		if code := s.wait(t); code != 0 {
			t.Errorf("exit code %d, want 0", code)
		}
		if strings.Contains(s.stderr.String(), "draining:") {
			t.Errorf("drained on a plain cancel:\n%s", s.stderr.String())
		}
	})
}

// tellLogin wraps the Greeter so that entered gets a value as each POST
// /session reaches it, before its body is read.
func tellLogin(entered chan<- struct{}) func(http.Handler) http.Handler {
	return func(next http.Handler) http.Handler {
		return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			if r.Method == http.MethodPost && r.URL.Path == "/session" {
				select {
				case entered <- struct{}{}:
				default:
				}
			}
			next.ServeHTTP(w, r)
		})
	}
}

// slowUpload sends POST /session over its own connection with the body's
// first part only, and returns a function that sends the rest, slowly,
// and returns the response.
func slowUpload(t *testing.T, base string) (finish func() (*http.Response, string)) {
	t.Helper()
	conn, err := net.Dial("tcp", strings.TrimPrefix(base, "http://"))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { conn.Close() })
	body := `{"name":"Slow Upload"}`
	head := "POST /session HTTP/1.1\r\nHost: greeter\r\nContent-Type: application/json\r\n" +
		"Content-Length: " + strconv.Itoa(len(body)) + "\r\n\r\n"
	if _, err := io.WriteString(conn, head+body[:3]); err != nil {
		t.Fatal(err)
	}
	return func() (*http.Response, string) {
		t.Helper()
		for _, part := range []string{body[3:9], body[9:15], body[15:]} {
			time.Sleep(50 * time.Millisecond)
			if _, err := io.WriteString(conn, part); err != nil {
				t.Fatalf("sending the rest of the upload: %v", err)
			}
		}
		conn.SetReadDeadline(time.Now().Add(promptly))
		resp, err := http.ReadResponse(bufio.NewReader(conn), nil)
		if err != nil {
			t.Fatalf("reading the upload's response: %v", err)
		}
		defer resp.Body.Close()
		b, _ := io.ReadAll(resp.Body)
		return resp, string(b)
	}
}

// waitNotListening waits until base refuses connections: the shutdown has
// begun.
func waitNotListening(t *testing.T, base string) {
	t.Helper()
	deadline := time.Now().Add(promptly)
	for {
		c, err := net.Dial("tcp", strings.TrimPrefix(base, "http://"))
		if err != nil {
			return
		}
		c.Close()
		if time.Now().After(deadline) {
			t.Fatalf("still listening %v after the signal", promptly)
		}
		time.Sleep(5 * time.Millisecond)
	}
}

// TestSlowUploadAcrossShutdown: an upload that started before SIGTERM and
// is still being sent when the shutdown begins completes, and the exit
// code is 0, with the drain and without.
func TestSlowUploadAcrossShutdown(t *testing.T) {
	for _, drain := range []bool{false, true} {
		name := map[bool]string{false: "-drain 0", true: "drain"}[drain]
		t.Run(name, func(t *testing.T) {
			var args []string
			if !drain {
				args = []string{"-drain", "0"}
			}
			entered := make(chan struct{}, 1)
			s := startSignalled(t, hooks{wrap: tellLogin(entered)}, args...)
			finish := slowUpload(t, s.url)
			<-entered // the server has the request's head and reads its body

			s.term()
			if drain {
				waitDraining(t, newClient(t), s.url)
				s.endDrain()
			}
			waitNotListening(t, s.url)
			select {
			case <-s.exited:
				t.Fatalf("run returned %d with an upload in flight", s.code)
			default:
			}

			resp, body := finish()
			if resp.StatusCode != http.StatusCreated || body != `{"name":"Slow Upload","visits":0}`+"\n" {
				t.Errorf("upload in flight across the shutdown: %d %q, want 201", resp.StatusCode, body)
			}
			if code := s.wait(t); code != 0 {
				t.Errorf("exit code %d, want 0; logs:\n%s", code, s.stderr.String())
			}
		})
	}
}

// TestShutdownTimeoutDefault: the default -shutdown-timeout outlasts the
// longest a request may take to be read and answered, and a shorter one
// is warned about at start-up.
func TestShutdownTimeoutDefault(t *testing.T) {
	cfg, err := parseConfig(nil, env(), io.Discard)
	if err != nil {
		t.Fatal(err)
	}
	if cfg.shutdownTimeout <= readTimeout || cfg.shutdownTimeout <= writeTimeout {
		t.Errorf("default -shutdown-timeout %v, want more than the read timeout %v and the write timeout %v",
			cfg.shutdownTimeout, readTimeout, writeTimeout)
	}
	if cfg.drain <= 0 {
		t.Errorf("default -drain %v, want a drain", cfg.drain)
	}

	s := start(t, hooks{}, "-shutdown-timeout", readTimeout.String())
	s.stop()
	if !strings.Contains(s.stderr.String(), "not above the read timeout") {
		t.Errorf("no warning for -shutdown-timeout %v:\n%s", readTimeout, s.stderr.String())
	}
	s = start(t, hooks{})
	s.stop()
	if strings.Contains(s.stderr.String(), "not above the read timeout") {
		t.Errorf("a warning for the default -shutdown-timeout:\n%s", s.stderr.String())
	}
}

// hungServer listens on loopback, accepts connections, reads what they
// send and never answers: a store that does not answer. accepted gets a
// value for each connection.
func hungServer(t *testing.T) (addr string, accepted <-chan struct{}) {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	acc := make(chan struct{}, 100)
	var mu sync.Mutex
	var conns []net.Conn
	go func() {
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			mu.Lock()
			conns = append(conns, c)
			mu.Unlock()
			select {
			case acc <- struct{}{}:
			default:
			}
			go io.Copy(io.Discard, c)
		}
	}()
	t.Cleanup(func() {
		ln.Close()
		mu.Lock()
		defer mu.Unlock()
		for _, c := range conns {
			c.Close()
		}
	})
	return ln.Addr().String(), acc
}

// TestSignalDuringStartUp: a signal while the server waits on a store that
// does not answer (opening it, or setting up the token keys in it) ends
// the run at once with exit code 0, and says nothing against the store.
func TestSignalDuringStartUp(t *testing.T) {
	secret := strings.Repeat("s", 32)
	for _, tc := range []struct {
		name, scheme string
		args         []string
		waitFor      string // the debug line of the step to interrupt
	}{
		{"redis open", "redis://:pa55word@%s/0", nil, "opening the store"},
		{"postgres open", "postgres://u:pa55word@%s/db?sslmode=disable", nil, "opening the store"},
		{"redis token keys", "redis://:pa55word@%s/0", []string{"-token-secret", secret}, "setting up access tokens"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			addr, accepted := hungServer(t)
			storeURL := strings.Replace(tc.scheme, "%s", addr, 1)
			ctx, cancel := context.WithCancelCause(t.Context())
			defer cancel(nil)
			stderr := &syncBuffer{}
			exited := make(chan int, 1)
			args := append([]string{"-addr", "127.0.0.1:0", "-log-level", "debug", "-store", storeURL}, tc.args...)
			go func() { exited <- runWith(ctx, args, env(), io.Discard, stderr, hooks{}) }()

			select {
			case <-accepted:
			case code := <-exited:
				t.Fatalf("run returned %d before dialling the store; logs:\n%s", code, stderr.String())
			case <-time.After(promptly):
				t.Fatalf("the store was not dialled within %v", promptly)
			}
			deadline := time.Now().Add(promptly)
			for !strings.Contains(stderr.String(), tc.waitFor) {
				if time.Now().After(deadline) {
					t.Fatalf("no %q in the logs within %v:\n%s", tc.waitFor, promptly, stderr.String())
				}
				time.Sleep(5 * time.Millisecond)
			}
			if strings.Contains(stderr.String(), "greeter listening") {
				t.Fatalf("listening already; the test meant to interrupt the start-up:\n%s", stderr.String())
			}

			cancel(stopSignal{syscall.SIGTERM})
			var code int
			select {
			case code = <-exited:
			case <-time.After(promptly):
				t.Fatalf("run did not return within %v of the signal; logs:\n%s", promptly, stderr.String())
			}
			logs := stderr.String()
			if code != 0 {
				t.Errorf("exit code %d, want 0; logs:\n%s", code, logs)
			}
			if !strings.Contains(logs, "start-up interrupted; exiting") || !strings.Contains(logs, `during="`+tc.waitFor+`"`) {
				t.Errorf("logs do not say the start-up was interrupted while %s:\n%s", tc.waitFor, logs)
			}
			for _, blame := range []string{"store URL", "level=ERROR", "greeter: ", "pa55word"} {
				if strings.Contains(logs, blame) {
					t.Errorf("logs hold %q:\n%s", blame, logs)
				}
			}
		})
	}
}
