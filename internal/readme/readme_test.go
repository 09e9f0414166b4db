package readme

import (
	"bytes"
	"context"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/http/cookiejar"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

// snippet returns the first Go code block after heading in the README.
func snippet(t *testing.T, readme, heading string) string {
	t.Helper()
	_, after, ok := strings.Cut(readme, "\n"+heading+"\n")
	if !ok {
		t.Fatalf("README has no heading %q", heading)
	}
	_, code, ok := strings.Cut(after, "```go\n")
	if !ok {
		t.Fatalf("no Go block under %q", heading)
	}
	code, _, ok = strings.Cut(code, "\n```")
	if !ok {
		t.Fatalf("unterminated Go block under %q", heading)
	}
	return code + "\n"
}

// The README's own-service program compiles as written, and runs: log in,
// add to the cart twice under Retry, log out.
func TestOwnServiceSnippet(t *testing.T) {
	if testing.Short() {
		t.Skip("builds a program: not in -short")
	}
	goTool, err := exec.LookPath("go")
	if err != nil {
		goTool = filepath.Join(os.Getenv("GOROOT"), "bin", "go")
	}
	root, err := filepath.Abs("../..")
	if err != nil {
		t.Fatal(err)
	}
	readme, err := os.ReadFile(filepath.Join(root, "README.md"))
	if err != nil {
		t.Fatal(err)
	}
	code := snippet(t, string(readme), "## Sessions in your own service")

	// Inside the module, so that its imports resolve to this checkout; a
	// leading dot keeps ./... from finding it.
	dir, err := os.MkdirTemp(root, ".readme-")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { os.RemoveAll(dir) })
	if err := os.WriteFile(filepath.Join(dir, "main.go"), []byte(code), 0o644); err != nil {
		t.Fatal(err)
	}
	bin := filepath.Join(t.TempDir(), "shop")
	build := exec.Command(goTool, "build", "-o", bin, "./"+filepath.Base(dir))
	build.Dir = root
	if out, err := build.CombinedOutput(); err != nil {
		t.Fatalf("the README program does not build: %v\n%s\n--- program:\n%s", err, out, code)
	}
	vet := exec.Command(goTool, "vet", "./"+filepath.Base(dir))
	vet.Dir = root
	if out, err := vet.CombinedOutput(); err != nil {
		t.Fatalf("go vet on the README program: %v\n%s", err, out)
	}

	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := ln.Addr().String()
	ln.Close()
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	var logs bytes.Buffer
	cmd := exec.CommandContext(ctx, bin)
	cmd.Env = append(os.Environ(), "ADDR="+addr, "STORE_URL=memory://")
	cmd.Stdout, cmd.Stderr = &logs, &logs
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		cmd.Process.Kill()
		cmd.Wait()
	})

	jar, _ := cookiejar.New(nil)
	client := &http.Client{Jar: jar, Timeout: 5 * time.Second}
	base := "http://" + addr
	post := func(path string, form url.Values) (int, string) {
		t.Helper()
		resp, err := client.PostForm(base+path, form)
		if err != nil {
			t.Fatalf("POST %s: %v\nprogram output:\n%s", path, err, logs.String())
		}
		defer resp.Body.Close()
		b, _ := io.ReadAll(resp.Body)
		return resp.StatusCode, strings.TrimSpace(string(b))
	}
	deadline := time.Now().Add(20 * time.Second)
	for {
		c, err := net.DialTimeout("tcp", addr, time.Second)
		if err == nil {
			c.Close()
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("the README program did not listen on %s: %v\n%s", addr, err, logs.String())
		}
		time.Sleep(50 * time.Millisecond)
	}

	steps := []struct {
		path string
		form url.Values
		code int
		body string
	}{
		{"/cart", url.Values{"item": {"apple"}}, 401, "log in first"},
		{"/login", url.Values{"user": {"alice"}}, 204, ""},
		{"/cart", url.Values{"item": {"apple"}}, 200, `{"items":["apple"]}`},
		{"/cart", url.Values{"item": {"pear"}}, 200, `{"items":["apple","pear"]}`},
		{"/logout", nil, 204, ""},
		{"/cart", url.Values{"item": {"plum"}}, 401, "log in first"},
		{"/login", url.Values{"user": {"bob"}}, 204, ""},
		{"/cart", url.Values{"item": {"fig"}}, 200, `{"items":["fig"]}`},
	}
	for _, s := range steps {
		code, body := post(s.path, s.form)
		if code != s.code || body != s.body {
			t.Errorf("POST %s %v = %d %q, want %d %q", s.path, s.form, code, body, s.code, s.body)
		}
	}
	if t.Failed() {
		fmt.Println(logs.String())
	}
}

// The README's access-token fragment compiles and vets inside a function
// that gives it the variables it names.
func TestAccessTokenSnippet(t *testing.T) {
	if testing.Short() {
		t.Skip("builds a program: not in -short")
	}
	root, err := filepath.Abs("../..")
	if err != nil {
		t.Fatal(err)
	}
	readme, err := os.ReadFile(filepath.Join(root, "README.md"))
	if err != nil {
		t.Fatal(err)
	}
	code := `package main

import (
	"context"
	"net/http"

	"github.com/stateless-go/stateless/auth"
	"github.com/stateless-go/stateless/store"
)

func main() {}

func setup(ctx context.Context, st store.Store, secret []byte, mux *http.ServeMux, api http.Handler) {
` + snippet(t, string(readme), "## Access tokens any instance can verify") + `	_ = signer
}
`
	dir, err := os.MkdirTemp(root, ".readme-")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { os.RemoveAll(dir) })
	if err := os.WriteFile(filepath.Join(dir, "main.go"), []byte(code), 0o644); err != nil {
		t.Fatal(err)
	}
	vet := exec.Command("go", "vet", "./"+filepath.Base(dir))
	vet.Dir = root
	if out, err := vet.CombinedOutput(); err != nil {
		t.Fatalf("the README's access-token fragment does not vet: %v\n%s\n--- program:\n%s", err, out, code)
	}
}
