package idempotency

import (
	"bytes"
	"net/http"
	"reflect"
	"testing"
)

func TestRecordRoundTrip(t *testing.T) {
	fp := [32]byte{1, 2, 3, 31: 9}
	keep := func(string) bool { return true }
	h := http.Header{"Content-Type": {"text/plain"}, "Link": {"<a>", "<b>"}, "Etag": {""}}
	head, _ := appendCompletedHead(nil, &fp, 3, 201, h, keep)
	full := append(head, "the body\x00\xff"...)
	for _, tc := range []struct {
		v    []byte
		want record
	}{
		{encodeInFlight(&fp, 1, 1700000000123), record{state: stateInFlight, fp: fp, attempt: 1, deadline: 1700000000123}},
		{encodeNotReplayable(&fp, 2, 200, reasonFlushed), record{state: stateNotReplayable, fp: fp, attempt: 2, status: 200, reason: reasonFlushed}},
		{encodeReleased(&fp, 5), record{state: stateReleased, fp: fp, attempt: 5}},
		{full, record{state: stateCompleted, fp: fp, attempt: 3, status: 201, header: h, body: []byte("the body\x00\xff")}},
		{head, record{state: stateCompleted, fp: fp, attempt: 3, status: 201, header: h, body: []byte{}}},
	} {
		got, err := decodeRecord(tc.v)
		if err != nil {
			t.Errorf("decode %x: %v", tc.v, err)
			continue
		}
		if !reflect.DeepEqual(got, tc.want) {
			t.Errorf("decode %x = %+v, want %+v", tc.v, got, tc.want)
		}
	}
	// Every strict prefix of a record but a completed one's (whose body
	// is what remains) is refused.
	for _, v := range [][]byte{encodeInFlight(&fp, 1, 1), encodeNotReplayable(&fp, 1, 200, reasonStream), head} {
		for n := range len(v) {
			if _, err := decodeRecord(v[:n]); err == nil && !(bytes.Equal(v, head) && n == len(head)) {
				t.Errorf("prefix %x of %x accepted", v[:n], v)
			}
		}
	}
	for _, v := range [][]byte{nil, {2}, append([]byte{2}, encodeReleased(&fp, 1)[1:]...), append(encodeReleased(&fp, 1), 0)} {
		if _, err := decodeRecord(v); err != errRecord {
			t.Errorf("decode %x: %v, want errRecord", v, err)
		}
	}
}

func FuzzDecodeRecord(f *testing.F) {
	fp := [32]byte{7}
	head, _ := appendCompletedHead(nil, &fp, 1, 200, http.Header{"Content-Type": {"a"}}, func(string) bool { return true })
	for _, v := range [][]byte{encodeInFlight(&fp, 1, 5), encodeNotReplayable(&fp, 1, 200, 1), encodeReleased(&fp, 1), append(head, "body"...)} {
		f.Add(v)
	}
	f.Fuzz(func(t *testing.T, v []byte) {
		r, err := decodeRecord(v)
		if err == nil && r.state == stateCompleted && (r.status < 100 || r.status > 999) {
			t.Fatalf("status %d accepted", r.status)
		}
	})
}
