package idempotency_test

import (
	"bufio"
	"net/http"
	"net/http/httptest"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/stateless-go/stateless/idempotency"
	"github.com/stateless-go/stateless/store/redis"
	"github.com/stateless-go/stateless/store/storetest"
)

// An owner killed mid-request (a real process, SIGKILL) holds its key
// until its lease lapses; then another instance takes it over and runs
// the request as attempt 2, and records that; an instance under
// StrictAtMostOnce refuses instead. Over Redis.
func TestKilledOwnerIsTakenOver(t *testing.T) {
	if testing.Short() {
		t.Skip("builds and runs a program")
	}
	url := redisURL(t)
	const lease = time.Second
	bin := buildKillee(t)

	cmd := exec.Command(bin, "-store", url, "-lease", lease.String())
	cmd.Stderr = os.Stderr
	out, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { cmd.Process.Kill(); cmd.Wait() })
	lines := make(chan string, 4)
	go func() {
		sc := bufio.NewScanner(out)
		for sc.Scan() {
			lines <- sc.Text()
		}
		close(lines)
	}()
	next := func() string {
		select {
		case l, ok := <-lines:
			if !ok {
				t.Fatal("killee exited")
			}
			return l
		case <-time.After(30 * time.Second):
			t.Fatal("killee said nothing for 30s")
		}
		return ""
	}
	addr, ok := strings.CutPrefix(next(), "listening ")
	if !ok {
		t.Fatalf("killee: unexpected first line")
	}

	key := "order-" + storetest.RandomPrefix()
	go func() {
		r, _ := http.NewRequest("POST", "http://"+addr+"/orders", strings.NewReader(`{"item":1}`))
		r.Header.Set(idempotency.HeaderKey, key)
		if resp, err := http.DefaultClient.Do(r); err == nil { // the process dies: an error
			resp.Body.Close()
		}
	}()
	if l := next(); l != "running attempt 1" {
		t.Fatalf("killee: %q, want running attempt 1", l)
	}
	if err := cmd.Process.Kill(); err != nil { // SIGKILL: no deferred function, no release
		t.Fatal(err)
	}
	killed := time.Now()
	cmd.Wait()

	st, err := redis.Open(t.Context(), url)
	if err != nil {
		t.Fatal(err)
	}
	defer st.Close()
	var runs atomic.Int64
	b := newMiddleware(t, st, &idempotency.Options{Lease: lease}).Handler(attemptHandler(&runs))
	strict := newMiddleware(t, st, &idempotency.Options{Lease: lease, StrictAtMostOnce: true}).Handler(attemptHandler(&runs))
	retry := func(h http.Handler) *httptest.ResponseRecorder {
		return serve(h, req("POST", "/orders", key, `{"item":1}`))
	}

	// Until the lease lapses, the dead owner's key is in flight. (Its
	// lease began before the kill, so this answer is certain only while
	// less than a lease has passed since.)
	if w := retry(b); time.Since(killed) < lease/2 {
		problemOf(t, w, http.StatusConflict, idempotency.ProblemInFlight)
	}
	time.Sleep(time.Until(killed.Add(lease + 50*time.Millisecond)))

	problemOf(t, retry(strict), http.StatusConflict, idempotency.ProblemAbandoned)
	w := retry(b)
	if w.Code != 200 || w.Body.String() != "attempt 2" || runs.Load() != 1 {
		t.Fatalf("after the lease: %d %q, runs %d; want a takeover as attempt 2", w.Code, w.Body, runs.Load())
	}
	rec, err := st.Get(t.Context(), idempotency.StorageKey("", key))
	if err != nil {
		t.Fatal(err)
	}
	if state, attempt, err := idempotency.RecordInfo(rec.Value); state != "completed" || attempt != 2 || err != nil {
		t.Errorf("record: %s, attempt %d, %v; want completed, attempt 2", state, attempt, err)
	}
	if w := retry(strict); !isReplay(w) || w.Body.String() != "attempt 2" {
		t.Errorf("replay %d %q", w.Code, w.Body)
	}
}

// buildKillee builds testdata/killee into the test's temporary directory.
func buildKillee(t *testing.T) string {
	t.Helper()
	goBin, err := exec.LookPath("go")
	if err != nil {
		goBin = filepath.Join(runtime.GOROOT(), "bin", "go")
	}
	bin := filepath.Join(t.TempDir(), "killee")
	cmd := exec.Command(goBin, "build", "-o", bin, "./testdata/killee")
	if out, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("go build ./testdata/killee: %v\n%s", err, out)
	}
	return bin
}
