package session

import (
	"encoding/json"
	"fmt"
	"math"
	"time"
)

// Values are typed: a value keeps the type it was stored with, and a
// getter of another type reads it as absent, never as a wrong value. The
// basic types have getters and setters of their own; any other type goes
// through the Manager's Codec with Get, Put and Pop.

// GetString returns the string value under key.
func (s *Session) GetString(key string) (string, bool) {
	raw, ok := s.get(key, typeString)
	if !ok {
		return "", false
	}
	return string(raw), true
}

// GetInt returns the integer value under key. Ints are stored as int64: a
// value set with SetInt64 reads back here too, and fails (ok false) only if
// it does not fit an int.
func (s *Session) GetInt(key string) (int, bool) {
	v, ok := s.GetInt64(key)
	if !ok || int64(int(v)) != v {
		return 0, false
	}
	return int(v), true
}

// GetInt64 returns the integer value under key.
func (s *Session) GetInt64(key string) (int64, bool) {
	raw, ok := s.get(key, typeInt)
	if !ok {
		return 0, false
	}
	return int64Of(raw), true
}

// GetBool returns the boolean value under key.
func (s *Session) GetBool(key string) (value, ok bool) {
	raw, ok := s.get(key, typeBool)
	return ok && raw[0] == 1, ok
}

// GetFloat returns the float value under key.
func (s *Session) GetFloat(key string) (float64, bool) {
	raw, ok := s.get(key, typeFloat)
	if !ok {
		return 0, false
	}
	return math.Float64frombits(uint64(int64Of(raw))), true
}

// GetBytes returns a copy of the byte-slice value under key.
func (s *Session) GetBytes(key string) ([]byte, bool) {
	raw, ok := s.get(key, typeBytes)
	if !ok {
		return nil, false
	}
	return append([]byte{}, raw...), true
}

// GetTime returns the time value under key, in UTC.
func (s *Session) GetTime(key string) (time.Time, bool) {
	raw, ok := s.get(key, typeTime)
	if !ok {
		return time.Time{}, false
	}
	return time.Unix(0, int64Of(raw)).UTC(), true
}

// PopString returns the string value under key and deletes it: a flash
// message, shown once.
func (s *Session) PopString(key string) (string, bool) {
	s.mu.Lock()
	defer s.mu.Unlock()
	e, ok := s.value(key)
	if !ok || e.typ != typeString {
		return "", false
	}
	s.set(key, 0, nil)
	return string(e.raw), true
}

// SetString stores a string value under key.
func (s *Session) SetString(key, value string) { s.setLocked(key, typeString, []byte(value)) }

// SetInt stores an integer value under key.
func (s *Session) SetInt(key string, value int) { s.SetInt64(key, int64(value)) }

// SetInt64 stores an integer value under key.
func (s *Session) SetInt64(key string, value int64) { s.setLocked(key, typeInt, rawInt(value)) }

// SetBool stores a boolean value under key.
func (s *Session) SetBool(key string, value bool) {
	var b byte
	if value {
		b = 1
	}
	s.setLocked(key, typeBool, []byte{b})
}

// SetFloat stores a float value under key.
func (s *Session) SetFloat(key string, value float64) { s.setLocked(key, typeFloat, rawFloat(value)) }

// SetBytes stores a copy of value under key.
func (s *Session) SetBytes(key string, value []byte) {
	s.setLocked(key, typeBytes, append([]byte{}, value...))
}

// SetTime stores a time value under key, to the nanosecond, as UTC.
func (s *Session) SetTime(key string, value time.Time) { s.setLocked(key, typeTime, rawTime(value)) }

// A Codec turns values of any type into bytes for Put and back for Get and
// Pop. It must be deterministic (equal values, equal bytes): concurrent
// saves merge per key by comparing what was read with what is stored.
type Codec interface {
	Marshal(v any) ([]byte, error)
	Unmarshal(data []byte, v any) error
}

// JSONCodec is the default Codec: encoding/json.
type JSONCodec struct{}

func (JSONCodec) Marshal(v any) ([]byte, error)      { return json.Marshal(v) }
func (JSONCodec) Unmarshal(data []byte, v any) error { return json.Unmarshal(data, v) }

// Get returns the value under key, decoded by the Manager's Codec into a T.
// ok is false when there is no such value (or it was stored by a setter of
// a basic type); err is the Codec's, for a value that does not decode into
// a T.
func Get[T any](s *Session, key string) (v T, ok bool, err error) {
	raw, ok := s.get(key, typeCodec)
	if !ok {
		return v, false, nil
	}
	if err := s.m.c.codec.Unmarshal(raw, &v); err != nil {
		return v, false, fmt.Errorf("session: value %q does not decode into %T: %w", key, v, err)
	}
	return v, true, nil
}

// Put stores v under key, encoded by the Manager's Codec. Concurrent
// requests that change other keys merge with it; see Manager.Retry for
// read-modify-write.
func Put[T any](s *Session, key string, v T) error {
	raw, err := s.m.c.codec.Marshal(v)
	if err != nil {
		return fmt.Errorf("session: value for %q does not encode: %w", key, err)
	}
	s.setLocked(key, typeCodec, raw)
	return nil
}

// Pop returns the value under key as Get does, and deletes it: a flash
// message, shown once. A value that does not decode is left in place.
func Pop[T any](s *Session, key string) (v T, ok bool, err error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	e, ok := s.value(key)
	if !ok || e.typ != typeCodec {
		return v, false, nil
	}
	if err := s.m.c.codec.Unmarshal(e.raw, &v); err != nil {
		return v, false, fmt.Errorf("session: value %q does not decode into %T: %w", key, v, err)
	}
	s.set(key, 0, nil)
	return v, true, nil
}
