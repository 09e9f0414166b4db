// Command lostupdates checks issue 4's correctness acceptance, for our
// Greeter and for the scs peer alike: -calls POST /session/visits requests,
// -concurrency at a time, on ONE session, spread round-robin over
// -instances servers sharing one store. Each 2xx answer claims one visit
// was counted; at the end the session's visits must equal the number of
// 2xx answers (no lost update), with no 5xx, and at least 99% of the calls
// must succeed.
//
//	cd bench && go run ./cmd/lostupdates                  # redis, 2 instances each
//	cd bench && go run ./cmd/lostupdates -backends memory # 1 instance each (an in-process store is not shared)
//
// The memory backend always runs one instance per server.
package main

import (
	"context"
	"flag"
	"fmt"
	"log"
	"net/http"
	"os"
	"os/signal"
	"path/filepath"
	"sort"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"time"

	"github.com/stateless-go/stateless/bench/internal/harness"
)

func main() {
	log.SetFlags(log.Ltime | log.Lmicroseconds)
	calls := flag.Int("calls", 2000, "POST /session/visits calls on the one session")
	conc := flag.Int("concurrency", 16, "calls in flight at once")
	instances := flag.Int("instances", 2, "servers of each kind sharing the store (memory: always 1)")
	backends := flag.String("backends", "redis", "comma-separated: memory, redis, postgres")
	servers := flag.String("servers", "ours,scs", "comma-separated: ours, scs")
	redisPort := flag.Int("redis-port", 16391, "port of the redis-server this command starts on 127.0.0.1")
	pgPort := flag.Int("pg-port", 15441, "port of the postgres this command starts on 127.0.0.1")
	redisURL := flag.String("redis-url", "", "use this Redis instead of starting one")
	pgURL := flag.String("postgres-url", "", "use this PostgreSQL instead of starting one")
	out := flag.String("out", "", "directory for logs (default: a new temp dir)")
	flag.Parse()
	if *calls < 1 || *conc < 1 || *instances < 1 {
		fmt.Fprintln(os.Stderr, "lostupdates: -calls, -concurrency and -instances must be at least 1")
		os.Exit(2)
	}

	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	code := run(ctx, opts{
		calls: *calls, conc: *conc, instances: *instances,
		backends: strings.Split(*backends, ","), servers: strings.Split(*servers, ","),
		redisPort: *redisPort, pgPort: *pgPort, redisURL: *redisURL, pgURL: *pgURL, out: *out,
	})
	stop()
	harness.StopAll()
	os.Exit(code)
}

type opts struct {
	calls, conc, instances int
	backends, servers      []string
	redisPort, pgPort      int
	redisURL, pgURL        string
	out                    string
}

type outcome struct {
	backend, server string
	instances       int
	ok2xx           int64
	statuses        map[int]int64 // non-2xx
	errors          int64         // transport errors
	visits          int64
	elapsed         time.Duration
	err             error
}

func run(ctx context.Context, o opts) int {
	repo, err := harness.ModuleDir(".", "github.com/stateless-go/stateless")
	if err == nil {
		var bench string
		if bench, err = harness.ModuleDir(".", "github.com/stateless-go/stateless/bench"); err == nil {
			if o.out == "" {
				o.out, err = os.MkdirTemp("", "stateless-lostupdates-")
			} else {
				err = os.MkdirAll(o.out, 0o755)
			}
			if err == nil {
				os.Chmod(o.out, 0o755)
				log.Printf("building both servers; logs in %s", o.out)
				var bins harness.Binaries
				if bins, err = harness.BuildServers(ctx, repo, bench, o.out); err == nil {
					return measure(ctx, o, bins)
				}
			}
		}
	}
	fmt.Fprintln(os.Stderr, "lostupdates:", err)
	return 1
}

func measure(ctx context.Context, o opts, bins harness.Binaries) int {
	var results []outcome
	for _, backend := range o.backends {
		backend = strings.TrimSpace(backend)
		dir := filepath.Join(o.out, backend)
		os.MkdirAll(dir, 0o755)
		n := o.instances
		var url string
		var proc *harness.Proc
		var err error
		switch backend {
		case "memory":
			url, n = "memory://", 1
		case "redis":
			if url = o.redisURL; url == "" {
				url, proc, err = harness.StartRedis(ctx, dir, o.redisPort)
			}
		case "postgres":
			if url = o.pgURL; url == "" {
				url, proc, err = harness.StartPostgres(ctx, dir, o.pgPort, harness.PostgresOptions{})
			}
		default:
			err = fmt.Errorf("unknown backend %q", backend)
		}
		if err != nil {
			fmt.Fprintln(os.Stderr, "lostupdates:", backend+":", err)
			return 1
		}
		for _, name := range o.servers {
			name = strings.TrimSpace(name)
			bin := bins.Ours
			if name == "scs" {
				bin = bins.Peer
			}
			r := one(ctx, o, backend, name, bin, url, dir, n)
			if r.err != nil {
				log.Printf("%s/%s: %v", backend, name, r.err)
			}
			results = append(results, r)
		}
		if proc != nil {
			proc.Stop()
		}
	}

	fmt.Printf("\n%d POST /session/visits calls, %d at a time, on one session, round-robin over the instances:\n\n", o.calls, o.conc)
	fmt.Println("| backend | server | instances | 2xx | non-2xx | transport errors | final visits | lost (2xx − visits) | time | acceptance |")
	fmt.Println("|---|---|---:|---:|---|---:|---:|---:|---:|---|")
	code := 0
	for _, r := range results {
		if r.err != nil {
			fmt.Printf("| %s | %s | %d | — | — | — | — | — | — | not run: %s |\n", r.backend, r.server, r.instances, oneLine(r.err.Error()))
			continue
		}
		var codes []int
		var fivexx int64
		for c := range r.statuses {
			codes = append(codes, c)
			if c >= 500 {
				fivexx += r.statuses[c]
			}
		}
		sort.Ints(codes)
		var parts []string
		for _, c := range codes {
			parts = append(parts, fmt.Sprintf("%d×%d", r.statuses[c], c))
		}
		non := strings.Join(parts, ", ")
		if non == "" {
			non = "0"
		}
		var why []string
		if r.visits != r.ok2xx {
			why = append(why, "visits ≠ 2xx")
		}
		if fivexx > 0 {
			why = append(why, "5xx answers")
		}
		if r.ok2xx*100 < int64(o.calls)*99 {
			why = append(why, "under 99% succeeded")
		}
		verdict := "pass"
		if len(why) > 0 {
			verdict = "FAIL: " + strings.Join(why, ", ")
			if r.server == "ours" {
				code = 3
			}
		}
		fmt.Printf("| %s | %s | %d | %d | %s | %d | %d | %d | %v | %s |\n",
			r.backend, r.server, r.instances, r.ok2xx, non, r.errors, r.visits, r.ok2xx-r.visits, r.elapsed.Round(time.Millisecond), verdict)
	}
	return code
}

// one runs the calls against n fresh instances of one server over url.
func one(ctx context.Context, o opts, backend, name, bin, url, dir string, n int) outcome {
	r := outcome{backend: backend, server: name, instances: n, statuses: map[int]int64{}}
	var srvs []*harness.Server
	defer func() {
		for _, s := range srvs {
			s.Proc.Stop()
		}
	}()
	for i := range n {
		s, err := harness.StartServer(ctx, name, bin, url, dir, i, nil)
		if err != nil {
			r.err = err
			return r
		}
		srvs = append(srvs, s)
	}
	tok, err := harness.Login(ctx, srvs[0].Base, "Alice")
	if err != nil {
		r.err = err
		return r
	}
	log.Printf("%s/%s: %d instances, %d calls, %d at a time", backend, name, n, o.calls, o.conc)

	var next, ok, errs atomic.Int64
	var mu sync.Mutex
	var wg sync.WaitGroup
	start := time.Now()
	for range o.conc {
		wg.Go(func() {
			for {
				k := next.Add(1) - 1
				if k >= int64(o.calls) || ctx.Err() != nil {
					return
				}
				code, _, err := harness.Do(ctx, http.MethodPost, srvs[k%int64(n)].Base, "/session/visits", tok)
				switch {
				case err != nil:
					errs.Add(1)
				case code >= 200 && code <= 299:
					ok.Add(1)
				default:
					mu.Lock()
					r.statuses[code]++
					mu.Unlock()
				}
			}
		})
	}
	wg.Wait()
	r.elapsed = time.Since(start)
	r.ok2xx, r.errors = ok.Load(), errs.Load()
	// GET /session reads the count.
	v, err := harness.Visits(ctx, srvs[0].Base, tok)
	if err != nil {
		r.err = fmt.Errorf("reading the final count: %w", err)
		return r
	}
	r.visits = v
	if code, _, _ := harness.Get(ctx, srvs[0].Base, "/greet", tok); code != http.StatusOK {
		r.err = fmt.Errorf("GET /greet after the run: %d", code)
	}
	return r
}

func oneLine(s string) string {
	s = strings.ReplaceAll(s, "|", "/")
	s = strings.ReplaceAll(s, "\n", " ")
	if len(s) > 200 {
		s = s[:200] + "…"
	}
	return s
}
