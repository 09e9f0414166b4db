// Package redis is the store.Store adapter for Redis, over
// github.com/redis/go-redis/v9. One adapter serves a standalone server,
// Sentinel and Cluster, through goredis.UniversalClient.
//
// Use New with a client you configure and own, or Open (or store.Open, once
// this package is imported) with a URL; the store Open makes owns its client
// and closes it on Close.
//
// # URLs
//
// Standalone server; the path is the database number, and the parameters
// are go-redis' own (see goredis.ParseURL: dial_timeout, read_timeout,
// pool_size, protocol, client_name, ...):
//
//	redis://localhost:6379/0
//	redis://user:password@redis.internal:6379/2?dial_timeout=2s&pool_size=50
//	rediss://user:password@redis.example.com:6380/0     (TLS)
//
// Cluster: the seed nodes in the host part, any number of them, as in
// memcache://h1,h2. We prefer this to go-redis' own form (redis://h1?addr=h2)
// because that form is indistinguishable from a standalone URL until one
// reads its parameters, and because the scheme alone then says what a
// deployment is. A Cluster has only database 0, so there is no path:
//
//	redis+cluster://10.0.0.1:6379,10.0.0.2:6379,10.0.0.3:6379
//	rediss+cluster://user:password@node1:6379,node2:6379?read_timeout=1s
//
// Sentinel: the sentinels in the host part (default port 26379), then the
// master's name and an optional database number as the path. The user name
// and password are the data nodes' credentials, as in a redis:// URL, so
// switching a deployment to Sentinel does not change what the password
// means; sentinels that require their own are given sentinel_username and
// sentinel_password parameters:
//
//	redis+sentinel://s1:26379,s2:26379,s3:26379/mymaster
//	redis+sentinel://:password@s1,s2,s3/mymaster/2?sentinel_password=secret
//	rediss+sentinel://user:password@s1:26379/mymaster/0
//
// Every form also takes this package's own parameters, which are removed
// before the rest go to go-redis:
//
//	prefix=myapp:sessions:   Options.KeyPrefix (default "stateless:")
//	max_value_size=65536     Options.MaxValueSize, in bytes
//
// Unknown parameters are an error, so a typo is not silently ignored.
// Parameters that route reads to replicas (read_only, route_by_latency,
// route_randomly, replica_only) are refused: a replica may lag behind, and a
// session store must read its own writes. The characters / ? # @ and % in a
// user name or password (and : in a user name) must be %-escaped. No error
// from Open or store.Open contains the URL's password.
//
// The client Open makes has goredis' ContextTimeoutEnabled on, so a context
// deadline bounds the wait for the server's reply. A client given to New
// should have it on too: without it go-redis honours a context only before
// the command is sent and while it waits for a pooled connection, and a
// network wait is bounded by the client's ReadTimeout instead. Timeouts, pool
// sizes and retries are the client's business: set them on the client, or
// as URL parameters.
//
// # Storage
//
// Each record is one Redis string under KeyPrefix+key: an 8-byte big-endian
// version followed by the value. Get is one GET that returns both; Create is
// one Lua script on the one key that runs SET NX PX; Replace is one Lua
// script on the one key that compares the stored version and sets the new
// record (both EVALSHA, falling back to EVAL when the server's script cache
// lacks the script); Touch is PEXPIRE; Delete is UNLINK.
// Every operation is one command touching one key, so every operation is
// atomic and Cluster-safe. Versions are random 64-bit numbers
// (store.NewVersion), so a version is never reused for a later record.
//
// Gets, Replaces and Touches that arrive while others are in flight share a
// pipeline: a call that finds one of MaxPipelines slots free is sent at
// once, alone; calls that find both busy wait, and the next pipeline takes
// up to 128 of them (at most 1 MiB of values; a value of 64 KiB or more goes
// alone) in one write and one read, on the client and on the server.
// Every command keeps its own reply and its own key (a pipeline is not a
// transaction; on a Cluster go-redis splits it by node). A call whose
// context ends while it waits is not sent; one whose context ends while its
// pipeline is in flight returns at once with the context's error, its
// outcome unknown, as for any command cancelled in flight. Under load this takes most of
// the per-command system calls off both sides; a quiet store sees no
// change.
//
// Other data under the key prefix is not this store's: Get of a value too
// short to carry a version is an error (never a panic), and so is Replace
// over it, while Create answers store.ErrExists and Touch and Delete act on
// whatever is there. Give each application its own prefix.
//
// # Retries
//
// go-redis sends a command again when the connection fails before its
// reply is read (MaxRetries, 3 by default), and replays a whole pipeline
// after a failed read, so a write may reach the server twice. Create and
// Replace answer exactly all the same: every write carries a version drawn
// afresh for it, and when a script finds the key already holding this
// call's own version, an earlier attempt of the call wrote it, and the
// call reports success with that version (writing nothing again). So a
// Create whose reply was lost is never reported as store.ErrExists for its
// own record, nor an applied Replace as store.ErrConflict with itself,
// while a Create of a key another call holds still gets store.ErrExists and
// a stale Replace store.ErrConflict. One window remains: if another client
// rewrites or deletes the record between the lost reply and the retry (a
// few milliseconds), the retry answers for that state, as any later call
// would: after another write, store.ErrExists (Create) or
// store.ErrConflict (Replace); after a Delete, Create writes the record
// again and Replace answers store.ErrNotFound. Get, Touch and Delete do
// the same when sent twice. A client with MaxRetries -1 never retries, and a lost
// reply is then an error whose outcome is unknown.
//
// # Expiry
//
// Redis counts expiry in milliseconds: a ttl is rounded up to the next whole
// millisecond, never down, and Redis removes a key in the millisecond after
// its deadline, so a record lives at least ttl and at most about 2 ms
// longer. A ttl longer than MaxTTL (100 years) is cut to MaxTTL.
package redis
