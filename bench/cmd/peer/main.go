// Command peer serves the Greeter's routes on alexedwards/scs/v2 (package
// bench/peer), the server we load side by side with examples/greeter.
//
//	go run ./cmd/peer -addr 127.0.0.1:5001 -store memory
//	go run ./cmd/peer -addr 127.0.0.1:5001 -store redis://127.0.0.1:6379/0
//	go run ./cmd/peer -addr 127.0.0.1:5001 -store 'postgres://u@127.0.0.1:5432/db?sslmode=disable'
//
// Its http.Server has the same limits as examples/greeter's, and it logs
// nothing per request (run examples/greeter with -log-level warn for the
// same). SIGINT or SIGTERM drains requests and exits 0.
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"log"
	"net"
	"net/http"
	"os"
	"os/signal"
	"syscall"
	"time"

	"github.com/stateless-go/stateless/bench/peer"
)

func main() {
	addr := flag.String("addr", "127.0.0.1:5001", "listen `address`")
	storeSpec := flag.String("store", "memory", "scs store: memory, redis://host:port/db or postgres://user@host:port/db?sslmode=disable")
	hash := flag.Bool("hash-tokens", false, "set scs HashTokenInStore (store a SHA-256 of the token, as package session always does)")
	flag.Parse()
	if flag.NArg() > 0 {
		fmt.Fprintln(os.Stderr, "peer: unexpected argument; see -h")
		os.Exit(2)
	}

	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()

	octx, cancel := context.WithTimeout(ctx, 10*time.Second)
	st, err := peer.OpenStore(octx, *storeSpec)
	cancel()
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(2)
	}
	defer st.Close()

	sm := peer.NewManager(st.Store)
	sm.HashTokenInStore = *hash
	srv := &http.Server{
		Handler:           peer.New(sm, &peer.Options{Ping: st.Ping}),
		ReadHeaderTimeout: 5 * time.Second,
		ReadTimeout:       10 * time.Second,
		WriteTimeout:      15 * time.Second,
		IdleTimeout:       60 * time.Second,
		MaxHeaderBytes:    64 << 10,
	}
	ln, err := net.Listen("tcp", *addr)
	if err != nil {
		fmt.Fprintln(os.Stderr, "peer:", err)
		os.Exit(1)
	}
	log.Printf("peer (scs) listening on %s", ln.Addr())
	served := make(chan error, 1)
	go func() { served <- srv.Serve(ln) }()
	select {
	case err := <-served:
		log.Printf("peer: %v", err)
		os.Exit(1)
	case <-ctx.Done():
	}
	sctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	if err := srv.Shutdown(sctx); err != nil && !errors.Is(err, http.ErrServerClosed) {
		log.Printf("peer: shutdown: %v", err)
	}
}
