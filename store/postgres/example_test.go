package postgres_test

import (
	"context"
	"errors"
	"fmt"
	"log"
	"os"
	"time"

	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/stateless-go/stateless/store"
	"github.com/stateless-go/stateless/store/postgres"
)

// A service picks its store by URL; importing this package makes
// postgres:// URLs work. The store's own parameters sit beside pgx's.
func Example() {
	ctx := context.Background()
	s, err := store.Open(ctx, os.Getenv("STORE_URL")) // e.g. postgres://app:pw@127.0.0.1:5432/app?sslmode=disable&table=sessions
	if err != nil {
		log.Fatal(err) // never contains the password
	}
	defer s.Close()

	v, err := s.Create(ctx, "session-token", []byte(`{"name":"Alice"}`), 24*time.Hour)
	if errors.Is(err, store.ErrExists) {
		log.Fatal("token already taken")
	}
	if err != nil {
		log.Fatal(err)
	}
	if _, err := s.Replace(ctx, "session-token", []byte(`{"name":"Alice","visits":1}`), 24*time.Hour, v); errors.Is(err, store.ErrConflict) {
		log.Print("another request changed the session first; read it again")
	}
}

// ParseURL shows what a URL configures: the store's parameters become
// Options, and only the rest reaches pgx.
func ExampleParseURL() {
	cfg, opts, err := postgres.ParseURL("postgres://app:secret@db.internal:5432/app?sslmode=require" +
		"&table=auth.sessions&reap_interval=30s&reap_batch=500&pool_max_conns=20")
	if err != nil {
		log.Fatal(err)
	}
	fmt.Println("table:", opts.Table)
	fmt.Println("reap every", opts.ReapInterval, "in batches of", opts.ReapBatch)
	fmt.Println("server:", cfg.ConnConfig.Host, cfg.ConnConfig.Port, cfg.ConnConfig.Database)
	fmt.Println("pool size:", cfg.MaxConns)
	fmt.Println("run-time settings sent to the server:", len(cfg.ConnConfig.RuntimeParams))

	_, _, err = postgres.ParseURL("postgres://app:secret@db.internal/app?reap_batch=lots")
	fmt.Println(err)
	// Output:
	// table: auth.sessions
	// reap every 30s in batches of 500
	// server: db.internal 5432 app
	// pool size: 20
	// run-time settings sent to the server: 0
	// postgres: URL parameter reap_batch="lots": want a positive number of rows
}

// New puts the store on a pool the application already has; Close leaves
// that pool open. Operators who apply the DDL themselves set SkipCreate.
func ExampleNew() {
	ctx := context.Background()
	pool, err := pgxpool.New(ctx, os.Getenv("DATABASE_URL"))
	if err != nil {
		log.Fatal(err)
	}
	defer pool.Close()

	s, err := postgres.New(ctx, pool, &postgres.Options{
		Table:        "auth.sessions",
		SkipCreate:   true,
		ReapInterval: -1, // a cron job calls Reap instead
	})
	if err != nil {
		log.Fatal(err) // e.g. the table is missing: it says what to apply
	}
	defer s.Close()
}

// Reap clears a backlog of expired rows now, batch by batch, as a cron job
// would with the background reaper off.
func ExampleStore_Reap() {
	ctx := context.Background()
	s, err := postgres.Open(ctx, os.Getenv("STORE_URL")+"&reap_interval=off&reap_batch=5000")
	if err != nil {
		log.Fatal(err)
	}
	defer s.Close()
	var total int64
	for {
		n, err := s.Reap(ctx)
		if err != nil {
			log.Fatal(err)
		}
		total += n
		if n < 5000 {
			break
		}
	}
	log.Printf("deleted %d expired sessions", total)
}
