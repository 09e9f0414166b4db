// Command load measures our Greeter (examples/greeter) against peers
// serving the same routes, side by side in one run on one machine, with
// wrk: alexedwards/scs (bench/cmd/peer) for sessions, go-chi/jwtauth
// (bench/cmd/jwtpeer) for access tokens.
//
// For each backend (memory, redis, postgres) it starts the store server if
// needed (redis-server, postgres on a temp dir, loopback only), the HTTP
// servers over it, logs in -sessions sessions on each server that has
// sessions, fetches -tokens access tokens (POST /token) from each of ours
// when a Bearer scenario is run, and then runs wrk with a Lua script that
// spreads requests over those credentials, one per request, for each
// scenario:
//
//	baseline      GET /greet?name=Alice, no session, no token
//	read          GET /greet with a session cookie (greets the session's name)
//	rmw           POST /session/visits with a session cookie (visits+1: read-modify-write)
//	rmw-key       rmw with a new Idempotency-Key on every request (ours only)
//	replay        rmw with one Idempotency-Key per session: after each session's first, replays (ours only)
//	session       GET /session with a session cookie (a session read answering what replay answers)
//	bearer        GET /greet with one access token, the same on every request
//	bearer-fresh  GET /greet with the next of -tokens access tokens on each request
//
// Servers (-servers): ours (examples/greeter, its verified-token cache at
// the default size), ours-nocache (the same with -token-cache -1: every
// token verified in full), scs (sessions only) and jwtauth (tokens only;
// it verifies the tokens of ours-nocache, else of ours, with nothing but
// the public key from that server's /.well-known/jwks.json, and is loaded
// with the very same token files).
//
// The servers alternate within every round, and every other round runs
// the whole sequence of (scenario, server) runs in reverse (ABBA, so a
// linear drift of the machine cancels out, between servers and between
// scenarios), and the tables give the median of the rounds. A ratio is
// given both as the ratio of two such medians and as the median of its
// per-round ratios, which pair runs made a few seconds apart and so hold
// up better when the machine's speed drifts. Every response is checked:
// non-2xx answers, "World" where the session's name was expected, a
// greeting of no subject of the token pool where a token was sent, and
// socket errors are counted and shown; before the runs every token is
// checked to greet its own subject on every server it is sent to; after
// the rmw runs, the visits of every session are read back and compared
// with the 2xx answers counted.
//
//	cd bench && go run ./cmd/load -backends memory,redis,postgres -duration 10s
//	cd bench && go run ./cmd/load -backends memory -servers ours,ours-nocache,jwtauth -scenarios baseline,bearer,bearer-fresh
package main

import (
	"bytes"
	"context"
	"crypto/rand"
	"encoding/base64"
	"encoding/hex"
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
	"sync"
	"syscall"
	"time"

	"github.com/stateless-go/stateless/bench/internal/chart"
	"github.com/stateless-go/stateless/bench/internal/harness"
)

type config struct {
	backends, scenarios, servers []string
	duration, warmup             time.Duration
	rounds, sessions, tokens     int
	tokenLifetime                time.Duration
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
	flag.StringVar(&scenarios, "scenarios", "baseline,read,rmw", "comma-separated scenarios: baseline, read, rmw, bearer, bearer-fresh")
	flag.StringVar(&servers, "servers", "ours,scs", "comma-separated servers to load: ours, ours-nocache, ours-nometrics (-metrics=false), ours-logged (default access log: every line up to 1,000 a second, then sampled), ours-logged-all (every line: -log-sample-initial 0), scs, jwtauth, bare (net/http only; baseline), bare-headers (bare with the example server's X-Content-Type-Options and X-Served-By), bare-gogc200 (bare with GOGC=200: the 8 MiB minimum heap target the example server keeps when GOGC is unset), ours-logged-gogc100 (ours-logged with GOGC=100: Go's defaults, no heap floor)")
	flag.DurationVar(&c.duration, "duration", 10*time.Second, "length of each measured wrk run (whole seconds)")
	flag.DurationVar(&c.warmup, "warmup", 2*time.Second, "length of one unmeasured wrk run per server and scenario before the rounds; 0 for none")
	flag.IntVar(&c.rounds, "rounds", 3, "measured runs per server and scenario, alternating the servers")
	flag.IntVar(&c.sessions, "sessions", 200, "sessions logged in on each server; requests are spread over them")
	flag.IntVar(&c.tokens, "tokens", 20000, "access tokens fetched from each of our servers for bearer-fresh (POST /token, spread over the sessions)")
	flag.DurationVar(&c.tokenLifetime, "token-lifetime", time.Hour, "our servers' -token-lifetime: the tokens must outlive the runs")
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
			return fmt.Errorf("unknown scenario %q: want baseline, read, rmw, rmw-key, replay, session, bearer or bearer-fresh", s)
		}
	}
	for _, s := range c.servers {
		if !slices.Contains(harness.Kinds, s) {
			return fmt.Errorf("unknown server %q: want one of %v", s, harness.Kinds)
		}
	}
	if slices.Contains(c.servers, "jwtauth") && !slices.Contains(c.servers, "ours") && !slices.Contains(c.servers, "ours-nocache") {
		return fmt.Errorf("jwtauth verifies the tokens of ours-nocache or ours: load one of them too")
	}
	if len(c.backends) == 0 || len(c.scenarios) == 0 || len(c.servers) == 0 {
		return fmt.Errorf("nothing to run")
	}
	if c.duration < time.Second || c.rounds < 1 || c.sessions < 1 || c.threads < 1 || c.conns < c.threads || c.tokens < 1 {
		return fmt.Errorf("need -duration >= 1s, -rounds >= 1, -sessions >= 1, -tokens >= 1, -conns >= -threads >= 1")
	}
	if c.bearer() {
		// Every (scenario, server) pair: a warm-up and the rounds, plus a
		// minute for set-up and checks. The tokens are fetched first.
		est := time.Duration(len(c.scenarios)*len(c.servers))*(c.warmup+time.Duration(c.rounds)*c.duration) + time.Minute
		if est > c.tokenLifetime-time.Minute {
			return fmt.Errorf("the runs take about %v, longer than the tokens live (-token-lifetime %v, less a minute)", est.Round(time.Second), c.tokenLifetime)
		}
	}
	if _, err := exec.LookPath(c.wrk); err != nil {
		return fmt.Errorf("wrk not found (apt-get install -y wrk): %w", err)
	}
	return nil
}

// bearer reports whether a scenario sends access tokens.
func (c *config) bearer() bool {
	return slices.ContainsFunc(c.scenarios, func(s string) bool { return scenarioDefs[s].auth.bearer() })
}

// credential is what a scenario sends with each request.
type credential int

const (
	noCredential credential = iota
	sessionCookie
	oneToken  // the same access token on every request
	tokenPool // the next token of the pool on each request
)

func (k credential) bearer() bool { return k == oneToken || k == tokenPool }

type scenario struct {
	keys   string // Idempotency-Keys: "", "fresh" or "fixed" (harness.Load.Keys)
	method string // "" for GET
	path   string
	auth   credential
	word   string // a 2xx body containing it is wrong
}

var scenarioDefs = map[string]scenario{
	"baseline":     {path: "/greet?name=Alice"},
	"read":         {path: "/greet", auth: sessionCookie, word: "World"},
	"rmw":          {method: "POST", path: "/session/visits", auth: sessionCookie},
	"rmw-key":      {method: "POST", path: "/session/visits", auth: sessionCookie, keys: "fresh"},
	"replay":       {method: "POST", path: "/session/visits", auth: sessionCookie, keys: "fixed"},
	"session":      {path: "/session", auth: sessionCookie},
	"bearer":       {path: "/greet", auth: oneToken},
	"bearer-fresh": {path: "/greet", auth: tokenPool},
}

// serves reports whether server kind can run the scenario.
func (s scenario) serves(kind string) bool {
	switch {
	case s.keys != "":
		return strings.HasPrefix(kind, "ours") // scs has no Idempotency-Key
	case s.auth == sessionCookie:
		return harness.HasSessions(kind)
	case s.auth.bearer():
		return harness.HasTokens(kind)
	}
	return true
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
	Counted2xx      int64 // 2xx answers wrk counted for POST /session/visits (warm-up included)
	Increments      int64 // visits gained over all sessions, read back
}

// loadavg is the machine's 1-minute load average, from /proc/loadavg.
func loadavg() string {
	b, err := os.ReadFile("/proc/loadavg")
	if err != nil {
		return "?"
	}
	f := strings.Fields(string(b))
	if len(f) == 0 {
		return "?"
	}
	return f[0]
}

// loads records the load average at points of the run, for the report.
type loads struct {
	mu  sync.Mutex
	At  []string
	Avg []string
}

func (l *loads) note(at string) {
	l.mu.Lock()
	defer l.mu.Unlock()
	l.At, l.Avg = append(l.At, at), append(l.Avg, loadavg())
	logf("load average (1 min) %s: %s", at, l.Avg[len(l.Avg)-1])
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
	la := &loads{}
	la.note("at the start")

	logf("building examples/greeter (ours), cmd/peer (scs) and cmd/jwtpeer (jwtauth)")
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
		rs, cs, err := runBackend(ctx, c, bins, script, backend, la)
		if err != nil {
			return fmt.Errorf("%s: %w", backend, err)
		}
		rows = append(rows, rs...)
		checks = append(checks, cs...)
	}
	la.note("at the end")

	var md strings.Builder
	report(&md, c, rows, checks, la)
	fmt.Print("\n" + md.String())
	os.WriteFile(filepath.Join(c.out, "results.md"), []byte(md.String()), 0o644)
	if b, err := json.MarshalIndent(map[string]any{"rows": rows, "checks": checks, "loadavg": la}, "", "  "); err == nil {
		os.WriteFile(filepath.Join(c.out, "results.json"), b, 0o644)
		writeChart(c, b) // results.svg: cmd/chart draws both placements from the results.json files
	}
	return nil
}

func prefix(cpus string) []string {
	if cpus == "" {
		return nil
	}
	return []string{"taskset", "-c", cpus}
}

// target is one running server and the credentials it is loaded with.
type target struct {
	srv    *harness.Server
	tokens string   // session tokens, one a line
	toks   []string // session tokens
	// Access tokens: pool and subs (the subject of each), written to
	// poolFile (all) and oneFile (the first) for the script's bearer mode.
	// jwtauth shares its key source's.
	pool, subs        []string
	poolFile, oneFile string
}

func runBackend(ctx context.Context, c config, bins harness.Binaries, script, backend string, la *loads) ([]*row, []check, error) {
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

	// Our servers' token flags: tokens that outlive the runs and, over a
	// shared store, a secret for the key ring (over memory:// each server
	// draws its own).
	oursArgs := []string{"-token-lifetime", c.tokenLifetime.String()}
	if backend != "memory" {
		secret := make([]byte, 32)
		rand.Read(secret)
		oursArgs = append(oursArgs, "-token-secret", hex.EncodeToString(secret))
	}
	wantTokens := c.bearer() || slices.Contains(c.servers, "jwtauth")

	// Start the servers (jwtauth last: it reads its key from one of ours),
	// log in their sessions and fetch their tokens.
	targets := map[string]*target{}
	var rows []*row
	skip := func(name, why string) {
		logf("%s/%s: SKIPPED: %s", backend, name, why)
		for _, sc := range c.scenarios {
			if scenarioDefs[sc].serves(name) {
				rows = append(rows, &row{Backend: backend, Scenario: sc, Server: name, Skipped: why})
			}
		}
	}
	starting := slices.Clone(c.servers)
	slices.SortStableFunc(starting, func(a, b string) int {
		return boolInt(a == "jwtauth") - boolInt(b == "jwtauth")
	})
	for _, name := range starting {
		var extra []string
		var source *target
		switch {
		case name == "jwtauth":
			for _, s := range []string{"ours-nocache", "ours"} {
				if t := targets[s]; t != nil && len(t.pool) > 0 {
					source = t
					break
				}
			}
			if source == nil {
				skip(name, "none of ours-nocache and ours is up with tokens")
				continue
			}
			kid, err := tokenKID(source.pool[0])
			if err != nil {
				return nil, nil, err
			}
			extra = []string{"-jwks", source.srv.Base + "/.well-known/jwks.json", "-kid", kid}
		case harness.HasTokens(name):
			extra = oursArgs
		}
		srv, err := harness.StartServer(ctx, name, bins.Bin(name), storeURL, dir, 0, prefix(c.serverCPUs), extra...)
		if err != nil {
			skip(name, oneLine(err.Error()))
			continue
		}
		defer srv.Proc.Stop()
		t := &target{srv: srv}
		if source != nil {
			t.pool, t.subs, t.poolFile, t.oneFile = source.pool, source.subs, source.poolFile, source.oneFile
			logf("%s/%s: %s up, verifying the tokens of %s with its public key", backend, name, srv.Base, source.srv.Name)
		}
		if harness.HasSessions(name) {
			if err := login(ctx, c, t, dir); err != nil {
				return nil, nil, err
			}
			logf("%s/%s: %s up, %d sessions logged in", backend, name, srv.Base, c.sessions)
		}
		if harness.HasTokens(name) && source == nil && wantTokens {
			start := time.Now()
			if err := fetchTokens(ctx, c, t, dir); err != nil {
				return nil, nil, err
			}
			logf("%s/%s: %d distinct access tokens fetched in %v", backend, name, len(t.pool), time.Since(start).Round(time.Millisecond))
		}
		if harness.HasTokens(name) && len(t.pool) > 0 {
			start := time.Now()
			if err := checkTokens(ctx, t); err != nil {
				return nil, nil, fmt.Errorf("%s: %w", name, err)
			}
			logf("%s/%s: each of the %d tokens greets its own subject; a tampered one is refused (%v)", backend, name, len(t.pool), time.Since(start).Round(time.Millisecond))
		}
		targets[name] = t
	}
	var order []string // the servers up, in -servers order
	for _, name := range c.servers {
		if targets[name] != nil {
			order = append(order, name)
		}
	}

	byKey := map[string]*row{}
	for _, sc := range c.scenarios {
		for _, name := range order {
			if !scenarioDefs[sc].serves(name) {
				continue
			}
			r := &row{Backend: backend, Scenario: sc, Server: name}
			byKey[sc+"/"+name] = r
			rows = append(rows, r)
		}
	}
	counted := map[string]int64{}                  // 2xx of the scenarios that count a visit, per server
	replayRun := fmt.Sprint(time.Now().UnixNano()) // the replay scenario's key, the same in every run

	load := func(name, sc string, d time.Duration) (harness.Result, error) {
		t, def := targets[name], scenarioDefs[sc]
		keyRun := replayRun
		if def.keys == "fresh" {
			keyRun = fmt.Sprint(time.Now().UnixNano()) // new keys for every run
		}
		l := harness.Load{
			Wrk: c.wrk, Prefix: prefix(c.wrkCPUs), Script: script, URL: t.srv.Base, Path: def.path, Method: def.method, Keys: def.keys, KeyRun: keyRun,
			Word: def.word, Threads: c.threads, Conns: c.conns, Duration: d,
		}
		switch def.auth {
		case sessionCookie:
			l.Tokens = t.tokens
		case oneToken:
			l.Tokens, l.Bearer = t.oneFile, true
		case tokenPool:
			l.Tokens, l.Bearer = t.poolFile, true
		}
		res, err := l.Run(ctx)
		if err != nil {
			return res, fmt.Errorf("%s %s: %w", name, sc, err)
		}
		if sc == "rmw" || sc == "rmw-key" {
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
				if byKey[sc+"/"+name] == nil {
					continue
				}
				logf("%s/%s/%s: warm-up %v", backend, sc, name, c.warmup)
				if _, err := load(name, sc, c.warmup); err != nil {
					return nil, nil, err
				}
			}
		}
	}
	// The runs of a round, in -scenarios then -servers order; every other
	// round runs them in reverse (ABBA over the whole sequence), so that a
	// drift of the machine cancels both between servers on one scenario
	// and between scenarios on one server (bearer against baseline).
	var runs [][2]string
	for _, sc := range c.scenarios {
		for _, name := range order {
			if byKey[sc+"/"+name] != nil {
				runs = append(runs, [2]string{sc, name})
			}
		}
	}
	for round := 1; round <= c.rounds; round++ {
		la.note(fmt.Sprintf("%s, round %d", backend, round))
		seq := slices.Clone(runs)
		if round%2 == 0 {
			slices.Reverse(seq)
		}
		for _, x := range seq {
			sc, name := x[0], x[1]
			r := byKey[sc+"/"+name]
			res, err := load(name, sc, c.duration)
			if err != nil {
				return nil, nil, err
			}
			r.Runs = append(r.Runs, res)
			logf("%s/%s/%s round %d: %.0f req/s, p99 %v, non-2xx %d, wrong %d, socket errors %d",
				backend, sc, name, round, res.ReqPerSec, res.P99, res.Non2xx, res.Wrong, res.SocketErrors)
		}
	}

	// Read back every session's visits: each POST /session/visits must
	// have counted exactly one, and the replay scenario one per session
	// (its first request; the rest replay it).
	var checks []check
	if slices.ContainsFunc(c.scenarios, func(s string) bool { return s == "rmw" || s == "rmw-key" || s == "replay" }) {
		for _, name := range order {
			if byKey["rmw/"+name] == nil && byKey["rmw-key/"+name] == nil && byKey["replay/"+name] == nil {
				continue
			}
			if byKey["replay/"+name] != nil {
				counted[name] += int64(len(targets[name].toks))
			}
			var sum int64
			for _, tok := range targets[name].toks {
				v, err := harness.Visits(ctx, targets[name].srv.Base, tok)
				if err != nil {
					return nil, nil, fmt.Errorf("%s: read back: %w", name, err)
				}
				sum += v
			}
			checks = append(checks, check{Backend: backend, Server: name, Counted2xx: counted[name], Increments: sum})
		}
	}
	return rows, checks, nil
}

func boolInt(b bool) int {
	if b {
		return 1
	}
	return 0
}

// login logs in c.sessions sessions on t, named user-0, user-1, …, and
// checks that /greet greets the first by its name.
func login(ctx context.Context, c config, t *target, dir string) error {
	name := t.srv.Name
	t.tokens = filepath.Join(dir, name+".tokens")
	for i := range c.sessions {
		tok, err := harness.Login(ctx, t.srv.Base, fmt.Sprintf("user-%d", i))
		if err != nil {
			return fmt.Errorf("%s: login: %w", name, err)
		}
		t.toks = append(t.toks, tok)
	}
	if err := harness.WriteTokens(t.tokens, t.toks); err != nil {
		return err
	}
	code, body, err := harness.Get(ctx, t.srv.Base, "/greet", t.toks[0])
	if err != nil || code != 200 || !strings.Contains(string(body), "user-0") {
		return fmt.Errorf("%s: GET /greet with a session: %d %s %v", name, code, body, err)
	}
	return nil
}

// parallel runs f(0) … f(n-1), 16 at a time, and returns the first error.
func parallel(ctx context.Context, n int, f func(i int) error) error {
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	var (
		wg    sync.WaitGroup
		mu    sync.Mutex
		first error
		next  = make(chan int)
	)
	for range 16 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := range next {
				if err := f(i); err != nil {
					mu.Lock()
					if first == nil {
						first = err
					}
					mu.Unlock()
					cancel()
				}
			}
		}()
	}
feed:
	for i := range n {
		select {
		case next <- i:
		case <-ctx.Done():
			break feed
		}
	}
	close(next)
	wg.Wait()
	if first == nil {
		first = ctx.Err()
	}
	return first
}

// fetchTokens gets c.tokens access tokens from t's POST /token, spread
// round-robin over its sessions (token i is for session i mod -sessions,
// subject user-<that>), checks they are all distinct, and writes the
// script's token files.
func fetchTokens(ctx context.Context, c config, t *target, dir string) error {
	name := t.srv.Name
	t.pool, t.subs = make([]string, c.tokens), make([]string, c.tokens)
	err := parallel(ctx, c.tokens, func(i int) error {
		s := i % len(t.toks)
		tok, err := harness.IssueToken(ctx, t.srv.Base, t.toks[s])
		if err != nil {
			return fmt.Errorf("%s: token %d: %w", name, i, err)
		}
		t.pool[i], t.subs[i] = tok, fmt.Sprintf("user-%d", s)
		return nil
	})
	if err != nil {
		return err
	}
	seen := make(map[string]bool, len(t.pool))
	for _, tok := range t.pool {
		if seen[tok] {
			return fmt.Errorf("%s: POST /token gave the same token twice", name)
		}
		seen[tok] = true
	}
	t.poolFile, t.oneFile = filepath.Join(dir, name+".bearer"), filepath.Join(dir, name+".bearer1")
	if err := harness.WriteBearerTokens(t.poolFile, t.pool, t.subs); err != nil {
		return err
	}
	return harness.WriteBearerTokens(t.oneFile, t.pool[:1], t.subs[:1])
}

// checkTokens sends every token of t's pool to t: each must be answered
// 200 with the greeting of its own subject; and the first token with its
// signature altered must be refused with 401.
func checkTokens(ctx context.Context, t *target) error {
	err := parallel(ctx, len(t.pool), func(i int) error {
		code, body, err := harness.GetBearer(ctx, t.srv.Base, "/greet", t.pool[i])
		if err != nil {
			return err
		}
		if code != 200 || string(body) != harness.Greeting(t.subs[i]) {
			return fmt.Errorf("GET /greet with token %d (subject %s): %d %q", i, t.subs[i], code, body)
		}
		return nil
	})
	if err != nil {
		return err
	}
	bad := []byte(t.pool[0])
	if bad[len(bad)-2] == 'A' { // not the last character: its low bits may not count
		bad[len(bad)-2] = 'B'
	} else {
		bad[len(bad)-2] = 'A'
	}
	code, body, err := harness.GetBearer(ctx, t.srv.Base, "/greet", string(bad))
	if err != nil || code != 401 {
		return fmt.Errorf("GET /greet with a tampered token: %d %q %v, want 401", code, body, err)
	}
	return nil
}

// tokenKID reads the kid of a token's JOSE header.
func tokenKID(tok string) (string, error) {
	seg, _, _ := strings.Cut(tok, ".")
	raw, err := base64.RawURLEncoding.DecodeString(seg)
	if err != nil {
		return "", fmt.Errorf("token header: %w", err)
	}
	var h struct {
		Kid string `json:"kid"`
	}
	if err := json.Unmarshal(raw, &h); err != nil || h.Kid == "" {
		return "", fmt.Errorf("token header has no kid: %s", raw)
	}
	return h.Kid, nil
}

func find(rows []*row, b, sc, s string) *row {
	for _, r := range rows {
		if r.Backend == b && r.Scenario == sc && r.Server == s {
			return r
		}
	}
	return nil
}

// pairedRatio is the median of x's and y's ratios round by round, with
// the lowest and the highest. The servers alternate within each round, so
// a round's two runs see the machine in about the same state; on a
// machine whose speed drifts between rounds (a VM on a busy host, whose
// rounds here differed by up to 1.6×), the ratio of the medians mixes
// rounds run at different speeds, and this does not.
func pairedRatio(x, y *row) string {
	var v []float64
	for i := range min(len(x.Runs), len(y.Runs)) {
		if y.Runs[i].ReqPerSec > 0 {
			v = append(v, x.Runs[i].ReqPerSec/y.Runs[i].ReqPerSec)
		}
	}
	if len(v) == 0 {
		return "–"
	}
	slices.Sort(v)
	m := v[len(v)/2]
	if len(v)%2 == 0 {
		m = (v[len(v)/2-1] + v[len(v)/2]) / 2
	}
	return fmt.Sprintf("%.2f× [%.2f, %.2f]", m, v[0], v[len(v)-1])
}

func measured(r *row) bool { return r != nil && r.Skipped == "" && len(r.Runs) > 0 }

func report(w io.Writer, c config, rows []*row, checks []check, la *loads) {
	fmt.Fprintf(w, "wrk -t%d -c%d, %d sessions, %d round(s) of %v per server and scenario (median), warm-up %v; %s\n\n",
		c.threads, c.conns, c.sessions, c.rounds, c.duration, c.warmup, time.Now().Format("2006-01-02 15:04"))
	if c.serverCPUs != "" || c.wrkCPUs != "" {
		fmt.Fprintf(w, "Pinned: servers on CPUs %q, wrk on CPUs %q (taskset).\n\n", c.serverCPUs, c.wrkCPUs)
	} else {
		fmt.Fprintln(w, "Shared: servers and wrk on all CPUs (no pinning).")
		fmt.Fprintln(w)
	}
	var at []string
	for i := range la.At {
		at = append(at, la.At[i]+": "+la.Avg[i])
	}
	fmt.Fprintf(w, "Load average (1 min, this run's own load included): %s.\n\n", strings.Join(at, "; "))
	if c.bearer() {
		fmt.Fprintf(w, "Access tokens: %d per server of ours for bearer-fresh (POST /token over the %d sessions), token lifetime %v; jwtauth is sent the token files of the server whose key it has.\n\n",
			c.tokens, c.sessions, c.tokenLifetime)
	}

	cell := func(r *row) (string, string, string) {
		switch {
		case r == nil:
			return "—", "—", "—"
		case !measured(r):
			return "skipped", "—", "—"
		}
		return fmt.Sprintf("%.0f", r.median()), r.p99().Round(10 * time.Microsecond).String(), fmt.Sprint(r.bad())
	}
	ratio := func(a, b *row) string {
		if !measured(a) || !measured(b) || b.median() == 0 {
			return "—"
		}
		return fmt.Sprintf("%.2f×", a.median()/b.median())
	}

	// Sessions: ours against scs, as ever.
	sessionScenarios := slices.DeleteFunc(slices.Clone(c.scenarios), func(s string) bool { return scenarioDefs[s].auth.bearer() })
	if slices.Contains(c.servers, "ours") && slices.Contains(c.servers, "scs") && len(sessionScenarios) > 0 {
		fmt.Fprintln(w, "| backend | scenario | ours req/s | scs req/s | ours/scs | ours p99 | scs p99 | bad answers ours / scs |")
		fmt.Fprintln(w, "|---|---|---:|---:|---:|---:|---:|---:|")
		for _, b := range c.backends {
			for _, sc := range sessionScenarios {
				o, s := find(rows, b, sc, "ours"), find(rows, b, sc, "scs")
				orps, op99, obad := cell(o)
				srps, sp99, sbad := cell(s)
				fmt.Fprintf(w, "| %s | %s | %s | %s | %s | %s | %s | %s / %s |\n", b, sc, orps, srps, ratio(o, s), op99, sp99, obad, sbad)
			}
		}
		fmt.Fprintln(w)
	}

	// Every server's figures, then the ratios the token work is judged by.
	keyed := slices.ContainsFunc(c.scenarios, func(s string) bool { return scenarioDefs[s].keys != "" })
	observ := slices.ContainsFunc(c.servers, func(s string) bool {
		return strings.HasPrefix(s, "bare") || strings.HasPrefix(s, "ours-logged") || s == "ours-nometrics"
	})
	if c.bearer() || keyed || observ || slices.Contains(c.servers, "jwtauth") || slices.Contains(c.servers, "ours-nocache") {
		fmt.Fprintln(w, "| backend | scenario | server | req/s | p99 | bad answers |")
		fmt.Fprintln(w, "|---|---|---|---:|---:|---:|")
		for _, b := range c.backends {
			for _, sc := range c.scenarios {
				for _, s := range c.servers {
					r := find(rows, b, sc, s)
					if r == nil {
						continue
					}
					rps, p99, bad := cell(r)
					fmt.Fprintf(w, "| %s | %s | %s | %s | %s | %s |\n", b, sc, s, rps, p99, bad)
				}
			}
		}
		fmt.Fprintln(w)
		type ratioDef struct{ aSc, aSrv, bSc, bSrv, target string }
		defs := []ratioDef{
			{"bearer", "ours", "baseline", "ours", "≥ 0.85×"},
			{"rmw-key", "ours", "rmw", "ours", "≥ 0.6×"},
			{"replay", "ours", "session", "ours", "≥ 0.9×"},
			{"baseline", "ours-logged", "baseline", "bare", "≥ 0.95× (default logging, metrics on)"},
			{"baseline", "ours-logged", "baseline", "bare-headers", "information: against bare sending the example server's two extra headers"},
			{"baseline", "bare-headers", "baseline", "bare", "information: what the two headers cost bare"},
			{"baseline", "ours-logged", "baseline", "bare-gogc200", "information: against bare with the same 8 MiB minimum heap target"},
			{"baseline", "ours-logged-gogc100", "baseline", "bare", "information: the example server with Go's collector defaults (GOGC=100, no heap floor)"},
			{"baseline", "ours-logged", "baseline", "ours-logged-gogc100", "information: what the heap floor gains"},
			{"baseline", "bare-gogc200", "baseline", "bare", "information: what GOGC=200 gains bare"},
			{"baseline", "ours-logged-all", "baseline", "bare", "information: every line written (no sampling), metrics on"},
			{"baseline", "ours", "baseline", "bare", "information: logging at warn, metrics on"},
			{"baseline", "ours-nometrics", "baseline", "bare", "information: logging at warn, metrics off"},
			{"read", "ours", "read", "ours-nometrics", "≥ 0.95× (metrics on / off)"},
			{"read", "ours-logged", "read", "ours", "information: the access log's cost"},
			{"baseline", "ours-logged", "baseline", "ours", "information: the access log's cost"},
			{"baseline", "ours-logged-all", "baseline", "ours", "information: the access log's cost, every line written"},
			{"bearer-fresh", "ours-nocache", "bearer-fresh", "jwtauth", "≥ 1.00×"},
			{"bearer-fresh", "ours", "bearer-fresh", "jwtauth", "information"},
			{"bearer-fresh", "ours", "bearer-fresh", "ours-nocache", "information: the cache on a pool larger than it"},
			{"bearer", "ours", "bearer", "jwtauth", "information"},
			{"bearer-fresh", "ours-nocache", "baseline", "ours-nocache", "information: a full verification's cost"},
			{"bearer-fresh", "jwtauth", "baseline", "jwtauth", "information"},
			{"baseline", "ours", "baseline", "jwtauth", "information: the servers' floors"},
			{"baseline", "ours", "baseline", "ours-nocache", "information: one binary in two processes, so 1.00× but for noise"},
			{"bearer", "ours", "baseline", "ours-nocache", "information: ratio 1 against the other process's baseline"},
		}
		header := false
		for _, b := range c.backends {
			for _, d := range defs {
				x, y := find(rows, b, d.aSc, d.aSrv), find(rows, b, d.bSc, d.bSrv)
				if !measured(x) || !measured(y) {
					continue
				}
				if !header {
					fmt.Fprintln(w, "| backend | ratio | req/s (medians) | ratio of the medians | per round: median [lowest, highest] | target |")
					fmt.Fprintln(w, "|---|---|---:|---:|---:|---|")
					header = true
				}
				fmt.Fprintf(w, "| %s | %s %s / %s %s | %.0f / %.0f | %s | %s | %s |\n",
					b, d.aSc, d.aSrv, d.bSc, d.bSrv, x.median(), y.median(), ratio(x, y), pairedRatio(x, y), d.target)
			}
		}
		if header {
			fmt.Fprintln(w)
		}
	}

	fmt.Fprintln(w, "Per run (req/s, in run order within each round):")
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
		fmt.Fprintln(w, "\nRead-modify-write check (POST /session/visits 2xx counted by wrk vs visits read back; wrk does not count up to -conns requests in flight when a run stops, so increments may exceed the count by that much):")
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

// writeChart draws this run's read and rmw rows, ours against scs, as
// results.svg in c.out; a run without such rows draws nothing.
func writeChart(c config, results []byte) {
	placement := "shared"
	if c.serverCPUs != "" || c.wrkCPUs != "" {
		placement = "pinned"
	}
	p, err := chart.FromResults(bytes.NewReader(results), placement)
	if err != nil {
		return
	}
	svg, err := chart.SVG(&chart.Figures{Title: "Requests per second: stateless vs scs", Subtitle: "cmd/load, " + placement, Placements: []chart.Placement{p}})
	if err == nil {
		err = os.WriteFile(filepath.Join(c.out, "results.svg"), svg, 0o644)
	}
	if err != nil {
		logf("chart: %v", err)
		return
	}
	logf("chart in %s", filepath.Join(c.out, "results.svg"))
}
