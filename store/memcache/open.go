package memcache

import (
	"cmp"
	"context"
	"errors"
	"fmt"
	"net"
	"net/url"
	"strconv"
	"strings"
	"time"

	gomemcache "github.com/bradfitz/gomemcache/memcache"

	"github.com/stateless-go/stateless/store"
)

func init() {
	store.Register("memcache", func(ctx context.Context, rawURL string) (store.Store, error) {
		s, err := Open(ctx, rawURL)
		if err != nil {
			return nil, err
		}
		return s, nil
	})
}

// Defaults of the client Open makes.
const (
	// DefaultTimeout bounds each connect, read and write: long enough for a
	// full-size item on a busy network, short enough that a dead server
	// fails a request within about a second even under a context without a
	// deadline (a call whose context ends sooner returns then, see the
	// package comment). gomemcache's own default is 500 ms.
	DefaultTimeout = time.Second
	// DefaultMaxIdleConns is how many idle connections the client keeps per
	// server unless max_idle_conns says otherwise: as many as
	// max_in_flight allows in flight (DefaultMaxInFlight unless set), so
	// that every connection a burst opens is kept for the next one.
	// gomemcache's own default, 2, makes a busy server dial and drop a
	// connection for nearly every call.
	DefaultMaxIdleConns = DefaultMaxInFlight
	// defaultPort is memcached's.
	defaultPort = "11211"
)

// ClientConfig is what a memcache:// URL says about the client: see
// ParseURL.
type ClientConfig struct {
	// Servers are "host:port" addresses, the default port filled in.
	Servers []string
	// Timeout is the client's Timeout for each connect, read and write.
	Timeout time.Duration
	// MaxIdleConns is the client's MaxIdleConns, per server.
	MaxIdleConns int
}

// NewClient makes the client the configuration describes, with keys spread
// over the servers by a RendezvousSelector, which it also returns: give it
// to New in Options.Selector, so that the in-flight bound counts per server.
func (c *ClientConfig) NewClient() (*gomemcache.Client, *RendezvousSelector, error) {
	sel, err := NewRendezvousSelector(c.Servers...)
	if err != nil {
		return nil, nil, err
	}
	client := gomemcache.NewFromSelector(sel)
	client.Timeout = c.Timeout
	client.MaxIdleConns = c.MaxIdleConns
	return client, sel, nil
}

// Open opens a Store from a URL (see ParseURL for its form). Keys are
// spread over the servers with a RendezvousSelector. The Store owns its
// client: Close closes it. Open does not connect, so a server that is down
// at start is not an error; Ping (a readiness probe) reports it, and the
// calls that need it fail until it is back.
func Open(ctx context.Context, rawURL string) (*Store, error) {
	if err := ctx.Err(); err != nil {
		return nil, err
	}
	cc, opts, err := ParseURL(rawURL)
	if err != nil {
		return nil, err
	}
	client, sel, err := cc.NewClient()
	if err != nil {
		return nil, err
	}
	opts.Selector = sel
	s, err := New(client, opts)
	if err != nil {
		return nil, err
	}
	s.owned = true
	return s, nil
}

// ParseURL reads a URL of the form
//
//	memcache://host1:11211,host2:11211[?prefix=P&timeout=D&max_in_flight=N&max_idle_conns=N&max_value_size=N]
//
// with one or more servers, comma-separated; a server without a port gets
// 11211, and an IPv6 address is written in brackets ("[::1]:11211"). The
// query parameters, all optional:
//
//   - prefix: Options.KeyPrefix (default none), e.g. prefix=stateless:
//   - timeout: the client's Timeout for each connect, read and write, a Go
//     duration such as 500ms (default DefaultTimeout)
//   - max_in_flight: Options.MaxInFlight, the most round trips in flight
//     to each server, beyond which calls queue (default DefaultMaxInFlight)
//   - max_idle_conns: idle connections kept per server (default
//     max_in_flight, so a Store holds at most max_in_flight connections
//     to each server)
//   - max_value_size: Options.MaxValueSize (default DefaultMaxValueSize)
//
// without connecting, into the client's configuration and the Store's
// Options.
//
// It parses by hand because a list of
// hosts is not a URL authority net/url accepts in every form (IPv6
// literals, for one). Errors quote the parts at fault, never the whole URL,
// and refuse user info without repeating it.
func ParseURL(rawURL string) (*ClientConfig, *Options, error) {
	cfg, err := parseURL(rawURL)
	if err != nil {
		return nil, nil, err
	}
	return &cfg.client, &cfg.opts, nil
}

type config struct {
	client ClientConfig
	opts   Options
}

func parseURL(rawURL string) (*config, error) {
	const scheme = "memcache://"
	if len(rawURL) < len(scheme) || !strings.EqualFold(rawURL[:len(scheme)], scheme) {
		return nil, errors.New("memcache: URL must start with memcache://")
	}
	rest := rawURL[len(scheme):]
	if strings.Contains(rest, "#") {
		return nil, errors.New("memcache: URL takes no #fragment")
	}
	hosts, query, _ := strings.Cut(rest, "?")
	if strings.Contains(hosts, "@") {
		return nil, errors.New("memcache: URL takes no user or password (memcached's text protocol has no authentication)")
	}
	if i := strings.IndexByte(hosts, '/'); i >= 0 {
		if hosts[i:] != "/" {
			return nil, errors.New("memcache: URL takes no path; want memcache://host:port[,host:port...][?parameters]")
		}
		hosts = hosts[:i]
	}
	if hosts == "" {
		return nil, errors.New("memcache: URL names no server; want memcache://host:port[,host:port...]")
	}
	cfg := &config{client: ClientConfig{Timeout: DefaultTimeout}}
	for h := range strings.SplitSeq(hosts, ",") {
		server, err := serverName(h)
		if err != nil {
			return nil, err
		}
		cfg.client.Servers = append(cfg.client.Servers, server)
	}
	params, err := url.ParseQuery(query)
	if err != nil {
		return nil, errors.New("memcache: URL has a malformed query")
	}
	for name, vs := range params {
		if len(vs) != 1 {
			return nil, fmt.Errorf("memcache: URL parameter %s given %d times", name, len(vs))
		}
		v := vs[0]
		switch name {
		case "prefix":
			if err := checkPrefix(v); err != nil {
				return nil, err
			}
			cfg.opts.KeyPrefix = v
		case "timeout":
			d, err := time.ParseDuration(v)
			if err != nil || d <= 0 {
				return nil, fmt.Errorf("memcache: URL parameter timeout=%q: want a positive duration such as 500ms", v)
			}
			cfg.client.Timeout = d
		case "max_in_flight", "max_idle_conns", "max_value_size":
			n, err := strconv.Atoi(v)
			if err != nil || n <= 0 {
				return nil, fmt.Errorf("memcache: URL parameter %s=%q: want a positive integer", name, v)
			}
			switch name {
			case "max_in_flight":
				cfg.opts.MaxInFlight = n
			case "max_idle_conns":
				cfg.client.MaxIdleConns = n
			default:
				cfg.opts.MaxValueSize = n
			}
		default:
			return nil, fmt.Errorf("memcache: unknown URL parameter %q; known: prefix, timeout, max_in_flight, max_idle_conns, max_value_size", name)
		}
	}
	if cfg.client.MaxIdleConns == 0 {
		cfg.client.MaxIdleConns = cmp.Or(cfg.opts.MaxInFlight, DefaultMaxInFlight)
	}
	return cfg, nil
}

// serverName checks one server of the list and adds the default port.
func serverName(h string) (string, error) {
	if h == "" {
		return "", errors.New("memcache: URL has an empty server in its list")
	}
	if strings.ContainsFunc(h, func(r rune) bool { return r <= ' ' || r == 0x7f || r == '%' }) {
		return "", fmt.Errorf("memcache: server %q: spaces, control bytes and %% escapes are not allowed in a host", h)
	}
	if _, _, err := net.SplitHostPort(h); err != nil {
		// No port (or a malformed one): it may be a bare host. An IPv6
		// address needs its brackets, or "::1:11211" would be ambiguous.
		host, bad := h, false
		if inner, ok := strings.CutPrefix(h, "["); ok && strings.HasSuffix(inner, "]") {
			host = inner[:len(inner)-1]
			bad = net.ParseIP(host) == nil
		} else {
			bad = strings.ContainsAny(host, ":[]")
		}
		if bad || host == "" {
			return "", fmt.Errorf("memcache: server %q: want host:port (an IPv6 address in brackets)", h)
		}
		h = net.JoinHostPort(host, defaultPort)
	}
	if _, err := serverAddr(h); err != nil {
		return "", err
	}
	return h, nil
}
