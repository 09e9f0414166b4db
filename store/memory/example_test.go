package memory_test

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/stateless-go/stateless/store"
	"github.com/stateless-go/stateless/store/memory"
)

func Example() {
	ctx := context.Background()
	s := memory.New(&memory.Options{MaxEntries: 100000})
	defer s.Close()

	v1, _ := s.Create(ctx, "session:1", []byte(`{"name":"Alice"}`), 30*time.Minute)

	// Another writer updates the record first...
	v2, _ := s.Replace(ctx, "session:1", []byte(`{"name":"Alice","visits":1}`), 30*time.Minute, v1)

	// ...so a write based on the old version is refused, not lost silently.
	_, err := s.Replace(ctx, "session:1", []byte(`{"name":"Mallory"}`), 30*time.Minute, v1)
	fmt.Println(errors.Is(err, store.ErrConflict))

	rec, _ := s.Get(ctx, "session:1")
	fmt.Println(string(rec.Value), rec.Version == v2)
	// Output:
	// true
	// {"name":"Alice","visits":1} true
}
