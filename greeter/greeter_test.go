package greeter_test

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"strconv"
	"strings"
	"testing"
	"testing/synctest"
	"time"

	"github.com/stateless-go/stateless/greeter"
	"github.com/stateless-go/stateless/store"
	"github.com/stateless-go/stateless/store/memory"
)

// serve runs one request through a Greeter over a fresh memory store.
func serve(t testing.TB, method, target string) *httptest.ResponseRecorder {
	t.Helper()
	return serveWith(t, greeter.New(memory.New(nil), nil), method, target)
}

func serveWith(t testing.TB, h http.Handler, method, target string) *httptest.ResponseRecorder {
	t.Helper()
	w := httptest.NewRecorder()
	h.ServeHTTP(w, httptest.NewRequest(method, target, nil))
	return w
}

// checkJSON asserts the headers every response carries and decodes the
// body into a map of strings.
func checkJSON(t testing.TB, w *httptest.ResponseRecorder, wantStatus int) map[string]string {
	t.Helper()
	if w.Code != wantStatus {
		t.Fatalf("status = %d, want %d; body %q", w.Code, wantStatus, w.Body.String())
	}
	if got := w.Header().Get("Content-Type"); got != "application/json" {
		t.Errorf("Content-Type = %q, want application/json", got)
	}
	if got := w.Header().Get("X-Content-Type-Options"); got != "nosniff" {
		t.Errorf("X-Content-Type-Options = %q, want nosniff", got)
	}
	// net/http's server sets Content-Length itself for a body of up to
	// 2 KiB (TestContentLengthOnTheWire); the handler sets it for a
	// larger one.
	if got, want := w.Header().Get("Content-Length"), strconv.Itoa(w.Body.Len()); got != want && (got != "" || w.Body.Len() > 2048) {
		t.Errorf("Content-Length = %q, body has %s bytes", got, want)
	}
	if !bytes.HasSuffix(w.Body.Bytes(), []byte("\n")) {
		t.Errorf("body %q does not end in a newline", w.Body.String())
	}
	var m map[string]string
	dec := json.NewDecoder(bytes.NewReader(w.Body.Bytes()))
	dec.DisallowUnknownFields()
	if err := dec.Decode(&m); err != nil {
		t.Fatalf("body %q is not a JSON object of strings: %v", w.Body.String(), err)
	}
	if dec.More() {
		t.Fatalf("body %q holds more than one JSON value", w.Body.String())
	}
	return m
}

// checkError asserts a JSON error response and returns its message.
func checkError(t testing.TB, w *httptest.ResponseRecorder, wantStatus int) string {
	t.Helper()
	m := checkJSON(t, w, wantStatus)
	msg, ok := m["error"]
	if !ok || msg == "" || len(m) != 1 {
		t.Fatalf("body %q, want exactly {\"error\":\"…\"}", w.Body.String())
	}
	return msg
}

func TestGreetExactBody(t *testing.T) {
	for target, want := range map[string]string{
		"/greet?name=Alice": `{"message":"Hello, Alice!"}` + "\n",
		"/greet":            `{"message":"Hello, World!"}` + "\n",
		"/greet?name=":      `{"message":"Hello, !"}` + "\n",
		// The HTML-safe escaping we chose (see appendJSONString).
		"/greet?name=%3Cscript%3E": `{"message":"Hello, \u003cscript\u003e!"}` + "\n",
		`/greet?name=%22%5C%0A`:    `{"message":"Hello, \"\\\n!"}` + "\n",
	} {
		w := serve(t, http.MethodGet, target)
		checkJSON(t, w, http.StatusOK)
		if got := w.Body.String(); got != want {
			t.Errorf("GET %s: body %q, want %q", target, got, want)
		}
	}
}

func TestGreetNames(t *testing.T) {
	tests := []struct {
		query string // raw query after "?"
		want  string // the name in "Hello, <name>!"
	}{
		{"", "World"},
		{"name=Alice", "Alice"},
		{"name=", ""},
		{"name", ""},
		{"name=Alice&name=Bob", "Alice"},
		{"other=x", "World"},
		{"other=x&name=Bob&more=y", "Bob"},
		{"&&name=Bob&&", "Bob"},
		{"n%61me=Carol", "Carol"},
		{"name+=NotMe", "World"},
		{"NAME=NotMe", "World"},
		{"name=Ada+Lovelace", "Ada Lovelace"},
		{"name=Ada%20Lovelace", "Ada Lovelace"},
		{"name=a%2Bb", "a+b"},
		{"name=a=b", "a=b"},
		{"name=%25", "%"},
		{"name=%26", "&"},
		{"name=%3B", ";"},
		{"name=Jos%C3%A9", "José"},
		{"name=José", "José"}, // raw UTF-8 in the query
		{"name=%E5%8C%97%E4%BA%AC", "北京"},
		{"name=%F0%9F%91%8B", "👋"},
		{"name=%22quoted%22", `"quoted"`},
		{"name=back%5Cslash", `back\slash`},
		{"name=line%0Abreak%0D%09tab", "line\nbreak\r\ttab"},
		{"name=%00nul", "\x00nul"},
		{"name=%3Cscript%3Ealert(1)%3C/script%3E", "<script>alert(1)</script>"},
		{"name=a%26b%3Ec", "a&b>c"},
		{"name=%E2%80%A8", "\u2028"},
		{"name=%EF%BF%BD", "\uFFFD"},
		{"name=" + strings.Repeat("a", greeter.MaxNameLen), strings.Repeat("a", greeter.MaxNameLen)},
		{"name=" + strings.Repeat("%C3%A9", greeter.MaxNameLen/2), strings.Repeat("é", greeter.MaxNameLen/2)},
	}
	for _, tt := range tests {
		t.Run(tt.query, func(t *testing.T) {
			w := serve(t, http.MethodGet, "/greet?"+tt.query)
			m := checkJSON(t, w, http.StatusOK)
			if got, want := m["message"], "Hello, "+tt.want+"!"; got != want || len(m) != 1 {
				t.Errorf("body %q, want message %q", w.Body.String(), want)
			}
			for _, c := range []string{"<", ">", "&"} {
				if strings.Contains(w.Body.String(), c) {
					t.Errorf("body %q holds a raw %s; want it escaped", w.Body.String(), c)
				}
			}
		})
	}
}

func TestGreetBadQuery(t *testing.T) {
	tests := []struct {
		query   string
		mention string // words the error message must contain
	}{
		{"name=" + strings.Repeat("a", greeter.MaxNameLen+1), "longer"},
		{"name=" + strings.Repeat("é", greeter.MaxNameLen/2) + "a", "longer"},
		{"name=" + strings.Repeat("%41", greeter.MaxNameLen+1), "longer"},
		{"name=" + strings.Repeat("a", 100000), "longer"},
		{"name=%FF", "UTF-8"},
		{"name=%C3", "UTF-8"},
		{"name=%C0%AF", "UTF-8"},         // overlong encoding of /
		{"name=%ED%A0%80", "UTF-8"},      // a UTF-16 surrogate
		{"name=ok%F4%90%80%80", "UTF-8"}, // above U+10FFFF
		{"name=\xff", "UTF-8"},           // a raw invalid byte
		{"name=%zz", "malformed"},
		{"name=%", "malformed"},
		{"name=%4", "malformed"},
		{"name=Alice%", "malformed"},
		{"%zz=1&name=Alice", "malformed"},
		{"name=Alice&x=%g0", "malformed"},
		{"name=a;b", "malformed"},
		{"x=1;name=Bob", "malformed"},
	}
	for _, tt := range tests {
		t.Run(tt.query[:min(len(tt.query), 40)], func(t *testing.T) {
			w := serve(t, http.MethodGet, "/greet?"+tt.query)
			if msg := checkError(t, w, http.StatusBadRequest); !strings.Contains(msg, tt.mention) {
				t.Errorf("error %q does not mention %q", msg, tt.mention)
			}
		})
	}
}

func TestGreetOnlyFirstNameChecked(t *testing.T) {
	w := serve(t, http.MethodGet, "/greet?name=Alice&name="+strings.Repeat("a", 300)+"&name=%FF")
	if got := checkJSON(t, w, http.StatusOK)["message"]; got != "Hello, Alice!" {
		t.Errorf("message %q, want Hello, Alice!", got)
	}
}

// TestContentLengthOnTheWire: through net/http's server every response
// carries a Content-Length that is its body's length, and none is sent in
// chunks: small bodies get theirs from net/http; a HEAD, and a body over
// 2 KiB (a 405 naming a long method), from the handler.
func TestContentLengthOnTheWire(t *testing.T) {
	srv := httptest.NewServer(greeter.New(memory.New(nil), nil))
	defer srv.Close()
	long := strings.Repeat("BREW", 600)
	for _, c := range []struct{ method, target string }{
		{"GET", "/greet?name=Alice"}, {"HEAD", "/greet?name=Alice"},
		{"GET", "/greet"}, {"GET", "/greet?name=" + strings.Repeat("%01", greeter.MaxNameLen)},
		{"GET", "/greet?name=%zz"}, {"HEAD", "/greet?name=%zz"},
		{"GET", "/healthz"}, {"HEAD", "/readyz"}, {"GET", "/nope"},
		{long, "/greet"},
	} {
		get := c.method
		if get == http.MethodHead {
			get = http.MethodGet
		}
		want := -1
		for _, method := range []string{get, c.method} {
			req, _ := http.NewRequest(method, srv.URL+c.target, nil)
			resp, err := srv.Client().Do(req)
			if err != nil {
				t.Fatal(err)
			}
			body, err := io.ReadAll(resp.Body)
			resp.Body.Close()
			if err != nil {
				t.Fatal(err)
			}
			if want < 0 {
				want = len(body) // the GET's, or the long method's
			}
			if resp.Header.Get("Content-Length") != strconv.Itoa(want) || len(resp.TransferEncoding) != 0 {
				t.Errorf("%.10s %s: Content-Length %q, Transfer-Encoding %v; want %d, none",
					method, c.target, resp.Header.Get("Content-Length"), resp.TransferEncoding, want)
			}
		}
		if c.method == long && want <= 2048 {
			t.Errorf("the long method's body has %d bytes, want over 2 KiB", want)
		}
	}
}

func TestHead(t *testing.T) {
	for _, target := range []string{"/greet?name=Alice", "/greet", "/healthz", "/readyz", "/greet?name=%zz", "/nope"} {
		get := serve(t, http.MethodGet, target)
		head := serve(t, http.MethodHead, target)
		if head.Code != get.Code {
			t.Errorf("HEAD %s: status %d, GET gave %d", target, head.Code, get.Code)
		}
		if head.Body.Len() != 0 {
			t.Errorf("HEAD %s: body %q, want none", target, head.Body.String())
		}
		for _, k := range []string{"Content-Type", "X-Content-Type-Options"} {
			if h, g := head.Header().Get(k), get.Header().Get(k); h != g || h == "" {
				t.Errorf("HEAD %s: %s = %q, GET has %q", target, k, h, g)
			}
		}
		if h := head.Header().Get("Content-Length"); h != strconv.Itoa(get.Body.Len()) {
			t.Errorf("HEAD %s: Content-Length = %q, GET's body has %d bytes", target, h, get.Body.Len())
		}
	}
}

func TestMethodNotAllowed(t *testing.T) {
	for _, path := range []string{"/greet", "/healthz", "/readyz"} {
		for _, method := range []string{http.MethodPost, http.MethodPut, http.MethodPatch, http.MethodDelete, http.MethodOptions, "BREW"} {
			w := serve(t, method, path+"?name=Alice")
			msg := checkError(t, w, http.StatusMethodNotAllowed)
			if got := w.Header().Get("Allow"); got != "GET, HEAD" {
				t.Errorf("%s %s: Allow = %q, want \"GET, HEAD\"", method, path, got)
			}
			if !strings.Contains(msg, method) {
				t.Errorf("%s %s: error %q does not name the method", method, path, msg)
			}
		}
	}
}

func TestNotFound(t *testing.T) {
	for _, path := range []string{"/", "/nope", "/greet/", "/greet/x", "/GREET", "/healthz/extra"} {
		for _, method := range []string{http.MethodGet, http.MethodPost} {
			w := serve(t, method, path)
			if msg := checkError(t, w, http.StatusNotFound); msg != "not found" {
				t.Errorf("%s %s: error %q, want \"not found\"", method, path, msg)
			}
			if a := w.Header().Get("Allow"); a != "" {
				t.Errorf("%s %s: 404 with Allow %q", method, path, a)
			}
		}
	}
}

func TestHealthz(t *testing.T) {
	// A closed store does not make the process unhealthy, only unready.
	s := memory.New(nil)
	s.Close()
	w := serveWith(t, greeter.New(s, nil), http.MethodGet, "/healthz")
	if m := checkJSON(t, w, http.StatusOK); m["status"] != "ok" || len(m) != 1 {
		t.Errorf("body %q, want {\"status\":\"ok\"}", w.Body.String())
	}
	if got := w.Header().Get("Cache-Control"); got != "no-store" {
		t.Errorf("Cache-Control = %q, want no-store", got)
	}
}

// pingStore is a memory store whose Ping answers what ping says.
type pingStore struct {
	*memory.Store
	ping func(ctx context.Context) error
}

func (s pingStore) Ping(ctx context.Context) error { return s.ping(ctx) }

func TestReadyz(t *testing.T) {
	secretErr := errors.New("dial tcp 10.1.2.3:6379: connection refused")
	closed := memory.New(nil)
	closed.Close()

	tests := []struct {
		name    string
		store   store.Store
		status  int
		logWant string // in the log when not ready
	}{
		{"memory", memory.New(nil), http.StatusOK, ""},
		{"nil store", nil, http.StatusOK, ""},
		{"ping fails", pingStore{memory.New(nil), func(context.Context) error { return secretErr }}, http.StatusServiceUnavailable, "connection refused"},
		{"closed memory store", closed, http.StatusServiceUnavailable, store.ErrClosed.Error()},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var logs bytes.Buffer
			h := greeter.New(tt.store, &greeter.Options{Logger: slog.New(slog.NewTextHandler(&logs, nil))})
			w := serveWith(t, h, http.MethodGet, "/readyz")
			if got := w.Header().Get("Cache-Control"); got != "no-store" {
				t.Errorf("Cache-Control = %q, want no-store", got)
			}
			if tt.status == http.StatusOK {
				if m := checkJSON(t, w, http.StatusOK); m["status"] != "ok" {
					t.Errorf("body %q, want status ok", w.Body.String())
				}
				if logs.Len() != 0 {
					t.Errorf("logged %q when ready", logs.String())
				}
				return
			}
			if msg := checkError(t, w, tt.status); msg != "store not ready" {
				t.Errorf("error %q, want \"store not ready\"", msg)
			}
			if !strings.Contains(logs.String(), tt.logWant) {
				t.Errorf("log %q does not hold the store's error %q", logs.String(), tt.logWant)
			}
			if strings.Contains(w.Body.String(), "10.1.2.3") {
				t.Errorf("response %q leaks the store's error", w.Body.String())
			}
		})
	}
}

// TestReadyzTimeout: a store that never answers makes /readyz a 503 once the
// ready timeout passes, on the fake clock of a synctest bubble.
func TestReadyzTimeout(t *testing.T) {
	for _, tt := range []struct {
		opt, want time.Duration
	}{
		{0, greeter.DefaultReadyTimeout},
		{-time.Second, greeter.DefaultReadyTimeout},
		{3 * time.Second, 3 * time.Second},
	} {
		synctest.Test(t, func(t *testing.T) {
			hang := pingStore{memory.New(nil), func(ctx context.Context) error {
				<-ctx.Done()
				return ctx.Err()
			}}
			h := greeter.New(hang, &greeter.Options{ReadyTimeout: tt.opt})
			start := time.Now()
			w := serveWith(t, h, http.MethodGet, "/readyz")
			checkError(t, w, http.StatusServiceUnavailable)
			if waited := time.Since(start); waited != tt.want {
				t.Errorf("ReadyTimeout %v: waited %v for the ping, want %v", tt.opt, waited, tt.want)
			}
		})
	}
}

// TestReadyzFollowsRequestContext: a client that goes away ends the ping.
func TestReadyzFollowsRequestContext(t *testing.T) {
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	var sawCancel bool
	h := greeter.New(pingStore{memory.New(nil), func(ctx context.Context) error {
		sawCancel = errors.Is(ctx.Err(), context.Canceled)
		return ctx.Err()
	}}, nil)
	w := httptest.NewRecorder()
	h.ServeHTTP(w, httptest.NewRequestWithContext(ctx, http.MethodGet, "/readyz", nil))
	checkError(t, w, http.StatusServiceUnavailable)
	if !sawCancel {
		t.Error("Ping's context was not cancelled with the request's")
	}
}

func TestNilOptions(t *testing.T) {
	// Nil options and a nil logger must not panic when something is logged.
	h := greeter.New(pingStore{memory.New(nil), func(context.Context) error { return errors.New("down") }}, &greeter.Options{})
	checkError(t, serveWith(t, h, http.MethodGet, "/readyz"), http.StatusServiceUnavailable)
}
