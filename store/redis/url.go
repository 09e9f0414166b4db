package redis

import (
	"errors"
	"fmt"
	"math"
	"net/url"
	"slices"
	"strconv"
	"strings"

	goredis "github.com/redis/go-redis/v9"
)

// The URL schemes Open understands; init registers each with store.Register.
var schemes = []string{
	"redis", "rediss",
	"redis+cluster", "rediss+cluster",
	"redis+sentinel", "rediss+sentinel",
}

// config is what a store URL says: how to build the client, and the
// store's own Options. Exactly one of simple, cluster and failover is set.
type config struct {
	simple   *goredis.Options
	cluster  *goredis.ClusterOptions
	failover *goredis.FailoverOptions
	opts     Options
}

// newClient builds the client config describes. go-redis panics on some
// option values it cannot use (a pool_size over 2³¹, for one); a URL is user
// input, so that becomes an error.
func (c *config) newClient(secrets ...string) (client goredis.UniversalClient, err error) {
	defer func() {
		if r := recover(); r != nil {
			client = nil
			err = scrub(fmt.Errorf("redis: the URL's options were refused by go-redis: %v", r), secrets)
		}
	}()
	switch {
	case c.cluster != nil:
		return goredis.NewClusterClient(c.cluster), nil
	case c.failover != nil:
		return goredis.NewFailoverClient(c.failover), nil
	default:
		return goredis.NewClient(c.simple), nil
	}
}

// Parameters that make go-redis read from replicas. A session store must
// read its own writes, so they are refused rather than honoured.
var replicaParams = []string{"read_only", "route_by_latency", "route_randomly", "replica_only", "use_disconnected_replicas"}

// parseURL reads a store URL (see the package documentation for the forms).
// No error it returns contains a password from the URL.
func parseURL(rawURL string) (*config, error) {
	p, err := splitURL(rawURL)
	if err != nil {
		return nil, err
	}
	secrets := p.secrets()
	cfg, err := p.config()
	if err != nil {
		return nil, scrub(err, secrets)
	}
	return cfg, nil
}

// parts is a store URL taken apart. The host list is split by hand because
// net/url cannot parse a list of hosts, IPv6 literals among them.
type parts struct {
	scheme   string // as registered: "redis", "rediss+cluster", ...
	tls      bool
	topology string // "", "cluster" or "sentinel"
	user     *url.Userinfo
	hosts    []string // host:port, port defaulted
	path     string
	query    url.Values
}

func (p *parts) secrets() []string {
	var s []string
	if p.user != nil {
		if pw, ok := p.user.Password(); ok && pw != "" {
			s = append(s, pw)
		}
	}
	for k, vs := range p.query {
		if strings.Contains(strings.ToLower(k), "pass") {
			for _, v := range vs {
				if v != "" {
					s = append(s, v)
				}
			}
		}
	}
	return s
}

func splitURL(rawURL string) (*parts, error) {
	i := strings.Index(rawURL, "://")
	if i <= 0 {
		return nil, errors.New("redis: malformed URL: want scheme://host…, e.g. redis://localhost:6379/0")
	}
	p := &parts{scheme: strings.ToLower(rawURL[:i])}
	if !slices.Contains(schemes, p.scheme) {
		if strings.ContainsFunc(p.scheme, func(r rune) bool {
			return !('a' <= r && r <= 'z' || '0' <= r && r <= '9' || r == '+' || r == '-' || r == '.')
		}) {
			// Not a scheme at all; quoting it could quote a password.
			return nil, fmt.Errorf("redis: malformed URL: bad scheme; known: %s", strings.Join(schemes, ", "))
		}
		return nil, fmt.Errorf("redis: unknown URL scheme %q; known: %s", p.scheme, strings.Join(schemes, ", "))
	}
	base, topology, _ := strings.Cut(p.scheme, "+")
	p.tls, p.topology = base == "rediss", topology

	rest := rawURL[i+len("://"):]
	end := strings.IndexAny(rest, "/?#")
	if end < 0 {
		end = len(rest)
	}
	authority, tail := rest[:end], rest[end:]
	if strings.Contains(tail, "@") {
		// Most likely a password holding an unescaped / ? or #, which ended
		// the host part early: quote nothing of it.
		return nil, errors.New("redis: malformed URL: '@' after the host part; %-escape / ? # @ and % in the user name and password, and @ in parameters")
	}
	hostList := authority
	userinfo := ""
	if at := strings.LastIndex(authority, "@"); at >= 0 {
		userinfo, hostList = authority[:at+1], authority[at+1:]
	}

	// Let net/url decode the userinfo, path and query, with a stand-in
	// host. Its error would quote the URL, password and all, so it is
	// replaced rather than wrapped.
	u, err := url.Parse("redis://" + userinfo + "host" + tail)
	if err != nil {
		return nil, errors.New("redis: malformed URL (check that reserved characters in the user name and password are %-escaped)")
	}
	if u.Fragment != "" {
		return nil, errors.New("redis: malformed URL: a #fragment has no meaning here")
	}
	p.user, p.path = u.User, u.Path
	if p.query, err = url.ParseQuery(u.RawQuery); err != nil {
		return nil, errors.New("redis: malformed URL query")
	}

	defaultPort := "6379"
	if p.topology == "sentinel" {
		defaultPort = "26379"
	}
	if hostList == "" {
		if p.topology != "" {
			return nil, fmt.Errorf("redis: %s URL names no host; want %s://host:port,host:port…", p.scheme, p.scheme)
		}
		hostList = "localhost" // as go-redis does for redis://
	}
	for h := range strings.SplitSeq(hostList, ",") {
		hp, err := hostPort(h, defaultPort)
		if err != nil {
			return nil, err
		}
		p.hosts = append(p.hosts, hp)
	}
	if p.topology == "" && len(p.hosts) > 1 {
		return nil, fmt.Errorf("redis: %s URL names %d hosts; use %s+cluster:// for a Cluster or %s+sentinel:// for Sentinel", p.scheme, len(p.hosts), base, base)
	}
	return p, nil
}

// hostPort validates one "host[:port]" of a host list and fills in the
// default port. It accepts what a URL's host may be: a name, an IPv4
// address or a bracketed IPv6 address.
func hostPort(h, defaultPort string) (string, error) {
	if h == "" {
		return "", errors.New("redis: malformed URL: empty host in the host list")
	}
	u, err := url.Parse("redis://" + h)
	if err != nil || u.Host != h || u.Hostname() == "" {
		return "", fmt.Errorf("redis: malformed URL: bad host %q (an IPv6 address goes in brackets: [::1]:6379)", h)
	}
	port := u.Port()
	if port == "" {
		if strings.HasSuffix(h, ":") {
			return "", fmt.Errorf("redis: malformed URL: empty port in host %q", h)
		}
		port = defaultPort
	}
	if n, err := strconv.Atoi(port); err != nil || n < 1 || n > 65535 {
		return "", fmt.Errorf("redis: malformed URL: bad port in host %q", h)
	}
	host := u.Hostname()
	if strings.Contains(host, ":") != strings.HasPrefix(h, "[") {
		return "", fmt.Errorf("redis: malformed URL: bad host %q (an IPv6 address goes in brackets: [::1]:6379)", h)
	}
	if strings.Contains(host, ":") {
		host = "[" + host + "]"
	}
	return host + ":" + port, nil
}

// config turns the parts into client options. Our own parameters are taken
// out first; the rest go to go-redis' parser, which rejects the unknown ones.
func (p *parts) config() (*config, error) {
	cfg := &config{}
	if err := p.takeOptions(&cfg.opts); err != nil {
		return nil, err
	}
	for _, k := range replicaParams {
		if _, ok := p.query[k]; ok {
			return nil, fmt.Errorf("redis: URL parameter %s is not supported: it routes reads to replicas, which may not have the latest write, and a session store must read its own writes", k)
		}
	}
	var err error
	switch p.topology {
	case "":
		cfg.simple, err = goredis.ParseURL(p.goredisURL(p.hosts[0], p.user, p.path).String())
		err = goredisError(err)
	case "cluster":
		if p.path != "" && p.path != "/" {
			return nil, errors.New("redis: a Cluster URL takes no path: a Cluster has only database 0")
		}
		for _, k := range []string{"addr", "db"} {
			if _, ok := p.query[k]; ok {
				return nil, fmt.Errorf("redis: a Cluster URL takes no %s parameter; list the seed nodes in the host part: redis+cluster://h1:p1,h2:p2", k)
			}
		}
		for _, h := range p.hosts[1:] {
			p.query.Add("addr", h)
		}
		cfg.cluster, err = goredis.ParseClusterURL(p.goredisURL(p.hosts[0], p.user, "").String())
		err = goredisError(err)
	case "sentinel":
		cfg.failover, err = p.failoverOptions()
	}
	if err != nil {
		return nil, err
	}
	if err := cfg.checkPool(); err != nil {
		return nil, err
	}
	// A ctx deadline should bound the network wait, not only the wait for a
	// pooled connection; go-redis does that only when asked.
	switch {
	case cfg.simple != nil:
		cfg.simple.ContextTimeoutEnabled = true
	case cfg.cluster != nil:
		cfg.cluster.ContextTimeoutEnabled = true
	case cfg.failover != nil:
		cfg.failover.ContextTimeoutEnabled = true
	}
	return cfg, nil
}

// failoverOptions builds go-redis' Sentinel URL form from ours:
// redis+sentinel://user:pass@s1,s2/master/db becomes
// redis://[sentinel creds@]s1/db?master_name=master&addr=s2&username=user&password=pass.
func (p *parts) failoverOptions() (*goredis.FailoverOptions, error) {
	for _, k := range []string{"addr", "master_name", "username", "password", "db"} {
		if _, ok := p.query[k]; ok {
			return nil, fmt.Errorf("redis: a Sentinel URL takes no %s parameter; use redis+sentinel://user:pass@s1:26379,s2:26379/master/db", k)
		}
	}
	segs := strings.Split(strings.Trim(p.path, "/"), "/")
	if len(segs) > 2 || segs[0] == "" {
		return nil, errors.New("redis: a Sentinel URL needs the master's name as its path: redis+sentinel://s1:26379,s2:26379/mymaster[/db]")
	}
	master, db := segs[0], ""
	if len(segs) == 2 {
		db = "/" + segs[1]
	}
	p.query.Set("master_name", master)
	for _, h := range p.hosts[1:] {
		p.query.Add("addr", h)
	}
	if p.user != nil {
		p.query.Set("username", p.user.Username())
		if pw, ok := p.user.Password(); ok {
			p.query.Set("password", pw)
		}
	}
	var sentinelUser *url.Userinfo
	sUser, sPass := p.query.Get("sentinel_username"), p.query.Get("sentinel_password")
	if p.query.Has("sentinel_password") {
		sentinelUser = url.UserPassword(sUser, sPass)
	} else if sUser != "" {
		sentinelUser = url.User(sUser)
	}
	p.query.Del("sentinel_username")
	p.query.Del("sentinel_password")
	o, err := goredis.ParseFailoverURL(p.goredisURL(p.hosts[0], sentinelUser, db).String())
	return o, goredisError(err)
}

// checkPool refuses pool sizes go-redis cannot use. It would panic on them
// when it builds a connection pool, which for a Cluster happens on first
// use, not in the constructor.
func (c *config) checkPool() error {
	type field struct {
		name     string
		val, min int
	}
	var fs []field
	switch {
	case c.simple != nil:
		o := c.simple
		fs = []field{{"pool_size", o.PoolSize, 0}, {"min_idle_conns", o.MinIdleConns, 0}, {"max_idle_conns", o.MaxIdleConns, 0}, {"max_active_conns", o.MaxActiveConns, 0}, {"pipeline_pool_size", o.PipelinePoolSize, -1}}
	case c.cluster != nil:
		o := c.cluster
		fs = []field{{"pool_size", o.PoolSize, 0}, {"min_idle_conns", o.MinIdleConns, 0}, {"max_idle_conns", o.MaxIdleConns, 0}, {"max_active_conns", o.MaxActiveConns, 0}, {"pipeline_pool_size", o.PipelinePoolSize, -1}}
	case c.failover != nil:
		o := c.failover
		fs = []field{{"pool_size", o.PoolSize, 0}, {"min_idle_conns", o.MinIdleConns, 0}, {"max_idle_conns", o.MaxIdleConns, 0}, {"max_active_conns", o.MaxActiveConns, 0}, {"pipeline_pool_size", o.PipelinePoolSize, -1}}
	}
	for _, f := range fs {
		if f.val < f.min || f.val > math.MaxInt32 {
			return fmt.Errorf("redis: bad URL: %s=%d is out of range [%d, %d]", f.name, f.val, f.min, math.MaxInt32)
		}
	}
	return nil
}

// takeOptions moves this package's own parameters out of the query, so that
// go-redis never sees them.
func (p *parts) takeOptions(o *Options) error {
	if vs, ok := p.query["prefix"]; ok {
		if len(vs) != 1 || vs[0] == "" {
			return errors.New("redis: URL parameter prefix must be given once and not be empty")
		}
		o.KeyPrefix = vs[0]
		delete(p.query, "prefix")
	}
	if vs, ok := p.query["max_value_size"]; ok {
		n, err := strconv.Atoi(vs[0])
		if len(vs) != 1 || err != nil || n < 0 {
			return errors.New("redis: URL parameter max_value_size must be given once, as a non-negative number of bytes")
		}
		o.MaxValueSize = n
		delete(p.query, "max_value_size")
	}
	return nil
}

// goredisURL rebuilds a URL in the form go-redis' parsers take.
func (p *parts) goredisURL(host string, user *url.Userinfo, path string) *url.URL {
	scheme := "redis"
	if p.tls {
		scheme = "rediss"
	}
	return &url.URL{Scheme: scheme, User: user, Host: host, Path: path, RawQuery: p.query.Encode()}
}

// goredisError restates a go-redis parse error. Those name the offending
// parameter or path, never the password, except the *url.Error that
// url.Parse returns, which quotes the whole URL; we hand go-redis only URLs
// we built, but drop that kind's text anyway.
func goredisError(err error) error {
	if err == nil {
		return nil
	}
	if _, ok := errors.AsType[*url.Error](err); ok {
		return errors.New("redis: malformed URL")
	}
	return fmt.Errorf("redis: bad URL: %s", strings.TrimPrefix(err.Error(), "redis: "))
}

// scrub is the last line of defence: an error whose text contains one of the
// URL's secrets, raw or %-escaped, loses its text.
func scrub(err error, secrets []string) error {
	msg := err.Error()
	for _, s := range secrets {
		if strings.Contains(msg, s) || strings.Contains(msg, url.QueryEscape(s)) || strings.Contains(msg, url.PathEscape(s)) {
			return errors.New("redis: bad URL (details withheld: they would show a password)")
		}
	}
	return err
}
