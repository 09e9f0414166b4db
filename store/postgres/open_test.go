package postgres_test

import (
	"context"
	"errors"
	"net"
	"net/url"
	"strings"
	"testing"
	"time"

	"github.com/stateless-go/stateless/internal/testenv"
	"github.com/stateless-go/stateless/store"
	"github.com/stateless-go/stateless/store/postgres"
)

// The password used in URLs whose errors are checked: it must never show.
const secret = "Sup3r-S3cret"

func TestParseURL(t *testing.T) {
	cfg, opts, err := postgres.ParseURL("postgresql://app:" + secret + "@db.example:6543/sessions?sslmode=disable" +
		"&table=auth.Sessions&skip_create=true&reap_interval=30s&reap_batch=250&max_value_size=1048576&batching=false" +
		"&application_name=greeter&pool_max_conns=7")
	if err != nil {
		t.Fatalf("ParseURL: %v", err)
	}
	want := postgres.Options{Table: "auth.Sessions", SkipCreate: true, ReapInterval: 30 * time.Second, ReapBatch: 250, MaxValueSize: 1 << 20, DisableBatching: true}
	if *opts != want {
		t.Errorf("options = %+v, want %+v", *opts, want)
	}
	c := cfg.ConnConfig
	if c.Host != "db.example" || c.Port != 6543 || c.Database != "sessions" || c.User != "app" || c.Password != secret {
		t.Errorf("connection = %s@%s:%d/%s, password kept: %v", c.User, c.Host, c.Port, c.Database, c.Password == secret)
	}
	if cfg.MaxConns != 7 {
		t.Errorf("pool_max_conns went to MaxConns = %d, want 7", cfg.MaxConns)
	}
	// pgx sends parameters it does not know to the server as run-time
	// settings, where ours would fail the connection.
	for k := range c.RuntimeParams {
		if k != "application_name" {
			t.Errorf("run-time parameter %q would reach the server", k)
		}
	}
	if c.RuntimeParams["application_name"] != "greeter" {
		t.Errorf("application_name = %q, want it passed to pgx", c.RuntimeParams["application_name"])
	}

	_, opts, err = postgres.ParseURL("postgres://127.0.0.1/db?reap_interval=off")
	if err != nil || opts.ReapInterval >= 0 {
		t.Errorf("reap_interval=off: (options %+v, err %v), want a negative ReapInterval", opts, err)
	}
	_, opts, err = postgres.ParseURL("postgres://127.0.0.1/db?batching=true")
	if err != nil || opts.DisableBatching {
		t.Errorf("batching=true: (options %+v, err %v), want batching on", opts, err)
	}
	_, opts, err = postgres.ParseURL("postgres://127.0.0.1/db")
	if err != nil || *opts != (postgres.Options{}) {
		t.Errorf("no parameters: (options %+v, err %v), want zero Options (the defaults)", opts, err)
	}
	// Escaped, a table name may hold anything but NUL.
	_, opts, err = postgres.ParseURL("postgres://127.0.0.1/db?table=" + url.QueryEscape(`we"ird; name`))
	if err != nil || opts.Table != `we"ird; name` {
		t.Errorf("escaped table name: (options %+v, err %v)", opts, err)
	}
}

// TestBadURLs checks that every kind of bad URL is a clear error without
// the password, from ParseURL, Open and store.Open alike, including the
// errors pgx makes (which quote the connection string).
func TestBadURLs(t *testing.T) {
	base := "postgres://app:" + secret + "@127.0.0.1:5432/db?sslmode=disable"
	tests := []struct {
		url  string
		want string // in the error
	}{
		{"mysql://app:" + secret + "@127.0.0.1/db", "scheme"},
		{"postgres://app:" + secret + "@127.0.0.1:5432/db?%zz", "malformed"},
		{"postgres://app:" + secret + "@127.0.0.1:port/db", "malformed"},
		{base + "&table=", "empty"},
		{base + "&table=a.b.c", "schema.name"},
		{base + "&table=" + strings.Repeat("t", 64), "longer than 63"},
		{base + "&table=x%00y", "NUL"},
		{base + "&table=a&table=b", "2 times"},
		{base + "&skip_create=maybe", "true or false"},
		{base + "&reap_interval=0", "positive duration"},
		{base + "&reap_interval=-1s", "positive duration"},
		{base + "&reap_interval=soon", "positive duration"},
		{base + "&reap_batch=0", "positive number"},
		{base + "&reap_batch=many", "positive number"},
		{base + "&max_value_size=0", "number of bytes"},
		{base + "&max_value_size=2000000000", "number of bytes"},
		{base + "&batching=sometimes", "true or false"},
		{base + "&batching=false&batching=true", "2 times"},
		// pgx's own parse errors:
		{strings.Replace(base, "sslmode=disable", "sslmode=bogus", 1), "sslmode"},
		{base + "&pool_max_conns=lots", "pool_max_conns"},
		{base + "&connect_timeout=soon", "connect_timeout"},
		{base + "&password=" + secret + "&sslmode=bogus", "sslmode"},
		{"postgres://app:" + url.PathEscape(secret+"/@:") + "@127.0.0.1:5432/db?sslmode=bogus", "sslmode"},
		{"postgres://app:" + secret + "@127.0.0.1:99999/db", "port"},
		{"postgres://app:" + secret + "@127.0.0.1/db#x", "%23"},
		{"postgres://app:pa#" + secret + "@127.0.0.1/db", "malformed"},
		// Too broken for any parser to see a password, and quoted by pgx.
		// (store.Open is not asked: its RedactURL shows a URL's path.)
		{"postgres:///:" + secret + "@?%00", "failed to parse"},
	}
	ctx := context.Background()
	for _, tt := range tests {
		_, _, parseErr := postgres.ParseURL(tt.url)
		_, openErr := postgres.Open(ctx, tt.url)
		errs := map[string]error{"ParseURL": parseErr, "Open": openErr}
		if !strings.HasPrefix(tt.url, "postgres:///") {
			_, errs["store.Open"] = store.Open(ctx, tt.url)
		}
		for name, err := range errs {
			if err == nil {
				t.Errorf("%s(%s) succeeded, want an error", name, store.RedactURL(tt.url))
				continue
			}
			msg := err.Error()
			if strings.Contains(msg, secret) || strings.Contains(msg, url.PathEscape(secret+"/@:")) {
				t.Errorf("%s error shows the password: %s", name, msg)
			}
			if name != "store.Open" || !strings.HasPrefix(tt.url, "mysql") {
				if !strings.Contains(msg, tt.want) {
					t.Errorf("%s(%s) = %q, want it to mention %q", name, store.RedactURL(tt.url), msg, tt.want)
				}
			}
		}
	}
}

func TestBadOptions(t *testing.T) {
	pool := testPool(t)
	for _, o := range []postgres.Options{
		{Table: "a.b.c"},
		{Table: ".x"},
		{Table: "x\x00y"},
		{Table: strings.Repeat("n", 64)},
		{ReapBatch: -1},
		{MaxValueSize: -1},
		{MaxValueSize: postgres.MaxValueSizeLimit + 1},
	} {
		if s, err := postgres.New(t.Context(), pool, &o); err == nil {
			s.Close()
			t.Errorf("New(%+v) succeeded, want an error", o)
		}
	}
	if _, err := postgres.New(t.Context(), nil, nil); err == nil {
		t.Errorf("New with a nil pool succeeded")
	}
}

// TestWrongPassword: the server refuses the credentials, so Open fails at
// once (waiting would not help), and says so without the password.
func TestWrongPassword(t *testing.T) {
	u, err := url.Parse(testenv.PostgresURL(t))
	if err != nil {
		t.Fatal(err)
	}
	u.User = url.UserPassword(u.User.Username(), secret)
	s, err := postgres.Open(t.Context(), u.String())
	if err == nil {
		s.Close()
		t.Skip("the test server accepts any password (trust authentication)")
	}
	if strings.Contains(err.Error(), secret) {
		t.Errorf("error shows the password: %v", err)
	}
	if !strings.Contains(err.Error(), "password authentication failed") {
		t.Errorf("Open with a wrong password = %v, want it to say authentication failed", err)
	}
}

// TestServerDownAtStart: a service can start before its database. Open
// succeeds with no server behind the address, Ping and every call fail
// until one answers, then the store creates its table and works, with no
// restart of the service.
func TestServerDownAtStart(t *testing.T) {
	target, err := url.Parse(testenv.PostgresURL(t))
	if err != nil {
		t.Fatal(err)
	}
	// A port nothing listens on yet; later a proxy to the real server
	// listens there, as a database would come up.
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := l.Addr().String()
	l.Close()
	u := *target
	u.Host = addr
	schema := testSchema(t)

	start := time.Now()
	s, err := postgres.Open(t.Context(), withParams(u.String(), "table="+schema+".late", "connect_timeout=5"))
	if err != nil {
		t.Fatalf("Open with the server down = %v, want a store that waits for it", err)
	}
	defer s.Close()
	t.Logf("Open returned in %v with the server down", time.Since(start).Round(time.Millisecond))
	if err := s.Ping(t.Context()); err == nil || errors.Is(err, store.ErrClosed) {
		t.Fatalf("Ping with the server down = %v, want a connection error", err)
	}
	if _, err := s.Create(t.Context(), "k", []byte("v"), time.Hour); err == nil {
		t.Fatalf("Create with the server down succeeded")
	}

	l, err = net.Listen("tcp", addr)
	if err != nil {
		t.Skipf("the port was taken meanwhile: %v", err)
	}
	go proxy(l, target.Host)
	t.Cleanup(func() { l.Close() })

	if err := s.Ping(t.Context()); err != nil {
		t.Fatalf("Ping once the server is up: %v", err)
	}
	v, err := s.Create(t.Context(), "k", []byte("v"), time.Hour)
	if err != nil {
		t.Fatalf("Create once the server is up: %v", err)
	}
	if rec, err := s.Get(t.Context(), "k"); err != nil || rec.Version != v {
		t.Fatalf("Get once the server is up = (%+v, %v)", rec, err)
	}
}

// proxy forwards every connection l accepts to target, until l closes.
func proxy(l net.Listener, target string) {
	for {
		c, err := l.Accept()
		if err != nil {
			return
		}
		go func() {
			defer c.Close()
			d, err := net.Dial("tcp", target)
			if err != nil {
				return
			}
			defer d.Close()
			done := make(chan struct{}, 2)
			go func() { copyConn(d, c); done <- struct{}{} }()
			go func() { copyConn(c, d); done <- struct{}{} }()
			<-done
		}()
	}
}

func copyConn(dst, src net.Conn) {
	buf := make([]byte, 32<<10)
	for {
		n, err := src.Read(buf)
		if n > 0 {
			if _, werr := dst.Write(buf[:n]); werr != nil {
				return
			}
		}
		if err != nil {
			return
		}
	}
}
