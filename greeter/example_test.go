package greeter_test

import (
	"fmt"
	"net/http"
	"net/http/httptest"

	"github.com/stateless-go/stateless/greeter"
	"github.com/stateless-go/stateless/store/memory"
)

func Example() {
	h := greeter.New(memory.New(nil), nil)

	for _, target := range []string{"/greet?name=Alice", "/greet", "/greet?name=%3Cb%3E", "/greet?name=%FF"} {
		w := httptest.NewRecorder()
		h.ServeHTTP(w, httptest.NewRequest(http.MethodGet, target, nil))
		fmt.Print(w.Code, " ", w.Body.String())
	}
	// Output:
	// 200 {"message":"Hello, Alice!"}
	// 200 {"message":"Hello, World!"}
	// 200 {"message":"Hello, \u003cb\u003e!"}
	// 400 {"error":"name is not valid UTF-8"}
}

func ExampleNew_server() {
	s := memory.New(nil)
	defer s.Close()

	srv := httptest.NewServer(greeter.New(s, nil))
	defer srv.Close()

	resp, err := http.Post(srv.URL+"/greet", "text/plain", nil)
	if err != nil {
		fmt.Println(err)
		return
	}
	resp.Body.Close()
	fmt.Println(resp.Status, "Allow:", resp.Header.Get("Allow"))
	// Output:
	// 405 Method Not Allowed Allow: GET, HEAD
}
