package driver_test

import (
	"context"
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/stateless-go/stateless/store"
	"github.com/stateless-go/stateless/store/driver"
)

func TestCheckKeyAndTTL(t *testing.T) {
	if err := driver.CheckKey(strings.Repeat("k", store.MaxKeyLen)); err != nil {
		t.Errorf("CheckKey(250 bytes) = %v", err)
	}
	for _, k := range []string{"", strings.Repeat("s3cret", 50)} {
		err := driver.CheckKey(k)
		if !errors.Is(err, store.ErrInvalid) {
			t.Errorf("CheckKey(%d bytes) = %v, want ErrInvalid", len(k), err)
		}
		if k != "" && strings.Contains(err.Error(), "s3cret") {
			t.Errorf("CheckKey error %q contains the key", err)
		}
	}
	if err := driver.CheckTTL(0); !errors.Is(err, store.ErrInvalid) {
		t.Errorf("CheckTTL(0) = %v", err)
	}
	if err := driver.CheckTTL(1); err != nil {
		t.Errorf("CheckTTL(1ns) = %v", err)
	}
}

func TestNewVersionNonZeroAndDistinct(t *testing.T) {
	seen := map[uint64]bool{}
	for range 100000 {
		v := driver.NewVersion()
		if v == 0 || seen[v] {
			t.Fatalf("NewVersion returned %d (zero or repeated)", v)
		}
		seen[v] = true
	}
}

// TestBeginOrder: every adapter checks in one order: the context, then
// Close, then the key, then the ttl, then the value's size.
func TestBeginOrder(t *testing.T) {
	done, cancel := context.WithCancel(context.Background())
	cancel()
	ok := context.Background()
	big := make([]byte, 11)
	for _, c := range []struct {
		name string
		err  error
		want error
	}{
		{"ended ctx before closed", driver.BeginWrite(done, true, "", big, 0, 10), context.Canceled},
		{"closed before key", driver.BeginWrite(ok, true, "", big, 0, 10), store.ErrClosed},
		{"key before ttl", driver.BeginWrite(ok, false, "", big, 0, 10), store.ErrInvalid},
		{"ttl before size", driver.BeginWrite(ok, false, "k", big, 0, 10), store.ErrInvalid},
		{"size", driver.BeginWrite(ok, false, "k", big, time.Second, 10), store.ErrTooLarge},
		{"no limit", driver.BeginWrite(ok, false, "k", big, time.Second, 0), nil},
		{"touch ttl", driver.BeginTouch(ok, false, "k", -1), store.ErrInvalid},
		{"ping closed", driver.Begin(ok, true), store.ErrClosed},
	} {
		if !errors.Is(c.err, c.want) || (c.want == nil) != (c.err == nil) {
			t.Errorf("%s: %v, want %v", c.name, c.err, c.want)
		}
	}
	if err := driver.BeginWrite(ok, false, "k", big, time.Second, 10); !strings.Contains(err.Error(), "11 bytes, limit 10") {
		t.Errorf("ErrTooLarge does not name both sizes: %v", err)
	}
}

// TestCounters: contract answers are calls, not errors.
func TestCounters(t *testing.T) {
	var c driver.Counters
	c.Count(driver.OpGet, nil)
	c.Count(driver.OpGet, store.ErrNotFound)
	c.Count(driver.OpCreate, store.ErrExists)
	c.Count(driver.OpReplace, store.ErrConflict)
	c.Count(driver.OpTouch, errors.New("network"))
	c.Count(driver.OpDelete, context.DeadlineExceeded)
	var st store.Stats
	c.Fill(&st)
	if st.Gets != 2 || st.Creates != 1 || st.Replaces != 1 || st.Touches != 1 || st.Deletes != 1 || st.Errors != 2 {
		t.Errorf("Stats %+v, want 2 gets, one of each other op, 2 errors", st)
	}
}

// TestScrub: every form of a URL's secrets is masked, a list of hosts and
// an unescaped '/' in the password included.
func TestScrub(t *testing.T) {
	for _, c := range []struct{ url, msg, secret string }{
		{"redis://u:hunter2@h:6379/0", "auth failed for hunter2", "hunter2"},
		{"redis+cluster://u:p%40ss@h1:7000,h2:7001", "dial: p@ss and p%40ss", "p@ss"},
		{"redis://u:pa/ss@h:6379/0", "bad pa/ss", "pa/ss"},
		{"postgres://h/db?sslpassword=s3cret&user=x", "sslpassword=s3cret", "s3cret"},
		{"memcache://h:1?auth_token=t0k", "t0k", "t0k"},
	} {
		got := driver.Scrub(c.msg, driver.URLSecrets(c.url))
		if strings.Contains(got, c.secret) || strings.Contains(got, "%40ss") {
			t.Errorf("Scrub(%q) for %s = %q: the secret is still there", c.msg, store.RedactURL(c.url), got)
		}
		if !strings.Contains(got, "xxxxx") {
			t.Errorf("Scrub(%q) = %q: nothing masked", c.msg, got)
		}
		if r := store.RedactURL(c.url); strings.Contains(r, c.secret) {
			t.Errorf("RedactURL leaves the secret: %q", r)
		}
	}
	if got := driver.Scrub("user=x host=h", driver.URLSecrets("postgres://h/db?user=x")); got != "user=x host=h" {
		t.Errorf("Scrub masked what is no secret: %q", got)
	}
}
