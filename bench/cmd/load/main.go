// Command load measures our Greeter (examples/greeter, package session)
// against the same routes on alexedwards/scs (bench/cmd/peer), side by side
// in one run on one machine, with wrk.
//
// For each backend (memory, redis, postgres) it starts the store server if
// needed (redis-server, postgres on a temp dir, loopback only), both HTTP
// servers over it, logs in -sessions sessions on each, and then runs wrk
// with a Lua script that spreads requests over those sessions, one session
// cookie per request, for each scenario:
//
//	baseline  GET /greet?name=Alice, no session
//	read      GET /greet with a session cookie (greets the session's name)
//	rmw       GET /session with a session cookie (visits+1: read-modify-write)
//
// The servers alternate within every round (ours, scs, then scs, ours in
// the next round: ABBA, so a linear drift of the machine cancels out), and
// the table gives the median of the rounds. Every response is checked:
// non-2xx answers, "World" where the session's name was expected, and
// socket errors are counted and shown; after the rmw runs, the visits of
// every session are read back and compared with the 2xx answers counted.
//
//	cd bench && go run ./cmd/load -backends memory,redis,postgres -duration 10s
package main

import (
	"context"
	"encoding/json"
	"flag"
	"fmt"
	"io"
	"log"
	"os"
	"os/exec"
	"os/signal"
	"path/filepath"
	"slices"
	"strings"
	"syscall"
	"time"

	"github.com/stateless-go/stateless/bench/internal/harness"
)

type config struct {
	backends, scenarios, servers []string
	duration, warmup             time.Duration
	rounds, sessions             int
	threads, conns               int
	redisPort, pgPort            int
	redisURL, pgURL              string
	pgNonDurable                 bool
	out                          string
	wrk                          string
	serverCPUs, wrkCPUs          string
}

func main() {
	log.SetFlags(log.Ltime | log.Lmicroseconds)
	var c config
	var backends, scenarios, servers string
	flag.StringVar(&backends, "backends", "memory,redis,postgres", "comma-separated backends: memory, redis, postgres")
	flag.StringVar(&scenarios, "scenarios", "baseline,read,rmw", "comma-separated scenarios: baseline, read, rmw")
	flag.StringVar(&servers, "servers", "ours,scs", "comma-separated servers to load: ours, scs")
	flag.DurationVar(&c.duration, "duration", 10*time.Second, "length of each measured wrk run (whole seconds)")
	flag.DurationVar(&c.warmup, "warmup", 2*time.Second, "length of one unmeasured wrk run per server and scenario before the rounds; 0 for none")
	flag.IntVar(&c.rounds, "rounds", 3, "measured runs per server and scenario, alternating the servers")
	flag.IntVar(&c.sessions, "sessions", 200, "sessions logged in on each server; requests are spread over them")
	flag.IntVar(&c.threads, "threads", 2, "wrk -t")
	flag.IntVar(&c.conns, "conns", 32, "wrk -c")
	flag.IntVar(&c.redisPort, "redis-port", 16390, "port of the redis-server this command starts on 127.0.0.1")
	flag.IntVar(&c.pgPort, "pg-port", 15440, "port of the postgres this command starts on 127.0.0.1")
	flag.StringVar(&c.redisURL, "redis-url", "", "use this Redis (redis://127.0.0.1:PORT/DB) instead of starting one")
	flag.StringVar(&c.pgURL, "postgres-url", "", "use this PostgreSQL (postgres://…) instead of starting one")
	flag.BoolVar(&c.pgNonDurable, "pg-nondurable", false, "start postgres with fsync, synchronous_commit and full_page_writes off")
	flag.StringVar(&c.out, "out", "", "directory for logs, token files and results (default: a new temp dir)")
	flag.StringVar(&c.wrk, "wrk", "wrk", "wrk binary (apt-get install -y wrk)")
	flag.StringVar(&c.serverCPUs, "server-cpus", "", "if set, run the servers under taskset -c LIST")
	flag.StringVar(&c.wrkCPUs, "wrk-cpus", "", "if set, run wrk under taskset -c LIST")
	flag.Parse()
	c.backends, c.scenarios, c.servers = split(backends), split(scenarios), split(servers)
	if err := c.check(); err != nil {
		fmt.Fprintln(os.Stderr, "load:", err)
		os.Exit(2)
	}
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	err := run(ctx, c)
	stop()
	harness.StopAll()
	if err != nil {
		fmt.Fprintln(os.Stderr, "load:", err)
		os.Exit(1)
	}
}

func split(s string) []string {
	var out []string
	for _, f := range strings.Split(s, ",") {
		if f = strings.TrimSpace(f); f != "" {
			out = append(out, f)
		}
	}
	return out
}

func (c *config) check() error {
	for _, b := range c.backends {
		if !slices.Contains([]string{"memory", "redis", "postgres"}, b) {
			return fmt.Errorf("unknown backend %q: want memory, redis or postgres", b)
		}
	}
	for _, s := range c.scenarios {
		if _, ok := scenarioDefs[s]; !ok {
			return fmt.Errorf("unknown scenario %q: want baseline, read or rmw", s)
		}
	}
	for _, s := range c.servers {
		if s != "ours" && s != "scs" {
			return fmt.Errorf("unknown server %q: want ours or scs", s)
		}
	}
	if len(c.backends) == 0 || len(c.scenarios) == 0 || len(c.servers) == 0 {
		return fmt.Errorf("nothing to run")
	}
	if c.duration < time.Second || c.rounds < 1 || c.sessions < 1 || c.threads < 1 || c.conns < c.threads {
		return fmt.Errorf("need -duration >= 1s, -rounds >= 1, -sessions >= 1, -conns >= -threads >= 1")
	}
	if _, err := exec.LookPath(c.wrk); err != nil {
		return fmt.Errorf("wrk not found (apt-get install -y wrk): %w", err)
	}
	return nil
}

type scenario struct {
	path     string
	sessions bool
	word     string // a 2xx body containing it is wrong
}

var scenarioDefs = map[string]scenario{
	"baseline": {path: "/greet?name=Alice"},
	"read":     {path: "/greet", sessions: true, word: "World"},
	"rmw":      {path: "/session", sessions: true},
}

// row is one backend × scenario × server: all its measured runs.
type row struct {
	Backend, Scenario, Server string
	Runs                      []harness.Result
	Skipped                   string `json:",omitempty"`
}

func (r *row) median() float64 {
	v := make([]float64, len(r.Runs))
	for i, x := range r.Runs {
		v[i] = x.ReqPerSec
	}
	slices.Sort(v)
	if len(v) == 0 {
		return 0
	}
	if len(v)%2 == 1 {
		return v[len(v)/2]
	}
	return (v[len(v)/2-1] + v[len(v)/2]) / 2
}

func (r *row) bad() (n int64) {
	for _, x := range r.Runs {
		n += x.Bad()
	}
	return n
}

func (r *row) p99() time.Duration {
	var d []time.Duration
	for _, x := range r.Runs {
		d = append(d, x.P99)
	}
	slices.Sort(d)
	if len(d) == 0 {
		return 0
	}
	return d[len(d)/2]
}

// check is the read-back after the rmw runs.
type check struct {
	Backend, Server string
	Counted2xx      int64 // 2xx answers wrk counted for GET /session (warm-up included)
	Increments      int64 // visits gained over all sessions, read back
}

func run(ctx context.Context, c config) error {
	repo, err := harness.ModuleDir(".", "github.com/stateless-go/stateless")
	if err != nil {
		return err
	}
	bench, err := harness.ModuleDir(".", "github.com/stateless-go/stateless/bench")
	if err != nil {
		return err
	}
	if c.out == "" {
		if c.out, err = os.MkdirTemp("", "stateless-bench-"); err != nil {
			return err
		}
	} else if err := os.MkdirAll(c.out, 0o755); err != nil {
		return err
	}
	os.Chmod(c.out, 0o755) // postgres, run as its own user, writes under it
	logf("logs and results in %s", c.out)

	logf("building examples/greeter (ours) and cmd/peer (scs)")
	bins, err := harness.BuildServers(ctx, repo, bench, c.out)
	if err != nil {
		return err
	}
	script, err := harness.WriteScript(c.out)
	if err != nil {
		return err
	}

	var rows []*row
	var checks []check
	for _, backend := range c.backends {
		rs, cs, err := runBackend(ctx, c, bins, script, backend)
		if err != nil {
			return fmt.Errorf("%s: %w", backend, err)
		}
		rows = append(rows, rs...)
		checks = append(checks, cs...)
	}

	var md strings.Builder
	report(&md, c, rows, checks)
	fmt.Print("\n" + md.String())
	os.WriteFile(filepath.Join(c.out, "results.md"), []byte(md.String()), 0o644)
	if b, err := json.MarshalIndent(map[string]any{"rows": rows, "checks": checks}, "", "  "); err == nil {
		os.WriteFile(filepath.Join(c.out, "results.json"), b, 0o644)
	}
	return nil
}

func prefix(cpus string) []string {
	if cpus == "" {
		return nil
	}
	return []string{"taskset", "-c", cpus}
}

func runBackend(ctx context.Context, c config, bins harness.Binaries, script, backend string) ([]*row, []check, error) {
	dir := filepath.Join(c.out, backend)
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return nil, nil, err
	}
	var storeURL string
	var backendProc *harness.Proc
	var err error
	switch backend {
	case "memory":
		storeURL = "memory://"
	case "redis":
		storeURL = c.redisURL
		if storeURL == "" {
			logf("starting redis-server on 127.0.0.1:%d", c.redisPort)
			storeURL, backendProc, err = harness.StartRedis(ctx, dir, c.redisPort)
		}
	case "postgres":
		storeURL = c.pgURL
		if storeURL == "" {
			logf("starting postgres on 127.0.0.1:%d (durable: %v)", c.pgPort, !c.pgNonDurable)
			storeURL, backendProc, err = harness.StartPostgres(ctx, dir, c.pgPort, harness.PostgresOptions{NonDurable: c.pgNonDurable})
		}
	}
	if err != nil {
		return nil, nil, err
	}
	if backendProc != nil {
		defer backendProc.Stop()
	}

	// Start the servers and log in their sessions.
	type target struct {
		srv    *harness.Server
		tokens string
		toks   []string
	}
	targets := map[string]*target{}
	var rows []*row
	var order []string
	for _, name := range c.servers {
		bin := bins.Ours
		if name == "scs" {
			bin = bins.Peer
		}
		srv, err := harness.StartServer(ctx, name, bin, storeURL, dir, 0, prefix(c.serverCPUs))
		if err != nil {
			why := oneLine(err.Error())
			logf("%s/%s: SKIPPED: %s", backend, name, why)
			for _, sc := range c.scenarios {
				rows = append(rows, &row{Backend: backend, Scenario: sc, Server: name, Skipped: why})
			}
			continue
		}
		defer srv.Proc.Stop()
		t := &target{srv: srv, tokens: filepath.Join(dir, name+".tokens")}
		for i := range c.sessions {
			tok, err := harness.Login(ctx, srv.Base, fmt.Sprintf("user-%d", i))
			if err != nil {
				return nil, nil, fmt.Errorf("%s: login: %w", name, err)
			}
			t.toks = append(t.toks, tok)
		}
		if err := harness.WriteTokens(t.tokens, t.toks); err != nil {
			return nil, nil, err
		}
		// The session works: /greet greets its name.
		code, body, err := harness.Get(ctx, srv.Base, "/greet", t.toks[0])
		if err != nil || code != 200 || !strings.Contains(string(body), "user-0") {
			return nil, nil, fmt.Errorf("%s: GET /greet with a session: %d %s %v", name, code, body, err)
		}
		targets[name] = t
		order = append(order, name)
		logf("%s/%s: %s up, %d sessions logged in", backend, name, srv.Base, c.sessions)
	}

	byKey := map[string]*row{}
	for _, sc := range c.scenarios {
		for _, name := range order {
			r := &row{Backend: backend, Scenario: sc, Server: name}
			byKey[sc+"/"+name] = r
			rows = append(rows, r)
		}
	}
	counted := map[string]int64{} // rmw 2xx per server

	load := func(name, sc string, d time.Duration) (harness.Result, error) {
		t, def := targets[name], scenarioDefs[sc]
		l := harness.Load{
			Wrk: c.wrk, Prefix: prefix(c.wrkCPUs), Script: script, URL: t.srv.Base, Path: def.path,
			Word: def.word, Threads: c.threads, Conns: c.conns, Duration: d,
		}
		if def.sessions {
			l.Tokens = t.tokens
		}
		res, err := l.Run(ctx)
		if err != nil {
			return res, fmt.Errorf("%s %s: %w", name, sc, err)
		}
		if sc == "rmw" {
			counted[name] += res.Requests - res.Non2xx
		}
		if t.srv.Proc.Exited() {
			return res, fmt.Errorf("%s exited during the run: %s", name, t.srv.Proc.LogTail(5))
		}
		return res, nil
	}

	if c.warmup > 0 {
		for _, sc := range c.scenarios {
			for _, name := range order {
				logf("%s/%s/%s: warm-up %v", backend, sc, name, c.warmup)
				if _, err := load(name, sc, c.warmup); err != nil {
					return nil, nil, err
				}
			}
		}
	}
	for round := 1; round <= c.rounds; round++ {
		seq := slices.Clone(order)
		if round%2 == 0 {
			slices.Reverse(seq)
		}
		for _, sc := range c.scenarios {
			for _, name := range seq {
				res, err := load(name, sc, c.duration)
				if err != nil {
					return nil, nil, err
				}
				byKey[sc+"/"+name].Runs = append(byKey[sc+"/"+name].Runs, res)
				logf("%s/%s/%s round %d: %.0f req/s, p99 %v, non-2xx %d, wrong %d, socket errors %d",
					backend, sc, name, round, res.ReqPerSec, res.P99, res.Non2xx, res.Wrong, res.SocketErrors)
			}
		}
	}

	// Read back every session's visits: each GET /session must have
	// counted exactly one.
	var checks []check
	if slices.Contains(c.scenarios, "rmw") {
		for _, name := range order {
			var sum int64
			for _, tok := range targets[name].toks {
				v, err := harness.Visits(ctx, targets[name].srv.Base, tok)
				if err != nil {
					return nil, nil, fmt.Errorf("%s: read back: %w", name, err)
				}
				sum += v - 1 // the read-back itself counted one
			}
			checks = append(checks, check{Backend: backend, Server: name, Counted2xx: counted[name], Increments: sum})
		}
	}
	return rows, checks, nil
}

func report(w io.Writer, c config, rows []*row, checks []check) {
	fmt.Fprintf(w, "wrk -t%d -c%d, %d sessions, %d round(s) of %v per server and scenario (median), warm-up %v; %s\n\n",
		c.threads, c.conns, c.sessions, c.rounds, c.duration, c.warmup, time.Now().Format("2006-01-02 15:04"))
	fmt.Fprintln(w, "| backend | scenario | ours req/s | scs req/s | ours/scs | ours p99 | scs p99 | bad answers ours / scs |")
	fmt.Fprintln(w, "|---|---|---:|---:|---:|---:|---:|---:|")
	find := func(b, sc, s string) *row {
		for _, r := range rows {
			if r.Backend == b && r.Scenario == sc && r.Server == s {
				return r
			}
		}
		return nil
	}
	cell := func(r *row) (string, string, string) {
		switch {
		case r == nil:
			return "—", "—", "—"
		case r.Skipped != "" || len(r.Runs) == 0:
			return "skipped", "—", "—"
		}
		return fmt.Sprintf("%.0f", r.median()), r.p99().Round(10 * time.Microsecond).String(), fmt.Sprint(r.bad())
	}
	for _, b := range c.backends {
		for _, sc := range c.scenarios {
			o, s := find(b, sc, "ours"), find(b, sc, "scs")
			orps, op99, obad := cell(o)
			srps, sp99, sbad := cell(s)
			ratio := "—"
			if o != nil && s != nil && len(o.Runs) > 0 && len(s.Runs) > 0 && s.median() > 0 {
				ratio = fmt.Sprintf("%.2f×", o.median()/s.median())
			}
			fmt.Fprintf(w, "| %s | %s | %s | %s | %s | %s | %s | %s / %s |\n", b, sc, orps, srps, ratio, op99, sp99, obad, sbad)
		}
	}
	fmt.Fprintln(w, "\nPer run (req/s, in run order within each round):")
	for _, r := range rows {
		if r.Skipped != "" {
			fmt.Fprintf(w, "- %s %s %s: skipped: %s\n", r.Backend, r.Scenario, r.Server, r.Skipped)
			continue
		}
		var v []string
		for _, x := range r.Runs {
			v = append(v, fmt.Sprintf("%.0f", x.ReqPerSec))
		}
		fmt.Fprintf(w, "- %s %s %s: %s\n", r.Backend, r.Scenario, r.Server, strings.Join(v, ", "))
	}
	if len(checks) > 0 {
		fmt.Fprintln(w, "\nRead-modify-write check (GET /session 2xx counted by wrk vs visits read back; wrk does not count up to -conns requests in flight when a run stops, so increments may exceed the count by that much):")
		fmt.Fprintln(w, "\n| backend | server | 2xx counted | increments stored | lost |")
		fmt.Fprintln(w, "|---|---|---:|---:|---:|")
		for _, k := range checks {
			lost := k.Counted2xx - k.Increments
			fmt.Fprintf(w, "| %s | %s | %d | %d | %d |\n", k.Backend, k.Server, k.Counted2xx, k.Increments, max(lost, 0))
		}
	}
}

func oneLine(s string) string {
	s = strings.ReplaceAll(s, "\n", " | ")
	if len(s) > 300 {
		s = s[:300] + "…"
	}
	return s
}

func logf(format string, args ...any) {
	log.Printf(format, args...)
}
