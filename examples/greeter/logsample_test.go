package main

import (
	"errors"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"runtime"
	"slices"
	"sync"
	"sync/atomic"
	"testing"
	"time"
)

// oneSampled returns the only sampling line in buf, failing the test
// otherwise.
func oneSampled(t *testing.T, buf *syncBuffer) map[string]any {
	t.Helper()
	lines := jsonLines(t, buf, "access log sampled")
	if len(lines) != 1 {
		t.Fatalf("%d sampling lines, want 1:\n%s", len(lines), buf.String())
	}
	return lines[0]
}

// wantSampled checks a line that says how many lines a window left out.
func wantSampled(t *testing.T, l map[string]any, requests, dropped int) {
	t.Helper()
	if l["requests"] != float64(requests) || l["dropped"] != float64(dropped) {
		t.Errorf("sampling line %v, want requests=%d dropped=%d", l, requests, dropped)
	}
}

func TestSamplerKeeps(t *testing.T) {
	buf := &syncBuffer{}
	s := newSamplerEvery(3, 4, slog.New(slog.NewJSONHandler(buf, nil)), time.Hour)
	defer s.Close()
	// The first 3 lines, then one in 4: the 7th, 11th, 15th and 19th.
	var got []int
	for n := 1; n <= 20; n++ {
		if s.keep() {
			got = append(got, n)
		}
	}
	if want := []int{1, 2, 3, 7, 11, 15, 19}; !slices.Equal(got, want) {
		t.Errorf("kept lines %v, want %v", got, want)
	}
	s.turn(false)
	l := oneSampled(t, buf)
	wantSampled(t, l, 20, 13)
	if l["initial"] != 3.0 || l["thereafter"] != 4.0 || l["level"] != "INFO" {
		t.Errorf("sampling line %v, want initial 3, thereafter 4, level INFO", l)
	}

	// A new window starts in full again; one that left nothing out says
	// nothing.
	for n := 1; n <= 3; n++ {
		if !s.keep() {
			t.Fatalf("line %d of a new window not kept", n)
		}
	}
	s.turn(false)
	s.Close()
	if lines := jsonLines(t, buf, "access log sampled"); len(lines) != 1 {
		t.Errorf("%d sampling lines, want still 1 (the later windows left nothing out):\n%s", len(lines), buf.String())
	}
	// After Close, every line is written.
	for range 10 {
		if !s.keep() {
			t.Fatal("a line dropped after Close")
		}
	}
}

func TestSamplerCloseCountsTheLastWindow(t *testing.T) {
	buf := &syncBuffer{}
	s := newSamplerEvery(1, 100, slog.New(slog.NewJSONHandler(buf, nil)), time.Hour)
	for range 10 {
		s.keep()
	}
	s.Close()
	s.Close() // twice is fine
	wantSampled(t, oneSampled(t, buf), 10, 9)
	if newSampler(0, 100, slog.Default()) != nil {
		t.Error("newSampler(0, …) samples; want nil, every line written")
	}
	var none *sampler
	none.Close() // a nil sampler's Close does nothing
}

// TestSamplerWindowCloses: a line that loaded a window just before it
// turned counts in the next one; one that raced Close is written.
func TestSamplerWindowCloses(t *testing.T) {
	buf := &syncBuffer{}
	s := newSamplerEvery(1, 2, slog.New(slog.NewJSONHandler(buf, nil)), time.Hour)
	w := s.win.Load()
	s.turn(false)
	if w.n.Add(1)&closedBit == 0 {
		t.Fatal("a turned window still counts lines")
	}
	// The racing line above counted nowhere; the new window starts at 1.
	if !s.keep() || s.keep() || !s.keep() {
		t.Error("the new window does not start in full: want the 1st line kept, the 2nd dropped, the 3rd kept")
	}
	w = s.win.Load()
	s.Close()
	if w.n.Add(1)&closedBit == 0 {
		t.Fatal("the last window still counts lines after Close")
	}
	for range 5 {
		if !s.keep() {
			t.Fatal("a line dropped after Close")
		}
	}
	wantSampled(t, oneSampled(t, buf), 3, 1) // the window with a line dropped
}

// TestSamplerExact: with windows turning while lines are counted, every
// line is either written or counted as left out, exactly once.
func TestSamplerExact(t *testing.T) {
	buf := &syncBuffer{}
	s := newSamplerEvery(5, 3, slog.New(slog.NewJSONHandler(buf, nil)), time.Hour)
	const workers, turns = 4, 500
	var lines, kept atomic.Int64
	var wg sync.WaitGroup
	stop := make(chan struct{})
	for range workers {
		wg.Go(func() {
			for {
				select {
				case <-stop:
					return
				default:
				}
				for range 50 {
					lines.Add(1)
					if s.keep() {
						kept.Add(1)
					}
				}
				runtime.Gosched() // let the windows turn
			}
		})
	}
	for range turns {
		s.turn(false)
		runtime.Gosched()
	}
	close(stop)
	wg.Wait()
	s.Close()
	var dropped, windows int64
	for _, l := range jsonLines(t, buf, "access log sampled") {
		dropped += int64(l["dropped"].(float64))
		windows++
	}
	if kept.Load()+dropped != lines.Load() {
		t.Errorf("%d lines kept + %d counted as dropped = %d, want %d", kept.Load(), dropped, kept.Load()+dropped, lines.Load())
	}
	if windows < turns/10 {
		t.Errorf("%d of %d windows left lines out: the windows did not turn while lines were counted", windows, turns)
	}
}

// TestAccessLogSampled: successful requests are sampled; errors, status
// 400 and above and aborted responses never are, nor counted.
func TestAccessLogSampled(t *testing.T) {
	buf := &syncBuffer{}
	log := slog.New(slog.NewJSONHandler(buf, nil))
	s := newSamplerEvery(2, 3, log, time.Hour)
	defer s.Close()
	mux := http.NewServeMux()
	mux.HandleFunc("/ok", func(w http.ResponseWriter, r *http.Request) { w.Write([]byte("ok")) })
	mux.HandleFunc("/moved", func(w http.ResponseWriter, r *http.Request) { http.Redirect(w, r, "/ok", http.StatusFound) })
	mux.HandleFunc("/fail", func(w http.ResponseWriter, r *http.Request) { http.Error(w, "down", http.StatusServiceUnavailable) })
	h := accessLog(log, mux, accessLogOptions{sample: s})
	serve := func(path string) {
		h.ServeHTTP(httptest.NewRecorder(), httptest.NewRequest("GET", path, nil))
	}
	// 10 successful requests (8 /ok, 2 redirects), 3 not found, 2 failed.
	for i := range 8 {
		serve("/ok")
		if i%4 == 0 {
			serve("/missing")
			serve("/moved")
		}
	}
	serve("/missing")
	serve("/fail")
	serve("/fail")
	// A successful request whose response could not be sent.
	h.ServeHTTP(&failingWriter{header: http.Header{}, err: errors.New("broken pipe")}, httptest.NewRequest("GET", "/ok", nil))

	counts := map[string]int{}
	aborted := 0
	for _, l := range jsonLines(t, buf, "request") {
		counts[l["path"].(string)]++
		if l["aborted"] == true {
			aborted++
		}
	}
	// Of the 10 successful ones, the 1st, 2nd, 5th and 8th are written.
	if ok := counts["/ok"] + counts["/moved"] - aborted; ok != 4 {
		t.Errorf("%d successful request lines written, want 4 (the first 2, then one in 3 of 10): %v", ok, counts)
	}
	if counts["/missing"] != 3 || counts["/fail"] != 2 || aborted != 1 {
		t.Errorf("lines %v, %d aborted; want every 404 (3), every 503 (2) and the aborted one", counts, aborted)
	}
	s.turn(false)
	wantSampled(t, oneSampled(t, buf), 10, 6)
}

// TestServeSamplesAccessLog runs the server with a small sample: the
// lines left out are counted before it says it stopped, and errors are
// all there.
func TestServeSamplesAccessLog(t *testing.T) {
	s := start(t, hooks{}, "-log-sample-initial", "2", "-log-sample-thereafter", "1000")
	const greets = 12
	for range greets {
		if status, _ := get(t, s.url+"/greet"); status != 200 {
			t.Fatalf("GET /greet: %d", status)
		}
	}
	for range 3 {
		get(t, s.url+"/nope")
	}
	if code := s.stop(); code != 0 {
		t.Fatalf("exit code %d", code)
	}
	lines := s.logLines(t)
	written, notFound, dropped, sampledAt, stoppedAt := 0, 0, 0, -1, -1
	for i, l := range lines {
		switch {
		case l["msg"] == "request" && l["path"] == "/greet":
			written++
		case l["msg"] == "request" && l["status"] == 404.0:
			notFound++
		case l["msg"] == "access log sampled":
			dropped += int(l["dropped"].(float64))
			sampledAt = i
		case l["msg"] == "greeter stopped":
			stoppedAt = i
		}
	}
	// The requests may straddle a second: each window writes its first 2.
	if written+dropped != greets || written < 2 || dropped == 0 {
		t.Errorf("%d /greet lines written and %d counted as dropped, want %d in all, at least 2 written and some dropped:\n%s",
			written, dropped, greets, s.stderr.String())
	}
	if notFound != 3 {
		t.Errorf("%d 404 lines, want all 3", notFound)
	}
	if sampledAt < 0 || sampledAt > stoppedAt {
		t.Errorf("the last sampling line (at %d) should come before \"greeter stopped\" (at %d)", sampledAt, stoppedAt)
	}

	// -log-sample-initial 0: every line.
	s = start(t, hooks{}, "-log-sample-initial", "0")
	for range greets {
		get(t, s.url+"/greet")
	}
	s.stop()
	written = 0
	for _, l := range s.logLines(t) {
		if l["msg"] == "request" {
			written++
		}
		if l["msg"] == "access log sampled" {
			t.Errorf("a sampling line with -log-sample-initial 0: %v", l)
		}
	}
	if written != greets {
		t.Errorf("%d request lines with -log-sample-initial 0, want %d", written, greets)
	}
}
