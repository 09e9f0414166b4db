package main

import (
	"fmt"
	"log/slog"
	"math"
	"reflect"
	"strings"
	"sync"
	"testing"
	"time"
)

// writes records each Write to it: a line must never straddle two.
type writes struct {
	mu    sync.Mutex
	calls []string
}

func (w *writes) Write(p []byte) (int, error) {
	w.mu.Lock()
	defer w.mu.Unlock()
	w.calls = append(w.calls, string(p))
	return len(p), nil
}

func (w *writes) lines(t *testing.T) []string {
	t.Helper()
	w.mu.Lock()
	defer w.mu.Unlock()
	var lines []string
	for _, c := range w.calls {
		if !strings.HasSuffix(c, "\n") {
			t.Fatalf("a write ends inside a line: %q", c[max(0, len(c)-80):])
		}
		ls := strings.SplitAfter(c, "\n")
		lines = append(lines, ls[:len(ls)-1]...) // after the last newline: ""
	}
	return lines
}

// TestLineBuffer: access-log records (formatted late, in batches) and slog
// lines come out whole and in the order they were logged, across more
// records than the buffer keeps and more bytes than it holds; a Warn line
// goes out at once with everything before it; after Close, lines go out
// as they come.
func TestLineBuffer(t *testing.T) {
	for _, json := range []bool{false, true} {
		out := &writes{}
		lb := newLineBuffer(out)
		log := slog.New(flushOnWarn{slog.NewTextHandler(lb, nil), lb})
		direct := &lineWriter{w: lb, json: json}
		n := 3*maxRecords + 7 // well over logBufferSize too
		t0 := time.Date(2026, 12, 1, 23, 0, 0, 0, time.UTC)
		for i := range n {
			path := fmt.Sprintf("/r%d", i)
			if i%500 == 499 {
				log.Info("between", "i", i)
			}
			direct.request(t0.Add(time.Duration(i)*time.Millisecond), "GET", path, 200, int64(i), time.Duration(i)*time.Microsecond)
		}
		log.Warn("warned")
		got := out.lines(t)
		if len(got) != n+n/500+1 || !strings.Contains(got[len(got)-1], "msg=warned") {
			t.Fatalf("json=%v: %d lines after the Warn, want %d, the Warn last", json, len(got), n+n/500+1)
		}
		r := 0
		for _, l := range got[:len(got)-1] {
			if strings.Contains(l, "msg=between") {
				if want := fmt.Sprintf("i=%d", r); !strings.Contains(l, want) {
					t.Fatalf("json=%v: slog line %q out of order, want %s", json, l, want)
				}
				continue
			}
			var rec accessRecord
			rec.set(t0.Add(time.Duration(r)*time.Millisecond), "GET", fmt.Sprintf("/r%d", r), 200, int64(r), time.Duration(r)*time.Microsecond, json)
			if want := string(rec.appendLine(nil)); l != want {
				t.Fatalf("json=%v: line %q, want %q", json, l, want)
			}
			r++
		}
		lb.Close()
		before := len(out.lines(t))
		direct.request(t0, "GET", "/late", 200, 1, time.Millisecond)
		if got := out.lines(t); len(got) != before+1 || !strings.Contains(got[len(got)-1], "/late") {
			t.Errorf("json=%v: a line after Close was not written at once", json)
		}
	}
}

// TestAccessRecordLine: a record's line is the one slog's handlers write
// for the same attributes (the durations in text too).
func TestAccessRecordLine(t *testing.T) {
	tm := time.Date(2026, 12, 1, 23, 4, 5, 123456789, time.UTC)
	for _, d := range []time.Duration{0, 999, time.Microsecond, 1500 * time.Nanosecond, 12345678, 3 * time.Second, 90 * time.Minute} {
		for _, json := range []bool{false, true} {
			var sb syncBuffer
			opts := &slog.HandlerOptions{ReplaceAttr: func(_ []string, a slog.Attr) slog.Attr {
				if a.Key == slog.TimeKey {
					a.Value = slog.TimeValue(tm)
				}
				return a
			}}
			var h slog.Handler = slog.NewTextHandler(&sb, opts)
			if json {
				h = slog.NewJSONHandler(&sb, opts)
			}
			slog.New(h).Info("request", "method", "PATCH", "path", "/a/b", "status", 404, "bytes", int64(17), "duration", d)
			var r accessRecord
			r.set(tm, "PATCH", "/a/b", 404, 17, d, json)
			if got := string(r.appendLine(nil)); got != sb.String() {
				t.Errorf("json=%v, %v: %q, slog writes %q", json, d, got, sb.String())
			}
		}
	}
	// The longest line a record can make fits maxRecordLine, which
	// formatLocked leaves room for.
	for _, json := range []bool{false, true} {
		var r accessRecord
		r.set(time.Date(-9999, 12, 31, 23, 59, 59, 999999999, time.FixedZone("", -(23*3600+59*60))),
			strings.Repeat("M", maxPlainMethod), "/"+strings.Repeat("p", maxLoggedPath-1), 999, math.MaxInt64, math.MinInt64, json)
		if n := len(r.appendLine(nil)); n > maxRecordLine || !plainMethod(strings.Repeat("M", maxPlainMethod)) {
			t.Errorf("json=%v: the longest line is %d bytes, over maxRecordLine (%d)", json, n, maxRecordLine)
		}
	}
}

// TestAccessRecordHoldsNoPointer: a lineBuffer's records are memory the
// garbage collector never scans (logbuf.go).
func TestAccessRecordHoldsNoPointer(t *testing.T) {
	var check func(reflect.Type, string)
	check = func(ty reflect.Type, path string) {
		switch ty.Kind() {
		case reflect.Struct:
			for i := range ty.NumField() {
				check(ty.Field(i).Type, path+"."+ty.Field(i).Name)
			}
		case reflect.Array:
			check(ty.Elem(), path+"[]")
		case reflect.Pointer, reflect.String, reflect.Slice, reflect.Map, reflect.Interface, reflect.Func, reflect.Chan, reflect.UnsafePointer:
			t.Errorf("accessRecord%s is a %s: the garbage collector scans every record", path, ty.Kind())
		}
	}
	check(reflect.TypeFor[accessRecord](), "")
}

// TestLineBufferGrows: a lineBuffer takes memory as lines come, and keeps
// no more than maxRecords records (and logBufferSize bytes) waiting.
func TestLineBufferGrows(t *testing.T) {
	out := &writes{}
	lb := newLineBuffer(out)
	defer lb.Close()
	if cap(lb.records) != 0 || cap(lb.buf) != 0 {
		t.Fatalf("a new lineBuffer holds %d records and %d bytes, want none", cap(lb.records), cap(lb.buf))
	}
	direct := &lineWriter{w: lb}
	for i := range 5 * maxRecords {
		direct.request(time.Now(), "GET", "/"+strings.Repeat("p", maxLoggedPath-1), 200, int64(i), time.Millisecond)
		lb.mu.Lock()
		n, size := len(lb.records), len(lb.buf)
		lb.mu.Unlock()
		if n > maxRecords || size > logBufferSize {
			t.Fatalf("after %d lines: %d records and %d bytes waiting, want at most %d and %d", i+1, n, size, maxRecords, logBufferSize)
		}
	}
}
