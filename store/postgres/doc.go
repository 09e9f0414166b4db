// Package postgres is the Postgres Store, over pgx/v5's pgxpool. It
// registers itself for "postgres://" and "postgresql://" URLs with
// store.Open, and owns its table: it creates it on first use and deletes
// expired rows in the background. Beyond store.Store it offers
// store.StatsReporter, store.CompareAndDeleter and store.CreateOrGetter.
//
// Postgres is the store for sessions that must survive a restart of the
// store: every successful write is a committed transaction. It needs
// PostgreSQL 11 or later (tested with 15 and 17).
//
// # Schema
//
// One table, "stateless_sessions" unless Options.Table names another. Keys
// are arbitrary bytes (NUL and invalid UTF-8 included), so the key is bytea,
// not text; the version is the uint64 of store.Record bit-cast to bigint.
// Unless Options.SkipCreate is set, the store runs this DDL itself, once,
// under an advisory lock so that any number of instances may start at once:
//
//	CREATE TABLE IF NOT EXISTS stateless_sessions (
//		key        bytea       PRIMARY KEY,
//		value      bytea       NOT NULL,
//		version    bigint      NOT NULL,
//		expires_at timestamptz NOT NULL
//	);
//	CREATE INDEX IF NOT EXISTS stateless_sessions_expires_at_idx
//		ON stateless_sessions (expires_at);
//
// (The store itself lets Postgres name the index, which gives the same name
// for this table.) Operators who keep DDL out of applications apply it
// themselves (with their own table and index names if they like) and set
// Options.SkipCreate (URL: skip_create=true). Either way the store checks, before its first use, that
// the table exists with these four columns and types, a unique index on key
// alone and an index that leads on expires_at, and names what is missing if
// not. Other columns may be added as long as they have defaults.
//
// A table name is used exactly as given, as one quoted identifier or a
// quoted schema.table pair ("Sessions" and "sessions" are different tables),
// so any name is safe; it is the only text ever put into SQL, and only after
// quoting. Everything else travels as statement parameters.
//
// # Expiry
//
// Every expiry is computed by the server, from its own clock: a write sets
// expires_at = now() + ttl, and every read and write treats a row as live
// while expires_at > now(). Instances whose clocks disagree therefore still
// agree on what has expired. The ttl goes to the server as an interval of
// whole microseconds, rounded up, so a record never expires earlier than
// asked; resolution is one microsecond. timestamptz reaches the year
// 294276, so every time.Duration (up to math.MaxInt64, about 292 years) is
// stored as given: no ttl is ever capped, overflowed or refused for its size.
//
// Expired rows are invisible at once and deleted later by a reaper: a
// goroutine per Store that every Options.ReapInterval (default one minute,
// jittered) deletes expired rows in batches of Options.ReapBatch (default
// 1000), one short statement per batch, taking the next batch at once while
// batches come back full. A batch locks only expired rows and skips rows that
// another instance's reaper (or a write) holds (FOR UPDATE SKIP LOCKED), so
// any number of instances may reap one table at once and live traffic never
// waits behind a reaper for more than one short batch. Reap runs one batch on
// demand, for operators and tests.
//
// # Statements
//
// Each operation is one statement, prepared and cached per connection by pgx
// (its default QueryExecModeCacheStatement): Get is one indexed SELECT;
// Create is INSERT … ON CONFLICT (key) DO UPDATE … WHERE the existing row has
// expired, so it takes over an expired row and leaves a live one alone
// (store.ErrExists) atomically; Replace is a compare-and-swap UPDATE … WHERE
// key, version and liveness match, which in the same statement, only when
// the update missed, looks whether a live row exists, to tell
// store.ErrConflict from store.ErrNotFound; CompareAndDelete is the same
// with a DELETE; Touch updates expires_at alone; Delete deletes. Neither
// Replace nor CompareAndDelete ever writes over another writer's change;
// their methods say how they answer when they race one.
//
// # Batching
//
// Replace calls that arrive while others are in flight share one
// statement: one round trip and one commit (one WAL flush) for the lot,
// which is group commit done by the client. A call that finds a free batch
// slot runs at once, alone, so a quiet store sees no change; calls that
// find every slot busy queue, and the next batch takes them oldest first,
// one call per key, within these limits (constants in batch.go):
//
//	maxBatch = 64 calls in one batch
//	maxBatchBytes = 1 MiB of values in one batch, past its first call
//	batchAloneSize = 64 KiB: a value this large or larger always goes alone
//
// Half the pool's connections (at least one) are batch slots, so the other
// operations always find connections. Each call still gets its own answer,
// the one it would get alone, after its change is committed: batching
// changes neither the contract nor durability. A call whose context ends
// while it waits in the queue leaves it unsent; one whose context ends
// while its batch is in flight returns at once with the context's error,
// its outcome unknown, as for any statement cancelled in flight. A batch
// takes its row locks in key order, so batches from any number of
// instances never deadlock; a batch the server refuses (a plain ERROR,
// after which nothing was written) runs again one call at a time.
//
// Batching is on by default. It helps when many Replaces run at once:
// under load it cuts round trips and WAL flushes per Replace several-fold.
// Its costs: a call that queues waits for the batch ahead of it, and a
// batch waits for its slowest row (a row that another transaction holds
// locked holds up every call in the batch). Options.DisableBatching (URL:
// batching=false) sends every Replace alone, on any free connection of the
// pool as the other operations do: for a pool large enough for the
// Replaces that run at once, commits made cheap (synchronous_commit=off,
// below), or rows that other transactions lock.
//
// # Stats
//
// Stats (store.StatsReporter) reports the calls per operation and Errors
// (CompareAndDelete counts as a Delete); Batches and BatchedCalls (Replace
// statements that carried more than one call, and their calls),
// BatchFallbacks (batches the server refused, whose calls then ran one by
// one) and Queued (Replaces waiting for a batch slot); Reaps (reaping
// statements run, by Reap or the background reaper); and from the pool
// (pgxpool.Pool.Stat) Conns, IdleConns and InFlight (its total, idle and
// acquired connections), which count every user of the pool, the
// application's own queries too when it shares the pool it gave New.
// Entries, Bytes and Evictions stay 0.
//
// # Availability
//
// New and Open succeed when the server cannot be reached: a service may
// start before its database and turn ready when the database does. Until
// the schema check has passed once, every call (Ping included) first tries
// it again and returns its error, so Ping is a truthful readiness probe. New
// fails at once when the server answers and refuses: wrong credentials or
// database name, a missing table under SkipCreate, a table of the wrong
// shape, no permission to create it. pgx reconnects by itself after the
// server restarts; calls made while it is down fail, and later calls succeed
// again.
//
// URL parameters that neither pgx nor the store knows become server
// settings of the store's connections. One worth knowing:
// synchronous_commit=off lets writes return before the server has flushed
// them to disk, which is faster, at the price that a crash of the server
// (not a clean restart) may lose the writes of its last moments.
//
// # Values
//
// A value is at most Options.MaxValueSize bytes, 64 MiB unless set; longer
// values are refused with store.ErrTooLarge before anything is sent. The
// limit may be raised to MaxValueSizeLimit, just under the 1 GiB that one
// bytea and one protocol message can carry.
package postgres
