package main

import (
	"container/list"
	"net/http"
	"net/netip"
	"strings"
	"sync"
	"time"

	"golang.org/x/time/rate"
)

// maxLoginAddrs bounds the client addresses the login limiter remembers.
// Each costs about 250 bytes (a rate.Limiter, its key and the bookkeeping),
// so the limiter holds at most about 25 MB however many addresses log in.
const maxLoginAddrs = 100_000

// loginRefill is how long an address's bucket takes to refill from empty.
// The burst equals the logins allowed per minute, so it is one minute
// whatever the rate: an address unseen for that long has a full bucket,
// the same as a fresh one, and forgetting it loses nothing.
const loginRefill = time.Minute

// loginLimiter limits logins (POST /session) per client address: each
// address may log in perMinute times at once, then perMinute times a
// minute (a token bucket, golang.org/x/time/rate, with burst perMinute).
//
// It remembers at most maxAddrs addresses, least recently seen first out.
// Since every bucket refills completely in loginRefill, the address it
// forgets is one with a full bucket whenever there is one; only when more
// than maxAddrs addresses have all tried to log in within the last minute
// does it forget an address whose bucket is not full, which then starts
// again with a full bucket. Memory stays bounded either way. Addresses
// idle for loginRefill are also dropped, a few on each call, so the map
// shrinks again when the traffic stops; no goroutine is needed.
//
// The client address is the connection's remote address or, with
// trustProxy, the last address in X-Forwarded-For (see clientKey).
type loginLimiter struct {
	limit      rate.Limit
	burst      int
	trustProxy bool
	maxAddrs   int
	now        func() time.Time // time.Now; tests set a fake clock

	mu    sync.Mutex
	addrs map[string]*list.Element // key → element of lru
	lru   list.List                // of *loginBucket, most recently seen first
}

// loginBucket is one address's token bucket.
type loginBucket struct {
	key  string
	lim  *rate.Limiter
	seen time.Time // the last login attempt, allowed or refused
}

// newLoginLimiter returns a limiter allowing perMinute logins per minute,
// in bursts of up to perMinute, per client address. perMinute must be
// positive: the caller installs no limiter for 0.
func newLoginLimiter(perMinute int, trustProxy bool) *loginLimiter {
	return &loginLimiter{
		limit:      rate.Limit(float64(perMinute) / loginRefill.Seconds()),
		burst:      perMinute,
		trustProxy: trustProxy,
		maxAddrs:   maxLoginAddrs,
		now:        time.Now,
		addrs:      map[string]*list.Element{},
	}
}

// allow is greeter.Options.AllowLogin: it takes a token from r's address's
// bucket, or reports how long until the bucket holds one again.
func (l *loginLimiter) allow(r *http.Request) (ok bool, retryAfter time.Duration) {
	key := clientKey(r, l.trustProxy)
	l.mu.Lock()
	defer l.mu.Unlock()
	now := l.now()
	b := l.bucket(key, now)
	res := b.lim.ReserveN(now, 1)
	if !res.OK() { // only if the burst were below 1, which newLoginLimiter never makes
		return false, loginRefill
	}
	if d := res.DelayFrom(now); d > 0 {
		// Refused: give the token back, so a client that keeps retrying
		// early does not push its own next login further away. The wait
		// is when the bucket next holds a token; under l.mu nobody else
		// reserves from it in between, so Retry-After tells the truth.
		res.CancelAt(now)
		return false, d
	}
	return true, 0
}

// bucket returns key's bucket, marked seen at now, creating it (and
// forgetting the least recently seen address if the map is full) when key
// is not remembered. l.mu must be held.
func (l *loginLimiter) bucket(key string, now time.Time) *loginBucket {
	l.dropIdle(now, 2)
	if e, ok := l.addrs[key]; ok {
		b := e.Value.(*loginBucket)
		b.seen = now
		l.lru.MoveToFront(e)
		return b
	}
	for len(l.addrs) >= l.maxAddrs {
		l.remove(l.lru.Back())
	}
	b := &loginBucket{key: key, lim: rate.NewLimiter(l.limit, l.burst), seen: now}
	l.addrs[key] = l.lru.PushFront(b)
	return b
}

// dropIdle forgets up to n of the least recently seen addresses whose
// buckets are full again. l.mu must be held.
func (l *loginLimiter) dropIdle(now time.Time, n int) {
	for range n {
		e := l.lru.Back()
		if e == nil || now.Sub(e.Value.(*loginBucket).seen) < loginRefill {
			return
		}
		l.remove(e)
	}
}

func (l *loginLimiter) remove(e *list.Element) {
	delete(l.addrs, e.Value.(*loginBucket).key)
	l.lru.Remove(e)
}

// size returns how many addresses l remembers.
func (l *loginLimiter) size() int {
	l.mu.Lock()
	defer l.mu.Unlock()
	return len(l.addrs)
}

// clientKey returns the address whose bucket r's login counts against.
//
// By default that is the connection's remote address, and X-Forwarded-For
// is ignored: any client can write that header. With trustProxy (the
// server is reached only through a reverse proxy that appends the address
// it was connected from), it is the LAST address in the last
// X-Forwarded-For header, the one that proxy appended; the earlier entries
// came from the client and are ignored, so a client cannot pick its own
// bucket. If that last entry is missing or not an IP address, the remote
// address is used.
//
// IPv4-mapped IPv6 addresses count as IPv4, and zones are dropped. An IPv6
// address is keyed by its /64 prefix: a single subscriber is usually given
// at least a /64 and can pick any address in it, so keying by the full
// address would let one client log in without limit (and fill the map).
// Clients sharing a /64 share a bucket, as clients behind one IPv4 NAT do.
func clientKey(r *http.Request, trustProxy bool) string {
	if trustProxy {
		if a, ok := lastForwardedFor(r.Header); ok {
			return addrKey(a)
		}
	}
	if ap, err := netip.ParseAddrPort(r.RemoteAddr); err == nil {
		return addrKey(ap.Addr())
	}
	if a, err := netip.ParseAddr(r.RemoteAddr); err == nil {
		return addrKey(a)
	}
	return r.RemoteAddr // not an IP address (a Unix socket): all such clients share one bucket
}

// lastForwardedFor parses the last entry of the last X-Forwarded-For
// header. It accepts a bare address, as proxies write it, and also
// "ip:port" and "[ipv6]" forms, which some write.
func lastForwardedFor(h http.Header) (netip.Addr, bool) {
	vals := h.Values("X-Forwarded-For")
	if len(vals) == 0 {
		return netip.Addr{}, false
	}
	last := vals[len(vals)-1]
	last = strings.TrimSpace(last[strings.LastIndexByte(last, ',')+1:])
	if a, err := netip.ParseAddr(last); err == nil {
		return a, true
	}
	if ap, err := netip.ParseAddrPort(last); err == nil {
		return ap.Addr(), true
	}
	if strings.HasPrefix(last, "[") && strings.HasSuffix(last, "]") {
		if a, err := netip.ParseAddr(last[1 : len(last)-1]); err == nil {
			return a, true
		}
	}
	return netip.Addr{}, false
}

// addrKey normalises a: IPv4 (also when IPv4-mapped) as dotted quad, IPv6
// as its /64 prefix, without a zone.
func addrKey(a netip.Addr) string {
	a = a.Unmap().WithZone("")
	if a.Is6() {
		p, _ := a.Prefix(64) // cannot fail for an IPv6 address
		return p.String()
	}
	return a.String()
}
