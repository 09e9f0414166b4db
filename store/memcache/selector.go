package memcache

import (
	"fmt"
	"net"
	"strconv"
	"strings"
	"sync/atomic"

	gomemcache "github.com/bradfitz/gomemcache/memcache"
)

// RendezvousSelector is a gomemcache.ServerSelector that spreads keys over
// servers by rendezvous (highest random weight) hashing: each key goes to
// the server whose hash of (key, server) is highest.
//
// Why not gomemcache's ServerList: it picks crc32(key) mod N, so going from
// two servers to three moves about two keys in three, and removing one
// server of three moves keys between the two that stay, too. Every moved
// key is a lost session. With rendezvous hashing, adding a server moves
// only the keys the new server now wins (about 1/N of them), and removing
// one moves only the keys it held. The choice depends only on the set of
// server names, not their order, so instances configured with the same
// servers in any order agree on where every key lives.
//
// Servers are named "host:port" (TCP) or by a path containing '/' (a Unix
// socket). Names are not resolved here but on each connect, so a server
// whose address changes in DNS is followed; the name, exactly as written,
// is also what a key's placement hashes, so every instance must spell a
// server the same way. Picking a server costs one hash of the key and one
// multiply-mix per server, with no allocation.
//
// The zero value has no servers. It is safe for concurrent use: SetServers
// may be called while keys are being picked, and never waits for an Each
// in progress (a Ping of a hung server, say).
type RendezvousSelector struct {
	// servers is replaced whole by SetServers and never changed in place,
	// so PickServer reads it without a lock.
	servers atomic.Pointer[[]rendezvousServer]
}

type rendezvousServer struct {
	addr net.Addr
	seed uint64
}

var _ gomemcache.ServerSelector = (*RendezvousSelector)(nil)

// NewRendezvousSelector returns a selector over the named servers, as
// SetServers takes them.
func NewRendezvousSelector(servers ...string) (*RendezvousSelector, error) {
	s := new(RendezvousSelector)
	if err := s.SetServers(servers...); err != nil {
		return nil, err
	}
	return s, nil
}

// SetServers replaces the set of servers. Each is "host:port" or a Unix
// socket path; none may be listed twice. On error nothing changes.
func (s *RendezvousSelector) SetServers(servers ...string) error {
	list := make([]rendezvousServer, 0, len(servers))
	seen := make(map[string]bool, len(servers))
	for _, name := range servers {
		addr, err := serverAddr(name)
		if err != nil {
			return err
		}
		if seen[name] {
			return fmt.Errorf("memcache: server %q listed twice", name)
		}
		seen[name] = true
		list = append(list, rendezvousServer{addr: addr, seed: mix(fnv1a(name))})
	}
	s.servers.Store(&list)
	return nil
}

// PickServer returns the server that holds key, or gomemcache.ErrNoServers.
func (s *RendezvousSelector) PickServer(key string) (net.Addr, error) {
	servers := s.list()
	switch len(servers) {
	case 0:
		return nil, gomemcache.ErrNoServers
	case 1:
		return servers[0].addr, nil
	}
	h := fnv1a(key)
	best, bestScore := 0, uint64(0)
	for i, srv := range servers {
		score := mix(h ^ srv.seed)
		// Ties (one key in 2⁶⁴) go to the smaller name, so that the order
		// servers are listed in never matters.
		if i == 0 || score > bestScore || (score == bestScore && srv.addr.String() < servers[best].addr.String()) {
			best, bestScore = i, score
		}
	}
	return servers[best].addr, nil
}

// Each calls f for every server, in the order given to SetServers,
// stopping at the first error, which it returns.
func (s *RendezvousSelector) Each(f func(net.Addr) error) error {
	for _, srv := range s.list() {
		if err := f(srv.addr); err != nil {
			return err
		}
	}
	return nil
}

func (s *RendezvousSelector) list() []rendezvousServer {
	if p := s.servers.Load(); p != nil {
		return *p
	}
	return nil
}

// serverAddr checks a server name: a path with '/' for a Unix socket, else
// host:port with a non-empty host and a port from 1 to 65535.
func serverAddr(name string) (net.Addr, error) {
	if strings.Contains(name, "/") {
		return &staticAddr{network: "unix", name: name}, nil
	}
	host, port, err := net.SplitHostPort(name)
	if err != nil {
		return nil, fmt.Errorf("memcache: server %q: want host:port", name)
	}
	if host == "" {
		return nil, fmt.Errorf("memcache: server %q: empty host", name)
	}
	if p, err := strconv.ParseUint(port, 10, 16); err != nil || p == 0 {
		return nil, fmt.Errorf("memcache: server %q: port must be a number from 1 to 65535", name)
	}
	return &staticAddr{network: "tcp", name: name}, nil
}

// staticAddr names a server without resolving it; gomemcache dials
// Network() and String() and keys its connection pool by String().
type staticAddr struct{ network, name string }

func (a *staticAddr) Network() string { return a.network }
func (a *staticAddr) String() string  { return a.name }

// fnv1a is 64-bit FNV-1a: stable across processes, releases and machines,
// which placement must be (hash/maphash is seeded per process).
func fnv1a(s string) uint64 {
	h := uint64(14695981039346656037)
	for i := 0; i < len(s); i++ {
		h ^= uint64(s[i])
		h *= 1099511628211
	}
	return h
}

// mix is the 64-bit finalizer of MurmurHash3: a bijection in which every
// input bit flips each output bit with probability about 1/2, so the
// scores of one key on different servers behave as independent draws.
func mix(x uint64) uint64 {
	x ^= x >> 33
	x *= 0xff51afd7ed558ccd
	x ^= x >> 33
	x *= 0xc4ceb9fe1a85ec53
	x ^= x >> 33
	return x
}
