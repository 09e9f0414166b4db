package session

import (
	"bytes"
	"context"
	"net/http"
	"net/http/httptest"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/stateless-go/stateless/store/memory"
)

func TestCodecRoundTrip(t *testing.T) {
	h := header{created: 1700000000000, written: -5, flags: flagPersist, extra: []byte("later")}
	entries := []entry{
		{key: "", typ: typeString, raw: []byte("empty key")},
		{key: "a", typ: typeInt, raw: rawInt(-42)},
		{key: "b", typ: 200, raw: []byte("a type from the future")},
		{key: "ü", typ: typeBytes, raw: nil},
	}
	buf := encode(nil, h, entries)
	if len(buf) != encodedLen(h, entries) {
		t.Errorf("encodedLen = %d, encode wrote %d", encodedLen(h, entries), len(buf))
	}
	h2, e2, err := decode(buf)
	if err != nil {
		t.Fatal(err)
	}
	if h2.created != h.created || h2.written != h.written || h2.flags != h.flags || string(h2.extra) != "later" {
		t.Errorf("header %+v, want %+v", h2, h)
	}
	if !sameEntries(entries, e2) {
		t.Errorf("entries %+v, want %+v", e2, entries)
	}
	if !bytes.Equal(encode(nil, h2, e2), buf) {
		t.Error("decode then encode changed the bytes")
	}
}

func TestDecodeRejects(t *testing.T) {
	good := encode(nil, header{created: 1}, []entry{{key: "a", typ: typeBool, raw: []byte{1}}, {key: "b", typ: typeString, raw: []byte("x")}})
	cases := map[string][]byte{
		"empty":          nil,
		"wrong magic":    append([]byte{'X'}, good[1:]...),
		"truncated":      good[:len(good)-1],
		"trailing bytes": append(slices.Clone(good), 0),
		"bad bool":       encode(nil, header{}, []entry{{key: "a", typ: typeBool, raw: []byte{2}}}),
		"short int":      encode(nil, header{}, []entry{{key: "a", typ: typeInt, raw: []byte{1}}}),
		"type 0":         encode(nil, header{}, []entry{{key: "a", typ: 0, raw: nil}}),
		"duplicate key":  encode(nil, header{}, []entry{{key: "a", typ: typeString}, {key: "a", typ: typeString}}),
		"unsorted keys":  encode(nil, header{}, []entry{{key: "b", typ: typeString}, {key: "a", typ: typeString}}),
		"huge count":     {magic, formatV1, 3, 0, 0, 0, 0xff, 0xff, 0xff, 0xff, 0x0f},
	}
	for name, b := range cases {
		if _, _, err := decode(b); err != errCorrupt {
			t.Errorf("%s: decode = %v, want errCorrupt", name, err)
		}
	}
	if _, _, err := decode([]byte{magic, 2, 0}); err != errNewFormat {
		t.Errorf("format 2: %v, want errNewFormat", err)
	}
}

// An older instance saving a session written by a newer one keeps what it
// does not understand.
func TestUnknownDataSurvivesASave(t *testing.T) {
	st := memory.New(nil)
	m, err := New(st, &Options{Transport: HeaderTransport})
	if err != nil {
		t.Fatal(err)
	}
	tok := newToken()
	key := storeKey(m.c.prefix, tok)
	now := time.Now().UnixMilli()
	h := header{created: now, written: now, extra: []byte{0x01, 0x02}}
	future := entry{key: "future", typ: 99, raw: []byte("opaque")}
	if _, err := st.Create(context.Background(), key, encode(nil, h, []entry{future}), time.Hour); err != nil {
		t.Fatal(err)
	}
	srv := m.Handler(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		s := From(r.Context())
		if _, ok := s.GetString("future"); ok {
			t.Error("a value of unknown type read as a string")
		}
		s.SetString("now", "set")
	}))
	r := httptest.NewRequest("GET", "/", nil)
	r.Header.Set("X-Session-Token", tok)
	w := httptest.NewRecorder()
	srv.ServeHTTP(w, r)
	if w.Code != 200 {
		t.Fatalf("%d %s", w.Code, w.Body)
	}
	rec, err := st.Get(context.Background(), key)
	if err != nil {
		t.Fatal(err)
	}
	h2, e2, err := decode(rec.Value)
	if err != nil {
		t.Fatal(err)
	}
	if string(h2.extra) != "\x01\x02" {
		t.Errorf("unknown header bytes %q were not kept", h2.extra)
	}
	if i := find(e2, "future"); i < 0 || e2[i].typ != 99 || string(e2[i].raw) != "opaque" {
		t.Errorf("entry of unknown type lost: %+v", e2)
	}
}

func TestCookieValue(t *testing.T) {
	for _, c := range []struct {
		line, name, want string
		ok               bool
	}{
		{"session=abc", "session", "abc", true},
		{"a=1; session=abc; b=2", "session", "abc", true},
		{"a=1;session=abc", "session", "abc", true},
		{`session="abc"`, "session", "abc", true},
		{"xsession=abc", "session", "", false},
		{"session", "session", "", false},
		{"", "session", "", false},
		{"session=", "session", "", true},
	} {
		got, ok := cookieValue(c.line, c.name)
		if got != c.want || ok != c.ok {
			t.Errorf("cookieValue(%q) = %q, %v; want %q, %v", c.line, got, ok, c.want, c.ok)
		}
	}
}

func FuzzDecode(f *testing.F) {
	f.Add(encode(nil, header{created: 1, written: 2, flags: 3}, []entry{{key: "name", typ: typeString, raw: []byte("Alice")}, {key: "visits", typ: typeInt, raw: rawInt(7)}}))
	f.Add(encode(nil, header{created: 1, written: 2, deadline: 9, id: []byte("abc"), extra: []byte{7}}, nil))
	f.Add([]byte{magic, formatV1})
	f.Add([]byte{magic, formatV1, 0, 0})
	f.Fuzz(func(t *testing.T, b []byte) {
		h, entries, err := decode(b)
		if err != nil {
			return
		}
		// Whatever decodes survives a save: encoding it and decoding again
		// gives the same session (the bytes may differ, when the input
		// spelled a number in a longer varint than needed).
		again := encode(nil, h, entries)
		h2, e2, err := decode(again)
		if err != nil {
			t.Fatalf("re-encoded %x does not decode: %v", again, err)
		}
		if h2.created != h.created || h2.written != h.written || h2.flags != h.flags || h2.deadline != h.deadline || !bytes.Equal(h2.id, h.id) || !bytes.Equal(h2.extra, h.extra) || !sameEntries(e2, entries) {
			t.Fatalf("decode/encode/decode changed the session: %+v %+v -> %+v %+v", h, entries, h2, e2)
		}
	})
}

func FuzzTokenFrom(f *testing.F) {
	tok := newToken()
	f.Add("session="+tok, "")
	f.Add("a=b; session=\""+tok+"\"", tok)
	f.Add("session=;;;=", "x")
	f.Fuzz(func(t *testing.T, cookie, header string) {
		r := &http.Request{Header: http.Header{}}
		if cookie != "" {
			r.Header["Cookie"] = []string{cookie}
		}
		if header != "" {
			r.Header["X-Session-Token"] = []string{header}
		}
		c := config{transport: CookieAndHeaderTransport, header: "X-Session-Token", cookie: Cookie{Name: "session"}}
		got, _ := c.tokenFrom(r)
		if got != "" && !validToken(got) {
			t.Fatalf("tokenFrom returned %q, not a valid token", got)
		}
		if got != "" && !strings.Contains(cookie+header, got) {
			t.Fatalf("tokenFrom invented %q", got)
		}
		if validToken(got) {
			storeKey("p:", got) // must not panic
		}
	})
}

// validToken, which does not decode, agrees with a strict decode.
func FuzzValidToken(f *testing.F) {
	f.Add(newToken())
	f.Add(newToken()[:42] + "B")
	f.Add(strings.Repeat("A", 42) + "\n")
	f.Fuzz(func(t *testing.T, tok string) {
		b, err := tokenEncoding.DecodeString(tok)
		want := err == nil && len(b) == 32 && len(tok) == tokenLen
		if got := validToken(tok); got != want {
			t.Fatalf("validToken(%q) = %v, strict decode says %v", tok, got, want)
		}
	})
}
