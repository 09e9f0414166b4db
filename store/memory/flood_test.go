package memory_test

import (
	"context"
	"strconv"
	"testing"
	"time"

	"github.com/stateless-go/stateless/store/memory"
)

// A session in use survives a flood of logins that are never used again:
// before eviction protected used records, 3000 anonymous logins at
// max_entries=1000 made a logged-in user's next request a 401.
func TestFloodKeepsSessionInUse(t *testing.T) {
	for _, tc := range []struct {
		name   string
		opts   *memory.Options
		cap    int
		floods int
	}{
		{"MaxEntries1000", &memory.Options{MaxEntries: 1000}, 1000, 100_000},
		// Past the default cap, so the defaults evict too.
		{"defaults", nil, memory.DefaultMaxEntries, memory.DefaultMaxEntries + 50_000},
	} {
		t.Run(tc.name, func(t *testing.T) {
			ctx := context.Background()
			s := memory.New(tc.opts)
			defer s.Close()
			const victim, value = "session:victim", `{"name":"Alice","visits":2}`
			if _, err := s.Create(ctx, victim, []byte(value), 30*time.Minute); err != nil {
				t.Fatal(err)
			}
			for range 2 {
				if _, err := s.Get(ctx, victim); err != nil {
					t.Fatalf("Get of the victim just created: %v", err)
				}
			}
			anon := []byte(`{"name":"","visits":0}`)
			for i := range tc.floods {
				if _, err := s.Create(ctx, "session:anon:"+strconv.Itoa(i), anon, 30*time.Minute); err != nil {
					t.Fatalf("anonymous Create %d: %v", i, err)
				}
				if n := s.Len(); n > tc.cap {
					t.Fatalf("after %d anonymous Creates: Len() = %d, cap %d", i+1, n, tc.cap)
				}
			}
			rec, err := s.Get(ctx, victim)
			if err != nil {
				t.Fatalf("after %d anonymous Creates, Get of a session used twice = %v, want it kept", tc.floods, err)
			}
			if string(rec.Value) != value {
				t.Errorf("victim's value = %q, want %q", rec.Value, value)
			}
		})
	}
}
