package main

import (
	"io"
	"strconv"
	"sync"
	"sync/atomic"
	"time"
)

// lineWriter writes access-log lines without slog. Through slog a line
// cost about 2.6 µs of CPU (runtime.Callers for a source position nobody
// asked for, an attribute slice, a quoting check per value): a fifth of
// what a request to the Greeter costs. Formatted by hand it costs a few
// hundred nanoseconds.
//
// Its lines are byte for byte those slog's TextHandler or JSONHandler
// (with default HandlerOptions) would write for the same record, so the
// log reads the same, and a test holds it to that. It is only for a
// logger that adds nothing to records (no trace IDs: with tracing on, the
// server logs through slog), for requests whose path needs no quoting
// (plainPath) and for lines without an error. Writes go to a lineBuffer,
// one line per call, as slog's handlers write.
type lineWriter struct {
	w    io.Writer
	json bool
}

// newLineWriter returns the direct writer for the server's log, or nil
// when tracing is on (its lines carry trace IDs, which slog adds).
func newLineWriter(w io.Writer, format string, tracing bool) *lineWriter {
	if tracing {
		return nil
	}
	return &lineWriter{w: w, json: format == "json"}
}

// plainPath reports whether p can be written as it is in both formats: no
// quoting or escaping, nothing cut.
func plainPath(p string) bool {
	if p == "" || len(p) > maxLoggedPath {
		return false
	}
	for i := 0; i < len(p); i++ {
		c := p[i]
		if !('a' <= c && c <= 'z' || 'A' <= c && c <= 'Z' || '0' <= c && c <= '9' || c == '/' || c == '-' || c == '_' || c == '.' || c == '~') {
			return false
		}
	}
	return true
}

// maxPlainMethod bounds a method lineWriter writes: net/http accepts any
// token, of any length its header limit allows.
const maxPlainMethod = 32

// plainMethod is plainPath for a method.
func plainMethod(m string) bool {
	if len(m) > maxPlainMethod {
		return false
	}
	for i := 0; i < len(m); i++ {
		if c := m[i]; c < 'A' || c > 'Z' {
			return false
		}
	}
	return m != ""
}

// request writes the line of a request that ended at t (the time slog
// would give the record) after d. To a lineBuffer it goes as a record,
// formatted when the buffer is written out.
func (l *lineWriter) request(t time.Time, method, path string, status int, bytes int64, d time.Duration) {
	if lb, ok := l.w.(*lineBuffer); ok {
		lb.add(t, method, path, status, bytes, d, l.json)
		return
	}
	var r accessRecord // on the stack: it does not escape
	r.set(t, method, path, status, bytes, d, l.json)
	bp := linePool.Get().(*[]byte)
	b := r.appendLine((*bp)[:0])
	l.w.Write(b)
	*bp = b
	linePool.Put(bp)
}

// accessRecord is a line for lineWriter, not yet formatted. It holds a
// copy of the method and the path, not the strings: those share memory
// with the request line (as long as the server's header limit allows)
// that a waiting record would otherwise keep. It holds no pointer at all
// (its time is kept as numbers, without the time.Location): a lineBuffer's
// records are then memory the garbage collector never scans.
type accessRecord struct {
	sec        int64 // the time, in Unix seconds,
	nsec       int32 // nanoseconds,
	off        int32 // and its zone's offset east of UTC, in seconds
	status     int
	bytes      int64
	d          time.Duration
	json       bool
	mlen, plen uint16
	text       [maxPlainMethod + maxLoggedPath]byte // the method, then the path
}

// set fills r; method and path must be plain (plainMethod, plainPath), so
// that they fit.
func (r *accessRecord) set(t time.Time, method, path string, status int, bytes int64, d time.Duration, json bool) {
	_, off := t.Zone()
	r.sec, r.nsec, r.off = t.Unix(), int32(t.Nanosecond()), int32(off)
	r.status, r.bytes, r.d, r.json = status, bytes, d, json
	r.mlen = uint16(copy(r.text[:], method))
	r.plen = uint16(copy(r.text[r.mlen:], path))
}

func (r *accessRecord) method() []byte { return r.text[:r.mlen] }
func (r *accessRecord) path() []byte   { return r.text[r.mlen : r.mlen+r.plen] }

// maxRecordLine bounds the length of a record's line: its path is at most
// maxLoggedPath bytes and its method maxPlainMethod (plainPath,
// plainMethod); the rest is under 150.
const maxRecordLine = 512

// appendLine appends r's line, newline included.
func (r *accessRecord) appendLine(b []byte) []byte {
	if r.json {
		b = append(b, `{"time":"`...)
		b = appendTime(b, r.sec, r.nsec, r.off, true)
		b = append(b, `","level":"INFO","msg":"request","method":"`...)
		b = append(b, r.method()...)
		b = append(b, `","path":"`...)
		b = append(b, r.path()...)
		b = append(b, `","status":`...)
		b = strconv.AppendInt(b, int64(r.status), 10)
		b = append(b, `,"bytes":`...)
		b = strconv.AppendInt(b, r.bytes, 10)
		b = append(b, `,"duration":`...)
		b = strconv.AppendInt(b, int64(r.d), 10)
		return append(b, "}\n"...)
	}
	b = append(b, "time="...)
	b = appendTime(b, r.sec, r.nsec, r.off, false)
	b = append(b, " level=INFO msg=request method="...)
	b = append(b, r.method()...)
	b = append(b, " path="...)
	b = append(b, r.path()...)
	b = append(b, " status="...)
	b = strconv.AppendInt(b, int64(r.status), 10)
	b = append(b, " bytes="...)
	b = strconv.AppendInt(b, r.bytes, 10)
	b = append(b, " duration="...)
	b = append(b, r.d.String()...)
	return append(b, '\n')
}

// linePool holds line buffers: one on the stack would escape to the heap
// through io.Writer, a 256-byte allocation a line.
var linePool = sync.Pool{New: func() any { b := make([]byte, 0, 256); return &b }}

// appendTime appends the time sec, nsec (Unix seconds and nanoseconds)
// in the zone off seconds east of UTC, an accessRecord's, as slog writes a
// time: RFC 3339 with milliseconds (text), or with the nanoseconds that
// are not trailing zeros (JSON, as time.RFC3339Nano). Formatting a time
// was half of a line's cost; the part up to the seconds, and the zone, are
// formatted once a second.
func appendTime(b []byte, sec int64, nsec, off int32, nanos bool) []byte {
	c := timeCache.Load()
	if c == nil || c.sec != sec || c.off != off {
		whole := time.Unix(sec, 0).In(time.FixedZone("", int(off)))
		c = &cachedSecond{sec: sec, off: off, date: whole.Format("2006-01-02T15:04:05"), zone: whole.Format("Z07:00")}
		timeCache.Store(c)
	}
	b = append(b, c.date...)
	if nanos {
		if nsec != 0 {
			var d [10]byte
			d[0] = '.'
			for i, v := 9, nsec; i > 0; i-- {
				d[i] = byte('0' + v%10)
				v /= 10
			}
			n := 10
			for d[n-1] == '0' {
				n--
			}
			b = append(b, d[:n]...)
		}
	} else {
		ms := nsec / 1e6
		b = append(b, '.', byte('0'+ms/100), byte('0'+ms/10%10), byte('0'+ms%10))
	}
	return append(b, c.zone...)
}

// cachedSecond is the formatted part of a second in one zone.
type cachedSecond struct {
	sec        int64
	off        int32
	date, zone string
}

var timeCache atomic.Pointer[cachedSecond]
