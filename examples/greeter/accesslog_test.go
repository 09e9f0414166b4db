package main

import (
	"context"
	"encoding/json"
	"errors"
	"io"
	"log/slog"
	"net"
	"net/http"
	"net/http/httptest"
	"regexp"
	"strings"
	"testing"
	"time"
)

// accessLogged runs h under accessLog, logging JSON to a buffer, and
// returns a function that decodes the "request" lines logged so far.
func accessLogged(h http.Handler) (http.Handler, func(t *testing.T) []map[string]any) {
	buf := &syncBuffer{}
	log := slog.New(slog.NewJSONHandler(buf, nil))
	return accessLog(log, h, accessLogOptions{}), func(t *testing.T) []map[string]any {
		t.Helper()
		return jsonLines(t, buf, "request")
	}
}

// jsonLines decodes buf's JSON log lines with the message msg.
func jsonLines(t *testing.T, buf *syncBuffer, msg string) []map[string]any {
	t.Helper()
	var out []map[string]any
	for _, l := range strings.Split(strings.TrimSpace(buf.String()), "\n") {
		if l == "" {
			continue
		}
		var m map[string]any
		if err := json.Unmarshal([]byte(l), &m); err != nil {
			t.Fatalf("log line %q is not JSON: %v", l, err)
		}
		if m["msg"] == msg {
			out = append(out, m)
		}
	}
	return out
}

// oneLine returns the only request line, failing the test otherwise.
func oneLine(t *testing.T, lines func(t *testing.T) []map[string]any) map[string]any {
	t.Helper()
	ls := lines(t)
	if len(ls) != 1 {
		t.Fatalf("%d request lines, want 1: %v", len(ls), ls)
	}
	return ls[0]
}

// failingWriter is a ResponseWriter whose connection is gone: every Write
// fails with err.
type failingWriter struct {
	header http.Header
	code   int
	err    error
}

func (f *failingWriter) Header() http.Header       { return f.header }
func (f *failingWriter) WriteHeader(code int)      { f.code = code }
func (f *failingWriter) Write([]byte) (int, error) { return 0, f.err }

func TestAccessLogWriteFails(t *testing.T) {
	h, lines := accessLogged(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "application/json")
		w.WriteHeader(http.StatusOK)
		io.WriteString(w, `{"message":"Hello, World!"}`+"\n")
	}))
	fw := &failingWriter{header: http.Header{}, err: errors.New("write tcp 127.0.0.1:5000->127.0.0.1:40000: write: broken pipe")}
	h.ServeHTTP(fw, httptest.NewRequest(http.MethodGet, "/greet", nil))

	l := oneLine(t, lines)
	if l["status"] != 200.0 || l["bytes"] != 0.0 || l["aborted"] != true {
		t.Errorf("line %v, want status 200, bytes 0, aborted true", l)
	}
	if e, _ := l["error"].(string); !strings.Contains(e, "broken pipe") {
		t.Errorf("error attribute %q, want the write error (broken pipe)", e)
	}
}

// loggedServer serves h (under accessLog) as the example server does,
// its access-log lines waiting for their responses to be sent (logConns);
// wrapLn, if set, wraps its listener below that, and config sets the
// server up before it starts.
func loggedServer(h http.Handler, wrapLn func(net.Listener) net.Listener, config func(*http.Server)) *httptest.Server {
	ts := httptest.NewUnstartedServer(h)
	if wrapLn != nil {
		ts.Listener = wrapLn(ts.Listener)
	}
	if config != nil {
		config(ts.Config)
	}
	ts.Listener, _ = logConns(ts.Config, ts.Listener, 0)
	ts.Start()
	return ts
}

// sendFailing's connections fail every write with err: the response the
// handler wrote is lost once net/http sends it, after the handler returns.
type sendFailing struct {
	net.Listener
	err error
}

func (l sendFailing) Accept() (net.Conn, error) {
	c, err := l.Listener.Accept()
	if err != nil {
		return nil, err
	}
	return failingConn{c, l.err}, nil
}

type failingConn struct {
	net.Conn
	err error
}

func (c failingConn) Write([]byte) (int, error) { return 0, c.err }

// TestAccessLogSendFails: the handler's writes all succeed (net/http
// buffers them), and sending the response after it returns fails. The
// line waits for the send, and says it failed.
func TestAccessLogSendFails(t *testing.T) {
	h, lines := accessLogged(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Length", "38")
		w.WriteHeader(http.StatusServiceUnavailable)
		io.WriteString(w, `{"error":"session store unavailable"}`+"\n")
	}))
	sendErr := errors.New("write tcp: i/o timeout")
	ts := loggedServer(h, func(ln net.Listener) net.Listener { return sendFailing{ln, sendErr} }, nil)
	resp, err := ts.Client().Get(ts.URL + "/session")
	if err == nil {
		resp.Body.Close()
		t.Fatalf("GET over a connection that cannot be written: %d, want a transport error", resp.StatusCode)
	}
	ts.Close()

	l := oneLine(t, lines)
	if l["status"] != 503.0 || l["bytes"] != 38.0 || l["aborted"] != true || l["error"] != sendErr.Error() {
		t.Errorf("line %v, want status 503, bytes 38, aborted, error %q", l, sendErr)
	}
}

// TestAccessLogHijacked: a handler that takes the connection over still
// gets its line, when it returns (net/http reports no more states).
func TestAccessLogHijacked(t *testing.T) {
	h, lines := accessLogged(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		c, bw, err := http.NewResponseController(w).Hijack()
		if err != nil {
			t.Errorf("Hijack: %v", err)
			return
		}
		defer c.Close()
		bw.WriteString("HTTP/1.1 200 OK\r\nContent-Length: 3\r\nConnection: close\r\n\r\nok\n")
		bw.Flush()
	}))
	ts := loggedServer(h, nil, nil)
	resp, err := ts.Client().Get(ts.URL + "/upgrade")
	if err != nil {
		t.Fatal(err)
	}
	io.Copy(io.Discard, resp.Body)
	resp.Body.Close()
	ts.Close() // does not wait for a hijacked connection's handler
	// The handler's response can reach the client before the handler
	// returns and its line is written.
	for end := time.Now().Add(5 * time.Second); len(lines(t)) == 0 && time.Now().Before(end); {
		time.Sleep(5 * time.Millisecond)
	}
	if l := oneLine(t, lines); l["path"] != "/upgrade" {
		t.Errorf("line %v, want path /upgrade", l)
	}
}

// TestAccessLogWriteTimeout is the case that used to be logged as a clean
// 200: the handler outlives the server's write timeout, so the response
// never reaches the client, which sees the connection close.
func TestAccessLogWriteTimeout(t *testing.T) {
	h, lines := accessLogged(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		time.Sleep(300 * time.Millisecond)
		body := `{"message":"Hello, World!"}` + "\n"
		w.Header().Set("Content-Length", "28")
		w.WriteHeader(http.StatusOK)
		io.WriteString(w, body)
	}))
	ts := loggedServer(h, nil, func(srv *http.Server) { srv.WriteTimeout = 100 * time.Millisecond })
	c := ts.Client()
	c.Timeout = 10 * time.Second
	resp, err := c.Get(ts.URL + "/greet")
	if err == nil {
		resp.Body.Close()
		t.Fatalf("GET after the write timeout: %d, want a transport error (the response cannot be sent)", resp.StatusCode)
	}
	ts.Close() // waits for the handler, and so for its log line

	l := oneLine(t, lines)
	if l["status"] != 200.0 || l["aborted"] != true {
		t.Errorf("line %v, want status 200 (what the handler sent) and aborted true", l)
	}
	if e, _ := l["error"].(string); !strings.Contains(e, "timeout") {
		t.Errorf("error attribute %q, want the write timeout", e)
	}
}

// TestAccessLogClientGone: the client hangs up while the handler works; the
// handler's answer goes nowhere, and the line says so even though writing
// into the closed connection may not fail.
func TestAccessLogClientGone(t *testing.T) {
	entered := make(chan struct{})
	h, lines := accessLogged(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		close(entered)
		<-r.Context().Done() // the server noticed the connection close
		w.Header().Set("Content-Length", "3")
		io.WriteString(w, "ok\n")
	}))
	ts := loggedServer(h, nil, nil)
	ctx, cancel := context.WithCancel(t.Context())
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, ts.URL+"/greet", nil)
	if err != nil {
		t.Fatal(err)
	}
	done := make(chan error, 1)
	go func() {
		resp, err := ts.Client().Do(req)
		if err == nil {
			resp.Body.Close()
		}
		done <- err
	}()
	<-entered
	cancel()
	if err := <-done; err == nil {
		t.Errorf("cancelled request succeeded")
	}
	ts.Close()

	l := oneLine(t, lines)
	if l["status"] != 200.0 || l["aborted"] != true || l["error"] != errClientGone.Error() {
		t.Errorf("line %v, want status 200, aborted true, error %q", l, errClientGone)
	}
}

// TestAccessLogDelivered: responses that reach the client are logged
// without aborted or error, framed as net/http would frame them, and the
// line holds neither the query string nor any header.
func TestAccessLogDelivered(t *testing.T) {
	// As the example server is set up (lines wait for the response to be
	// sent), and on a plain server (lines written as the handler returns).
	t.Run("logConns", func(t *testing.T) { testAccessLogDelivered(t, true) })
	t.Run("plain", func(t *testing.T) { testAccessLogDelivered(t, false) })
}

func testAccessLogDelivered(t *testing.T, wired bool) {
	mux := http.NewServeMux()
	mux.HandleFunc("GET /greet", func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Length", "28")
		w.WriteHeader(http.StatusEarlyHints) // interim: not the status
		w.WriteHeader(http.StatusOK)
		io.WriteString(w, `{"message":"Hello, Alice!"}`+"\n")
	})
	mux.HandleFunc("GET /empty", func(w http.ResponseWriter, r *http.Request) {})
	mux.HandleFunc("DELETE /session", func(w http.ResponseWriter, r *http.Request) {
		w.WriteHeader(http.StatusNoContent)
	})
	mux.HandleFunc("GET /close", func(w http.ResponseWriter, r *http.Request) {
		// net/http closes the connection after this response
		w.Header().Set("Connection", "close")
		w.Header().Set("Content-Length", "3")
		io.WriteString(w, "ok\n")
	})
	h, lines := accessLogged(mux)
	var ts *httptest.Server
	if wired {
		ts = loggedServer(h, nil, nil)
	} else {
		ts = httptest.NewServer(h)
	}
	defer ts.Close()

	const secret = "hunter2-token"
	for _, tt := range []struct {
		method, target string
		status         int
		length         int64
	}{
		{http.MethodGet, "/greet?name=Alice&token=" + secret, 200, 28},
		{http.MethodGet, "/empty", 200, 0},
		{http.MethodDelete, "/session", 204, -1},
		{http.MethodGet, "/close", 200, 3},
	} {
		req, err := http.NewRequest(tt.method, ts.URL+tt.target, nil)
		if err != nil {
			t.Fatal(err)
		}
		req.Header.Set("X-Session-Token", secret)
		req.AddCookie(&http.Cookie{Name: "session", Value: secret})
		resp, err := ts.Client().Do(req)
		if err != nil {
			t.Fatal(err)
		}
		io.Copy(io.Discard, resp.Body)
		resp.Body.Close()
		if resp.StatusCode != tt.status || (tt.length >= 0 && resp.ContentLength != tt.length) || len(resp.TransferEncoding) != 0 {
			t.Errorf("%s %s: %d, Content-Length %d, Transfer-Encoding %v; want %d, %d, none",
				tt.method, tt.target, resp.StatusCode, resp.ContentLength, resp.TransferEncoding, tt.status, tt.length)
		}
	}
	ts.Close()

	ls := lines(t)
	if len(ls) != 4 {
		t.Fatalf("%d request lines, want 4: %v", len(ls), ls)
	}
	for i, want := range []struct {
		path   string
		status float64
		bytes  float64
	}{{"/greet", 200, 28}, {"/empty", 200, 0}, {"/session", 204, 0}, {"/close", 200, 3}} {
		l := ls[i]
		if l["path"] != want.path || l["status"] != want.status || l["bytes"] != want.bytes {
			t.Errorf("line %v, want path %s, status %v, bytes %v", l, want.path, want.status, want.bytes)
		}
		if _, ok := l["aborted"]; ok {
			t.Errorf("line %v: aborted for a delivered response", l)
		}
		if _, ok := l["error"]; ok {
			t.Errorf("line %v: error for a delivered response", l)
		}
		for k, v := range l {
			if s, _ := v.(string); strings.Contains(s, secret) || strings.Contains(s, "name=") {
				t.Errorf("line %v: attribute %s holds request data", l, k)
			}
		}
	}
}

// TestDirectLinesMatchSlog: a line the lineWriter writes is the line
// slog's handler writes for the same request, but for the time and the
// duration, which differ from run to run.
func TestDirectLinesMatchSlog(t *testing.T) {
	timeAndDuration := regexp.MustCompile(`(time=|"time":")[^ "\n]+|(duration=|"duration":)[^ ,}\n]+`)
	for _, json := range []bool{false, true} {
		var viaSlog, direct syncBuffer
		opts := &slog.HandlerOptions{}
		var hd slog.Handler = slog.NewTextHandler(&viaSlog, opts)
		if json {
			hd = slog.NewJSONHandler(&viaSlog, opts)
		}
		h := http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { w.WriteHeader(201); w.Write([]byte("hello")) })
		a := accessLog(slog.New(hd), h, accessLogOptions{})
		b := accessLog(slog.New(hd), h, accessLogOptions{direct: &lineWriter{w: &direct, json: json}})
		for _, target := range []string{"/greet?name=Alice", "/session/visits", "/a.b/c-d_e~f"} {
			a.ServeHTTP(httptest.NewRecorder(), httptest.NewRequest("POST", target, nil))
			b.ServeHTTP(httptest.NewRecorder(), httptest.NewRequest("POST", target, nil))
		}
		got := timeAndDuration.ReplaceAllString(direct.String(), "$1$2…")
		want := timeAndDuration.ReplaceAllString(viaSlog.String(), "$1$2…")
		if got != want || strings.Count(got, "\n") != 3 {
			t.Errorf("json=%v: direct lines\n%s\nslog's\n%s", json, got, want)
		}
		// The times have slog's form: milliseconds in text, nanoseconds in JSON.
		tm := regexp.MustCompile(`time=(\S+)|"time":"([^"]+)"`)
		for _, m := range tm.FindAllStringSubmatch(direct.String(), -1) {
			s := m[1] + m[2]
			layout := "2006-01-02T15:04:05.000Z07:00"
			if json {
				layout = time.RFC3339Nano
			}
			if _, err := time.Parse(layout, s); err != nil || !json && len(s) != len("2006-01-02T15:04:05.000Z") && !strings.Contains(s, "+") {
				t.Errorf("time %q: %v", s, err)
			}
		}
	}
	// A path or a method that slog would quote or escape goes through slog.
	for _, p := range []string{"/a b", `/a"b`, "/é", "", "/" + strings.Repeat("x", maxLoggedPath)} {
		if plainPath(p) {
			t.Errorf("plainPath(%q) = true", p)
		}
	}
	if plainMethod("get") || plainMethod("") || !plainMethod("PATCH") {
		t.Error("plainMethod is wrong")
	}
}

func TestAppendTime(t *testing.T) {
	for _, s := range []string{"2026-12-01T18:07:47.603000001Z", "2026-12-01T18:07:47Z", "2026-12-01T18:07:47.1Z", "2026-03-29T02:30:00.999999999+02:00", "1999-12-31T23:59:59.000500-05:30"} {
		tm, err := time.Parse(time.RFC3339Nano, s)
		if err != nil {
			t.Fatal(err)
		}
		for _, nanos := range []bool{false, true} {
			want := tm.Format("2006-01-02T15:04:05.000Z07:00")
			if nanos {
				want = tm.Format(time.RFC3339Nano)
			}
			_, off := tm.Zone()
			if got := string(appendTime(nil, tm.Unix(), int32(tm.Nanosecond()), int32(off), nanos)); got != want {
				t.Errorf("appendTime(%s, %v) = %s; want %s", s, nanos, got, want)
			}
		}
	}
}

// TestAccessLogTwice: an access log under another on the same connection
// (a server that wraps its handler twice) does not wrap the recorder the
// outer one shares in itself; both log the request.
func TestAccessLogTwice(t *testing.T) {
	inner, innerLines := accessLogged(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.WriteHeader(http.StatusAccepted)
		io.WriteString(w, "ok")
	}))
	outer, outerLines := accessLogged(inner)
	ts := loggedServer(outer, nil, nil)
	resp, err := ts.Client().Get(ts.URL + "/twice")
	if err != nil {
		t.Fatal(err)
	}
	body, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	ts.Close()
	if resp.StatusCode != http.StatusAccepted || string(body) != "ok" {
		t.Errorf("%d %q, want 202 ok", resp.StatusCode, body)
	}
	for name, lines := range map[string]func(*testing.T) []map[string]any{"inner": innerLines, "outer": outerLines} {
		if l := oneLine(t, lines); l["status"] != 202.0 || l["bytes"] != 2.0 {
			t.Errorf("%s line %v, want status 202, bytes 2", name, l)
		}
	}
}
