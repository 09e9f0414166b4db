package idempotency

import (
	"encoding/binary"
	"errors"
	"net/http"
)

// A record is what the store holds under a key's storage key. Its binary
// encoding, format 1 (integers are unsigned varints, "bytes" a varint
// length then the bytes):
//
//	format   1 byte  1
//	state    1 byte  1 in flight, 2 completed, 3 not replayable, 4 released
//	fp       32 bytes SHA-256 fingerprint of the request
//	attempt  varint  1 for the first execution, +1 for each takeover
//	then, by state:
//	  in flight       lease deadline, Unix milliseconds
//	  completed       status; header count; per header: name (bytes),
//	                  value count, values (bytes each); then the body:
//	                  every remaining byte
//	  not replayable  status; reason (1 byte)
//	  released        nothing
//
// A reader refuses a format it does not know (errRecord) rather than guess;
// a later format must be rolled out to readers before writers.
type record struct {
	state    state
	fp       [32]byte
	attempt  uint64
	deadline int64 // in flight: Unix ms after which the lease has lapsed
	status   int   // completed, not replayable
	reason   reason
	header   http.Header // completed
	body     []byte      // completed; aliases the stored value
}

type state byte

const (
	stateInFlight      state = 1
	stateCompleted     state = 2
	stateNotReplayable state = 3
	stateReleased      state = 4
)

const formatVersion = 1

// reason says why a response is not replayable.
type reason byte

const (
	reasonNone reason = iota
	reasonTooLarge
	reasonFlushed
	reasonHijacked
	reasonStream
	reasonUpgrade
)

func (r reason) String() string {
	switch r {
	case reasonTooLarge:
		return "the response was too large to keep"
	case reasonFlushed:
		return "the response was streamed (flushed)"
	case reasonHijacked:
		return "the connection was taken over by the handler"
	case reasonStream:
		return "the response was an event stream"
	case reasonUpgrade:
		return "the connection switched protocols"
	}
	return "the response could not be kept"
}

var errRecord = errors.New("idempotency: unreadable record in the store")

// prefixLen is the length of the fixed start of every record.
const prefixLen = 2 + 32

func appendHead(b []byte, s state, fp *[32]byte, attempt uint64) []byte {
	b = append(b, formatVersion, byte(s))
	b = append(b, fp[:]...)
	return binary.AppendUvarint(b, attempt)
}

func encodeInFlight(fp *[32]byte, attempt uint64, deadlineMS int64) []byte {
	b := make([]byte, 0, prefixLen+2*binary.MaxVarintLen64)
	b = appendHead(b, stateInFlight, fp, attempt)
	return binary.AppendUvarint(b, uint64(deadlineMS))
}

func encodeNotReplayable(fp *[32]byte, attempt uint64, status int, why reason) []byte {
	b := make([]byte, 0, prefixLen+2*binary.MaxVarintLen64+1)
	b = appendHead(b, stateNotReplayable, fp, attempt)
	b = binary.AppendUvarint(b, uint64(status))
	return append(b, byte(why))
}

func encodeReleased(fp *[32]byte, attempt uint64) []byte {
	return appendHead(make([]byte, 0, prefixLen+binary.MaxVarintLen64), stateReleased, fp, attempt)
}

// appendCompletedHead appends the start of a completed record, up to the
// body, keeping the headers of h that keep says to keep. The body is then
// appended to the result as it is written. headerBytes is what the
// headers took.
func appendCompletedHead(b []byte, fp *[32]byte, attempt uint64, status int, h http.Header, keep func(string) bool) (_ []byte, headerBytes int) {
	b = appendHead(b, stateCompleted, fp, attempt)
	b = binary.AppendUvarint(b, uint64(status))
	n := 0
	for name := range h {
		if keep(name) {
			n++
		}
	}
	b = binary.AppendUvarint(b, uint64(n))
	start := len(b)
	for name, vals := range h {
		if !keep(name) {
			continue
		}
		b = appendBytes(b, name)
		b = binary.AppendUvarint(b, uint64(len(vals)))
		for _, v := range vals {
			b = appendBytes(b, v)
		}
	}
	return b, len(b) - start
}

func appendBytes(b []byte, s string) []byte {
	b = binary.AppendUvarint(b, uint64(len(s)))
	return append(b, s...)
}

// decodeRecord reads a record. The body of a completed record aliases v.
func decodeRecord(v []byte) (record, error) {
	var r record
	if len(v) < prefixLen || v[0] != formatVersion {
		return r, errRecord
	}
	r.state = state(v[1])
	copy(r.fp[:], v[2:prefixLen])
	d := decoder{b: v[prefixLen:]}
	r.attempt = d.uvarint()
	switch r.state {
	case stateInFlight:
		r.deadline = int64(d.uvarint())
	case stateCompleted:
		r.status = d.status()
		n := d.uvarint()
		if n > uint64(len(d.b)) { // each header takes at least a byte
			return r, errRecord
		}
		if n > 0 {
			r.header = make(http.Header, n)
		}
		for range n {
			name := d.bytes()
			nv := d.uvarint()
			if d.err || nv > uint64(len(d.b)) {
				return r, errRecord
			}
			vals := make([]string, nv)
			for i := range vals {
				vals[i] = d.bytes()
			}
			r.header[name] = vals
		}
		r.body = d.b
		d.b = nil
	case stateNotReplayable:
		r.status = d.status()
		if len(d.b) != 1 {
			return r, errRecord
		}
		r.reason = reason(d.b[0])
		d.b = nil
	case stateReleased:
	default:
		return r, errRecord
	}
	if d.err || len(d.b) != 0 {
		return r, errRecord
	}
	return r, nil
}

// decoder reads varints and byte strings, remembering the first failure.
type decoder struct {
	b   []byte
	err bool
}

func (d *decoder) uvarint() uint64 {
	x, n := binary.Uvarint(d.b)
	if n <= 0 {
		d.err = true
		d.b = nil
		return 0
	}
	d.b = d.b[n:]
	return x
}

func (d *decoder) status() int {
	s := d.uvarint()
	if s < 100 || s > 999 {
		d.err = true
	}
	return int(s)
}

func (d *decoder) bytes() string {
	n := d.uvarint()
	if n > uint64(len(d.b)) {
		d.err = true
		d.b = nil
		return ""
	}
	s := string(d.b[:n])
	d.b = d.b[n:]
	return s
}
