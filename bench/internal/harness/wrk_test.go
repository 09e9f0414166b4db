package harness

import (
	"context"
	"io"
	"net/http"
	"net/http/httptest"
	"os/exec"
	"path/filepath"
	"testing"
	"time"
)

// wrk 4.1.0's output with --latency and the script's BENCH line.
const wrkOut = `Running 3s test @ http://127.0.0.1:33687/greet
  2 threads and 32 connections
  Thread Stats   Avg      Stdev     Max   +/- Stdev
    Latency     1.21ms    1.74ms  15.32ms   86.94%
    Req/Sec    26.11k     3.85k   35.12k    66.67%
  Latency Distribution
     50%  492.00us
     75%    1.61ms
     90%    3.48ms
     99%    1.02s
  155862 requests in 3.00s, 25.12MB read
  Socket errors: connect 1, read 2, write 3, timeout 4
  Non-2xx or 3xx responses: 7
Requests/sec:  51919.61
Transfer/sec:      8.37MB
BENCH non2xx=7 wrong=5 requests=155862
`

func TestParse(t *testing.T) {
	r := Result{Output: wrkOut}
	if err := r.parse(); err != nil {
		t.Fatal(err)
	}
	want := Result{
		ReqPerSec: 51919.61, Requests: 155862, Non2xx: 7, Wrong: 5, SocketErrors: 10,
		P50: 492 * time.Microsecond, P99: 1020 * time.Millisecond, Output: wrkOut,
	}
	if r != want {
		t.Errorf("parsed %+v\nwant   %+v", r, want)
	}
	if r.Bad() != 22 {
		t.Errorf("Bad() = %d, want 22", r.Bad())
	}
}

func TestParseRefusesOutputWithoutTheScript(t *testing.T) {
	r := Result{Output: "Requests/sec:  100.00\n"}
	if err := r.parse(); err == nil {
		t.Error("parse accepted output without the BENCH line: the answers would go unchecked")
	}
}

// TestScriptBearerMode runs the script under wrk (if installed) against a
// server that answers one token right, one with a greeting of no subject
// of the pool and one with 401: the script must count the last two, and
// nothing against a server that answers all three right.
func TestScriptBearerMode(t *testing.T) {
	wrk, err := exec.LookPath("wrk")
	if err != nil {
		t.Skip("wrk not installed")
	}
	dir := t.TempDir()
	script, err := WriteScript(dir)
	if err != nil {
		t.Fatal(err)
	}
	file := filepath.Join(dir, "pool")
	if err := WriteBearerTokens(file, []string{"aaa.b.c", "ddd.e.f", "ggg.h.i"}, []string{"user-1", "user-2", "user-3"}); err != nil {
		t.Fatal(err)
	}
	for _, broken := range []bool{false, true} {
		srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			switch r.Header.Get("Authorization") {
			case "Bearer aaa.b.c":
				io.WriteString(w, Greeting("user-1"))
			case "Bearer ddd.e.f":
				if broken {
					io.WriteString(w, Greeting("World"))
				} else {
					io.WriteString(w, Greeting("user-2"))
				}
			case "Bearer ggg.h.i":
				if broken {
					w.WriteHeader(http.StatusUnauthorized)
				} else {
					io.WriteString(w, Greeting("user-3"))
				}
			default:
				w.WriteHeader(http.StatusBadRequest)
			}
		}))
		res, err := Load{Wrk: wrk, Script: script, URL: srv.URL, Path: "/greet", Tokens: file, Bearer: true,
			Threads: 1, Conns: 2, Duration: time.Second}.Run(context.Background())
		srv.Close()
		if err != nil {
			t.Fatal(err)
		}
		if res.Requests < 30 {
			t.Fatalf("broken %v: only %d requests: %s", broken, res.Requests, res.Output)
		}
		if !broken && (res.Wrong != 0 || res.Non2xx != 0) {
			t.Errorf("right answers counted bad: wrong %d, non-2xx %d of %d", res.Wrong, res.Non2xx, res.Requests)
		}
		// A third of the answers each; wrk may cut the last ones off.
		if third := res.Requests / 3; broken && (res.Wrong < third-2 || res.Non2xx < third-2) {
			t.Errorf("bad answers not counted: wrong %d, non-2xx %d of %d", res.Wrong, res.Non2xx, res.Requests)
		}
	}
}
