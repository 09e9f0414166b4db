package session

import (
	"encoding/binary"
	"errors"
	"math"
	"slices"
	"strings"
	"time"
)

// The stored form of a session, format 1:
//
//	magic 'S', format 1
//	uvarint header length, header:
//	    varint created (Unix ms), varint written (Unix ms), uvarint flags,
//	    then, each optional, in order:
//	    varint deadline (Unix ms, 0 for none), uvarint ID length, ID
//	    [bytes a later format may append: kept as they are]
//	uvarint entry count, then per entry, sorted by key:
//	    uvarint key length, key, type byte, uvarint value length, value
//
// Forward compatibility: during a rolling deploy an older instance may load
// a session written by a newer one. Header bytes it does not know and
// entries of types it does not know are carried through untouched when it
// saves, so no instance destroys data it cannot read. A later format that
// cannot be read this way takes a new format byte; an instance that meets a
// format it does not know treats the session as absent and leaves it alone.

const (
	magic         = 'S'
	formatV1      = 1
	flagPersist   = 1 << 0 // remember me: the cookie outlives the browser session
	flagTombstone = 1 << 1 // renewed away: the token is dead
)

// Value types. A session value keeps its type, so GetInt of a string is
// "absent", never a wrong number.
const (
	typeString byte = 1
	typeInt    byte = 2 // int64, 8 bytes big-endian
	typeBool   byte = 3 // 1 byte, 0 or 1
	typeFloat  byte = 4 // float64 bits, 8 bytes big-endian
	typeBytes  byte = 5
	typeTime   byte = 6 // Unix ns, 8 bytes big-endian, read back in UTC
	typeCodec  byte = 7 // Put: the Manager's Codec's bytes
)

var (
	errCorrupt   = errors.New("session: stored session is corrupt")
	errNewFormat = errors.New("session: stored session has a format this version does not know")
)

type header struct {
	created  int64 // Unix ms
	written  int64 // Unix ms of the last Create or Replace
	flags    uint64
	deadline int64  // Unix ms, 0 for none: ends the session before its Lifetime
	id       []byte // the session's stable ID; shares the decoded buffer
	extra    []byte // header bytes of a later format
}

type entry struct {
	key string
	typ byte
	raw []byte
}

// decode parses a stored session. Values and the ID in the result share
// buf, which the caller must never modify afterwards.
func decode(buf []byte) (header, []entry, error) {
	var h header
	if len(buf) < 2 || buf[0] != magic {
		return h, nil, errCorrupt
	}
	if buf[1] != formatV1 {
		return h, nil, errNewFormat
	}
	p := buf[2:]
	hl, n := binary.Uvarint(p)
	if n <= 0 || hl > uint64(len(p)-n) {
		return h, nil, errCorrupt
	}
	hb := p[n : n+int(hl)]
	p = p[n+int(hl):]
	if h.created, n = binary.Varint(hb); n <= 0 {
		return h, nil, errCorrupt
	}
	hb = hb[n:]
	if h.written, n = binary.Varint(hb); n <= 0 {
		return h, nil, errCorrupt
	}
	hb = hb[n:]
	if h.flags, n = binary.Uvarint(hb); n <= 0 {
		return h, nil, errCorrupt
	}
	if hb = hb[n:]; len(hb) > 0 {
		if h.deadline, n = binary.Varint(hb); n <= 0 {
			return h, nil, errCorrupt
		}
		hb = hb[n:]
	}
	if len(hb) > 0 {
		il, n := binary.Uvarint(hb)
		if n <= 0 || il > uint64(len(hb)-n) {
			return h, nil, errCorrupt
		}
		h.id = hb[n : n+int(il) : n+int(il)]
		hb = hb[n+int(il):]
	}
	if len(hb) > 0 {
		h.extra = hb
	}
	count, n := binary.Uvarint(p)
	// Every entry takes at least 3 bytes, which bounds the allocation.
	if n <= 0 || count > uint64(len(p)-n)/3 {
		return h, nil, errCorrupt
	}
	p = p[n:]
	entries := make([]entry, 0, count)
	for range count {
		kl, n := binary.Uvarint(p)
		if n <= 0 || kl > uint64(len(p)-n) {
			return h, nil, errCorrupt
		}
		key := p[n : n+int(kl)]
		p = p[n+int(kl):]
		if len(p) < 1 {
			return h, nil, errCorrupt
		}
		typ := p[0]
		p = p[1:]
		vl, n := binary.Uvarint(p)
		if n <= 0 || vl > uint64(len(p)-n) {
			return h, nil, errCorrupt
		}
		raw := p[n : n+int(vl) : n+int(vl)]
		p = p[n+int(vl):]
		if !validRaw(typ, raw) {
			return h, nil, errCorrupt
		}
		e := entry{key: string(key), typ: typ, raw: raw}
		if len(entries) > 0 && entries[len(entries)-1].key >= e.key {
			return h, nil, errCorrupt // unsorted or duplicate keys
		}
		entries = append(entries, e)
	}
	if len(p) != 0 {
		return h, nil, errCorrupt
	}
	return h, entries, nil
}

// validRaw checks the fixed sizes of the types this version knows; values
// of other types are carried as they are.
func validRaw(typ byte, raw []byte) bool {
	switch typ {
	case typeInt, typeFloat, typeTime:
		return len(raw) == 8
	case typeBool:
		return len(raw) == 1 && raw[0] <= 1
	case 0:
		return false
	}
	return true
}

// encode appends the stored form of a session to dst. Entries must be
// sorted by key, without duplicates.
func encode(dst []byte, h header, entries []entry) []byte {
	var hb [5*binary.MaxVarintLen64 + 64]byte
	b := binary.AppendVarint(hb[:0], h.created)
	b = binary.AppendVarint(b, h.written)
	b = binary.AppendUvarint(b, h.flags)
	if h.deadline != 0 || len(h.id) > 0 || len(h.extra) > 0 {
		b = binary.AppendVarint(b, h.deadline)
	}
	if len(h.id) > 0 || len(h.extra) > 0 {
		b = binary.AppendUvarint(b, uint64(len(h.id)))
		b = append(b, h.id...)
	}
	dst = append(dst, magic, formatV1)
	dst = binary.AppendUvarint(dst, uint64(len(b)+len(h.extra)))
	dst = append(dst, b...)
	dst = append(dst, h.extra...)
	dst = binary.AppendUvarint(dst, uint64(len(entries)))
	for _, e := range entries {
		dst = binary.AppendUvarint(dst, uint64(len(e.key)))
		dst = append(dst, e.key...)
		dst = append(dst, e.typ)
		dst = binary.AppendUvarint(dst, uint64(len(e.raw)))
		dst = append(dst, e.raw...)
	}
	return dst
}

// encodedLen is the exact length encode will produce.
func encodedLen(h header, entries []entry) int {
	hn := varintLen(h.created) + varintLen(h.written) + uvarintLen(h.flags) + len(h.extra)
	if h.deadline != 0 || len(h.id) > 0 || len(h.extra) > 0 {
		hn += varintLen(h.deadline)
	}
	if len(h.id) > 0 || len(h.extra) > 0 {
		hn += uvarintLen(uint64(len(h.id))) + len(h.id)
	}
	n := 2 + uvarintLen(uint64(hn)) + hn + uvarintLen(uint64(len(entries)))
	for _, e := range entries {
		n += uvarintLen(uint64(len(e.key))) + len(e.key) + 1 + uvarintLen(uint64(len(e.raw))) + len(e.raw)
	}
	return n
}

func uvarintLen(x uint64) int {
	n := 1
	for x >= 0x80 {
		x >>= 7
		n++
	}
	return n
}

func varintLen(x int64) int {
	ux := uint64(x) << 1
	if x < 0 {
		ux = ^ux
	}
	return uvarintLen(ux)
}

// find returns the index of key in sorted entries, or -1.
func find(entries []entry, key string) int {
	if len(entries) < 8 {
		for i := range entries {
			if entries[i].key == key {
				return i
			}
		}
		return -1
	}
	i, ok := slices.BinarySearchFunc(entries, key, func(e entry, k string) int { return strings.Compare(e.key, k) })
	if !ok {
		return -1
	}
	return i
}

func rawInt(v int64) []byte {
	return binary.BigEndian.AppendUint64(make([]byte, 0, 8), uint64(v))
}

func rawFloat(v float64) []byte {
	return binary.BigEndian.AppendUint64(make([]byte, 0, 8), math.Float64bits(v))
}

func rawTime(t time.Time) []byte { return rawInt(t.UnixNano()) }

func int64Of(raw []byte) int64 { return int64(binary.BigEndian.Uint64(raw)) }
