package memcache_test

import (
	"errors"
	"fmt"
	"math/rand/v2"
	"net"
	"testing"

	gomemcache "github.com/bradfitz/gomemcache/memcache"

	"github.com/stateless-go/stateless/store/memcache"
)

// Servers for placement tests: never dialled.
var (
	srvA, srvB, srvC = "127.0.0.1:18301", "127.0.0.1:18302", "127.0.0.1:18303"
)

// placementKeys are n item keys shaped like this package's: a prefix and a
// random base64url session token, from a fixed seed so counts repeat.
func placementKeys(n int) []string {
	r := rand.New(rand.NewPCG(1, 2))
	const alphabet = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_"
	keys := make([]string, n)
	for i := range keys {
		b := []byte("stateless:")
		for range 43 {
			b = append(b, alphabet[r.IntN(len(alphabet))])
		}
		keys[i] = string(b)
	}
	return keys
}

func placement(t *testing.T, sel gomemcache.ServerSelector, keys []string) []string {
	t.Helper()
	out := make([]string, len(keys))
	for i, k := range keys {
		a, err := sel.PickServer(k)
		if err != nil {
			t.Fatal(err)
		}
		out[i] = a.String()
	}
	return out
}

func rendezvous(t *testing.T, servers ...string) *memcache.RendezvousSelector {
	t.Helper()
	s, err := memcache.NewRendezvousSelector(servers...)
	if err != nil {
		t.Fatal(err)
	}
	return s
}

func serverList(t *testing.T, servers ...string) *gomemcache.ServerList {
	t.Helper()
	var s gomemcache.ServerList
	if err := s.SetServers(servers...); err != nil {
		t.Fatal(err)
	}
	return &s
}

func moved(before, after []string) int {
	n := 0
	for i := range before {
		if before[i] != after[i] {
			n++
		}
	}
	return n
}

// TestRendezvousAddServer counts the keys that move when a third server
// joins two: under half (ideally a third, the share the new server takes),
// and every one of them to the new server.
func TestRendezvousAddServer(t *testing.T) {
	keys := placementKeys(10000)
	before := placement(t, rendezvous(t, srvA, srvB), keys)
	after := placement(t, rendezvous(t, srvA, srvB, srvC), keys)
	n := moved(before, after)
	frac := float64(n) / float64(len(keys))
	t.Logf("rendezvous, 2 -> 3 servers: %d of %d keys moved (%.3f; ideal 1/3)", n, len(keys), frac)
	if n >= len(keys)/2 {
		t.Errorf("%d of %d keys moved, want under half", n, len(keys))
	}
	if frac < 0.30 || frac > 0.37 {
		t.Errorf("%.3f of the keys moved, want about 1/3", frac)
	}
	for i := range keys {
		if before[i] != after[i] && after[i] != srvC {
			t.Fatalf("key %q moved from %s to %s, not to the new server", keys[i], before[i], after[i])
		}
	}

	// The same count for gomemcache's default, for comparison.
	lb := placement(t, serverList(t, srvA, srvB), keys)
	la := placement(t, serverList(t, srvA, srvB, srvC), keys)
	ln := moved(lb, la)
	t.Logf("gomemcache.ServerList (crc32 mod N), 2 -> 3 servers: %d of %d keys moved (%.3f)", ln, len(keys), float64(ln)/float64(len(keys)))
}

// TestRendezvousRemoveServer: when one server of three goes, only the keys
// it held move.
func TestRendezvousRemoveServer(t *testing.T) {
	keys := placementKeys(10000)
	before := placement(t, rendezvous(t, srvA, srvB, srvC), keys)
	after := placement(t, rendezvous(t, srvA, srvC), keys)
	onB := 0
	for i := range keys {
		if before[i] == srvB {
			onB++
		}
		if (before[i] != after[i]) != (before[i] == srvB) {
			t.Fatalf("key %q: on %s with three servers, on %s without %s", keys[i], before[i], after[i], srvB)
		}
	}
	n := moved(before, after)
	t.Logf("rendezvous, 3 -> 2 servers: %d of %d keys moved, all of them from the removed server (which held %d)", n, len(keys), onB)

	lb := placement(t, serverList(t, srvA, srvB, srvC), keys)
	la := placement(t, serverList(t, srvA, srvC), keys)
	ln := moved(lb, la)
	t.Logf("gomemcache.ServerList (crc32 mod N), 3 -> 2 servers: %d of %d keys moved (%.3f)", ln, len(keys), float64(ln)/float64(len(keys)))
}

// TestRendezvousBalance: each of three servers holds about a third.
func TestRendezvousBalance(t *testing.T) {
	keys := placementKeys(10000)
	count := map[string]int{}
	for _, s := range placement(t, rendezvous(t, srvA, srvB, srvC), keys) {
		count[s]++
	}
	t.Logf("10000 keys over three servers: %v", count)
	for _, s := range []string{srvA, srvB, srvC} {
		if count[s] < 3000 || count[s] > 3667 {
			t.Errorf("server %s holds %d of 10000 keys, want about a third", s, count[s])
		}
	}
}

// TestRendezvousOrder: the order servers are listed in does not matter.
func TestRendezvousOrder(t *testing.T) {
	keys := placementKeys(2000)
	a := placement(t, rendezvous(t, srvA, srvB, srvC), keys)
	b := placement(t, rendezvous(t, srvC, srvA, srvB), keys)
	if n := moved(a, b); n != 0 {
		t.Errorf("%d of %d keys are placed differently when the servers are listed in another order", n, len(keys))
	}
}

func TestRendezvousSetServers(t *testing.T) {
	var s memcache.RendezvousSelector // the zero value has no servers
	if _, err := s.PickServer("k"); !errors.Is(err, gomemcache.ErrNoServers) {
		t.Errorf("PickServer with no servers: %v, want ErrNoServers", err)
	}
	if err := s.SetServers(srvA, "/run/memcached.sock"); err != nil {
		t.Fatal(err)
	}
	var seen []string
	s.Each(func(a net.Addr) error { seen = append(seen, a.Network()+" "+a.String()); return nil })
	if fmt.Sprint(seen) != "[tcp "+srvA+" unix /run/memcached.sock]" {
		t.Errorf("Each visited %v", seen)
	}
	stop := errors.New("stop")
	calls := 0
	if err := s.Each(func(net.Addr) error { calls++; return stop }); err != stop || calls != 1 {
		t.Errorf("Each with an failing f: %v after %d calls, want stop after 1", err, calls)
	}
	for _, bad := range [][]string{{srvA, srvA}, {"h"}, {"h:0"}, {":1"}, {"h:port"}} {
		if err := s.SetServers(bad...); err == nil {
			t.Errorf("SetServers(%q) succeeded", bad)
		}
	}
	// A failed SetServers changes nothing.
	if a, err := s.PickServer("k"); err != nil || (a.String() != srvA && a.String() != "/run/memcached.sock") {
		t.Errorf("PickServer after a failed SetServers = %v, %v", a, err)
	}
}

func TestRendezvousNoAllocs(t *testing.T) {
	s := rendezvous(t, srvA, srvB, srvC)
	if n := testing.AllocsPerRun(100, func() { s.PickServer("stateless:abcdefghijklmnop") }); n != 0 {
		t.Errorf("PickServer allocates %v times, want 0", n)
	}
}

// TestRendezvousConcurrentSetServers runs SetServers beside PickServer and
// Each, for the race detector.
func TestRendezvousConcurrentSetServers(t *testing.T) {
	s := rendezvous(t, srvA, srvB)
	done := make(chan struct{})
	go func() {
		defer close(done)
		for i := range 200 {
			if i%2 == 0 {
				s.SetServers(srvA, srvB, srvC)
			} else {
				s.SetServers(srvA, srvB)
			}
		}
	}()
	for _, k := range placementKeys(2000) {
		if _, err := s.PickServer(k); err != nil {
			t.Fatal(err)
		}
		s.Each(func(net.Addr) error { return nil })
	}
	<-done
}
