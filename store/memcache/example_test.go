package memcache_test

import (
	"context"
	"fmt"
	"log"
	"time"

	gomemcache "github.com/bradfitz/gomemcache/memcache"

	"github.com/stateless-go/stateless/store"
	"github.com/stateless-go/stateless/store/memcache"
)

// A program usually picks its store by URL: importing this package
// registers the memcache scheme with store.Open.
func ExampleOpen() {
	ctx := context.Background()
	s, err := store.Open(ctx, "memcache://mc1:11211,mc2:11211?prefix=stateless:")
	if err != nil {
		log.Fatal(err)
	}
	defer s.Close() // closes the client Open made

	version, err := s.Create(ctx, "session-token", []byte(`{"name":"Alice"}`), 30*time.Minute)
	if err != nil {
		log.Fatal(err)
	}
	// Compare-and-swap: fails with store.ErrConflict if another instance
	// wrote the session since we read it.
	if _, err := s.Replace(ctx, "session-token", []byte(`{"name":"Bob"}`), 30*time.Minute, version); err != nil {
		log.Fatal(err)
	}
}

// New puts a store over a client the program already has, configured as it
// likes (TLS through DialContext, its own timeouts); the store's Close
// leaves that client open. Given the client's selector, the store bounds
// its round trips in flight to each server; the client keeps as many idle
// connections, so that none is opened twice.
func ExampleNew() {
	sel, err := memcache.NewRendezvousSelector("mc1:11211", "mc2:11211")
	if err != nil {
		log.Fatal(err)
	}
	client := gomemcache.NewFromSelector(sel)
	client.Timeout = 200 * time.Millisecond
	client.MaxIdleConns = 64
	defer client.Close()

	s, err := memcache.New(client, &memcache.Options{
		KeyPrefix:   "stateless:",
		MaxInFlight: client.MaxIdleConns,
		Selector:    sel,
	})
	if err != nil {
		log.Fatal(err)
	}
	defer s.Close()
	if err := s.Ping(context.Background()); err != nil {
		log.Print("memcached is not ready: ", err)
	}
}

// Adding a third server to two moves only the keys the new server wins,
// about a third of them; gomemcache's default ServerList (crc32 mod N)
// would move about two thirds. Picking a server connects to nothing.
func ExampleRendezvousSelector() {
	two, _ := memcache.NewRendezvousSelector("mc1:11211", "mc2:11211")
	three, _ := memcache.NewRendezvousSelector("mc1:11211", "mc2:11211", "mc3:11211")
	moved, movedElsewhere := 0, 0
	for i := range 10000 {
		key := fmt.Sprintf("stateless:session-%d", i)
		a, _ := two.PickServer(key)
		b, _ := three.PickServer(key)
		if a.String() != b.String() {
			moved++
			if b.String() != "mc3:11211" {
				movedElsewhere++
			}
		}
	}
	fmt.Printf("moved %d of 10000 keys, %d of them anywhere but the new server\n", moved, movedElsewhere)
	// Output:
	// moved 3324 of 10000 keys, 0 of them anywhere but the new server
}
