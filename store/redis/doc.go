// Package redis is the store.Store adapter for Redis, over
// github.com/redis/go-redis/v9. One adapter serves a standalone server,
// Sentinel and Cluster, through goredis.UniversalClient. Beyond store.Store
// it offers store.StatsReporter, store.CompareAndDeleter and
// store.CreateOrGetter.
//
// Use New with a client you configure and own, or Open (or store.Open, once
// this package is imported) with a URL; the store Open makes owns its client
// and closes it on Close. ParseURL reads a URL into go-redis' options and
// this package's, for a program that builds the client itself.
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
// deployment is. A Cluster has only database 0, so there is no path; the
// parameters are those of goredis.ParseClusterURL:
//
//	redis+cluster://10.0.0.1:6379,10.0.0.2:6379,10.0.0.3:6379
//	rediss+cluster://user:password@node1:6379,node2:6379?read_timeout=1s
//
// Sentinel: the sentinels in the host part (default port 26379), then the
// master's name and an optional database number as the path; the
// parameters are those of goredis.ParseFailoverURL. The user name and
// password are the data nodes' credentials, as in a redis:// URL, so
// switching a deployment to Sentinel does not change what the password
// means; sentinels that require their own are given sentinel_username and
// sentinel_password parameters:
//
//	redis+sentinel://s1:26379,s2:26379,s3:26379/mymaster
//	redis+sentinel://:password@s1,s2,s3/mymaster/2?sentinel_password=secret
//	rediss+sentinel://user:password@s1:26379/mymaster/0
//
// Every form also takes this package's own parameters, which go-redis
// never sees:
//
//	prefix=myapp:sessions:   Options.KeyPrefix (default "stateless:")
//	max_value_size=65536     Options.MaxValueSize, in bytes
//	batching=false           Options.DisableBatching (see Batching)
//	wait_replicas=1          Options.WaitReplicas (see Replication)
//	wait_timeout=100ms       Options.WaitTimeout, a Go duration (see Replication)
//
// Unknown parameters are an error, so a typo is not silently ignored, and
// so are pool sizes go-redis cannot use. Parameters that route reads to
// replicas (read_only, route_by_latency, route_randomly, replica_only) are
// refused: a replica may lag behind, and a store must read its own writes.
// The characters / ? # @ and % in a user name or password (and : in a user
// name) must be %-escaped. No error from ParseURL, Open or store.Open
// contains the URL's password.
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
// one Lua script on the one key that runs SET NX PX; Replace and
// CompareAndDelete are each one Lua script on the one key that compares
// the stored version and sets the new record or removes it (the scripts go
// as EVALSHA, falling back to EVAL when the server's script cache lacks
// them); Touch is PEXPIRE; Delete is UNLINK. Every operation is one command
// touching one key, so every operation is atomic and Cluster-safe. Versions
// are random 64-bit numbers (store/driver's NewVersion), so a version is
// never reused for a later record.
//
// Other data under the key prefix is not this store's: Get of a value too
// short to carry a version is an error (never a panic), and so are Replace
// and CompareAndDelete over it, while Create answers store.ErrExists and
// Touch and Delete act on whatever is there. Give each application its own
// prefix.
//
// # Batching
//
// Gets, Replaces and Touches that arrive while others are in flight share
// a pipeline: one write and one read, on the client and on the server, for
// the lot, instead of one each. A call that finds one of maxPipelines slots
// free is sent at once, alone, exactly as without batching, so a quiet
// store pays nothing; calls that find every slot busy wait, and the next
// pipeline takes up to maxPipeline of them, with at most maxPipelineBytes
// of values (a value of pipeAloneSize bytes or more goes alone); the
// constants are in pipeline.go. Every command keeps its own reply and its
// own key (a pipeline is not a transaction; on a Cluster go-redis splits
// it by node). A call whose context ends while it waits is not sent; one
// whose context ends while its pipeline is in flight returns at once with
// the context's error, its outcome unknown, as for any command cancelled in
// flight. Create, Delete and CompareAndDelete always go alone.
//
// It helps when many calls are in flight at once, as in a busy service:
// it takes most of the per-command system calls off both sides, and the
// Gets, Replaces and Touches of a store keep at most maxPipelines
// connections busy. Its cost is the wait
// of a call that finds every slot busy for the pipeline ahead of it.
// Batching is on by default; Options.DisableBatching (batching=false in a
// URL) sends every call alone and at once, on a pooled connection of its
// own, as a plain go-redis command goes.
//
// # Replication
//
// Redis replicates asynchronously: a write is acknowledged once the master
// has it, and if the master dies before a replica got it, the replica that
// Sentinel promotes does not have it. Options.WaitReplicas (wait_replicas
// in a URL) closes most of that window: every write is followed, on the
// same connection, by WAIT WaitReplicas WaitTimeout, and the call
// succeeds only when that many replicas confirm they have it. A batched
// pipeline carries one WAIT at its end, which covers every write in it
// (WAIT waits for its connection's latest write); a write sent alone goes
// in a pipeline of two, the write and WAIT, so either way the wait costs
// one replica round trip and no extra round trip to the master.
//
// Every write waits: Create (a login lost in a failover is a user logged
// out), Replace (a lost update), Touch (a lost renewal lets a session
// expire at its old deadline), Delete and CompareAndDelete (a lost delete
// brings a logged-out session back on the new master). Reads do not wait,
// but a Get that shares a pipeline with writes returns with the
// pipeline, after its WAIT.
//
// When fewer replicas confirm within WaitTimeout, the call fails with an
// error for which errors.Is(err, ErrNotReplicated) holds. The write is on
// the master, or may be: it is not undone, and a caller must treat the
// call like any failed call whose outcome is unknown (the session layer
// answers 503 and the client tries again). WAIT waits for its
// connection's latest write, so a call that changed nothing (a Delete of
// a missing key, a stale Replace) normally has its answer at once; it
// gets ErrNotReplicated only when it shares a connection or a pipeline
// with a write not yet confirmed. So with one replica, a replica that stops answering makes every
// write fail after WaitTimeout, until it is back or Sentinel replaces it:
// the option trades availability for durability. WaitTimeout must be
// positive (WAIT 0 would block for ever) and shorter than the client's
// ReadTimeout (read_timeout, 3 s by default), or go-redis would stop
// reading the reply and send the write again; it is rounded up to whole
// milliseconds. Keep it well under the deadline callers give a write
// (the session layer's StoreTimeout, 1 s by default).
//
// It is not strong consistency: with several replicas Sentinel may promote
// one that had not confirmed a write, and a write whose reply go-redis
// lost and that it sent again (see Retries) is confirmed by the retry's
// WAIT, which on Redis 7 and later covers the retry's connection's own
// writes only. A Cluster is refused (New and ParseURL fail): WAIT names
// no key, so go-redis' Cluster client sends it to a node of its choosing,
// not to the one that took the write.
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
// again and Replace answers store.ErrNotFound. A retried CompareAndDelete
// finds the record gone and answers store.ErrNotFound. Get, Touch and
// Delete do the same when sent twice. A client with MaxRetries -1 never
// retries, and a lost reply is then an error whose outcome is unknown.
//
// # Expiry
//
// Redis counts expiry in milliseconds: a ttl is rounded up to the next whole
// millisecond, never down, and Redis removes a key in the millisecond after
// its deadline, so a record lives at least ttl and at most about 2 ms
// longer. A ttl longer than MaxTTL (100 years) is cut to MaxTTL.
//
// # Stats
//
// Stats fills the calls per operation and Errors; Batches, BatchedCalls
// (pipelines of more than one command, and their commands) and Queued
// (calls waiting for a pipeline slot), all 0 with batching off; and Conns
// and IdleConns, from the client's PoolStats (its main and pipeline pools;
// a Cluster client's summed over its nodes, and 0 until the store has had
// a reply, since go-redis would first fetch the Cluster's layout over the
// network). The other figures stay 0.
//
// # Tests
//
// The tests run against servers that testcontainers-go starts, or the one
// TEST_REDIS_URL names. They never flush scripts server-wide (the script
// cache is made to miss on the test's own client) nor pause the server
// (calls are held in flight by a proxy in front of it): a server named in
// TEST_REDIS_URL may be serving others.
package redis
