package harness

import (
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
