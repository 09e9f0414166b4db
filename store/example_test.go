package store_test

import (
	"context"
	"fmt"
	"time"

	"github.com/stateless-go/stateless/store"
	_ "github.com/stateless-go/stateless/store/memory" // registers memory://
)

func ExampleOpen() {
	ctx := context.Background()
	// The URL usually comes from configuration: redis://…, memcache://…,
	// postgres://…, each available once its adapter package is imported.
	s, err := store.Open(ctx, "memory://?max_entries=100000")
	if err != nil {
		fmt.Println(err)
		return
	}
	defer s.Close()

	if _, err := s.Create(ctx, "k", []byte("v"), time.Minute); err != nil {
		fmt.Println(err)
	}
	_, err = store.Open(ctx, "redis://user:secret@localhost:6379/0")
	fmt.Println(err)
	// Output:
	// store: no adapter registered for scheme "redis"; registered: memory (import the package of the adapter you want: this module's are github.com/stateless-go/stateless/store/memory, …/store/redis, …/store/memcache and …/store/postgres)
}
