package memory

import (
	"fmt"
	"net/url"
	"strconv"
)

// The bounds a Store keeps when Options leave them at 0. They hold a busy
// single instance's sessions (100,000 records with 100-byte values took
// 30 MiB of heap) while keeping a flood of logins, or of large values, from
// growing the process without end.
const (
	DefaultMaxEntries = 100_000
	DefaultMaxBytes   = 64 << 20 // 64 MiB
)

// EntryOverhead is what a record is counted as costing besides its key and
// value bytes, toward Options.MaxBytes: an estimate of the store's own
// structures per record (the entry, its map slot, its expiry-heap items and
// allocation rounding). On amd64 with session-sized records they came to
// 170 bytes in a store filling up and 260 in one evicting under churn;
// counting the higher keeps MaxBytes from being an underestimate.
const EntryOverhead = 256

// Options configure a Store. The zero value (or nil) means the defaults:
// at most DefaultMaxEntries records and DefaultMaxBytes bytes.
type Options struct {
	// MaxEntries caps the number of records. 0 means DefaultMaxEntries; a
	// negative value means no cap, a deliberate opt-out: memory then grows
	// with the records created and not yet expired, however many that is.
	MaxEntries int
	// MaxBytes caps the bytes the records are counted as using: for each,
	// its key and value plus EntryOverhead. 0 means DefaultMaxBytes; a
	// negative value means no cap (an opt-out, as for MaxEntries).
	MaxBytes int64
	// MaxValueSize caps a value's length in bytes; 0 or a negative value
	// means no cap of its own. Longer values are refused with
	// store.ErrTooLarge, and so is a record that alone would pass MaxBytes,
	// rather than evicting everything else to fit it.
	MaxValueSize int
}

// ParseURL reads Options from a "memory://" URL. Three query parameters are
// known, each an integer: max_entries, max_bytes and max_value_size, as in
// "memory://?max_entries=200000&max_bytes=134217728". A parameter left out
// or 0 keeps its default (see Options); -1 means no limit. Anything else is
// an error, so a typo is not silently ignored.
func ParseURL(rawURL string) (*Options, error) {
	u, err := url.Parse(rawURL)
	if err != nil {
		return nil, fmt.Errorf("memory: malformed URL")
	}
	if u.Scheme != "memory" {
		return nil, fmt.Errorf("memory: URL scheme is %q, want memory", u.Scheme)
	}
	if u.Host != "" || (u.Path != "" && u.Path != "/") || u.User != nil {
		return nil, fmt.Errorf("memory: URL takes no host, user or path; want memory:// or memory://?max_entries=N")
	}
	opts := &Options{}
	for k, vs := range u.Query() {
		bits := strconv.IntSize
		switch k {
		case "max_entries", "max_value_size":
		case "max_bytes":
			bits = 64
		default:
			return nil, fmt.Errorf("memory: unknown URL parameter %q; known: max_entries, max_bytes, max_value_size", k)
		}
		if len(vs) != 1 {
			return nil, fmt.Errorf("memory: URL parameter %s given %d times", k, len(vs))
		}
		n, err := strconv.ParseInt(vs[0], 10, bits)
		if err != nil || n < -1 {
			return nil, fmt.Errorf("memory: URL parameter %s must be an integer: -1 for no limit, 0 for the default, or a positive limit", k)
		}
		switch k {
		case "max_entries":
			opts.MaxEntries = int(n)
		case "max_bytes":
			opts.MaxBytes = n
		case "max_value_size":
			opts.MaxValueSize = int(n)
		}
	}
	return opts, nil
}

// limit resolves an Options bound: 0 picks the default, a negative value
// none, which the Store keeps as 0.
func limit(n, def int64) int64 {
	switch {
	case n == 0:
		return def
	case n < 0:
		return 0
	}
	return n
}
