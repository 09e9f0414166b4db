package store_test

import (
	"context"
	"errors"
	"strings"
	"testing"

	"github.com/stateless-go/stateless/store"
	_ "github.com/stateless-go/stateless/store/memory"
)

func TestOpenErrors(t *testing.T) {
	cases := []struct {
		url  string
		want []string // substrings of the error
	}{
		{"", []string{"empty store URL", "memory"}},
		{"   ", []string{"empty store URL"}},
		{"localhost:6379", []string{"no scheme://", "memory"}},
		{"bogus://x", []string{`no adapter registered for scheme "bogus"`, "registered: memory"}},
		{"BOGUS://x", []string{`scheme "bogus"`}},
		{"redis://user:hunter2@localhost:6379/0", []string{`scheme "redis"`, "store/redis"}},
		{"postgresql://u:hunter2@h/db", []string{"store/postgres"}},
		{"1bad://x", []string{"invalid scheme"}},
		{"me mory://", []string{"invalid scheme"}},
		{"memory://host", []string{"memory: URL takes no host"}},
		{"memory://?max_entries=-2", []string{"max_entries must be an integer"}},
		{"memory://?max_entrys=1", []string{`unknown URL parameter "max_entrys"`}},
		{"memory://u:hunter2@/", []string{"memory: URL takes no host, user"}},
	}
	for _, c := range cases {
		s, err := store.Open(context.Background(), c.url)
		if err == nil {
			s.Close()
			t.Errorf("Open(%q) succeeded, want an error", c.url)
			continue
		}
		for _, w := range c.want {
			if !strings.Contains(err.Error(), w) {
				t.Errorf("Open(%q) = %q, want it to contain %q", c.url, err, w)
			}
		}
		if strings.Contains(err.Error(), "hunter2") {
			t.Errorf("Open(%q) error %q contains the password", c.url, err)
		}
	}
}

func TestOpenMemory(t *testing.T) {
	for _, u := range []string{"memory://", "memory:///", "MEMORY://", "memory://?max_entries=10&max_value_size=100"} {
		s, err := store.Open(context.Background(), u)
		if err != nil {
			t.Fatalf("Open(%q): %v", u, err)
		}
		if err := s.Ping(context.Background()); err != nil {
			t.Errorf("Ping: %v", err)
		}
		if err := s.Close(); err != nil {
			t.Errorf("Close: %v", err)
		}
	}
	s, err := store.Open(context.Background(), "memory://?max_value_size=3")
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	if _, err := s.Create(context.Background(), "k", []byte("four"), 1e9); !errors.Is(err, store.ErrTooLarge) {
		t.Errorf("Create over max_value_size = %v, want ErrTooLarge", err)
	}
}

func TestRedactURL(t *testing.T) {
	cases := map[string]string{
		"redis://user:hunter2@h:6379/0":                      "redis://user:xxxxx@h:6379/0",
		"postgres://u@h/db?password=hunter2&sslmode=disable": "postgres://u@h/db?password=xxxxx&sslmode=disable",
		"memcache://h1:11211,h2:11211":                       "memcache://h1:11211,h2:11211",
		"redis://:hunter2@h":                                 "redis://:xxxxx@h",
		"postgres://u:hunter2@h/db?sslkey=/k&token=hunter2":  "postgres://u:xxxxx@h/db?sslkey=xxxxx&token=xxxxx",
		"redis://u:hunter2@h:bad port":                       "redis://(unparsable URL)",
		"::hunter2":                                          "(unparsable URL)",
	}
	for in, want := range cases {
		got := store.RedactURL(in)
		if got != want {
			t.Errorf("RedactURL(%q) = %q, want %q", in, got, want)
		}
		if strings.Contains(got, "hunter2") {
			t.Errorf("RedactURL(%q) leaks the password: %q", in, got)
		}
	}
}

func TestRegisterPanics(t *testing.T) {
	for name, f := range map[string]func(){
		"nil": func() { store.Register("x-nil", nil) },
		"upper": func() {
			store.Register("Upper", func(context.Context, string) (store.Store, error) { return nil, nil })
		},
		"duplicate": func() {
			store.Register("memory", func(context.Context, string) (store.Store, error) { return nil, nil })
		},
	} {
		func() {
			defer func() {
				if recover() == nil {
					t.Errorf("Register %s did not panic", name)
				}
			}()
			f()
		}()
	}
}
