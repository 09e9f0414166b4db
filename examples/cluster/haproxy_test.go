package cluster

import (
	"bufio"
	"context"
	"encoding/csv"
	"fmt"
	"io"
	"net/http"
	"os"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"testing"
	"time"
)

// HAProxy's ports inside its container. The fleet frontend and the stats
// page are deploy/haproxy.cfg's; the other two are added by haproxyConfig.
const (
	portFleet    = "8080/tcp" // frontend greeter → backend greeters (deploy/haproxy.cfg as shipped)
	portDirect   = "8081/tcp" // one greeter, chosen by X-Target, never health-checked
	portRetry503 = "8082/tcp" // backend greeters plus "retry-on … 503"
	portStats    = "8404/tcp" // listen stats (deploy/haproxy.cfg), read as CSV

	backendFleet    = "greeters"
	backendRetry503 = "greeters_retry503"
)

// greeterNames are the servers of deploy/haproxy.cfg, and so the network
// aliases the greeter containers get.
var greeterNames = []string{"greeter1", "greeter2", "greeter3"}

// haproxyConfig is deploy/haproxy.cfg as shipped, with sections added
// after it that change nothing it says:
//
//   - frontend direct (:8081) sends a request to the one greeter its
//     X-Target header names (greeter1 by default), through a backend of
//     that server alone without health checks: a probe of a greeter's own
//     /readyz that publishes no greeter port, and the one-instance side of
//     the throughput comparison;
//   - frontend retry503 (:8082) serves backend greeters_retry503, a copy of
//     backend greeters that also retries a 503 (see the partition
//     scenario).
func haproxyConfig(t *testing.T) string {
	t.Helper()
	b, err := os.ReadFile(filepath.Join(moduleRoot(t), "deploy", "haproxy.cfg"))
	if err != nil {
		t.Fatal(err)
	}
	base := string(b)
	for _, name := range greeterNames {
		if !strings.Contains(base, "server "+name+" "+name+":5000") {
			t.Fatalf("cluster: deploy/haproxy.cfg has no line \"server %s %s:5000\": this test expects its three greeters", name, name)
		}
	}
	for _, want := range []string{"bind :8080", "bind :8404", "stats uri /", "resolvers docker"} {
		if !strings.Contains(base, want) {
			t.Fatalf("cluster: deploy/haproxy.cfg has no %q: update the test's assumptions", want)
		}
	}
	fleet := section(base, "backend "+backendFleet)
	if fleet == "" {
		t.Fatalf("cluster: deploy/haproxy.cfg has no section \"backend %s\"", backendFleet)
	}
	variant := strings.Replace(fleet, "backend "+backendFleet+"\n",
		"backend "+backendRetry503+"\n"+
			"    # As backend greeters, and a 503 (a greeter that cannot reach the\n"+
			"    # store, before its health checks take it out) is tried again elsewhere.\n"+
			"    retry-on conn-failure empty-response 503\n", 1)

	var sb strings.Builder
	sb.WriteString(base)
	sb.WriteString("\n# ---- added by examples/cluster (measurement only) ----\n\n")
	sb.WriteString("frontend retry503\n    bind :8082\n    default_backend " + backendRetry503 + "\n\n")
	sb.WriteString(variant)
	sb.WriteString("\nfrontend direct\n    bind :8081\n" +
		"    use_backend direct_%[req.hdr(X-Target)] if { req.hdr(X-Target) -m found }\n" +
		"    default_backend direct_greeter1\n")
	for _, name := range greeterNames {
		fmt.Fprintf(&sb, "\nbackend direct_%s\n    server %[1]s %[1]s:5000 resolvers docker init-addr last,libc,none\n", name)
	}
	return sb.String()
}

// section returns the lines of the configuration section that starts with
// the line head, up to the next section, with a final newline.
func section(cfg, head string) string {
	var out []string
	in := false
	for line := range strings.SplitSeq(cfg, "\n") {
		switch {
		case line == head:
			in = true
		case in && line != "" && line[0] != ' ' && line[0] != '\t' && line[0] != '#':
			in = false
		}
		if in {
			out = append(out, line)
		}
	}
	return strings.TrimRight(strings.Join(out, "\n"), "\n") + "\n"
}

// serverStates reads HAProxy's stats page as CSV: backend/server → status
// ("UP", "DOWN", "UP 1/2", "MAINT (resolution)", "no check", …).
func serverStates(ctx context.Context, hc *http.Client, statsURL string) (map[string]string, error) {
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, statsURL+"/;csv", nil)
	if err != nil {
		return nil, err
	}
	resp, err := hc.Do(req)
	if err != nil {
		return nil, err
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(resp.Body)
	if err != nil {
		return nil, err
	}
	if resp.StatusCode != http.StatusOK {
		return nil, fmt.Errorf("stats: %s", resp.Status)
	}
	r := csv.NewReader(strings.NewReader(strings.TrimPrefix(string(body), "# ")))
	r.FieldsPerRecord = -1
	rows, err := r.ReadAll()
	if err != nil {
		return nil, fmt.Errorf("stats CSV: %w", err)
	}
	if len(rows) == 0 {
		return nil, fmt.Errorf("stats CSV: empty")
	}
	col := map[string]int{}
	for i, name := range rows[0] {
		col[name] = i
	}
	px, sv, st := col["pxname"], col["svname"], col["status"]
	if st == 0 {
		return nil, fmt.Errorf("stats CSV: no status column in %q", rows[0])
	}
	out := map[string]string{}
	for _, row := range rows[1:] {
		if len(row) > st {
			out[row[px]+"/"+row[sv]] = row[st]
		}
	}
	return out, nil
}

// haproxyLine reads deploy/haproxy.cfg's "option httplog" lines: frontend,
// backend/server, the timers Tq/Tw/Tc/Tr/Ta, status, bytes, cookies,
// termination state, connection counts with the retries last ("+" when
// redispatched), queues, request line.
var haproxyLine = regexp.MustCompile(`^\S+ \[[^\]]+\] (\S+) \S+/\S+ -?\d+/-?\d+/-?\d+/-?\d+/(-?\d+) \d+ \S+ \S+ \S+ \S+ \d+/\d+/\d+/\d+/(\+?)(\d+) `)

// haproxyLog is what HAProxy has logged so far: how many lines, and the
// requests it retried.
type haproxyLog struct {
	lines   int
	retried []retriedRequest
}

type retriedRequest struct {
	line         int
	frontend     string
	redispatched bool // retried on another server
	took         time.Duration
}

// haproxyRetries reads HAProxy's log.
func (f *fleet) haproxyRetries() haproxyLog {
	f.t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	rc, err := f.haproxy.Logs(ctx)
	if err != nil {
		f.t.Fatalf("cluster: HAProxy's logs: %v", err)
	}
	defer rc.Close()
	var out haproxyLog
	sc := bufio.NewScanner(rc)
	sc.Buffer(make([]byte, 64<<10), 1<<20)
	for ; sc.Scan(); out.lines++ {
		m := haproxyLine.FindStringSubmatch(sc.Text())
		if m == nil || m[4] == "0" {
			continue
		}
		ta, _ := strconv.Atoi(m[2])
		out.retried = append(out.retried, retriedRequest{line: out.lines, frontend: m[1], redispatched: m[3] == "+", took: time.Duration(ta) * time.Millisecond})
	}
	if err := sc.Err(); err != nil {
		f.t.Fatalf("cluster: reading HAProxy's logs: %v", err)
	}
	return out
}

// delta is what was retried through frontend after before was read: how
// many requests, how many on another server, and the slowest.
func (l haproxyLog) delta(before haproxyLog, frontend string) (n, redispatched int, slowest time.Duration) {
	for _, r := range l.retried {
		if r.line < before.lines || r.frontend != frontend {
			continue
		}
		n++
		if r.redispatched {
			redispatched++
		}
		slowest = max(slowest, r.took)
	}
	return n, redispatched, slowest
}

// since describes delta.
func (l haproxyLog) since(before haproxyLog, frontend string) string {
	n, redispatched, slowest := l.delta(before, frontend)
	if n == 0 {
		return "HAProxy retried no request"
	}
	return fmt.Sprintf("HAProxy retried %d requests (%d on another server), the slowest taking %s", n, redispatched, ms(slowest))
}
