package redis

import (
	"errors"
	"strings"
	"testing"
	"time"

	goredis "github.com/redis/go-redis/v9"
)

func TestParseURLWait(t *testing.T) {
	for raw, want := range map[string]Options{
		"redis://h":                 {},
		"redis://h?wait_replicas=0": {},
		"redis://h?wait_replicas=1&wait_timeout=100ms":                  {WaitReplicas: 1, WaitTimeout: 100 * time.Millisecond},
		"rediss://h/2?wait_timeout=1.5s&wait_replicas=2":                {WaitReplicas: 2, WaitTimeout: 1500 * time.Millisecond},
		"redis://h?read_timeout=10s&wait_replicas=1&wait_timeout=5s":    {WaitReplicas: 1, WaitTimeout: 5 * time.Second},
		"redis+sentinel://s1,s2/m/0?wait_replicas=1&wait_timeout=250ms": {WaitReplicas: 1, WaitTimeout: 250 * time.Millisecond},
		"redis://h?read_timeout=-1&wait_replicas=1&wait_timeout=1m":     {WaitReplicas: 1, WaitTimeout: time.Minute}, // no read deadline
	} {
		_, opts, err := ParseURL(raw)
		if err != nil {
			t.Errorf("ParseURL(%q): %v", raw, err)
			continue
		}
		if opts.WaitReplicas != want.WaitReplicas || opts.WaitTimeout != want.WaitTimeout {
			t.Errorf("ParseURL(%q) = WaitReplicas %d, WaitTimeout %v; want %d, %v", raw, opts.WaitReplicas, opts.WaitTimeout, want.WaitReplicas, want.WaitTimeout)
		}
	}
}

func TestParseURLWaitErrors(t *testing.T) {
	tests := []struct{ url, want string }{
		{"redis://u:hunter2pw@h?wait_replicas=x&wait_timeout=1s", "wait_replicas must be given once, as a non-negative number"},
		{"redis://u:hunter2pw@h?wait_replicas=-1&wait_timeout=1s", "wait_replicas must be given once"},
		{"redis://u:hunter2pw@h?wait_replicas=1&wait_replicas=2&wait_timeout=1s", "wait_replicas must be given once"},
		{"redis://u:hunter2pw@h?wait_replicas=1&wait_timeout=100", "wait_timeout must be given once, as a positive duration"},
		{"redis://u:hunter2pw@h?wait_replicas=1&wait_timeout=0s", "wait_timeout must be given once, as a positive duration"},
		{"redis://u:hunter2pw@h?wait_replicas=1&wait_timeout=-5ms", "wait_timeout must be given once"},
		{"redis://u:hunter2pw@h?wait_replicas=1&wait_timeout=", "wait_timeout must be given once"},
		{"redis://u:hunter2pw@h?wait_replicas=1", "needs a positive WaitTimeout (wait_timeout)"},
		{"redis://u:hunter2pw@h?wait_timeout=100ms", "WaitReplicas (wait_replicas) is 0"},
		{"redis://u:hunter2pw@h?wait_replicas=0&wait_timeout=100ms", "WaitReplicas (wait_replicas) is 0"},
		{"redis://u:hunter2pw@h?wait_replicas=1&wait_timeout=3s", "shorter than the client's ReadTimeout (read_timeout, 3s)"},
		{"redis://u:hunter2pw@h?read_timeout=200ms&wait_replicas=1&wait_timeout=500ms", "shorter than the client's ReadTimeout"},
		{"redis+cluster://u:hunter2pw@a:1,b:2?wait_replicas=1&wait_timeout=100ms", "not supported on a Cluster"},
	}
	for _, tt := range tests {
		_, _, err := ParseURL(tt.url)
		if err == nil {
			t.Errorf("ParseURL(%q) succeeded, want an error containing %q", tt.url, tt.want)
			continue
		}
		if !strings.Contains(err.Error(), tt.want) {
			t.Errorf("ParseURL(%q) = %q, want it to contain %q", tt.url, err, tt.want)
		}
		assertNoSecret(t, tt.url, err.Error())
	}
}

// TestNewWaitOptions checks New's refusals: the same rules as a URL's,
// with the client's own ReadTimeout, and no WAIT on a Cluster client.
func TestNewWaitOptions(t *testing.T) {
	plain := goredis.NewClient(&goredis.Options{Addr: "127.0.0.1:1", ReadTimeout: time.Second})
	defer plain.Close()
	cluster := goredis.NewClusterClient(&goredis.ClusterOptions{Addrs: []string{"127.0.0.1:1"}})
	defer cluster.Close()
	tests := []struct {
		client goredis.UniversalClient
		opts   Options
		want   string // "" for success
	}{
		{plain, Options{WaitReplicas: 1, WaitTimeout: 999 * time.Millisecond}, ""},
		{plain, Options{WaitReplicas: 1, WaitTimeout: time.Second}, "shorter than the client's ReadTimeout"},
		{plain, Options{WaitReplicas: -1, WaitTimeout: time.Millisecond}, "negative"},
		{plain, Options{WaitReplicas: 1, WaitTimeout: -time.Millisecond}, "negative"},
		{plain, Options{WaitReplicas: 1}, "needs a positive WaitTimeout"},
		{plain, Options{WaitTimeout: time.Millisecond}, "WaitReplicas (wait_replicas) is 0"},
		{cluster, Options{WaitReplicas: 1, WaitTimeout: 100 * time.Millisecond}, "not supported on a Cluster"},
		{cluster, Options{}, ""},
	}
	for _, tt := range tests {
		s, err := New(tt.client, &tt.opts)
		switch {
		case tt.want == "" && err != nil:
			t.Errorf("New(%T, %+v): %v", tt.client, tt.opts, err)
		case tt.want != "" && (err == nil || !strings.Contains(err.Error(), tt.want)):
			t.Errorf("New(%T, %+v) = %v, want an error containing %q", tt.client, tt.opts, err, tt.want)
		case err == nil && tt.opts.WaitReplicas > 0 && (s.waitN != int64(tt.opts.WaitReplicas) || s.waitMS != waitMillis(tt.opts.WaitTimeout)):
			t.Errorf("New(%T, %+v): WAIT arguments %v %v", tt.client, tt.opts, s.waitN, s.waitMS)
		}
	}
}

func TestWaitMillis(t *testing.T) {
	for in, want := range map[time.Duration]int64{
		1: 1, time.Millisecond: 1, time.Millisecond + 1: 2, 100 * time.Millisecond: 100, 1500 * time.Microsecond: 2,
	} {
		if got := waitMillis(in); got != want {
			t.Errorf("waitMillis(%v) = %d, want %d", in, got, want)
		}
	}
}

// TestConfirm checks the reading of WAIT's reply.
func TestConfirm(t *testing.T) {
	s := &Store{waitReplicas: 2, waitTimeout: 100 * time.Millisecond}
	if err := s.confirm("replace", nil); err != nil {
		t.Errorf("confirm with no WAIT = %v, want nil", err)
	}
	for n, ok := range map[int64]bool{0: false, 1: false, 2: true, 3: true} {
		w := goredis.NewIntCmd(t.Context(), "wait", 2, 100)
		w.SetVal(n)
		err := s.confirm("replace", w)
		if ok != (err == nil) || !ok && !errors.Is(err, ErrNotReplicated) {
			t.Errorf("confirm with %d of 2 replicas = %v", n, err)
		}
		if !ok && !strings.Contains(err.Error(), "replace: "+strings.TrimSpace(string(rune('0'+n)))+" of 2 replica(s)") {
			t.Errorf("confirm with %d of 2 replicas = %q, want the op and the counts", n, err)
		}
	}
	w := goredis.NewIntCmd(t.Context(), "wait", 2, 100)
	w.SetErr(errors.New("boom"))
	if err := s.confirm("replace", w); err == nil || errors.Is(err, ErrNotReplicated) {
		t.Errorf("confirm of a failed WAIT = %v, want WAIT's own error", err)
	}
}
