package memcache_test

import (
	"errors"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/stateless-go/stateless/store"
	"github.com/stateless-go/stateless/store/memcache"
)

// parsedURL is what ParseURL returns, flattened for comparison.
type parsedURL struct {
	Servers      []string
	KeyPrefix    string
	MaxValueSize int
	Timeout      time.Duration
	MaxIdleConns int
	MaxInFlight  int
}

func parseURL(rawURL string) (*parsedURL, error) {
	cc, o, err := memcache.ParseURL(rawURL)
	if err != nil {
		return nil, err
	}
	return &parsedURL{cc.Servers, o.KeyPrefix, o.MaxValueSize, cc.Timeout, cc.MaxIdleConns, o.MaxInFlight}, nil
}

func TestParseURL(t *testing.T) {
	for _, tc := range []struct {
		url  string
		want parsedURL
	}{
		{"memcache://127.0.0.1:11211", parsedURL{Servers: []string{"127.0.0.1:11211"}}},
		{"memcache://localhost", parsedURL{Servers: []string{"localhost:11211"}}},
		{"MEMCACHE://h1:1,h2:2/", parsedURL{Servers: []string{"h1:1", "h2:2"}}},
		{"memcache://[::1]:11212,[::1]", parsedURL{Servers: []string{"[::1]:11212", "[::1]:11211"}}},
		{"memcache://h?max_in_flight=4", parsedURL{Servers: []string{"h:11211"}, MaxInFlight: 4, MaxIdleConns: 4}},
		{
			"memcache://h?max_in_flight=64&max_idle_conns=8",
			parsedURL{Servers: []string{"h:11211"}, MaxInFlight: 64, MaxIdleConns: 8},
		},
		{
			"memcache://h1:1,h2:2?prefix=stateless:&timeout=250ms&max_idle_conns=8&max_value_size=2048",
			parsedURL{
				Servers: []string{"h1:1", "h2:2"}, KeyPrefix: "stateless:",
				Timeout: 250 * time.Millisecond, MaxIdleConns: 8, MaxValueSize: 2048,
			},
		},
	} {
		got, err := parseURL(tc.url)
		if err != nil {
			t.Errorf("ParseURL(%q): %v", tc.url, err)
			continue
		}
		want := tc.want
		if want.Timeout == 0 {
			want.Timeout = memcache.DefaultTimeout
		}
		if want.MaxIdleConns == 0 {
			want.MaxIdleConns = memcache.DefaultMaxIdleConns
		}
		if !slices.Equal(got.Servers, want.Servers) || got.KeyPrefix != want.KeyPrefix ||
			got.Timeout != want.Timeout || got.MaxIdleConns != want.MaxIdleConns || got.MaxValueSize != want.MaxValueSize ||
			got.MaxInFlight != want.MaxInFlight {
			t.Errorf("ParseURL(%q) = %+v, want %+v", tc.url, *got, want)
		}
	}
}

func TestOpenBadURL(t *testing.T) {
	for _, tc := range []struct{ url, want string }{
		{"", "must start with memcache://"},
		{"redis://h:1", "must start with memcache://"},
		{"memcache://", "names no server"},
		{"memcache://?prefix=a", "names no server"},
		{"memcache://h:1,,h:2", "empty server"},
		{"memcache://h:1,", "empty server"},
		{"memcache://h:0", "port"},
		{"memcache://h:99999", "port"},
		{"memcache://h:x", "port"},
		{"memcache://h:", "port"},
		{"memcache://:11211", "empty host"},
		{"memcache://::1", "IPv6 address in brackets"},
		{"memcache://[nonsense]", "IPv6 address in brackets"},
		{"memcache://h 1:11211", "spaces"},
		{"memcache://h%31:11211", "escapes"},
		{"memcache://user:hunter2@h:1", "no user or password"},
		{"memcache://h:1/0", "no path"},
		{"memcache://h:1#x", "fragment"},
		{"memcache://h:1,h:1", "listed twice"},
		{"memcache://h:1?prefix=a%20b", "KeyPrefix"},
		{"memcache://h:1?timeout=-1s", "positive duration"},
		{"memcache://h:1?timeout=soon", "positive duration"},
		{"memcache://h:1?max_idle_conns=0", "positive integer"},
		{"memcache://h:1?max_in_flight=0", "positive integer"},
		{"memcache://h:1?max_in_flight=-3", "positive integer"},
		{"memcache://h:1?max_value_size=big", "positive integer"},
		{"memcache://h:1?prefix=a&prefix=b", "given 2 times"},
		{"memcache://h:1?keyprefix=a", `unknown URL parameter "keyprefix"`},
		{"memcache://h:1?%zz", "malformed query"},
	} {
		s, err := memcache.Open(t.Context(), tc.url)
		if err == nil {
			s.Close()
			t.Errorf("Open(%q) succeeded", tc.url)
			continue
		}
		if !strings.Contains(err.Error(), tc.want) {
			t.Errorf("Open(%q) = %q, want it to mention %q", tc.url, err, tc.want)
		}
		if strings.Contains(err.Error(), "hunter2") {
			t.Errorf("Open(%q) = %q: the password leaked", tc.url, err)
		}
	}
}

// TestStoreOpen goes through store.Open, as a program does: the scheme is
// registered, Open does not connect (a server that is down at start is for
// Ping to report), and no error repeats a password.
func TestStoreOpen(t *testing.T) {
	ctx := t.Context()
	if !slices.Contains(store.Schemes(), "memcache") {
		t.Fatalf("scheme memcache not registered; registered: %v", store.Schemes())
	}
	s, err := store.Open(ctx, "memcache://127.0.0.1:1?timeout=2s")
	if err != nil {
		t.Fatalf("store.Open of a server that is down: %v, want success (Open does not connect)", err)
	}
	if _, ok := s.(*memcache.Store); !ok {
		t.Errorf("store.Open returned %T, want *memcache.Store", s)
	}
	if err := s.Ping(ctx); err == nil {
		t.Error("Ping of a server that is down: nil error")
	}
	if err := s.Close(); err != nil {
		t.Errorf("Close: %v", err)
	}
	if err := s.Ping(ctx); !errors.Is(err, store.ErrClosed) {
		t.Errorf("Ping after Close: %v, want store.ErrClosed", err)
	}
	_, err = store.Open(ctx, "memcache://admin:hunter2@127.0.0.1:11211")
	if err == nil || strings.Contains(err.Error(), "hunter2") {
		t.Errorf("store.Open with a password = %v, want an error without the password", err)
	}
}

// FuzzParseURL: no input panics, and a password is never repeated.
func FuzzParseURL(f *testing.F) {
	for _, u := range []string{
		"memcache://127.0.0.1:11211", "memcache://h1:1,h2:2?prefix=p:&timeout=1s",
		"memcache://[::1]", "memcache://u:pw@h", "memcache://h:1/x?y#z", "memcache://,",
	} {
		f.Add(u)
	}
	f.Fuzz(func(t *testing.T, u string) {
		p, err := parseURL(u)
		if err != nil {
			if strings.Contains(u, "@secretpw") && strings.Contains(err.Error(), "secretpw") {
				t.Fatalf("ParseURL(%q) = %q: repeats the password", u, err)
			}
			return
		}
		if len(p.Servers) == 0 {
			t.Fatalf("ParseURL(%q) succeeded with no servers", u)
		}
	})
}
