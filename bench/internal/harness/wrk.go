package harness

import (
	"context"
	"fmt"
	"math"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"time"
)

// wrkScript spreads requests over the credentials in a token file, one
// per request, and counts answers that are not 2xx — and, when given a
// word, 2xx answers whose body contains it (GET /greet answering "World"
// lost its session). Arguments after "--": path, token file ("-" for
// none), threads, word ("" for none), mode.
//
// Mode "cookie" (the default): each line is a session token, sent as the
// "session" cookie. Mode "bearer": each line is "<access token>
// <subject>", the token sent as Authorization: Bearer, and a 2xx answer
// must be exactly the greeting of one of the file's subjects
// ({"message":"Hello, <sub>!"}); any other body counts as wrong. (wrk does
// not tell the script which request an answer is to, so the check is that
// the subject is one of the pool's, not which one; cmd/load checks every
// token's own subject before the runs.)
//
// Requests are formatted once per line in init, so that the Lua cost
// per request is a table lookup. Each thread starts at its own offset, so
// the threads do not walk the tokens in step.
const wrkScript = `
local threads = {}

function setup(thread)
  thread:set("id", #threads)
  table.insert(threads, thread)
end

function init(args)
  local path, file, nthreads = args[1], args[2], tonumber(args[3])
  word = args[4]
  if word == "" then word = nil end
  local mode = args[5] or "cookie"
  local method = args[6] or "GET"
  local keys = args[7] or ""
  local run = args[8] or ""
  reqs = {}
  if file ~= "-" then
    for line in io.lines(file) do
      if line ~= "" then
        if mode == "bearer" then
          local tok, sub = string.match(line, "^(%S+) (%S+)$")
          if not tok then error("bad line in " .. file) end
          good = good or {}
          good['{"message":"Hello, ' .. sub .. '!"}\n'] = true
          reqs[#reqs + 1] = wrk.format(method, path, { ["Authorization"] = "Bearer " .. tok })
        elseif keys == "fresh" then
          -- formatted per request, in request(): each carries a new key
          reqs[#reqs + 1] = "session=" .. line
        elseif keys == "fixed" then
          reqs[#reqs + 1] = wrk.format(method, path, { ["Cookie"] = "session=" .. line, ["Idempotency-Key"] = "replay-" .. run })
        else
          reqs[#reqs + 1] = wrk.format(method, path, { ["Cookie"] = "session=" .. line })
        end
      end
    end
  else
    reqs[1] = wrk.format(method, path)
  end
  n = #reqs
  i = (id * math.floor(n / nthreads)) % n
  if keys == "fresh" then
    fresh = { method = method, path = path, prefix = "k-" .. run .. "-" .. id .. "-", count = 0 }
  end
  non2xx = 0
  wrong = 0
end

function request()
  i = i + 1
  if i > n then i = 1 end
  if fresh then
    fresh.count = fresh.count + 1
    return wrk.format(fresh.method, fresh.path, { ["Cookie"] = reqs[i], ["Idempotency-Key"] = fresh.prefix .. fresh.count })
  end
  return reqs[i]
end

function response(status, headers, body)
  if status < 200 or status > 299 then
    non2xx = non2xx + 1
  elseif good and not good[body] then
    wrong = wrong + 1
  elseif word and string.find(body, word, 1, true) then
    wrong = wrong + 1
  end
end

function done(summary, latency, requests)
  local a, b = 0, 0
  for _, t in ipairs(threads) do
    a = a + t:get("non2xx")
    b = b + t:get("wrong")
  end
  io.write(string.format("BENCH non2xx=%d wrong=%d requests=%d\n", a, b, summary.requests))
end
`

// WriteScript writes the wrk Lua script into dir and returns its path.
func WriteScript(dir string) (string, error) {
	p := filepath.Join(dir, "load.lua")
	return p, os.WriteFile(p, []byte(wrkScript), 0o644)
}

// WriteTokens writes one token per line.
func WriteTokens(path string, toks []string) error {
	return os.WriteFile(path, []byte(strings.Join(toks, "\n")+"\n"), 0o644)
}

// WriteBearerTokens writes the script's bearer-mode file: one "<access
// token> <subject>" per line. Subjects may not hold white space.
func WriteBearerTokens(path string, toks, subs []string) error {
	var b strings.Builder
	for i, t := range toks {
		if strings.ContainsAny(subs[i], " \t\n") || strings.ContainsAny(t, " \t\n") {
			return fmt.Errorf("token %d or its subject %q holds white space", i, subs[i])
		}
		b.WriteString(t + " " + subs[i] + "\n")
	}
	return os.WriteFile(path, []byte(b.String()), 0o644)
}

// Load is one wrk run's parameters.
type Load struct {
	Wrk    string // wrk binary
	Prefix []string
	Script string
	URL    string // base URL, e.g. http://127.0.0.1:5000
	Path   string // e.g. /greet
	Method string // "" for GET; a POST carries no body
	// Keys, with session tokens: "fresh" sends a new Idempotency-Key on
	// every request, "fixed" one key per session (KeyRun names it: every
	// request after a session's first is a replay), "" none.
	Keys     string
	KeyRun   string
	Tokens   string // token file, "" for none
	Bearer   bool   // the token file is WriteBearerTokens's (else session tokens)
	Word     string // a 2xx body containing it counts as wrong
	Threads  int
	Conns    int
	Duration time.Duration
}

// Result is what one wrk run measured.
type Result struct {
	ReqPerSec    float64
	Requests     int64
	Non2xx       int64 // counted by the script: every status outside 200–299
	Wrong        int64 // 2xx with the wrong body
	SocketErrors int64 // connect + read + write + timeout
	P50, P99     time.Duration
	Output       string
}

// Bad is the number of requests that did not get a right answer.
func (r Result) Bad() int64 { return r.Non2xx + r.Wrong + r.SocketErrors }

// Run runs wrk once.
func (l Load) Run(ctx context.Context) (Result, error) {
	tokens := l.Tokens
	if tokens == "" {
		tokens = "-"
	}
	mode := "cookie"
	if l.Bearer {
		mode = "bearer"
	}
	method := l.Method
	if method == "" {
		method = "GET"
	}
	argv := append(append([]string{}, l.Prefix...), l.Wrk,
		"-t"+strconv.Itoa(l.Threads), "-c"+strconv.Itoa(l.Conns),
		"-d"+strconv.Itoa(max(1, int(l.Duration.Round(time.Second)/time.Second)))+"s",
		"--latency", "--timeout", "10s",
		"-s", l.Script, l.URL+l.Path, "--", l.Path, tokens, strconv.Itoa(l.Threads), l.Word, mode, method, l.Keys, l.KeyRun)
	cmd := exec.CommandContext(ctx, argv[0], argv[1:]...)
	out, err := cmd.CombinedOutput()
	res := Result{Output: string(out)}
	if err != nil {
		return res, fmt.Errorf("wrk: %v: %s", err, out)
	}
	return res, res.parse()
}

var (
	reRPS    = regexp.MustCompile(`Requests/sec:\s+([0-9.]+)`)
	reBench  = regexp.MustCompile(`BENCH non2xx=(\d+) wrong=(\d+) requests=(\d+)`)
	reSocket = regexp.MustCompile(`Socket errors: connect (\d+), read (\d+), write (\d+), timeout (\d+)`)
	reP      = regexp.MustCompile(`(?m)^\s+(50|99)(?:\.000)?%\s+([0-9.]+)(us|ms|s)\s*$`)
)

func (r *Result) parse() error {
	m := reRPS.FindStringSubmatch(r.Output)
	if m == nil {
		return fmt.Errorf("wrk output has no Requests/sec: %s", r.Output)
	}
	r.ReqPerSec, _ = strconv.ParseFloat(m[1], 64)
	m = reBench.FindStringSubmatch(r.Output)
	if m == nil {
		return fmt.Errorf("wrk output has no BENCH line (script not run?): %s", r.Output)
	}
	r.Non2xx, _ = strconv.ParseInt(m[1], 10, 64)
	r.Wrong, _ = strconv.ParseInt(m[2], 10, 64)
	r.Requests, _ = strconv.ParseInt(m[3], 10, 64)
	if m := reSocket.FindStringSubmatch(r.Output); m != nil {
		for _, s := range m[1:] {
			n, _ := strconv.ParseInt(s, 10, 64)
			r.SocketErrors += n
		}
	}
	for _, m := range reP.FindAllStringSubmatch(r.Output, -1) {
		v, _ := strconv.ParseFloat(m[2], 64)
		unit := map[string]time.Duration{"us": time.Microsecond, "ms": time.Millisecond, "s": time.Second}[m[3]]
		d := time.Duration(math.Round(v * float64(unit)))
		if m[1] == "50" {
			r.P50 = d
		} else {
			r.P99 = d
		}
	}
	return nil
}
