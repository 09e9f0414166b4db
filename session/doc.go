// Package session is net/http middleware for server-side sessions kept in
// a shared store, so that any instance of a service can serve any request.
//
// Wire it once around your routes; handlers find their session with From:
//
//	st, err := store.Open(ctx, "redis://127.0.0.1:6379/0") // import _ ".../store/redis"
//	if err != nil { … }
//	sessions, err := session.New(st, nil) // 30m idle, 24h lifetime, cookie "session"
//	if err != nil { … }
//
//	mux := http.NewServeMux()
//	mux.HandleFunc("POST /login", func(w http.ResponseWriter, r *http.Request) {
//		// … check the password, then:
//		s := session.From(r.Context())
//		s.Login() // new token, new ID, nothing of the previous user's session
//		s.SetString("user", "alice")
//	})
//	mux.Handle("POST /cart", sessions.Retry(addToCart)) // read-modify-write
//	mux.HandleFunc("POST /logout", func(w http.ResponseWriter, r *http.Request) {
//		session.From(r.Context()).Destroy()
//	})
//	http.ListenAndServe(":8080", sessions.Handler(mux))
//
// # Rules
//
// Tokens and storage:
//   - A token is 256 bits from crypto/rand; the store key is a SHA-256 of
//     it, so a copy of the store yields no usable token. A session also has
//     an ID (Session.ID): 128 random bits, stable across Renew, safe to log
//     or to bind other records to; neither the token nor the key can be
//     derived from it.
//   - Tokens travel in the cookie by default (HttpOnly, SameSite=Lax);
//     Options.Transport chooses the header instead, or both, and the token
//     is sent in a response header only with HeaderTransport or
//     Options.EchoToken.
//
// Lifetimes:
//   - A session ends Options.IdleTimeout after its last use, Lifetime after
//     it began, or at the Deadline a handler set, whichever comes first.
//   - A request that reads its session costs one store operation; expiry is
//     pushed back by a touch at most once per TouchInterval, never by
//     rewriting the data.
//   - Every store operation is bounded by Options.StoreTimeout (default
//     1 s): against a store that hangs, a read finds no session and a save
//     answers 503 within that time.
//
// Changes:
//   - Changes are saved when the response begins (or at Save). If the save
//     fails the client gets an error status with a JSON body, never a 2xx.
//     A change made after the response has begun cannot be saved: it is
//     dropped, logged, and Save reports it as ErrResponseStarted.
//   - Clear removes every value and keeps the session. Renew moves the
//     session to a new token, keeping its ID and values. Login starts a new
//     session (new token, new ID, no values): use it when a user logs in, so
//     nothing of a previous user's session carries over. Destroy ends the
//     session and drops every change before it; a value set after Destroy
//     starts a new session holding only what was set after it, and Renew
//     after Destroy revives nothing.
//   - Values are typed: a getter of another type reads a value as absent.
//     Get, Put and Pop store any type through Options.Codec (JSON by
//     default).
//
// Concurrency:
//   - Concurrent requests on one session, on any instances, never overwrite
//     each other: saves are compare-and-swap. A conflicting save that read
//     nothing the other request changed is merged key by key; one that did
//     is refused with 409, or, under Manager.Retry, run again on the fresh
//     session.
//
// Outside HTTP, Manager.Load gives a session by token, and Save commits it.
// Several Managers (with different cookie names and key prefixes) can
// serve one request; Manager.From finds each one's session.
//
// Everything a client can make the middleware hold is bounded: a session's
// encoded size (Options.MaxSize), the body Retry keeps for a re-run
// (MaxRetryBody), the runs of a Retry handler (MaxAttempts), each store
// operation (StoreTimeout), and this instance's caches of sessions it
// served (a fixed number of entries).
package session
