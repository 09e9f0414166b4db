package cluster

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"slices"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"testing"
	"time"
)

// sessionsPerFleet is how many sessions each fleet logs in and drives.
const sessionsPerFleet = 200

// account is one logged-in session as the client knows it. Each is driven
// by one load worker at a time, so its fields need no lock.
type account struct {
	name  string
	token string
	acked int64 // the highest visit count a 2xx answer acknowledged
	gone  bool  // a 401: the session is no longer in the store
	// lostVisits counts acknowledged visits that a later answer no longer
	// showed (a write the store lost); lost marks the session as having
	// lost any.
	lostVisits int64
	lost       bool
}

// newClient is the load generator's HTTP client: keep-alive connections to
// HAProxy, idle ones closed before HAProxy's 10 s keep-alive timeout.
func newClient(conns int) *http.Client {
	return &http.Client{
		Timeout: 15 * time.Second,
		Transport: &http.Transport{
			DialContext:         (&net.Dialer{Timeout: 2 * time.Second}).DialContext,
			MaxIdleConns:        conns,
			MaxIdleConnsPerHost: conns,
			IdleConnTimeout:     5 * time.Second,
			DisableCompression:  true,
		},
	}
}

// login logs n sessions in through base (HAProxy), in parallel, retrying
// a failed login (a retried login starts another session, which is fine).
func login(t *testing.T, hc *http.Client, base, prefix string, n int) []*account {
	t.Helper()
	accounts := make([]*account, n)
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	var wg sync.WaitGroup
	errs := make(chan error, n)
	sem := make(chan struct{}, 16)
	for i := range accounts {
		a := &account{name: fmt.Sprintf("%s-%03d", prefix, i)}
		accounts[i] = a
		wg.Go(func() {
			sem <- struct{}{}
			defer func() { <-sem }()
			var last error
			for try := 0; try < 20 && ctx.Err() == nil; try++ {
				body, _ := json.Marshal(map[string]string{"name": a.name})
				req, _ := http.NewRequestWithContext(ctx, http.MethodPost, base+"/session", bytes.NewReader(body))
				req.Header.Set("Content-Type", "application/json")
				resp, err := hc.Do(req)
				if err == nil {
					io.Copy(io.Discard, resp.Body)
					resp.Body.Close()
					if resp.StatusCode == http.StatusCreated && resp.Header.Get("X-Session-Token") != "" {
						a.token = resp.Header.Get("X-Session-Token")
						return
					}
					err = fmt.Errorf("POST /session: %s", resp.Status)
				}
				last = err
				time.Sleep(100 * time.Millisecond)
			}
			errs <- fmt.Errorf("login %s: %v", a.name, last)
		})
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Fatalf("cluster: %v", err)
	}
	return accounts
}

type opKind uint8

const (
	opRead  opKind = iota // GET /session
	opVisit               // POST /session/visits with an Idempotency-Key
)

func (o opKind) String() string {
	if o == opRead {
		return "GET /session"
	}
	return "POST /session/visits"
}

// sample is one HTTP request the load generator made (an attempt: a
// logical request retried by the client makes several).
type sample struct {
	at     time.Duration // when it started, since the load began
	lat    time.Duration
	status int // 0: a transport error
	op     opKind
	class  string // for a failure: what it was
	key    string // the Idempotency-Key of a visit
}

func (s sample) ok() bool { return s.status >= 200 && s.status < 300 }

// loadSpec says what load to drive.
type loadSpec struct {
	base     string // HAProxy frontend URL
	target   string // X-Target header (the direct frontend), or ""
	workers  int
	rate     float64       // logical requests a second over all workers; 0: as fast as they go
	duration time.Duration // new logical requests start only within it
	visits   float64       // share of visits; the rest are reads
	// retryFor bounds a logical request's retries: the client retries a
	// failure (same Idempotency-Key) until it succeeds or this has passed.
	retryFor time.Duration
}

// loadResult is what a load run saw.
type loadResult struct {
	began   time.Time
	elapsed time.Duration
	samples []sample // by start time
	logical int      // logical requests
	gaveUp  int      // logical requests that never succeeded within retryFor
	// regressions counts answers that showed fewer visits than were
	// acknowledged before; lostVisits sums the shortfall.
	regressions int
	lostVisits  int64
	goneNow     int // sessions found gone (401) during the run
	wrongName   int // answers naming another session's user: never expected
}

// run drives spec's load on the accounts until spec.duration has passed
// (and the logical requests started by then have succeeded or given up),
// or stop is closed. Worker w drives accounts w, w+workers, …, one
// request at a time.
func runLoad(spec loadSpec, hc *http.Client, accounts []*account, stop <-chan struct{}) *loadResult {
	workers := min(spec.workers, len(accounts))
	res := &loadResult{began: time.Now()}
	var mu sync.Mutex
	var seq atomic.Int64
	runID := strconv.FormatInt(time.Now().UnixNano(), 36)
	hard, cancel := context.WithTimeout(context.Background(), spec.duration+spec.retryFor+30*time.Second)
	defer cancel()
	var wg sync.WaitGroup
	for w := range workers {
		wg.Go(func() {
			var mine []*account
			for i := w; i < len(accounts); i += workers {
				mine = append(mine, accounts[i])
			}
			var local loadResult
			var interval time.Duration
			if spec.rate > 0 {
				interval = time.Duration(float64(workers) / spec.rate * float64(time.Second))
			}
			next := res.began.Add(interval * time.Duration(w) / time.Duration(workers))
		loop:
			for i := 0; ; i++ {
				select {
				case <-stop:
					break loop
				default:
				}
				if interval > 0 {
					if d := time.Until(next); d > 0 {
						time.Sleep(d)
					}
					next = next.Add(interval)
					if now := time.Now(); now.Sub(next) > interval {
						next = now // no bursts to catch up after a stall
					}
				}
				if time.Since(res.began) >= spec.duration {
					break loop
				}
				a := mine[i%len(mine)]
				if a.gone {
					continue
				}
				op := opRead
				if float64(seq.Add(1)%100) < spec.visits*100 {
					op = opVisit
				}
				key := ""
				if op == opVisit {
					key = runID + "-" + strconv.FormatInt(seq.Add(1), 36)
				}
				local.logical++
				logical(hard, spec, hc, a, op, key, res.began, &local)
			}
			mu.Lock()
			res.samples = append(res.samples, local.samples...)
			res.logical += local.logical
			res.gaveUp += local.gaveUp
			res.regressions += local.regressions
			res.lostVisits += local.lostVisits
			res.goneNow += local.goneNow
			res.wrongName += local.wrongName
			mu.Unlock()
		})
	}
	wg.Wait()
	res.elapsed = time.Since(res.began)
	slices.SortFunc(res.samples, func(a, b sample) int { return int(a.at - b.at) })
	return res
}

// logical makes one logical request, retrying it (same key) with backoff,
// or as Retry-After says, until it succeeds, the session is gone, or
// spec.retryFor has passed.
func logical(ctx context.Context, spec loadSpec, hc *http.Client, a *account, op opKind, key string, began time.Time, res *loadResult) {
	deadline := time.Now().Add(spec.retryFor)
	backoff := 50 * time.Millisecond
	for {
		s, visits, name, retryAfter := attempt(ctx, spec, hc, a, op, key)
		s.at = s.at - time.Duration(began.UnixNano())
		res.samples = append(res.samples, s)
		switch {
		case s.ok():
			if name != a.name {
				res.wrongName++
				a.lost = true
				return
			}
			// A visit answers the count after it (a replay, the count its
			// first execution left); a read, the count. Either is at least
			// what was acknowledged before, unless the store lost a write.
			// Whatever the client has seen counts as acknowledged.
			floor := a.acked
			if op == opVisit {
				floor++
			}
			if visits < floor {
				res.regressions++
				res.lostVisits += floor - visits
				a.lostVisits += floor - visits
				a.lost = true
			}
			a.acked = visits
			return
		case s.status == http.StatusUnauthorized:
			a.gone = true
			res.goneNow++
			return
		case time.Now().After(deadline) || ctx.Err() != nil:
			res.gaveUp++
			return
		}
		wait := backoff
		if retryAfter > 0 {
			wait = min(retryAfter, 8*time.Second)
		}
		backoff = min(2*backoff, 2*time.Second)
		select {
		case <-time.After(wait):
		case <-ctx.Done():
		}
	}
}

// attempt makes one HTTP request. Its sample's at is absolute (Unix
// nanoseconds); the caller makes it relative.
func attempt(ctx context.Context, spec loadSpec, hc *http.Client, a *account, op opKind, key string) (s sample, visits int64, name string, retryAfter time.Duration) {
	method, path := http.MethodGet, "/session"
	if op == opVisit {
		method, path = http.MethodPost, "/session/visits"
	}
	req, _ := http.NewRequestWithContext(ctx, method, spec.base+path, nil)
	req.Header.Set("X-Session-Token", a.token)
	if key != "" {
		req.Header.Set("Idempotency-Key", key)
	}
	if spec.target != "" {
		req.Header.Set("X-Target", spec.target)
	}
	start := time.Now()
	s = sample{at: time.Duration(start.UnixNano()), op: op, key: key}
	resp, err := hc.Do(req)
	if err != nil {
		s.lat = time.Since(start)
		s.class = "transport: " + errClass(err)
		return s, 0, "", 0
	}
	body, err := io.ReadAll(io.LimitReader(resp.Body, 64<<10))
	resp.Body.Close()
	s.lat = time.Since(start)
	s.status = resp.StatusCode
	if err != nil {
		s.status = 0
		s.class = "transport: reading the body: " + errClass(err)
		return s, 0, "", 0
	}
	if s.ok() {
		var v struct {
			Name   string `json:"name"`
			Visits int64  `json:"visits"`
		}
		if err := json.Unmarshal(body, &v); err != nil {
			s.status, s.class = 0, "unreadable 2xx body"
			return s, 0, "", 0
		}
		return s, v.Visits, v.Name, 0
	}
	s.class = failureClass(resp, body)
	if secs, err := strconv.Atoi(resp.Header.Get("Retry-After")); err == nil && secs > 0 {
		retryAfter = time.Duration(secs) * time.Second
	}
	return s, 0, "", retryAfter
}

// failureClass names a non-2xx answer: its status and who gave it (a
// greeter's JSON error or problem title, or HAProxy's own page).
func failureClass(resp *http.Response, body []byte) string {
	st := strconv.Itoa(resp.StatusCode)
	ct := resp.Header.Get("Content-Type")
	if !strings.Contains(ct, "json") {
		return st + " from HAProxy"
	}
	var v struct {
		Error string `json:"error"`
		Title string `json:"title"`
	}
	_ = json.Unmarshal(body, &v)
	if v.Title != "" {
		return st + " " + v.Title
	}
	return st + " " + v.Error
}

func errClass(err error) string {
	switch {
	case errors.Is(err, context.DeadlineExceeded):
		return "timeout"
	case errors.Is(err, syscall.ECONNREFUSED):
		return "connection refused"
	case errors.Is(err, syscall.ECONNRESET):
		return "connection reset"
	case errors.Is(err, io.EOF), errors.Is(err, io.ErrUnexpectedEOF):
		return "EOF"
	}
	var ne net.Error
	if errors.As(err, &ne) && ne.Timeout() {
		return "timeout"
	}
	return err.Error()
}

// failed counts the failed samples (non-2xx or no answer) among s.
func failed(s []sample) int {
	n := 0
	for _, x := range s {
		if !x.ok() {
			n++
		}
	}
	return n
}

// classes summarizes the failures among s: "503 from HAProxy ×12, …".
func classes(s []sample) string {
	counts := map[string]int{}
	for _, x := range s {
		if !x.ok() {
			counts[x.class]++
		}
	}
	var parts []string
	for c, n := range counts {
		parts = append(parts, fmt.Sprintf("%s ×%d", c, n))
	}
	slices.Sort(parts)
	return strings.Join(parts, ", ")
}

// window returns the samples that started in [from, to) after the load
// began.
func window(s []sample, from, to time.Duration) []sample {
	var out []sample
	for _, x := range s {
		if x.at >= from && x.at < to {
			out = append(out, x)
		}
	}
	return out
}

// quantile is the q-quantile (0 < q ≤ 1) of the samples' latencies, or 0
// for none.
func quantile(s []sample, q float64) time.Duration {
	if len(s) == 0 {
		return 0
	}
	lat := make([]time.Duration, len(s))
	for i, x := range s {
		lat[i] = x.lat
	}
	slices.Sort(lat)
	i := int(float64(len(lat))*q+0.999999) - 1
	return lat[max(0, min(i, len(lat)-1))]
}

// okPerSecond is the rate of successful samples over the run.
func (r *loadResult) okPerSecond() float64 {
	n := 0
	for _, x := range r.samples {
		if x.ok() {
			n++
		}
	}
	return float64(n) / r.elapsed.Seconds()
}

// lastFailure is when the last failed sample started, or -1 for none.
func lastFailure(s []sample) time.Duration {
	for i := len(s) - 1; i >= 0; i-- {
		if !s[i].ok() {
			return s[i].at
		}
	}
	return -1
}

// verify reads every session not yet known to be lost once more through
// base, retrying anything but a 401, and checks that it still names its
// user and shows at least the visits acknowledged; a session that fails
// is marked lost (see sessionsLost). It returns a description of the
// first few it found lost.
func verify(t *testing.T, hc *http.Client, base string, accounts []*account) (detail []string) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	var mu sync.Mutex
	var wg sync.WaitGroup
	sem := make(chan struct{}, 16)
	for _, a := range accounts {
		if a.gone || a.lost {
			continue
		}
		wg.Go(func() {
			sem <- struct{}{}
			defer func() { <-sem }()
			acked := a.acked
			var r loadResult
			logical(ctx, loadSpec{base: base, retryFor: 30 * time.Second}, hc, a, opRead, "", time.Unix(0, 0), &r)
			bad := ""
			switch {
			case r.goneNow > 0:
				bad = "gone (401)"
			case r.wrongName > 0:
				bad = "answers with another user's name"
			case r.regressions > 0:
				bad = fmt.Sprintf("shows %d visits, %d were acknowledged", a.acked, acked)
			case r.gaveUp > 0:
				bad = "unreadable for 30 s: " + classes(r.samples)
			}
			if bad != "" {
				a.lost = true
				mu.Lock()
				if len(detail) < 5 {
					detail = append(detail, a.name+": "+bad)
				}
				mu.Unlock()
			}
		})
	}
	wg.Wait()
	return detail
}

// sessionsLost counts the sessions that are gone or lost acknowledged
// visits.
func sessionsLost(accounts []*account) int {
	n := 0
	for _, a := range accounts {
		if a.gone || a.lost {
			n++
		}
	}
	return n
}
