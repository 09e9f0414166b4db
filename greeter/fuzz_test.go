package greeter_test

import (
	"bytes"
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strings"
	"testing"
	"unicode/utf8"

	"github.com/stateless-go/stateless/greeter"
	"github.com/stateless-go/stateless/store/memory"
)

// FuzzGreet sends raw query strings to /greet. Whatever the query, the
// answer is never a 5xx and always one JSON object; and it is exactly what
// url.ParseQuery says the query means: a 400 if ParseQuery finds the query
// malformed, else Hello to its first "name" (or World), or a 400 if that
// name is too long or not UTF-8.
func FuzzGreet(f *testing.F) {
	for _, q := range []string{
		"", "name=Alice", "name=", "name", "name=Alice&name=Bob", "n%61me=Carol",
		"name=Ada+Lovelace", "name=Jos%C3%A9", "name=José", "name=%F0%9F%91%8B",
		"name=%22%5C%0A", "name=%3Cscript%3E", "name=%E2%80%A8", "name=%00",
		"name=%zz", "name=%", "name=%4", "%zz=1&name=Bob", "name=a;b", "&&name=x&&",
		"name=%FF", "name=%C0%AF", "name=%ED%A0%80", "name=\xff", "name=" + strings.Repeat("a", 256),
		"name=" + strings.Repeat("a", 257), "name=" + strings.Repeat("%C3%A9", 129), "=&=name&name==",
	} {
		f.Add(q)
	}
	h := greeter.New(memory.New(nil), nil)

	f.Fuzz(func(t *testing.T, query string) {
		r := httptest.NewRequest(http.MethodGet, "/greet", nil)
		r.URL.RawQuery = query
		w := httptest.NewRecorder()
		h.ServeHTTP(w, r)

		if w.Code >= 500 {
			t.Fatalf("query %q: status %d", query, w.Code)
		}
		body := w.Body.Bytes()
		var m map[string]string
		if err := json.Unmarshal(body, &m); err != nil || !bytes.HasSuffix(body, []byte("\n")) {
			t.Fatalf("query %q: body %q is not one JSON object of strings and a newline: %v", query, body, err)
		}
		if len(m) != 1 {
			t.Fatalf("query %q: body %q, want one field", query, body)
		}

		// The oracle. ParseQuery also refuses over 10000 parameters, a
		// limit we need not share: nameParam allocates nothing per pair.
		if strings.Count(query, "&") >= 10000 {
			return
		}
		vals, err := url.ParseQuery(query)
		wantStatus, wantMsg := http.StatusOK, "Hello, World!"
		if err != nil {
			wantStatus, wantMsg = http.StatusBadRequest, ""
		} else if names, ok := vals["name"]; ok {
			if n := names[0]; len(n) > greeter.MaxNameLen || !utf8.ValidString(n) {
				wantStatus, wantMsg = http.StatusBadRequest, ""
			} else {
				wantMsg = "Hello, " + n + "!"
			}
		}
		if w.Code != wantStatus {
			t.Fatalf("query %q: status %d, want %d; body %q", query, w.Code, wantStatus, body)
		}
		if wantStatus == http.StatusOK && m["message"] != wantMsg {
			t.Fatalf("query %q: message %q, want %q", query, m["message"], wantMsg)
		}
		if wantStatus != http.StatusOK && m["error"] == "" {
			t.Fatalf("query %q: body %q, want an error message", query, body)
		}
		if bytes.ContainsAny(body, "<>&") {
			t.Fatalf("query %q: body %q holds unescaped HTML", query, body)
		}
	})
}
