// Package idempotency is net/http middleware for the Idempotency-Key
// header (draft-ietf-httpapi-idempotency-key-header): a client that
// retries a POST, on whichever instance the retry lands, gets the first
// attempt's response instead of a second execution.
//
// It speaks only http.Handler and keeps its records in a store.Store, so
// every instance sharing the store shares the guarantee:
//
//	idem, err := idempotency.New(st, &idempotency.Options{
//		Scope: func(r *http.Request) (string, error) { return principal(r) },
//	})
//	…
//	mux.Handle("POST /orders", idem.Handler(orders))
//
// # Protocol
//
// A request of a covered method (Options.Methods, default POST and PATCH)
// carrying Idempotency-Key is handled here; any other request passes
// through untouched, or, under Options.Required, a covered one without a
// key answers 400. The key is an RFC 8941 string ("abc") or the same
// characters bare (abc): 1 to 255 visible ASCII characters. A list, a
// header given twice, parameters, or anything else answer 400.
//
// A key belongs to a scope (Options.Scope: a session, a token's subject)
// and lives in the store under "idem:" and the base64url SHA-256 of the
// two, each prefixed by its length: the key itself is never stored or
// logged, and two principals never share a record.
//
// A key's record goes through these states:
//
//	absent --Create--> in flight --CAS--> completed        replayed to retries
//	  ^                  |  |  ^  --CAS--> not replayable   409 to retries
//	  |                  |  +--+  CAS: the owner renews its lease, or a
//	  |                  |        retry takes a lapsed one over (attempt+1)
//	  +---- released <---+  5xx or panic: CompareAndDelete, or CAS to a
//	                        "released" record that readers treat as absent
//
// and every record expires Retention after its last write (an in-flight
// one at least a Lease after).
//
// Every transition is an atomic Create or a compare-and-swap (or
// compare-and-delete) on the version the writer read or wrote, so of any number of instances racing
// on one key exactly one runs the handler, and one that lost its lease
// never overwrites the record of the one that took over.
//
// The first request creates the record in flight, with its fingerprint
// and a lease (Options.Lease, default 30 s), and runs the handler. The
// record's TTL is Options.Retention (default 24 h) from its last write. A
// retry meanwhile gets 409 with Retry-After: 1 (ProblemInFlight), or,
// with Options.Wait, waits for the outcome.
//
// While the handler runs, its owner renews the lease by compare-and-swap
// every Lease/3. If a renewal finds the record changed or gone, the
// handler's context is cancelled with cause ErrLeaseLost and nothing it
// answers is stored; a renewal that fails for another reason (the store
// is down) is retried every Lease/6 until the lease last written has less
// than that to run, and then counts as lost too.
//
// A retry finding a lease that lapsed (its owner died, or lost the store)
// takes the key over by compare-and-swap and runs the handler again,
// recording attempt 2 (Attempt tells the handler). Under
// Options.StrictAtMostOnce it refuses instead with 409 (ProblemAbandoned):
// the first execution may have taken effect. Leases are dated by each
// instance's clock (Options.Now): clocks must agree to well within
// Lease/3, or a fast one takes over from an owner still alive (whose next
// renewal then fails and cancels its handler).
//
// # Matching
//
// The fingerprint is the SHA-256 of the method, the escaped path, the raw
// query, the body and the values of Options.FingerprintHeaders; the same
// key with a different fingerprint answers 422 (ProblemMismatch).
//
// # Outcomes
//
// The handler's response streams to the client as it is written, and a
// copy is kept: its status, its body (up to Options.MaxResponseBody,
// default 1 MiB) and an allow-list of headers: Content-* but
// Content-Length, Location, ETag, Last-Modified, Link, and
// Options.ReplayHeaders; never Set-Cookie, Date, Content-Length or a
// hop-by-hop header. Trailers are not kept. The copy becomes the completed
// record, replayed byte for byte to every retry with the header
// Idempotent-Replayed: true and a Content-Length.
//
// A response that cannot be kept completes as not replayable, and a retry
// gets 409 (ProblemNotReplayable, with the first status as
// "original_status"): 409 rather than 422, as the request is the same one
// and the key's state, not the request, is the obstacle. That is a
// response over MaxResponseBody, over MaxHeaderBytes of kept headers, or
// refused by the store as too large (store.ErrTooLarge: memcached's 1 MB
// items, an adapter's MaxValueSize); a response the handler flushed
// (http.Flusher, http.ResponseController), hijacked, or sent as
// text/event-stream; and a 101 Switching Protocols.
//
// A 5xx response (unless Options.ReplayServerErrors), a 408, 425 or 429
// (which themselves say "try later"), and a panic release the key: the
// next request with it runs the handler as new. A panic is never
// recovered here; it goes on to net/http after the release. The release is
// a store.CompareAndDeleter's CompareAndDelete where the store offers it
// (memory, Redis, Postgres), else a compare-and-swap to a "released"
// record that readers treat as absent and that expires after
// min(Lease, Retention) (memcached). Either way it happens only if the
// owner still holds the key.
//
// The final write (completed, not replayable, released) uses the
// request's context without its cancellation, bounded by
// Options.StoreTimeout (default 1 s): a client that hangs up mid-response
// still has the outcome recorded, and its retry replays it.
//
// # Failure
//
// A store that fails or does not answer within StoreTimeout makes a keyed
// request answer 503 with Retry-After: 1 (ProblemUnavailable), without
// running the handler; Options.FailOpen runs it unprotected instead. A
// completion that cannot be written leaves the record in flight: once its
// lease lapses, a retry runs the request again (attempt 2) or, strict,
// answers 409.
//
// Every answer of the middleware's own is an RFC 9457 problem
// (Content-Type: application/problem+json, Cache-Control: no-store) whose
// "type" is one of the Problem constants:
//
//	400 ProblemInvalidKey, ProblemKeyRequired, ProblemInvalidBody
//	403 ProblemScope
//	409 ProblemInFlight (Retry-After), ProblemNotReplayable, ProblemAbandoned
//	413 ProblemTooLarge
//	422 ProblemMismatch
//	503 ProblemUnavailable (Retry-After)
//
// # Bounds
//
// Each keyed request buffers its body (at most Options.MaxRequestBody,
// default 1 MiB; a longer one, chunked or not, answers 413 after reading
// one byte over the limit and before any store call) and its response (at
// most MaxResponseBody plus MaxHeaderBytes of headers). A record is at
// most that plus about 50 bytes. A waiting retry polls for at most Options.Wait,
// every 10 ms to 250 ms. An owner makes one store write per Lease/3 of
// handler time and holds one timer. Every store call is bounded by
// StoreTimeout (none for a store.NonBlocking store such as store/memory).
// Records expire Retention after their last write.
//
// Costs: over a store that offers store.CreateOrGetter (store/memory,
// store/postgres) a first execution is two writes (the claim, which reads
// the record instead when the key is taken, and the completion) and a
// replay is that one call, reading; over any other store a replay is one
// read, and a first execution one read (the miss) and the same two
// writes. A handler that runs longer than Lease/3 adds one write per
// Lease/3. The scope function is the caller's: the Greeter's
// (greeter.IdempotencyScope) reads nothing from the store.
//
// # Stores that forget
//
// The guarantee lasts as long as the record. A store that evicts live
// records under memory pressure can lose one: memcached does (its LRU
// evicts items before their expiry when its memory is full), and so does
// Redis under any maxmemory-policy but noeviction (every record here has
// a TTL, so the volatile-* policies evict them too), and store/memory once
// it reaches its MaxEntries or MaxBytes. What a lost record means:
//
//   - in flight: a retry finds no record and runs the request a second
//     time, concurrently with the first; the first owner's next renewal or
//     its completion then finds the record changed or gone, so its handler
//     is cancelled and its outcome dropped, but its side effects stand;
//   - completed: the next retry runs the request again, as if Retention
//     had ended.
//
// When a second execution is costly, give such a store room for Retention
// worth of requests, run Redis with maxmemory-policy noeviction, or use
// Postgres, which never evicts.
//
// # Record format
//
// Records are a small versioned binary encoding (format 1), documented on
// the record type in record.go: a format byte, a state byte, the 32-byte
// fingerprint, the attempt, then per state the lease deadline (Unix ms),
// the status, headers and body, or the status and reason. A reader
// refuses a format it does not know (503, logged) rather than guess.
package idempotency
