// Command killee serves the idempotency middleware over a store URL, for
// the test that kills an owner mid-request: its handler announces itself
// on standard output and then never returns.
package main

import (
	"context"
	"flag"
	"fmt"
	"log"
	"net"
	"net/http"
	"os"
	"time"

	"github.com/stateless-go/stateless/idempotency"
	"github.com/stateless-go/stateless/store"
	_ "github.com/stateless-go/stateless/store/redis"
)

func main() {
	storeURL := flag.String("store", "", "store URL")
	lease := flag.Duration("lease", time.Second, "Options.Lease")
	flag.Parse()
	st, err := store.Open(context.Background(), *storeURL)
	if err != nil {
		log.Fatal(err)
	}
	m, err := idempotency.New(st, &idempotency.Options{Lease: *lease})
	if err != nil {
		log.Fatal(err)
	}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		log.Fatal(err)
	}
	fmt.Printf("listening %s\n", ln.Addr())
	log.Fatal(http.Serve(ln, m.Handler(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		fmt.Fprintf(os.Stdout, "running attempt %d\n", idempotency.Attempt(r.Context()))
		select {} // until killed
	}))))
}
