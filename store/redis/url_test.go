package redis

import (
	"net/url"
	"reflect"
	"slices"
	"strings"
	"testing"
	"time"

	goredis "github.com/redis/go-redis/v9"
)

// parsed is what a test compares of a config: the parts that differ between
// the URL forms.
type parsed struct {
	kind       string // "simple", "cluster", "sentinel"
	addrs      []string
	db         int
	user, pass string
	tls        bool
	master     string
	sUser      string // sentinel credentials
	sPass      string
	prefix     string
	maxValue   int
	dial       time.Duration
}

func summarize(uo *goredis.UniversalOptions, o *Options) parsed {
	p := parsed{
		addrs: uo.Addrs, db: uo.DB, user: uo.Username, pass: uo.Password, tls: uo.TLSConfig != nil,
		master: uo.MasterName, sUser: uo.SentinelUsername, sPass: uo.SentinelPassword,
		prefix: o.KeyPrefix, maxValue: o.MaxValueSize, dial: uo.DialTimeout,
	}
	switch {
	case uo.MasterName != "":
		p.kind = "sentinel"
	case uo.IsClusterMode:
		p.kind = "cluster"
	default:
		p.kind = "simple"
	}
	return p
}

func TestParseURL(t *testing.T) {
	tests := []struct {
		url  string
		want parsed
	}{
		{"redis://localhost:6379/0", parsed{kind: "simple", addrs: []string{"localhost:6379"}}},
		{"redis://", parsed{kind: "simple", addrs: []string{"localhost:6379"}}},
		{"REDIS://127.0.0.1", parsed{kind: "simple", addrs: []string{"127.0.0.1:6379"}}},
		{"redis://u:p%40ss@h:1234/3?dial_timeout=2s&prefix=app:", parsed{kind: "simple", addrs: []string{"h:1234"}, db: 3, user: "u", pass: "p@ss", dial: 2 * time.Second, prefix: "app:"}},
		{"redis://:pw@h/1?db=2", parsed{kind: "simple", addrs: []string{"h:6379"}, db: 2, pass: "pw"}},
		{"redis://[::1]:7000/0", parsed{kind: "simple", addrs: []string{"[::1]:7000"}}},
		{"redis://h?max_value_size=4096&prefix=%7Bx%7D", parsed{kind: "simple", addrs: []string{"h:6379"}, maxValue: 4096, prefix: "{x}"}},
		{"rediss://u:p@secure:6380/0", parsed{kind: "simple", addrs: []string{"secure:6380"}, user: "u", pass: "p", tls: true}},

		{"redis+cluster://10.0.0.1:7000,10.0.0.2:7001,10.0.0.3", parsed{kind: "cluster", addrs: []string{"10.0.0.1:7000", "10.0.0.2:7001", "10.0.0.3:6379"}}},
		{"redis+cluster://one:7000", parsed{kind: "cluster", addrs: []string{"one:7000"}}},
		{"rediss+cluster://u:p@a:1,b:2/?dial_timeout=3&prefix=s:", parsed{kind: "cluster", addrs: []string{"a:1", "b:2"}, user: "u", pass: "p", tls: true, dial: 3 * time.Second, prefix: "s:"}},
		{"redis+cluster://[::1]:7000,[::1]:7001", parsed{kind: "cluster", addrs: []string{"[::1]:7000", "[::1]:7001"}}},

		{"redis+sentinel://s1,s2:26380/mymaster", parsed{kind: "sentinel", addrs: []string{"s1:26379", "s2:26380"}, master: "mymaster"}},
		{"redis+sentinel://u:p@s1:26379/mymaster/4?sentinel_username=su&sentinel_password=sp", parsed{kind: "sentinel", addrs: []string{"s1:26379"}, master: "mymaster", db: 4, user: "u", pass: "p", sUser: "su", sPass: "sp"}},
		{"rediss+sentinel://:p@s1/m/?sentinel_password=sp&dial_timeout=1s", parsed{kind: "sentinel", addrs: []string{"s1:26379"}, master: "m", pass: "p", sPass: "sp", tls: true, dial: time.Second}},
	}
	for _, tt := range tests {
		uo, opts, err := ParseURL(tt.url)
		if err != nil {
			t.Errorf("ParseURL(%q): %v", tt.url, err)
			continue
		}
		got := summarize(uo, opts)
		if !equalParsed(got, tt.want) {
			t.Errorf("ParseURL(%q) =\n %+v\nwant\n %+v", tt.url, got, tt.want)
		}
		if !uo.ContextTimeoutEnabled {
			t.Errorf("ParseURL(%q): ContextTimeoutEnabled is off; a ctx deadline would not bound the network wait", tt.url)
		}
		// The options make the client the scheme says, without dialling.
		client := goredis.NewUniversalClient(uo)
		_, isCluster := client.(*goredis.ClusterClient)
		if isCluster != (got.kind == "cluster") {
			t.Errorf("ParseURL(%q): NewUniversalClient made a %T for a %s URL", tt.url, client, got.kind)
		}
		client.Close()
	}
}

func equalParsed(a, b parsed) bool {
	return slices.Equal(a.addrs, b.addrs) && a.kind == b.kind && a.db == b.db && a.user == b.user && a.pass == b.pass &&
		a.tls == b.tls && a.master == b.master && a.sUser == b.sUser && a.sPass == b.sPass &&
		a.prefix == b.prefix && a.maxValue == b.maxValue && a.dial == b.dial
}

// The password in these URLs is "hunter2pw"; no error may show it, raw or
// escaped, nor the sentinel password "sent1nelpw".
const (
	testPassword         = "hunter2pw"
	testSentinelPassword = "sent1nelpw"
)

func TestParseURLErrors(t *testing.T) {
	tests := []struct {
		url  string
		want string // part of the error message
	}{
		{"", "malformed URL"},
		{"localhost:6379", "malformed URL"},
		{"user:hunter2pw@redis://h", "unknown scheme"},
		{"http://u:hunter2pw@h", "unknown scheme"},
		{"redis+ring://u:hunter2pw@h", "unknown scheme"},
		{"unix://u:hunter2pw@/tmp/redis.sock", "unknown scheme"},
		{"redis://u:hunter2pw@h1,h2/0", "use redis+cluster://"},
		{"redis://u:hunter2pw@h:99999/0", "bad host:port"},
		{"redis://u:hunter2pw@h:/0", "bad host:port"},
		{"redis://u:hunter2pw@h:abc/0", "bad host"},
		{"redis://u:hunter2pw@::1/0", "bad host"},
		{"redis://u:hunter2pw@h/x", "invalid database number"},
		{"redis://u:hunter2pw@h/0/1", "invalid URL path"},
		{"redis://u:hunter2pw@h/0?dial_timeot=1s", "unexpected option: dial_timeot"},
		{"redis://u:hunter2pw@h/0?dial_timeout=soon", "invalid dial_timeout duration"},
		{"redis://u:hunter2pw@h/0?password=hunter2pw", "unexpected option: password"},
		{"redis://u:hunter2pw@h/0?prefix=", "prefix must be given once and not be empty"},
		{"redis://u:hunter2pw@h/0?prefix=a&prefix=b", "prefix must be given once"},
		{"redis://u:hunter2pw@h/0?max_value_size=-1", "max_value_size"},
		{"redis://u:hunter2pw@h/0?max_value_size=lots", "max_value_size"},
		{"redis://u:hunter2pw@h/0#frag", "fragment"},
		{"redis://u:hunter2pw@h/0?%zz", "malformed URL query"},
		{"redis://u:hunter2pw%zz@h/0", "malformed URL"},
		{"redis://u:hunter 2pw@h/0", "malformed URL"},
		// An unescaped / ? # or @ in the password ends the host part early.
		{"redis://u:hun/ter2pw@h/0", "'@' after the host part"},
		{"redis://u:hun?ter2pw@h/0", "'@' after the host part"},
		{"redis://u:hun#ter2pw@h/0", "'@' after the host part"},
		{"redis://u:hunter2pw@h/0?route_randomly=true", "routes reads to replicas"},

		{"redis+cluster://", "bad host:port"},
		{"redis+cluster://u:hunter2pw@a:1,,b:2", "bad host:port"},
		{"redis+cluster://u:hunter2pw@a:1,b:2/0", "takes no path"},
		{"redis+cluster://u:hunter2pw@a:1?addr=b:2", "addr is refused"},
		{"redis+cluster://u:hunter2pw@a:1?read_only=true", "routes reads to replicas"},
		{"redis+cluster://u:hunter2pw@a:1?route_by_latency=1", "routes reads to replicas"},
		{"redis+cluster://u:hunter2pw@a:1?max_redirects=x", "invalid max_redirects number"},
		{"redis+cluster://u:hunter2pw@a:1?pool_size=99999999999", "pool_size=99999999999 is out of range"},
		{"redis://u:hunter2pw@a:1?min_idle_conns=-3", "min_idle_conns=-3 is out of range"},
		{"redis+cluster://u:hunter2pw@a:1?bogus=1", "unexpected option: bogus"},

		{"redis+sentinel://u:hunter2pw@s1,s2", "needs the master's name"},
		{"redis+sentinel://u:hunter2pw@s1/m/0/1", "needs the master's name"},
		{"redis+sentinel://u:hunter2pw@s1/m/x", "invalid database number"},
		{"redis+sentinel://u:hunter2pw@s1/m?password=hunter2pw", "password is refused"},
		{"redis+sentinel://u:hunter2pw@s1/m?master_name=n", "master_name is refused"},
		{"redis+sentinel://u:hunter2pw@s1/m?replica_only=true", "routes reads to replicas"},
		{"redis+sentinel://u:hunter2pw@s1/m?sentinel_password=sent1nelpw&bogus=1", "unexpected option: bogus"},
		{"redis+sentinel://u:hunter2pw@s1/m?sentinel_password=sent1nelpw&max_active_conns=99999999999", "out of range"},
	}
	for _, tt := range tests {
		uo, _, err := ParseURL(tt.url)
		if err == nil {
			// Some option values pass the parser and are refused only when
			// the client is built.
			var c interface{ Close() error }
			c, err = newClient(uo, tt.url)
			if err == nil {
				c.Close()
				t.Errorf("ParseURL(%q) and newClient succeeded, want an error", tt.url)
				continue
			}
		}
		msg := err.Error()
		if !strings.Contains(msg, tt.want) {
			t.Errorf("ParseURL(%q) = %q, want it to contain %q", tt.url, msg, tt.want)
		}
		assertNoSecret(t, tt.url, msg)
	}
}

func assertNoSecret(t *testing.T, what, msg string) {
	t.Helper()
	for _, secret := range []string{testPassword, testSentinelPassword} {
		for _, form := range []string{secret, url.QueryEscape(secret), secret[:5]} {
			if strings.Contains(msg, form) {
				t.Errorf("%s: error %q shows (part of) a password", what, msg)
			}
		}
	}
}

func TestExpiry(t *testing.T) {
	tests := []struct{ in, want time.Duration }{
		{1, time.Millisecond},
		{time.Millisecond - 1, time.Millisecond},
		{time.Millisecond, time.Millisecond},
		{time.Millisecond + 1, 2 * time.Millisecond},
		{1500 * time.Microsecond, 2 * time.Millisecond},
		{time.Second, time.Second},
		{time.Hour + time.Nanosecond, time.Hour + time.Millisecond},
		{MaxTTL - time.Millisecond, MaxTTL - time.Millisecond},
		{MaxTTL - 1, MaxTTL},
		{MaxTTL, MaxTTL},
		{MaxTTL + 1, MaxTTL},
		{1 << 62, MaxTTL},
		{1<<63 - 1, MaxTTL},
	}
	for _, tt := range tests {
		if got := expiry(tt.in); got != tt.want {
			t.Errorf("expiry(%d) = %d, want %d", tt.in, got, tt.want)
		}
	}
	// The capped absolute deadline must fit Unix nanoseconds (which end in
	// 2262), as tools read it that way.
	if deadline := time.Now().Add(MaxTTL); deadline.Year() >= 2262 {
		t.Errorf("now + MaxTTL = %v, past what Unix nanoseconds can hold", deadline)
	}
}

// TestParseURLCarriesEverything checks that nothing go-redis' parsers read
// is lost on the way to UniversalOptions: for each form, with every
// parameter its go-redis parser knows, the options UniversalOptions gives
// that form's client equal what go-redis makes of the same URL in its own
// dialect.
func TestParseURLCarriesEverything(t *testing.T) {
	const common = "protocol=3&client_name=n&max_retries=5&min_retry_backoff=1ms&max_retry_backoff=2s" +
		"&dial_timeout=3s&read_timeout=4s&write_timeout=5s&pool_fifo=true&pool_size=7&pool_timeout=6s" +
		"&min_idle_conns=1&max_idle_conns=2&max_active_conns=9&max_concurrent_dials=3&pipeline_pool_size=4" +
		"&pipeline_read_buffer_size=4096&pipeline_write_buffer_size=8192&conn_max_idle_time=7s" +
		"&conn_max_lifetime=8s&conn_max_lifetime_jitter=1s"
	const dialer = "&dialer_retries=2&dialer_retry_timeout=50ms&route_by_latency_tolerance=1ms"

	t.Run("standalone", func(t *testing.T) {
		uo := mustParse(t, "rediss://u:p@h:1/2?skip_verify=true&prefix=x:&"+common)
		want, err := goredis.ParseURL("rediss://u:p@h:1/2?skip_verify=true&" + common)
		if err != nil {
			t.Fatal(err)
		}
		want.Network, want.ContextTimeoutEnabled = "", true // "tcp" is the default
		sameOptions(t, uo.Simple(), want)
	})
	t.Run("cluster", func(t *testing.T) {
		uo := mustParse(t, "rediss+cluster://u:p@a:1,b:2?max_redirects=4&failing_timeout_seconds=9&"+common+dialer)
		want, err := goredis.ParseClusterURL("rediss://u:p@a:1?addr=b:2&max_redirects=4&failing_timeout_seconds=9&" + common + dialer)
		if err != nil {
			t.Fatal(err)
		}
		want.ContextTimeoutEnabled = true
		sameOptions(t, uo.Cluster(), want)
	})
	t.Run("sentinel", func(t *testing.T) {
		extra := "&skip_verify=true&disableIdentity=true&identitySuffix=s&unstable_resp3=true&context_timeout_enabled=true"
		uo := mustParse(t, "rediss+sentinel://u:p@s1,s2:26380/m/3?sentinel_username=su&sentinel_password=sp&"+common+dialer+extra)
		want, err := goredis.ParseFailoverURL("rediss://su:sp@s1:26379/3?master_name=m&username=u&password=p&addr=s2:26380&" + common + dialer + extra)
		if err != nil {
			t.Fatal(err)
		}
		sameOptions(t, uo.Failover(), want)
	})
}

func mustParse(t *testing.T, rawURL string) *goredis.UniversalOptions {
	t.Helper()
	uo, _, err := ParseURL(rawURL)
	if err != nil {
		t.Fatalf("ParseURL(%q): %v", rawURL, err)
	}
	return uo
}

// sameOptions compares two go-redis option structs field by field.
func sameOptions[T any](t *testing.T, got, want *T) {
	t.Helper()
	g, w := reflect.ValueOf(got).Elem(), reflect.ValueOf(want).Elem()
	for i := range g.NumField() {
		f := g.Type().Field(i)
		if !f.IsExported() || f.Type.Kind() == reflect.Func {
			continue
		}
		if !reflect.DeepEqual(g.Field(i).Interface(), w.Field(i).Interface()) {
			t.Errorf("%s = %#v, want %#v (what go-redis parses)", f.Name, g.Field(i).Interface(), w.Field(i).Interface())
		}
	}
}

func TestParseURLBatching(t *testing.T) {
	for raw, off := range map[string]bool{
		"redis://h":                    false,
		"redis://h?batching=true":      false,
		"redis://h?batching=false":     true,
		"redis+cluster://h?batching=0": true,
	} {
		_, opts, err := ParseURL(raw)
		if err != nil || opts.DisableBatching != off {
			t.Errorf("ParseURL(%q) = DisableBatching %v, %v; want %v", raw, opts != nil && opts.DisableBatching, err, off)
		}
	}
	for _, raw := range []string{"redis://h?batching=maybe", "redis://h?batching=false&batching=true", "redis://h?batching="} {
		if _, _, err := ParseURL(raw); err == nil || !strings.Contains(err.Error(), "batching") {
			t.Errorf("ParseURL(%q) = %v, want an error about batching", raw, err)
		}
	}
}
