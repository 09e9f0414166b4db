package main

import (
	"bytes"
	"context"
	"encoding/json"
	"io"
	"log/slog"
	"net"
	"net/http"
	"strings"
	"sync"
	"testing"
	"time"
)

// syncBuffer is a bytes.Buffer safe for the server's goroutines to write
// while a test reads.
type syncBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (s *syncBuffer) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.Write(p)
}

func (s *syncBuffer) String() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.String()
}

func env(kv ...string) func(string) string {
	m := map[string]string{}
	for i := 0; i+1 < len(kv); i += 2 {
		m[kv[i]] = kv[i+1]
	}
	return func(k string) string { return m[k] }
}

func TestParseConfig(t *testing.T) {
	tests := []struct {
		name      string
		args      []string
		getenv    func(string) string
		wantAddr  string
		wantStore string
	}{
		{"defaults", nil, env(), ":5000", "memory://"},
		{"env", nil, env(envAddr, "127.0.0.1:8080", envStore, "memory://?max_entries=5"), "127.0.0.1:8080", "memory://?max_entries=5"},
		{"flags", []string{"-addr", ":7000", "-store", "memory://?max_entries=1"}, env(), ":7000", "memory://?max_entries=1"},
		{"flags override env", []string{"-addr=:7000", "-store=memory://?max_entries=1"},
			env(envAddr, ":8080", envStore, "redis://h"), ":7000", "memory://?max_entries=1"},
		{"a flag given its default still overrides env", []string{"-addr", ":5000"}, env(envAddr, ":8080"), ":5000", "memory://"},
		{"empty env is unset", nil, env(envAddr, "", envStore, ""), ":5000", "memory://"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			cfg, err := parseConfig(tt.args, tt.getenv, io.Discard)
			if err != nil {
				t.Fatal(err)
			}
			if cfg.addr != tt.wantAddr || cfg.storeURL != tt.wantStore {
				t.Errorf("addr %q, store %q; want %q, %q", cfg.addr, cfg.storeURL, tt.wantAddr, tt.wantStore)
			}
		})
	}

	def, err := parseConfig(nil, env(), io.Discard)
	if err != nil {
		t.Fatal(err)
	}
	if def.logSampleInitial != 1000 || def.logSampleThereafter != 100 {
		t.Errorf("access-log sampling %d, 1 in %d by default; want 1000 a second, then 1 in 100", def.logSampleInitial, def.logSampleThereafter)
	}

	cfg, err := parseConfig([]string{"-shutdown-timeout", "3s", "-ready-timeout", "2s", "-log-format", "json", "-log-level", "warn"}, env(), io.Discard)
	if err != nil {
		t.Fatal(err)
	}
	if cfg.shutdownTimeout != 3*time.Second || cfg.readyTimeout != 2*time.Second || cfg.logFormat != "json" || cfg.logLevel != slog.LevelWarn {
		t.Errorf("got %+v", cfg)
	}
}

func TestHelp(t *testing.T) {
	var stdout, stderr bytes.Buffer
	if code := run(t.Context(), []string{"-h"}, env(), &stdout, &stderr); code != 0 {
		t.Errorf("exit code %d, want 0", code)
	}
	for _, want := range []string{"Usage: greeter", "-addr", "GREETER_ADDR", "-store", "STORE_URL", "-shutdown-timeout",
		"-login-rate", "GREETER_LOGIN_RATE", "-trust-proxy", "GREETER_TRUST_PROXY", "X-Forwarded-For"} {
		if !strings.Contains(stdout.String(), want) {
			t.Errorf("usage does not mention %q:\n%s", want, stdout.String())
		}
	}
	if stderr.Len() != 0 {
		t.Errorf("stderr %q, want nothing", stderr.String())
	}
}

// checkOneLine runs the program and checks it exits 2 with exactly one line
// on stderr, returned.
func checkOneLine(t *testing.T, args []string, getenv func(string) string) string {
	t.Helper()
	var stdout, stderr bytes.Buffer
	if code := run(t.Context(), args, getenv, &stdout, &stderr); code != 2 {
		t.Errorf("%q: exit code %d, want 2", args, code)
	}
	line := stderr.String()
	if strings.Count(line, "\n") != 1 || !strings.HasSuffix(line, "\n") || !strings.HasPrefix(line, "greeter: ") {
		t.Errorf("%q: stderr %q, want one line starting with \"greeter: \"", args, line)
	}
	if stdout.Len() != 0 {
		t.Errorf("%q: stdout %q, want nothing", args, stdout.String())
	}
	return line
}

func TestBadFlags(t *testing.T) {
	tests := []struct {
		args    []string
		getenv  func(string) string
		mention string
	}{
		{[]string{"-nope"}, env(), "-nope"},
		{[]string{"-addr"}, env(), "-addr"},
		{[]string{"-shutdown-timeout", "soon"}, env(), "-shutdown-timeout"},
		{[]string{"-shutdown-timeout", "0s"}, env(), "-shutdown-timeout"},
		{[]string{"-ready-timeout", "-1s"}, env(), "-ready-timeout"},
		{[]string{"-log-format", "xml"}, env(), "-log-format"},
		{[]string{"-log-level", "loud"}, env(), "-log-level"},
		{[]string{"-log-sample-initial", "-1"}, env(), "-log-sample-initial"},
		{[]string{"-log-sample-thereafter", "0"}, env(), "-log-sample-thereafter"},
		{nil, env("GREETER_LOG_SAMPLE_THEREAFTER", "-3"), "GREETER_LOG_SAMPLE_THEREAFTER"},
		{[]string{"-addr", "5000"}, env(), "host:port"},
		{nil, env(envAddr, "nonsense"), envAddr},
		{[]string{"extra"}, env(), "unexpected argument"},
		{[]string{"-store", " "}, env(), "empty store URL"},
	}
	for _, tt := range tests {
		if line := checkOneLine(t, tt.args, tt.getenv); !strings.Contains(line, tt.mention) {
			t.Errorf("%q: %q does not mention %q", tt.args, line, tt.mention)
		}
	}
}

func TestBadStoreURL(t *testing.T) {
	tests := []struct {
		args     []string
		getenv   func(string) string
		mentions []string
	}{
		// Registered schemes with a bad parameter: refused before any dial.
		{[]string{"-store", "redis://u:secret@127.0.0.1:1/0?bogus=1"}, env(), []string{"redis", "bogus"}},
		{nil, env(envStore, "redis://u:secret@127.0.0.1:1/0?bogus=1"), []string{"redis"}},
		{[]string{"-store", "rediss://:secret@127.0.0.1:1/0?bogus=1"}, env(), []string{"rediss"}},
		{[]string{"-store", "postgres://u:secret@127.0.0.1:1/db?sslmode=disable&reap_batch=-5"}, env(), []string{"postgres", "reap_batch"}},
		{[]string{"-store", "memcache://127.0.0.1:1?bogus=1"}, env(), []string{"memcache", "bogus"}},
		{[]string{"-store", "nosuch://u:secret@h:6379/0"}, env(), []string{"nosuch", "memory", "redis"}},
		{[]string{"-store", "bogus://x"}, env(), []string{"bogus", "memory"}},
		{[]string{"-store", "redis://u:sec%zzret@127.0.0.1:1"}, env(), []string{"redis"}},
		{[]string{"-store", "no-scheme-secret"}, env(), []string{"scheme", "memory"}},
		{[]string{"-store", "memory://?max_entries=lots"}, env(), []string{"max_entries"}},
		{[]string{"-store", "memory://u:secret@host"}, env(), []string{"memory"}},
		{[]string{"redis://u:secret@h"}, env(), []string{"unexpected argument"}},
	}
	for _, tt := range tests {
		line := checkOneLine(t, tt.args, tt.getenv)
		if strings.Contains(line, "secret") {
			t.Errorf("%q: %q leaks the password", tt.args, line)
		}
		for _, m := range tt.mentions {
			if !strings.Contains(line, m) {
				t.Errorf("%q: %q does not mention %q", tt.args, line, m)
			}
		}
	}
}

func TestScrub(t *testing.T) {
	for _, tt := range []struct{ msg, url, want string }{
		{"dial redis://u:hunter2@h failed", "redis://u:hunter2@h", "dial redis://u:xxxxx@h failed"},
		{"auth hunter%202 refused", "redis://u:hunter%202@h", "auth xxxxx refused"},
		{"bad hunter 2", "redis://u:hunter%202@h", "bad xxxxx"},
		{"pw=tok3n", "postgres://h/db?password=tok3n", "pw=xxxxx"},
		{"p%zz", "redis://u:p%zz@h", "xxxxx"},
		{"nothing to hide", "memory://", "nothing to hide"},
	} {
		if got := scrub(tt.msg, tt.url); got != tt.want {
			t.Errorf("scrub(%q, %q) = %q, want %q", tt.msg, tt.url, got, tt.want)
		}
	}
}

// server is one run of the program in this process.
type server struct {
	url    string // http://127.0.0.1:PORT
	stderr *syncBuffer
	cancel context.CancelFunc
	exited chan struct{} // closed when run returns
	code   int           // run's exit code, once exited is closed
}

// start runs the program on a random loopback port with args added.
func start(t *testing.T, hk hooks, args ...string) *server {
	t.Helper()
	ctx, cancel := context.WithCancel(t.Context())
	addrc := make(chan net.Addr, 1)
	hk.listening = func(a net.Addr) { addrc <- a }
	s := &server{stderr: &syncBuffer{}, cancel: cancel, exited: make(chan struct{})}
	args = append([]string{"-addr", "127.0.0.1:0", "-log-format", "json"}, args...)
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
	t.Cleanup(func() { s.stop() })
	return s
}

// stop cancels the program's context and returns its exit code.
func (s *server) stop() int {
	s.cancel()
	<-s.exited
	return s.code
}

// logLines decodes the JSON log lines.
func (s *server) logLines(t *testing.T) []map[string]any {
	t.Helper()
	var lines []map[string]any
	for _, l := range strings.Split(strings.TrimSpace(s.stderr.String()), "\n") {
		var m map[string]any
		if err := json.Unmarshal([]byte(l), &m); err != nil {
			t.Fatalf("log line %q is not JSON: %v", l, err)
		}
		lines = append(lines, m)
	}
	return lines
}

func get(t *testing.T, url string) (int, string) {
	t.Helper()
	req, err := http.NewRequest(http.MethodGet, url, nil)
	if err != nil {
		t.Fatal(err)
	}
	resp, body := fetch(t, http.DefaultClient, req)
	return resp.StatusCode, body
}

// fetch sends req with c and returns the response with its whole body.
func fetch(t *testing.T, c *http.Client, req *http.Request) (*http.Response, string) {
	t.Helper()
	resp, err := c.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	if err != nil {
		t.Fatal(err)
	}
	return resp, string(b)
}

func TestServe(t *testing.T) {
	s := start(t, hooks{})
	for _, tt := range []struct {
		path, want string
		status     int
	}{
		{"/greet?name=Alice", `{"message":"Hello, Alice!"}` + "\n", 200},
		{"/greet", `{"message":"Hello, World!"}` + "\n", 200},
		{"/greet?name=Bob&token=hunter2", `{"message":"Hello, Bob!"}` + "\n", 200},
		{"/healthz", `{"status":"ok"}` + "\n", 200},
		{"/readyz", `{"status":"ok"}` + "\n", 200},
		{"/greet?name=%zz", "", 400},
		{"/nope", `{"error":"not found"}` + "\n", 404},
	} {
		status, body := get(t, s.url+tt.path)
		if status != tt.status || (tt.want != "" && body != tt.want) {
			t.Errorf("GET %s: %d %q, want %d %q", tt.path, status, body, tt.status, tt.want)
		}
	}
	if code := s.stop(); code != 0 {
		t.Errorf("exit code %d after cancel, want 0", code)
	}

	logs := s.stderr.String()
	for _, secret := range []string{"Alice", "hunter2", "token", "name="} {
		if strings.Contains(logs, secret) {
			t.Errorf("logs hold %q, from a query string:\n%s", secret, logs)
		}
	}
	lines := s.logLines(t)
	if lines[0]["msg"] != "greeter listening" || lines[0]["addr"] != strings.TrimPrefix(s.url, "http://") || lines[0]["store"] == nil {
		t.Errorf("first log line %v, want the start-up line with addr and store", lines[0])
	}
	var requests []map[string]any
	for _, l := range lines {
		if l["msg"] == "request" {
			requests = append(requests, l)
		}
	}
	if len(requests) != 5 { // not /healthz and /readyz (-log-health)
		t.Fatalf("%d request lines, want 5:\n%s", len(requests), logs)
	}
	r := requests[0]
	if r["method"] != "GET" || r["path"] != "/greet" || r["status"] != 200.0 || r["bytes"] != float64(len(`{"message":"Hello, Alice!"}`+"\n")) || r["duration"] == nil {
		t.Errorf("request line %v, want method GET, path /greet, status 200, bytes 28, a duration", r)
	}
	if requests[4]["status"] != 404.0 || requests[4]["path"] != "/nope" {
		t.Errorf("request line %v, want /nope 404", requests[4])
	}
}

func TestEnvAddr(t *testing.T) {
	addrc := make(chan net.Addr, 1)
	ctx, cancel := context.WithCancel(t.Context())
	done := make(chan int, 1)
	go func() {
		done <- runWith(ctx, nil, env(envAddr, "127.0.0.1:0"), io.Discard, io.Discard, hooks{listening: func(a net.Addr) { addrc <- a }})
	}()
	var a net.Addr
	select {
	case a = <-addrc:
	case code := <-done:
		t.Fatalf("run exited with %d before listening", code)
	}
	if status, body := get(t, "http://"+a.String()+"/greet?name=Env"); status != 200 || body != `{"message":"Hello, Env!"}`+"\n" {
		t.Errorf("got %d %q", status, body)
	}
	cancel()
	if code := <-done; code != 0 {
		t.Errorf("exit code %d, want 0", code)
	}
}

func TestLogLevelWarnDropsRequestLines(t *testing.T) {
	s := start(t, hooks{}, "-log-level", "warn")
	get(t, s.url+"/greet")
	s.stop()
	if logs := s.stderr.String(); logs != "" {
		t.Errorf("logged at -log-level warn:\n%s", logs)
	}
}

// slowRoute adds GET /slow, which tells entered when it starts and answers
// only once release is closed.
func slowRoute(entered chan<- struct{}, release <-chan struct{}) func(http.Handler) http.Handler {
	return func(next http.Handler) http.Handler {
		mux := http.NewServeMux()
		mux.Handle("/", next)
		mux.HandleFunc("GET /slow", func(w http.ResponseWriter, r *http.Request) {
			entered <- struct{}{}
			<-release
			io.WriteString(w, "done")
		})
		return mux
	}
}

func TestGracefulShutdown(t *testing.T) {
	entered, release := make(chan struct{}), make(chan struct{})
	s := start(t, hooks{wrap: slowRoute(entered, release)})

	type result struct {
		status int
		body   string
		err    error
	}
	got := make(chan result, 1)
	go func() {
		resp, err := http.Get(s.url + "/slow")
		if err != nil {
			got <- result{err: err}
			return
		}
		defer resp.Body.Close()
		b, err := io.ReadAll(resp.Body)
		got <- result{resp.StatusCode, string(b), err}
	}()
	<-entered

	s.cancel()
	// Shutdown closes the listener first: wait for that, so the request is
	// known to be in flight during the shutdown, then let it finish.
	for {
		c, err := net.Dial("tcp", strings.TrimPrefix(s.url, "http://"))
		if err != nil {
			break
		}
		c.Close()
		time.Sleep(5 * time.Millisecond)
	}
	select {
	case <-s.exited:
		t.Fatalf("run returned %d with a request in flight", s.code)
	default:
	}
	close(release)

	r := <-got
	if r.err != nil || r.status != 200 || r.body != "done" {
		t.Errorf("in-flight request: %d %q %v, want 200 \"done\"", r.status, r.body, r.err)
	}
	if code := s.stop(); code != 0 {
		t.Errorf("exit code %d, want 0; logs:\n%s", code, s.stderr.String())
	}
}

func TestShutdownTimeout(t *testing.T) {
	entered, release := make(chan struct{}), make(chan struct{})
	defer close(release)
	s := start(t, hooks{wrap: slowRoute(entered, release)}, "-shutdown-timeout", "50ms")

	failed := make(chan error, 1)
	go func() {
		resp, err := http.Get(s.url + "/slow")
		if err == nil {
			_, err = io.ReadAll(resp.Body)
			resp.Body.Close()
		}
		failed <- err
	}()
	<-entered
	if code := s.stop(); code != 1 {
		t.Errorf("exit code %d after a drain that timed out, want 1", code)
	}
	if err := <-failed; err == nil {
		t.Error("the request still in flight at the timeout succeeded; want its connection closed")
	}
	if !strings.Contains(s.stderr.String(), "shutdown timeout") {
		t.Errorf("logs do not say the drain timed out:\n%s", s.stderr.String())
	}
}

func TestListenError(t *testing.T) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()

	var stderr syncBuffer
	code := run(t.Context(), []string{"-addr", ln.Addr().String()}, env(), io.Discard, &stderr)
	if code != 1 {
		t.Errorf("exit code %d, want 1", code)
	}
	line := stderr.String()
	if strings.Count(line, "\n") != 1 || !strings.Contains(line, "address already in use") || !strings.Contains(line, ln.Addr().String()) {
		t.Errorf("stderr %q, want one line naming the address in use", line)
	}
}
