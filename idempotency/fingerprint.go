package idempotency

import (
	"crypto/sha256"
	"encoding/binary"
	"hash"
	"net/http"
	"sync"
)

// hasher is a SHA-256 state with a scratch buffer, pooled so that a
// fingerprint allocates nothing.
type hasher struct {
	h   hash.Hash
	buf []byte
}

var hashers = sync.Pool{New: func() any { return &hasher{h: sha256.New(), buf: make([]byte, 0, 256)} }}

// fingerprint is the SHA-256 of what makes a request the same request: its
// method, escaped path, raw query, the values of the chosen headers (in
// the order given) and its body, each preceded by its length so that no
// two requests can be spelt alike. The query is not reordered: a client
// retrying sends the same bytes.
func fingerprint(r *http.Request, headers []string, body []byte) [32]byte {
	s := hashers.Get().(*hasher)
	defer hashers.Put(s)
	s.h.Reset()
	b := s.buf[:0]
	b = appendBytes(b, r.Method)
	b = appendBytes(b, r.URL.EscapedPath())
	b = appendBytes(b, r.URL.RawQuery)
	for _, name := range headers {
		vals := r.Header[name]
		b = binary.AppendUvarint(b, uint64(len(vals)))
		for _, v := range vals {
			b = appendBytes(b, v)
		}
	}
	b = binary.AppendUvarint(b, uint64(len(body)))
	s.h.Write(b)
	s.h.Write(body)
	var sum [32]byte
	copy(sum[:], s.h.Sum(b[:0])) // b as scratch: a local array would escape
	if cap(b) <= 4<<10 {         // keep the scratch buffer, unless a header made it huge
		s.buf = b[:0]
	}
	return sum
}
