// Command jwtpeer serves the Greeter's GET /greet on go-chi/jwtauth v5
// (package bench/peer, NewJWT): the server we load side by side with
// examples/greeter for access tokens. It verifies the Greeter's EdDSA
// tokens with nothing but the public key, read at start from the
// Greeter's JWK set:
//
//	go run ./cmd/jwtpeer -addr 127.0.0.1:5002 -jwks http://127.0.0.1:5000/.well-known/jwks.json
//	go run ./cmd/jwtpeer -addr 127.0.0.1:5002 -jwks keys.json -kid yrujPMGW…
//
// It checks what package auth's Verifier checks that jwtauth can (exp,
// iat, nbf, iss "greeter", aud "greeter", sub present; see
// peer.NewJWTAuth). The key is read once: restart it after the Greeter
// rotates its key (every 24 h by default). Its http.Server has the same
// limits as examples/greeter's, and it logs nothing per request. SIGINT or
// SIGTERM drains requests and exits 0.
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
	addr := flag.String("addr", "127.0.0.1:5002", "listen `address`")
	jwks := flag.String("jwks", "", "`URL or file` of the JWK set holding the Greeter's public key (its /.well-known/jwks.json)")
	kid := flag.String("kid", "", "ID of the key to verify with; needed only when the set has more than one")
	flag.Parse()
	if flag.NArg() > 0 || *jwks == "" {
		fmt.Fprintln(os.Stderr, "jwtpeer: -jwks is required, and there are no arguments; see -h")
		os.Exit(2)
	}

	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()

	pub, err := peer.LoadKey(ctx, *jwks, *kid)
	if err != nil {
		fmt.Fprintln(os.Stderr, "jwtpeer:", err)
		os.Exit(2)
	}
	srv := &http.Server{
		Handler:           peer.NewJWT(peer.NewJWTAuth(pub)),
		ReadHeaderTimeout: 5 * time.Second,
		ReadTimeout:       10 * time.Second,
		WriteTimeout:      15 * time.Second,
		IdleTimeout:       60 * time.Second,
		MaxHeaderBytes:    64 << 10,
	}
	ln, err := net.Listen("tcp", *addr)
	if err != nil {
		fmt.Fprintln(os.Stderr, "jwtpeer:", err)
		os.Exit(1)
	}
	log.Printf("jwtpeer (go-chi/jwtauth) listening on %s", ln.Addr())
	served := make(chan error, 1)
	go func() { served <- srv.Serve(ln) }()
	select {
	case err := <-served:
		log.Printf("jwtpeer: %v", err)
		os.Exit(1)
	case <-ctx.Done():
	}
	sctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	if err := srv.Shutdown(sctx); err != nil && !errors.Is(err, http.ErrServerClosed) {
		log.Printf("jwtpeer: shutdown: %v", err)
	}
}
