package idempotency_test

import (
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"

	"github.com/stateless-go/stateless/idempotency"
	"github.com/stateless-go/stateless/store/memory"
)

// A retried POST is answered from the first attempt's record: the order
// is placed once.
func Example() {
	idem, err := idempotency.New(memory.New(nil), &idempotency.Options{
		// Keys belong to the caller; here, an API client named in a header.
		Scope: func(r *http.Request) (string, error) { return r.Header.Get("X-Client"), nil },
	})
	if err != nil {
		panic(err)
	}
	orders := 0
	h := idem.Handler(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		orders++
		w.Header().Set("Content-Type", "text/plain")
		w.Header().Set("Location", fmt.Sprintf("/orders/%d", orders))
		w.WriteHeader(http.StatusCreated)
		fmt.Fprintf(w, "order %d placed\n", orders)
	}))
	post := func(body string) {
		r := httptest.NewRequest("POST", "/orders", strings.NewReader(body))
		r.Header.Set("X-Client", "acme")
		r.Header.Set("Idempotency-Key", `"8e03978e-40d5-43e8-bc93-6894a57f9324"`)
		w := httptest.NewRecorder()
		h.ServeHTTP(w, r)
		b, _ := io.ReadAll(w.Body)
		fmt.Printf("%d %s %s replayed=%q: %s", w.Code, w.Header().Get("Content-Type"), w.Header().Get("Location"),
			w.Header().Get("Idempotent-Replayed"), b)
	}
	post(`{"item":"book"}`)
	post(`{"item":"book"}`) // the client timed out and retried
	post(`{"item":"pen"}`)  // the same key for another request
	fmt.Println("orders placed:", orders)
	// Output:
	// 201 text/plain /orders/1 replayed="": order 1 placed
	// 201 text/plain /orders/1 replayed="true": order 1 placed
	// 422 application/problem+json  replayed="": {"type":"https://pkg.go.dev/github.com/stateless-go/stateless/idempotency#ProblemMismatch","title":"Idempotency-Key reused","status":422,"detail":"this Idempotency-Key was used for a different request"}
	// orders placed: 1
}
