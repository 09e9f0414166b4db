package redis_test

import (
	"context"
	"errors"
	"fmt"
	"log"
	"time"

	goredis "github.com/redis/go-redis/v9"

	"github.com/stateless-go/stateless/store"
	"github.com/stateless-go/stateless/store/redis"
)

// Open a store from a URL; it owns its client, so Close releases it. (Not
// run: it needs a Redis server.)
func ExampleOpen() {
	ctx := context.Background()
	s, err := redis.Open(ctx, "redis://localhost:6379/0?prefix=myapp:sessions:&dial_timeout=2s")
	if err != nil {
		log.Fatal(err)
	}
	defer s.Close()

	version, err := s.Create(ctx, "token-123", []byte(`{"name":"Alice"}`), 30*time.Minute)
	if err != nil {
		log.Fatal(err)
	}
	// A compare-and-swap: it fails with store.ErrConflict if another
	// instance wrote the session since version was read.
	_, err = s.Replace(ctx, "token-123", []byte(`{"name":"Alice","visits":1}`), 30*time.Minute, version)
	if errors.Is(err, store.ErrConflict) {
		fmt.Println("someone else wrote first; read again and retry")
	}
}

// Use a client you configure yourself: hooks, TLS, a Cluster or Sentinel
// client. The store does not close it. (Not run: it needs a Redis Cluster.)
func ExampleNew() {
	client := goredis.NewUniversalClient(&goredis.UniversalOptions{
		Addrs:                 []string{"10.0.0.1:6379", "10.0.0.2:6379", "10.0.0.3:6379"},
		ContextTimeoutEnabled: true, // let a ctx deadline bound the wait for a reply
	})
	defer client.Close()

	s, err := redis.New(client, &redis.Options{KeyPrefix: "myapp:sessions:"})
	if err != nil {
		log.Fatal(err)
	}
	defer s.Close() // leaves client open
	if err := s.Ping(context.Background()); err != nil {
		log.Print(err)
	}
}

// Read a URL, then build the client yourself, adding what a URL cannot
// say (here a function run on every new connection). (Not run: it needs a
// Redis Cluster.)
func ExampleParseURL() {
	clientOpts, opts, err := redis.ParseURL("redis+cluster://node1:6379,node2:6379?read_timeout=1s&prefix=myapp:sessions:")
	if err != nil {
		log.Fatal(err)
	}
	clientOpts.OnConnect = func(ctx context.Context, cn *goredis.Conn) error {
		log.Print("connected")
		return nil
	}
	client := goredis.NewUniversalClient(clientOpts) // a *goredis.ClusterClient
	defer client.Close()

	s, err := redis.New(client, opts)
	if err != nil {
		log.Fatal(err)
	}
	defer s.Close() // leaves client open
}

// A URL is checked before anything is dialled, and no error shows its
// password.
func ExampleOpen_badURL() {
	ctx := context.Background()
	for _, u := range []string{
		"redis://app:s3cret@localhost:6379/0?dial_timeot=2s",
		"redis://app:s3cret@node1:6379,node2:6379",
		"redis+cluster://app:s3cret@node1:6379,node2:6379/1",
		"redis+sentinel://app:s3cret@s1:26379,s2:26379",
	} {
		_, err := store.Open(ctx, u)
		fmt.Println(err)
	}
	// Output:
	// store: open redis://app:xxxxx@localhost:6379/0?dial_timeot=2s: redis: bad URL: unexpected option: dial_timeot
	// store: open redis://app:xxxxx@node1:6379,node2:6379: redis: redis URL names 2 hosts; use redis+cluster:// for a Cluster or redis+sentinel:// for Sentinel
	// store: open redis+cluster://app:xxxxx@node1:6379,node2:6379/1: redis: a Cluster URL takes no path: a Cluster has only database 0
	// store: open redis+sentinel://app:xxxxx@s1:26379,s2:26379: redis: a Sentinel URL needs the master's name as its path: redis+sentinel://s1:26379,s2:26379/mymaster[/db]
}
