package memory_test

import (
	"context"
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/stateless-go/stateless/store"
	"github.com/stateless-go/stateless/store/memory"
)

func TestParseURL(t *testing.T) {
	for _, tc := range []struct {
		url  string
		want memory.Options
	}{
		{"memory://", memory.Options{}},
		{"memory:///", memory.Options{}},
		{"memory://?max_entries=0&max_bytes=0&max_value_size=0", memory.Options{}},
		{"memory://?max_entries=200000&max_bytes=134217728&max_value_size=4096",
			memory.Options{MaxEntries: 200000, MaxBytes: 134217728, MaxValueSize: 4096}},
		{"memory://?max_bytes=8589934592", memory.Options{MaxBytes: 8 << 30}},
		{"memory://?max_entries=-1&max_bytes=-1&max_value_size=-1",
			memory.Options{MaxEntries: -1, MaxBytes: -1, MaxValueSize: -1}},
	} {
		got, err := memory.ParseURL(tc.url)
		if err != nil {
			t.Errorf("ParseURL(%q): %v", tc.url, err)
			continue
		}
		if *got != tc.want {
			t.Errorf("ParseURL(%q) = %+v, want %+v", tc.url, *got, tc.want)
		}
	}
}

func TestParseURLErrors(t *testing.T) {
	for _, tc := range []struct {
		url  string
		want string
	}{
		{"memory://?max_entries=-2", "max_entries must be an integer: -1 for no limit"},
		{"memory://?max_bytes=lots", "max_bytes must be an integer"},
		{"memory://?max_bytes=64MiB", "max_bytes must be an integer"},
		{"memory://?max_bytes=1.5", "max_bytes must be an integer"},
		{"memory://?max_bytes=99999999999999999999", "max_bytes must be an integer"},
		{"memory://?max_value_size=", "max_value_size must be an integer"},
		{"memory://?max_entries=1&max_entries=2", "max_entries given 2 times"},
		{"memory://?max_byte=1", `unknown URL parameter "max_byte"; known: max_entries, max_bytes, max_value_size`},
		{"memory://host", "takes no host"},
		{"redis://h", "want memory"},
	} {
		_, err := memory.ParseURL(tc.url)
		if err == nil || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("ParseURL(%q) = %v, want an error containing %q", tc.url, err, tc.want)
		}
	}
}

// The URL's bounds reach the store that store.Open returns.
func TestOpenWithMaxBytes(t *testing.T) {
	ctx := context.Background()
	s, err := store.Open(ctx, "memory://?max_bytes=10000")
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	if _, err := s.Create(ctx, "k", make([]byte, 10000), time.Minute); !errors.Is(err, store.ErrTooLarge) {
		t.Errorf("Create of a value over max_bytes = %v, want ErrTooLarge", err)
	}
}
