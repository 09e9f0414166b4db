package redis

import (
	"errors"
	"fmt"
	"math"
	"net"
	"net/url"
	"reflect"
	"slices"
	"strconv"
	"strings"
	"time"

	goredis "github.com/redis/go-redis/v9"

	"github.com/stateless-go/stateless/store/driver"
)

// defaultReadTimeout is go-redis' ReadTimeout when a URL sets none.
const defaultReadTimeout = 3 * time.Second

// schemes is the one list of the URL schemes this package serves; init
// registers each with store.Register.
var schemes = []string{"redis", "rediss", "redis+cluster", "rediss+cluster", "redis+sentinel", "rediss+sentinel"}

// ParseURL reads a store URL (the forms are in the package documentation)
// without connecting: the client's options, for goredis.NewUniversalClient,
// and the store's, for New. No error it returns contains the URL's password.
//
// go-redis' parser for the form (goredis.ParseURL, ParseClusterURL or
// ParseFailoverURL) reads the parameters, and its result is carried over
// to UniversalOptions, which has a namesake for every field those parsers
// set (ParseURL fails rather than drop one). One type for the three forms
// lets a program add what a URL cannot say (hooks, a Dialer, TLS roots)
// and build the client itself. IsClusterMode is set for a Cluster (one
// seed node still makes a Cluster client) and ContextTimeoutEnabled is on.
// ParseURL keeps to itself only what go-redis' URLs cannot say or say
// otherwise: the host list, Sentinel's userinfo as the data nodes'
// credentials, this package's parameters, the refusal of replica reads,
// and range checks on pool sizes (go-redis would panic on first use).
func ParseURL(rawURL string) (_ *goredis.UniversalOptions, _ *Options, err error) {
	defer func() {
		// The messages below quote no password; this is the last line of
		// defence, for text that go-redis wrote.
		if err != nil {
			err = errors.New(driver.Scrub(err.Error(), driver.URLSecrets(rawURL)))
		}
	}()
	scheme, rest, ok := strings.Cut(rawURL, "://")
	scheme = strings.ToLower(scheme)
	if !ok || !slices.Contains(schemes, scheme) { // not quoted: "user:pass@redis" is no scheme
		return nil, nil, fmt.Errorf("redis: malformed URL or unknown scheme; want scheme://host…, the scheme one of %s", strings.Join(schemes, ", "))
	}
	base, topology, _ := strings.Cut(scheme, "+")
	authority, tail := rest, ""
	if i := strings.IndexAny(rest, "/?#"); i >= 0 {
		authority, tail = rest[:i], rest[i:]
	}
	if strings.ContainsAny(tail, "@#") { // an '@' most likely follows a password's unescaped / ? or #
		return nil, nil, errors.New("redis: malformed URL: '@' after the host part, or a #fragment; %-escape / ? # @ and % in the user name and password")
	}
	userinfo, hostList := "", authority
	if at := strings.LastIndexByte(authority, '@'); at >= 0 {
		userinfo, hostList = authority[:at+1], authority[at+1:]
	}
	// net/url reads the rest around a stand-in host. Its error would quote
	// the URL, so it is replaced, not wrapped.
	u, err := url.Parse(base + "://" + userinfo + "host" + tail)
	if err != nil {
		return nil, nil, errors.New("redis: malformed URL (check that reserved characters in the user name and password are %-escaped)")
	}
	q, err := url.ParseQuery(u.RawQuery)
	if err != nil {
		return nil, nil, errors.New("redis: malformed URL query")
	}
	opts, err := takeOptions(q)
	if err != nil {
		return nil, nil, err
	}
	if err := refuse(q, "it routes reads to replicas, which may lag behind, and a store must read its own writes",
		"read_only", "route_by_latency", "route_randomly", "replica_only", "use_disconnected_replicas"); err != nil {
		return nil, nil, err
	}
	notHere := map[string][]string{"cluster": {"addr", "db"}, "sentinel": {"addr", "master_name", "username", "password", "db"}}
	if err := refuse(q, "a "+scheme+" URL says it in its host part, userinfo or path", notHere[topology]...); err != nil {
		return nil, nil, err
	}
	addrs, err := splitHosts(hostList, topology)
	if err != nil {
		return nil, nil, err
	}
	if topology == "" && len(addrs) > 1 {
		return nil, nil, fmt.Errorf("redis: %s URL names %d hosts; use %s+cluster:// for a Cluster or %s+sentinel:// for Sentinel", scheme, len(addrs), base, base)
	}

	// go-redis' parsers get the first host; the list is set afterwards.
	u.Host, u.RawQuery = addrs[0], q.Encode()
	master, db, _ := strings.Cut(strings.Trim(u.Path, "/"), "/")
	var parsed any
	switch {
	case topology == "cluster" && master != "":
		return nil, nil, errors.New("redis: a Cluster URL takes no path: a Cluster has only database 0")
	case topology == "sentinel" && (master == "" || strings.Contains(db, "/")):
		return nil, nil, errors.New("redis: a Sentinel URL needs the master's name as its path: redis+sentinel://s1:26379,s2:26379/mymaster[/db]")
	case topology == "":
		parsed, err = goredis.ParseURL(u.String())
	case topology == "cluster":
		parsed, err = goredis.ParseClusterURL(u.String())
	default:
		parsed, err = parseSentinel(u, q, master, db)
	}
	if err != nil {
		return nil, nil, fmt.Errorf("redis: bad URL: %s", strings.TrimPrefix(err.Error(), "redis: "))
	}
	uo, err := universal(parsed, addrs, topology == "cluster")
	if err != nil {
		return nil, nil, err
	}
	rt := uo.ReadTimeout
	if rt == 0 {
		rt = defaultReadTimeout
	}
	if err := checkWait(opts, uo.IsClusterMode, rt); err != nil {
		return nil, nil, err
	}
	return uo, opts, nil
}

// parseSentinel has go-redis read our Sentinel form, whose userinfo holds
// the data nodes' credentials (go-redis' URL has the sentinels' there).
func parseSentinel(u *url.URL, q url.Values, master, db string) (*goredis.FailoverOptions, error) {
	sUser, sPass := q.Get("sentinel_username"), q.Get("sentinel_password")
	q.Del("sentinel_username")
	q.Del("sentinel_password")
	q.Set("master_name", master)
	user := u.User
	u.User, u.Path, u.RawQuery = nil, "/"+db, q.Encode()
	o, err := goredis.ParseFailoverURL(u.String())
	if err != nil {
		return nil, err
	}
	o.SentinelUsername, o.SentinelPassword = sUser, sPass
	if user != nil {
		o.Username = user.Username()
		o.Password, _ = user.Password()
	}
	return o, nil
}

// refuse fails, saying why, if q has one of names.
func refuse(q url.Values, why string, names ...string) error {
	for _, k := range names {
		if q.Has(k) {
			return fmt.Errorf("redis: URL parameter %s is refused: %s", k, why)
		}
	}
	return nil
}

// splitHosts validates a host list and fills in the default port. Each
// host is a name, an IPv4 address or a bracketed IPv6 address, and a port.
func splitHosts(list, topology string) ([]string, error) {
	if list == "" && topology == "" {
		list = "localhost" // as go-redis does
	}
	port := "6379"
	if topology == "sentinel" {
		port = "26379"
	}
	var addrs []string
	for h := range strings.SplitSeq(list, ",") {
		hp := h
		if i := strings.LastIndexAny(h, ":]"); i < 0 || h[i] == ']' { // no port
			hp = h + ":" + port
		}
		host, p, err := net.SplitHostPort(hp)
		n, perr := strconv.Atoi(p)
		if err != nil || host == "" || strings.ContainsAny(host, "[]") || perr != nil || n < 1 || n > 65535 {
			return nil, fmt.Errorf("redis: malformed URL: bad host:port %q in the host list (an IPv6 address goes in brackets: [::1]:6379)", h)
		}
		addrs = append(addrs, net.JoinHostPort(host, p))
	}
	return addrs, nil
}

// takeOptions moves this package's own parameters out of q, so that
// go-redis never sees them.
func takeOptions(q url.Values) (*Options, error) {
	var o Options
	for k, vs := range q {
		bad, want := false, ""
		switch k {
		case "prefix":
			o.KeyPrefix, bad, want = vs[0], vs[0] == "", " and not be empty"
		case "max_value_size":
			n, err := strconv.Atoi(vs[0])
			o.MaxValueSize, bad, want = n, err != nil || n < 0, ", as a non-negative number of bytes"
		case "batching":
			on, err := strconv.ParseBool(vs[0])
			o.DisableBatching, bad, want = !on, err != nil, ", as true or false"
		case "wait_replicas":
			n, err := strconv.Atoi(vs[0])
			o.WaitReplicas, bad, want = n, err != nil || n < 0, ", as a non-negative number of replicas"
		case "wait_timeout":
			d, err := time.ParseDuration(vs[0])
			o.WaitTimeout, bad, want = d, err != nil || d <= 0, ", as a positive duration such as 100ms"
		default:
			continue
		}
		delete(q, k)
		if bad || len(vs) != 1 {
			return nil, fmt.Errorf("redis: URL parameter %s must be given once%s", k, want)
		}
	}
	return &o, nil
}

// universal carries what a go-redis parser set (*Options, *ClusterOptions
// or *FailoverOptions) over to UniversalOptions, each field to its
// namesake of the same type, with addrs as the seed addresses. A field set
// that has no namesake is an error: nothing a URL says is dropped. A ctx
// deadline is to bound the network wait (ContextTimeoutEnabled).
func universal(parsed any, addrs []string, cluster bool) (*goredis.UniversalOptions, error) {
	uo := &goredis.UniversalOptions{Addrs: addrs, IsClusterMode: cluster, ContextTimeoutEnabled: true}
	src, dst := reflect.ValueOf(parsed).Elem(), reflect.ValueOf(uo).Elem()
	for i := range src.NumField() {
		f, v := src.Type().Field(i), src.Field(i)
		if v.IsZero() || slices.Contains([]string{"Network", "Addr", "Addrs", "SentinelAddrs"}, f.Name) { // "tcp"; addrs
			continue
		}
		d := dst.FieldByName(f.Name)
		if !f.IsExported() || !d.IsValid() || d.Type() != f.Type {
			return nil, fmt.Errorf("redis: go-redis read %s from the URL, which UniversalOptions cannot hold", f.Name)
		}
		d.Set(v)
	}
	return uo, checkPool(uo)
}

// checkPool refuses pool sizes go-redis cannot use: it would panic on
// them when it builds a connection pool, which for a Cluster happens on
// first use, not in the constructor.
func checkPool(o *goredis.UniversalOptions) error {
	for name, v := range map[string]int{"pool_size": o.PoolSize, "min_idle_conns": o.MinIdleConns,
		"max_idle_conns": o.MaxIdleConns, "max_active_conns": o.MaxActiveConns, "pipeline_pool_size": o.PipelinePoolSize} {
		low := 0
		if name == "pipeline_pool_size" {
			low = -1 // no pipeline pool
		}
		if v < low || v > math.MaxInt32 {
			return fmt.Errorf("redis: bad URL: %s=%d is out of range [%d, %d]", name, v, low, math.MaxInt32)
		}
	}
	return nil
}
