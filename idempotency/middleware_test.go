package idempotency_test

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"math/rand/v2"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/stateless-go/stateless/idempotency"
	"github.com/stateless-go/stateless/store"
	"github.com/stateless-go/stateless/store/memory"
)

// The replay carries the first response's status and body byte for byte,
// the allow-listed headers and no others, and the handler ran once. The
// key given as an RFC 8941 string and bare is the same key.
func TestReplayIsByteIdentical(t *testing.T) {
	st := newCounting(newMemory())
	m := newMiddleware(t, st, nil)
	body := make([]byte, 5000) // several writes, not UTF-8, over net/http's sniffing window
	rng := rand.New(rand.NewPCG(1, 2))
	for i := range body {
		body[i] = byte(rng.Uint32())
	}
	var runs atomic.Int64
	h := m.Handler(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		runs.Add(1)
		hd := w.Header()
		hd.Set("Content-Type", "application/octet-stream")
		hd.Set("Content-Language", "en")
		hd.Set("Content-Disposition", `attachment; filename="x.bin"`)
		hd.Set("Location", "/orders/1")
		hd.Set("ETag", `"v1"`)
		hd.Set("Last-Modified", "Mon, 02 Jan 2006 15:04:05 GMT")
		hd.Add("Link", "</a>; rel=a")
		hd.Add("Link", "</b>; rel=b")
		hd.Set("Content-Length", "5000")
		// Never replayed:
		hd.Set("Set-Cookie", "session=secret")
		hd.Set("Date", "Mon, 02 Jan 2006 15:04:05 GMT")
		hd.Set("Cache-Control", "private")
		hd.Set("X-Request-Id", "first")
		hd.Set("Connection", "close")
		hd.Set("Transfer-Encoding", "identity")
		w.WriteHeader(http.StatusCreated)
		w.Write(body[:100])
		w.Write(body[100:])
		w.Header().Set("X-Late", "after the status: never sent, never kept")
	}))
	first := serve(h, req("POST", "/orders?x=1", `"k-1"`, `{"n":1}`))
	if first.Code != http.StatusCreated || isReplay(first) {
		t.Fatalf("first: %d, replayed %v", first.Code, isReplay(first))
	}
	second := serve(h, req("POST", "/orders?x=1", `k-1`, `{"n":1}`))
	if n := runs.Load(); n != 1 {
		t.Fatalf("handler ran %d times, want 1", n)
	}
	if second.Code != http.StatusCreated || !isReplay(second) {
		t.Fatalf("retry: %d, %s=%q", second.Code, idempotency.HeaderReplayed, second.Header().Get(idempotency.HeaderReplayed))
	}
	if !bytes.Equal(second.Body.Bytes(), body) {
		t.Errorf("replayed body differs from the first (%d bytes, want %d)", second.Body.Len(), len(body))
	}
	for _, k := range []string{"Content-Type", "Content-Language", "Content-Disposition", "Location", "Etag", "Last-Modified", "Link"} {
		if g, w := second.Header().Values(k), first.Header().Values(k); strings.Join(g, "|") != strings.Join(w, "|") {
			t.Errorf("replayed %s = %q, want %q", k, g, w)
		}
	}
	for _, k := range []string{"Set-Cookie", "Date", "Cache-Control", "X-Request-Id", "Connection", "Transfer-Encoding", "X-Late"} {
		if v := second.Header().Values(k); len(v) > 0 {
			t.Errorf("replayed %s = %q; it is not on the allow-list", k, v)
		}
	}
	if cl := second.Header().Get("Content-Length"); cl != "5000" {
		t.Errorf("replayed Content-Length %q, want 5000", cl)
	}
	third := serve(h, req("POST", "/orders?x=1", `k-1`, `{"n":1}`))
	if !isReplay(third) || !bytes.Equal(third.Body.Bytes(), body) || runs.Load() != 1 {
		t.Errorf("a second replay differs, or ran the handler")
	}
}

// ReplayHeaders extends the allow-list.
func TestReplayHeadersOption(t *testing.T) {
	m := newMiddleware(t, newMemory(), &idempotency.Options{ReplayHeaders: []string{"x-order-id"}})
	h := m.Handler(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("X-Order-Id", "42")
		w.Header().Set("X-Other", "no")
	}))
	serve(h, req("POST", "/", "k", ""))
	w := serve(h, req("POST", "/", "k", ""))
	if !isReplay(w) || w.Header().Get("X-Order-Id") != "42" || w.Header().Get("X-Other") != "" {
		t.Errorf("replay headers %v", w.Header())
	}
	if w.Code != http.StatusOK || w.Body.Len() != 0 {
		t.Errorf("replay of an empty 200: %d %q", w.Code, w.Body)
	}
}

// The same key with a different method, path, query, body or
// fingerprinted header answers 422 and does not run the handler.
func TestMismatchIs422(t *testing.T) {
	m := newMiddleware(t, newMemory(), &idempotency.Options{FingerprintHeaders: []string{"content-type"}})
	c := &counter{}
	h := m.Handler(c)
	orig := func() *http.Request {
		r := req("POST", "/a?q=1", "k", "body")
		r.Header.Set("Content-Type", "text/plain")
		return r
	}
	if w := serve(h, orig()); w.Code != http.StatusCreated {
		t.Fatalf("first: %d", w.Code)
	}
	for name, r := range map[string]*http.Request{
		"body":   func() *http.Request { r := orig(); r.Body = io.NopCloser(strings.NewReader("other")); return r }(),
		"path":   func() *http.Request { r := orig(); r.URL.Path = "/b"; return r }(),
		"query":  func() *http.Request { r := orig(); r.URL.RawQuery = "q=2"; return r }(),
		"method": func() *http.Request { r := orig(); r.Method = "PATCH"; return r }(),
		"header": func() *http.Request { r := orig(); r.Header.Set("Content-Type", "text/html"); return r }(),
	} {
		t.Run(name, func(t *testing.T) {
			problemOf(t, serve(h, r), http.StatusUnprocessableEntity, idempotency.ProblemMismatch)
		})
	}
	if w := serve(h, orig()); !isReplay(w) || c.runs.Load() != 1 {
		t.Errorf("the original request no longer replays, or the handler ran %d times", c.runs.Load())
	}
}

// Keys of different scopes never meet; a scope that cannot be found
// refuses the request.
func TestScopesAreIsolated(t *testing.T) {
	m := newMiddleware(t, newMemory(), &idempotency.Options{Scope: func(r *http.Request) (string, error) {
		u := r.Header.Get("X-User")
		if u == "" {
			return "", errors.New("anonymous")
		}
		return u, nil
	}})
	c := &counter{}
	h := m.Handler(c)
	as := func(user, body string) *httptest.ResponseRecorder {
		r := req("POST", "/", "same-key", body)
		if user != "" {
			r.Header.Set("X-User", user)
		}
		return serve(h, r)
	}
	if a := as("alice", "a"); a.Code != http.StatusCreated || isReplay(a) {
		t.Fatalf("alice: %d", a.Code)
	}
	// Bob's request differs: in one key space it would be a 422.
	if b := as("bob", "b"); b.Code != http.StatusCreated || isReplay(b) {
		t.Fatalf("bob: %d %s", b.Code, b.Body)
	}
	if a := as("alice", "a"); !isReplay(a) {
		t.Errorf("alice's retry was not replayed")
	}
	if b := as("bob", "b"); !isReplay(b) || b.Body.String() != "ran:b" {
		t.Errorf("bob's retry: replayed %v, %q", isReplay(b), b.Body)
	}
	if c.runs.Load() != 2 {
		t.Errorf("handler ran %d times, want 2", c.runs.Load())
	}
	problemOf(t, as("", "a"), http.StatusForbidden, idempotency.ProblemScope)
	// A scope and a key are hashed with their lengths: "ab"+"c" is not "a"+"bc".
	if idempotency.StorageKey("ab", "c") == idempotency.StorageKey("a", "bc") {
		t.Error("scope and key run together in the storage key")
	}
}

// Without a key a request passes through (each one runs), or answers 400
// when a key is required; methods not covered pass through whatever
// their header says.
func TestMissingKeyAndUncoveredMethods(t *testing.T) {
	st := newCounting(newMemory())
	c := &counter{}
	h := newMiddleware(t, st, nil).Handler(c)
	for range 3 {
		if w := serve(h, req("POST", "/", "", "x")); w.Code != http.StatusCreated || isReplay(w) {
			t.Fatalf("no key: %d", w.Code)
		}
	}
	for _, method := range []string{"GET", "PUT", "DELETE"} {
		for range 2 {
			r := req(method, "/", "k", "")
			r.Header.Add(idempotency.HeaderKey, "a second, malformed one")
			if w := serve(h, r); w.Code != http.StatusCreated {
				t.Fatalf("%s with a key: %d", method, w.Code)
			}
		}
	}
	if c.runs.Load() != 9 || st.calls() != 0 {
		t.Errorf("handler ran %d times (want 9), store calls %d (want 0)", c.runs.Load(), st.calls())
	}

	req400 := newMiddleware(t, newMemory(), &idempotency.Options{Required: true}).Handler(c)
	problemOf(t, serve(req400, req("POST", "/", "", "x")), http.StatusBadRequest, idempotency.ProblemKeyRequired)
	if w := serve(req400, req("GET", "/", "", "")); w.Code != http.StatusCreated {
		t.Errorf("GET under Required: %d", w.Code)
	}

	put := newMiddleware(t, newMemory(), &idempotency.Options{Methods: []string{"put"}}).Handler(c)
	serve(put, req("PUT", "/", "k", "x"))
	if w := serve(put, req("PUT", "/", "k", "x")); !isReplay(w) {
		t.Error("Methods: PUT not covered")
	}
}

// Malformed keys answer 400 without touching the store.
func TestInvalidKeyIs400(t *testing.T) {
	st := newCounting(newMemory())
	c := &counter{}
	h := newMiddleware(t, st, nil).Handler(c)
	for name, vals := range map[string][]string{
		"twice":    {"a", "b"},
		"list":     {`"a", "b"`},
		"bareList": {"a,b"},
		"empty":    {`""`},
		"blank":    {"  "},
		"long":     {strings.Repeat("k", 256)},
		"space":    {`"a b"`},
		"params":   {`"a";p=1`},
		"open":     {`"abc`},
		"nonASCII": {"clé"},
	} {
		t.Run(name, func(t *testing.T) {
			r := req("POST", "/", "", "x")
			r.Header[idempotency.HeaderKey] = vals
			p := problemOf(t, serve(h, r), http.StatusBadRequest, idempotency.ProblemInvalidKey)
			if d, _ := p["detail"].(string); d == "" {
				t.Error("no detail")
			}
		})
	}
	if c.runs.Load() != 0 || st.calls() != 0 {
		t.Errorf("handler ran %d times, store calls %d; want 0 and 0", c.runs.Load(), st.calls())
	}
	// 255 characters is fine.
	if w := serve(h, req("POST", "/", strings.Repeat("k", 255), "x")); w.Code != http.StatusCreated {
		t.Errorf("255-character key: %d", w.Code)
	}
}

// 5xx and panics release the key: a retry runs the handler again. Over a
// store with CompareAndDelete and over one without (which gets a
// "released" record).
func TestServerErrorsAndPanicsRelease(t *testing.T) {
	for _, withCAD := range []bool{true, false} {
		t.Run(fmt.Sprintf("CompareAndDelete=%v", withCAD), func(t *testing.T) {
			mem := newMemory()
			cst := newCounting(mem)
			var st store.Store = cst
			if !withCAD {
				st = plain{cst}
			}
			m := newMiddleware(t, st, nil)
			var runs atomic.Int64
			h := m.Handler(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
				switch runs.Add(1) {
				case 1:
					http.Error(w, "boom", http.StatusBadGateway)
				case 2:
					panic("handler panic")
				case 3:
					http.Error(w, "slow down", http.StatusTooManyRequests)
				default:
					io.WriteString(w, "ok")
				}
			}))
			if w := serve(h, req("POST", "/", "k", "x")); w.Code != http.StatusBadGateway {
				t.Fatalf("first: %d", w.Code)
			}
			func() {
				defer func() {
					if p := recover(); p != "handler panic" {
						t.Errorf("recovered %v, want the handler's panic going on", p)
					}
				}()
				serve(h, req("POST", "/", "k", "x"))
				t.Error("the panic was swallowed")
			}()
			if w := serve(h, req("POST", "/", "k", "x")); w.Code != http.StatusTooManyRequests || isReplay(w) {
				t.Fatalf("third: %d", w.Code)
			}
			if w := serve(h, req("POST", "/", "k", "x")); w.Code != http.StatusOK || isReplay(w) {
				t.Fatalf("fourth: %d replayed %v", w.Code, isReplay(w))
			}
			if w := serve(h, req("POST", "/", "k", "x")); !isReplay(w) || w.Body.String() != "ok" {
				t.Fatalf("fifth: not the replay of the fourth")
			}
			if runs.Load() != 4 {
				t.Errorf("handler ran %d times, want 4", runs.Load())
			}
			if withCAD && (cst.cads.Load() != 3 || cst.deletes.Load() != 0) {
				t.Errorf("releases by CompareAndDelete %d (want 3), by Delete %d (want 0)", cst.cads.Load(), cst.deletes.Load())
			}
			if !withCAD && (cst.cads.Load() != 0 || cst.deletes.Load() != 0) {
				t.Errorf("a store without CompareAndDelete got %d CompareAndDeletes, %d Deletes", cst.cads.Load(), cst.deletes.Load())
			}
		})
	}
}

// ReplayServerErrors keeps a 5xx for replay.
func TestReplayServerErrors(t *testing.T) {
	m := newMiddleware(t, newMemory(), &idempotency.Options{ReplayServerErrors: true})
	c := 0
	h := m.Handler(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		c++
		http.Error(w, "boom", http.StatusInternalServerError)
	}))
	serve(h, req("POST", "/", "k", ""))
	if w := serve(h, req("POST", "/", "k", "")); !isReplay(w) || w.Code != 500 || c != 1 {
		t.Errorf("retry: %d replayed %v, runs %d", w.Code, isReplay(w), c)
	}
}

// A request body over the limit answers 413 before any store call, with
// or without a Content-Length; one at the limit runs.
func TestOversizeRequestIs413(t *testing.T) {
	st := newCounting(newMemory())
	c := &counter{}
	h := newMiddleware(t, st, &idempotency.Options{MaxRequestBody: 1024}).Handler(c)
	big := strings.Repeat("x", 1025)

	problemOf(t, serve(h, req("POST", "/", "k", big)), http.StatusRequestEntityTooLarge, idempotency.ProblemTooLarge)

	chunked := req("POST", "/", "k", "")
	chunked.ContentLength = -1
	chunked.Body = io.NopCloser(io.MultiReader(strings.NewReader(big[:500]), strings.NewReader(big[500:])))
	problemOf(t, serve(h, chunked), http.StatusRequestEntityTooLarge, idempotency.ProblemTooLarge)

	// Over a real connection with Transfer-Encoding: chunked.
	srv := httptest.NewServer(h)
	defer srv.Close()
	pr, pw := io.Pipe()
	go func() {
		for range 20 {
			pw.Write([]byte(big[:100]))
		}
		pw.Close()
	}()
	r, _ := http.NewRequest("POST", srv.URL, pr)
	r.Header.Set(idempotency.HeaderKey, "k")
	resp, err := srv.Client().Do(r)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusRequestEntityTooLarge {
		t.Errorf("chunked over the wire: %d", resp.StatusCode)
	}

	if st.calls() != 0 || c.runs.Load() != 0 {
		t.Fatalf("store calls %d, handler runs %d; want 0 and 0", st.calls(), c.runs.Load())
	}
	if w := serve(h, req("POST", "/", "k", big[:1024])); w.Code != http.StatusCreated || w.Body.Len() != 4+1024 {
		t.Errorf("a body at the limit: %d, %d bytes echoed", w.Code, w.Body.Len()-4)
	}
	// An outer http.MaxBytesReader is honoured too.
	outer := http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		r.Body = http.MaxBytesReader(w, r.Body, 10)
		h.ServeHTTP(w, r)
	})
	problemOf(t, serve(outer, req("POST", "/", "k2", "0123456789AB")), http.StatusRequestEntityTooLarge, idempotency.ProblemTooLarge)
}

// Responses that cannot be kept reach the first client whole, and a retry
// gets 409 saying the request completed but cannot be replayed.
func TestNotReplayable(t *testing.T) {
	for name, tc := range map[string]struct {
		opts    idempotency.Options
		st      store.Store
		handler http.HandlerFunc
		status  int
	}{
		"over MaxResponseBody": {
			opts: idempotency.Options{MaxResponseBody: 1000},
			handler: func(w http.ResponseWriter, r *http.Request) {
				w.Write(bytes.Repeat([]byte("a"), 600))
				w.Write(bytes.Repeat([]byte("b"), 600))
			},
			status: 200,
		},
		"over the store's limit": {
			st: memory.New(&memory.Options{MaxValueSize: 500}),
			handler: func(w http.ResponseWriter, r *http.Request) {
				w.WriteHeader(http.StatusAccepted)
				w.Write(bytes.Repeat([]byte("a"), 800))
			},
			status: http.StatusAccepted,
		},
		"over MaxHeaderBytes": {
			handler: func(w http.ResponseWriter, r *http.Request) {
				w.Header().Set("Content-X", strings.Repeat("h", idempotency.MaxHeaderBytes))
				w.Write([]byte("small"))
			},
			status: 200,
		},
		"flushed": {
			handler: func(w http.ResponseWriter, r *http.Request) {
				w.Write([]byte("part 1"))
				w.(http.Flusher).Flush()
				w.Write([]byte("part 2"))
			},
			status: 200,
		},
		"flushed by ResponseController": {
			handler: func(w http.ResponseWriter, r *http.Request) {
				w.WriteHeader(http.StatusCreated)
				if err := http.NewResponseController(w).Flush(); err != nil {
					t.Errorf("Flush: %v", err)
				}
			},
			status: http.StatusCreated,
		},
		"event stream": {
			handler: func(w http.ResponseWriter, r *http.Request) {
				w.Header().Set("Content-Type", "text/event-stream; charset=utf-8")
				w.Write([]byte("data: 1\n\n"))
			},
			status: 200,
		},
	} {
		t.Run(name, func(t *testing.T) {
			st := tc.st
			if st == nil {
				st = newMemory()
			}
			runs := 0
			h := newMiddleware(t, st, &tc.opts).Handler(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
				runs++
				tc.handler(w, r)
			}))
			direct := httptest.NewRecorder()
			tc.handler(direct, req("POST", "/", "", ""))
			first := serve(h, req("POST", "/", "k", ""))
			if first.Code != tc.status || !bytes.Equal(first.Body.Bytes(), direct.Body.Bytes()) {
				t.Fatalf("first response: %d, %d bytes; want %d, %d bytes", first.Code, first.Body.Len(), tc.status, direct.Body.Len())
			}
			p := problemOf(t, serve(h, req("POST", "/", "k", "")), http.StatusConflict, idempotency.ProblemNotReplayable)
			if p["original_status"] != float64(tc.status) {
				t.Errorf("original_status %v, want %d", p["original_status"], tc.status)
			}
			if runs != 1 {
				t.Errorf("handler ran %d times", runs)
			}
		})
	}
}

// A hijacked connection is not replayable.
func TestHijackedNotReplayable(t *testing.T) {
	h := newMiddleware(t, newMemory(), nil).Handler(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		conn, bw, err := w.(http.Hijacker).Hijack()
		if err != nil {
			t.Errorf("Hijack: %v", err)
			return
		}
		defer conn.Close()
		bw.WriteString("HTTP/1.1 200 OK\r\nContent-Length: 2\r\nConnection: close\r\n\r\nhi")
		bw.Flush()
	}))
	srv := httptest.NewServer(h)
	defer srv.Close()
	post := func() *http.Response {
		r, _ := http.NewRequest("POST", srv.URL, nil)
		r.Header.Set(idempotency.HeaderKey, "k")
		resp, err := srv.Client().Do(r)
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		io.ReadAll(resp.Body)
		return resp
	}
	if resp := post(); resp.StatusCode != 200 {
		t.Fatalf("first: %d", resp.StatusCode)
	}
	if resp := post(); resp.StatusCode != http.StatusConflict || resp.Header.Get("Content-Type") != "application/problem+json" {
		t.Fatalf("retry: %d %s", resp.StatusCode, resp.Header.Get("Content-Type"))
	}
}

// A client that hangs up after the handler wrote still has the outcome
// recorded: the final write does not use the request's cancellation.
func TestClientDisconnectStillCompletes(t *testing.T) {
	c := &counter{}
	h := newMiddleware(t, newMemory(), nil).Handler(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		c.ServeHTTP(w, r)
		r.Context().Value(cancelKey{}).(context.CancelFunc)() // the client hangs up
		if r.Context().Err() == nil {
			t.Error("the handler's context outlived the request's")
		}
	}))
	ctx, cancel := context.WithCancel(context.Background())
	ctx = context.WithValue(ctx, cancelKey{}, cancel)
	serve(h, req("POST", "/", "k", "x").WithContext(ctx))
	w := serve(h, req("POST", "/", "k", "x"))
	if !isReplay(w) || w.Body.String() != "ran:x" || c.runs.Load() != 1 {
		t.Errorf("retry after a disconnect: replayed %v, %q, runs %d", isReplay(w), w.Body, c.runs.Load())
	}
}

type cancelKey struct{}

// A store that fails answers 503 with Retry-After and runs nothing; with
// FailOpen the handler runs unprotected, with the body intact.
func TestStoreDown(t *testing.T) {
	st := &failing{Store: newMemory()}
	st.down.Store(true)
	c := &counter{}
	w := serve(newMiddleware(t, st, nil).Handler(c), req("POST", "/", "k", "x"))
	problemOf(t, w, http.StatusServiceUnavailable, idempotency.ProblemUnavailable)
	if w.Header().Get("Retry-After") == "" || c.runs.Load() != 0 {
		t.Errorf("Retry-After %q, runs %d", w.Header().Get("Retry-After"), c.runs.Load())
	}
	open := newMiddleware(t, st, &idempotency.Options{FailOpen: true}).Handler(c)
	for range 2 {
		if w := serve(open, req("POST", "/", "k", "x")); w.Code != http.StatusCreated || w.Body.String() != "ran:x" || isReplay(w) {
			t.Errorf("FailOpen: %d %q", w.Code, w.Body)
		}
	}
	if c.runs.Load() != 2 {
		t.Errorf("FailOpen ran the handler %d times, want 2", c.runs.Load())
	}
	// A store that hangs is bounded by StoreTimeout.
	hung := newMiddleware(t, hanging{newMemory()}, &idempotency.Options{StoreTimeout: 20 * time.Millisecond}).Handler(c)
	problemOf(t, serve(hung, req("POST", "/", "k", "x")), http.StatusServiceUnavailable, idempotency.ProblemUnavailable)
}

// hanging is a store whose reads never answer before their context ends.
type hanging struct{ store.Store }

func (hanging) Get(ctx context.Context, key string) (store.Record, error) {
	<-ctx.Done()
	return store.Record{}, ctx.Err()
}

// An unreadable record (a later format, another program's value) answers
// 503 rather than being guessed at.
func TestUnreadableRecord(t *testing.T) {
	st := newMemory()
	if _, err := st.Create(context.Background(), idempotency.StorageKey("", "k"), []byte{9, 9, 9}, time.Hour); err != nil {
		t.Fatal(err)
	}
	c := &counter{}
	problemOf(t, serve(newMiddleware(t, st, nil).Handler(c), req("POST", "/", "k", "")), http.StatusServiceUnavailable, idempotency.ProblemUnavailable)
	if c.runs.Load() != 0 {
		t.Error("handler ran")
	}
}

// Attempt is 0 outside an owned key and 1 for a first execution.
func TestAttempt(t *testing.T) {
	if n := idempotency.Attempt(context.Background()); n != 0 {
		t.Errorf("Attempt outside: %d", n)
	}
	var got []int
	h := newMiddleware(t, newMemory(), nil).Handler(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		got = append(got, idempotency.Attempt(r.Context()))
	}))
	serve(h, req("POST", "/", "k", ""))
	serve(h, req("POST", "/", "", ""))
	if fmt.Sprint(got) != "[1 0]" {
		t.Errorf("attempts %v, want [1 0]", got)
	}
}

func TestOptionsAreChecked(t *testing.T) {
	if _, err := idempotency.New(nil, nil); err == nil {
		t.Error("New(nil store) succeeded")
	}
	if _, err := idempotency.New(newMemory(), nil); err != nil {
		t.Errorf("New with nil Options: %v", err)
	}
	for name, o := range map[string]idempotency.Options{
		"negative Lease":          {Lease: -1},
		"tiny Lease":              {Lease: time.Millisecond},
		"negative Retention":      {Retention: -1},
		"negative Wait":           {Wait: -1},
		"negative StoreTimeout":   {StoreTimeout: -1},
		"negative MaxRequestBody": {MaxRequestBody: -1},
		"negative MaxResponse":    {MaxResponseBody: -1},
		"Set-Cookie replayed":     {ReplayHeaders: []string{"set-cookie"}},
		"Date replayed":           {ReplayHeaders: []string{"Date"}},
		"hop-by-hop replayed":     {ReplayHeaders: []string{"Connection"}},
		"Content-Length replayed": {ReplayHeaders: []string{"Content-Length"}},
		"blank method":            {Methods: []string{""}},
		"blank header":            {FingerprintHeaders: []string{""}},
	} {
		if _, err := idempotency.New(newMemory(), &o); err == nil {
			t.Errorf("%s: accepted", name)
		} else if !strings.HasPrefix(err.Error(), "idempotency: invalid Options") {
			t.Errorf("%s: error %q", name, err)
		}
	}
}
