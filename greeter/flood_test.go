package greeter_test

import (
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"

	"github.com/stateless-go/stateless/greeter"
	"github.com/stateless-go/stateless/store/memory"
)

// A flood of anonymous logins must not log out a user who is using the
// service: the embedded store is bounded, and it evicts sessions nobody
// came back to before one that was used since its login. (Before the
// store's segmented eviction, a user got 401 after 3000 anonymous logins
// at max_entries=1000; before its default bound, 100k logins grew the
// process by 110 MB.)
func TestLoginFloodDoesNotEvictAUser(t *testing.T) {
	for _, c := range []struct {
		name  string
		opts  *memory.Options
		cap   int
		flood int
	}{
		{"max_entries=1000", &memory.Options{MaxEntries: 1000}, 1000, 100_000},
		{"defaults", nil, 100_000, 120_000},
	} {
		t.Run(c.name, func(t *testing.T) {
			st := memory.New(c.opts)
			h := greeter.New(st, nil)
			victim := loginAs(t, h, "Victim")
			for range 2 {
				decodeSession(t, call(t, h, "GET", "/session", "", victim, true), http.StatusOK)
			}
			body := `{"name":"anon"}`
			for i := range c.flood {
				r := httptest.NewRequest("POST", "/session", strings.NewReader(body))
				w := httptest.NewRecorder()
				h.ServeHTTP(w, r)
				if w.Code != http.StatusCreated {
					t.Fatalf("anonymous login %d: %d %s", i, w.Code, w.Body)
				}
				if n := st.Len(); n > c.cap {
					t.Fatalf("after %d logins the store holds %d sessions, over its bound %d", i+1, n, c.cap)
				}
			}
			got := decodeSession(t, call(t, h, "GET", "/session", "", victim, true), http.StatusOK)
			if got.Name != "Victim" || got.Visits != 0 {
				t.Errorf("the victim's session after the flood: %+v", got)
			}
		})
	}
}
