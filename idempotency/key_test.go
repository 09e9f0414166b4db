package idempotency

import (
	"strings"
	"testing"
)

func TestParseKey(t *testing.T) {
	long := strings.Repeat("k", MaxKeyLen)
	for _, tc := range []struct {
		vals []string
		key  string
		err  error
	}{
		{vals: []string{`"abc"`}, key: "abc"},
		{vals: []string{`abc`}, key: "abc"},
		{vals: []string{` "abc" `}, key: "abc"},
		{vals: []string{"\tabc\t"}, key: "abc"},
		{vals: []string{`8e03978e-40d5-43e8-bc93-6894a57f9324`}, key: "8e03978e-40d5-43e8-bc93-6894a57f9324"},
		{vals: []string{`"a\"b\\c"`}, key: `a"b\c`},
		{vals: []string{`"\\"`}, key: `\`},
		{vals: []string{`"` + long + `"`}, key: long},
		{vals: []string{long}, key: long},
		{vals: []string{`"!#$%&'()*+-./:<=>?@[]^_{|}~"`}, key: `!#$%&'()*+-./:<=>?@[]^_{|}~`},
		{vals: []string{"a", "b"}, err: errKeyDuplicate},
		{vals: []string{"a", "a"}, err: errKeyDuplicate},
		{vals: []string{`"a", "b"`}, err: errKeyList},
		{vals: []string{`"a",`}, err: errKeyList},
		{vals: []string{`a,b`}, err: errKeyList},
		{vals: []string{`"a";x=1`}, err: errKeyParams},
		{vals: []string{`a;x`}, err: errKeyParams},
		{vals: []string{``}, err: errKeyEmpty},
		{vals: []string{` `}, err: errKeyEmpty},
		{vals: []string{`""`}, err: errKeyEmpty},
		{vals: []string{`"` + long + `k"`}, err: errKeyTooLong},
		{vals: []string{long + "k"}, err: errKeyTooLong},
		{vals: []string{`"a b"`}, err: errKeyChars},
		{vals: []string{`a b`}, err: errKeyChars},
		{vals: []string{`"a"b`}, err: errKeyChars},
		{vals: []string{`a"b`}, err: errKeyChars},
		{vals: []string{`a\b`}, err: errKeyChars},
		{vals: []string{"\"caf\xc3\xa9\""}, err: errKeyChars},
		{vals: []string{"a\x00"}, err: errKeyChars},
		{vals: []string{`"abc`}, err: errKeyQuote},
		{vals: []string{`"abc\`}, err: errKeyQuote},
		{vals: []string{`"a\nb"`}, err: errKeyQuote},
	} {
		key, present, err := parseKey(tc.vals)
		if !present || key != tc.key || err != tc.err {
			t.Errorf("parseKey(%q) = %q, %v, %v; want %q, %v", tc.vals, key, present, err, tc.key, tc.err)
		}
	}
	if _, present, err := parseKey(nil); present || err != nil {
		t.Errorf("no header: present %v, %v", present, err)
	}
}

// The parser never panics, and what it accepts is a key by the rules:
// 1 to 255 visible ASCII characters, which written as an RFC 8941 string
// parse back to themselves.
func FuzzParseKey(f *testing.F) {
	for _, s := range []string{`"abc"`, `abc`, `"a\"b"`, `"a", "b"`, `"a";p`, `""`, `"\`, "\"\x7f\"", strings.Repeat("x", 300)} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		key, err := parseKeyValue(s)
		if err != nil {
			if key != "" {
				t.Fatalf("error %v with key %q", err, key)
			}
			return
		}
		if len(key) == 0 || len(key) > MaxKeyLen {
			t.Fatalf("accepted a key of %d characters", len(key))
		}
		for i := 0; i < len(key); i++ {
			if key[i] < 0x21 || key[i] > 0x7e {
				t.Fatalf("accepted %q", key)
			}
		}
		quoted := `"` + strings.NewReplacer(`\`, `\\`, `"`, `\"`).Replace(key) + `"`
		if k2, err := parseKeyValue(quoted); k2 != key || err != nil {
			t.Fatalf("%q: parsed back as %q, %v", quoted, k2, err)
		}
		if storageKey("", key) == storageKey("x", key) || len(storageKey("", key)) != 48 {
			t.Fatal("storage key")
		}
	})
}

func TestParseKeyAllocs(t *testing.T) {
	vals := []string{`"8e03978e-40d5-43e8-bc93-6894a57f9324"`}
	if n := testing.AllocsPerRun(100, func() { parseKey(vals) }); n != 0 {
		t.Errorf("parseKey allocates %v times", n)
	}
}
