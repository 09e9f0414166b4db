package redis

import (
	"context"
	"encoding/binary"
	"fmt"
	"time"

	goredis "github.com/redis/go-redis/v9"

	"github.com/stateless-go/stateless/store"
	"github.com/stateless-go/stateless/store/driver"
)

var _ store.CreateOrGetter = (*Store)(nil)

// CreateOrGet implements store.CreateOrGetter with one SET NX GET PX
// (Redis 7.0 and later), else one run of createOrGetScript (Create's SET
// NX PX and, when the key is taken, a GET of it, in one script): either
// outcome is one round trip. Like Replace, and unlike Create, it shares
// pipelines with concurrent calls (a call sent again after a lost reply
// finds its own record, which counts as written). Stats counts it as a
// Create. With WaitReplicas, WAIT follows it as it follows Create, and
// only a call that wrote is held to it.
func (s *Store) CreateOrGet(ctx context.Context, key string, value []byte, ttl time.Duration) (store.Record, bool, error) {
	rec, created, err := s.createOrGet(ctx, key, value, ttl)
	s.count(driver.OpCreate, err)
	return rec, created, err
}

// createOrGetScript is createScript that answers the record a taken key
// holds: KEYS[1] is the key, ARGV[1] the record (8 bytes of version, then
// the value), ARGV[2] the ttl in milliseconds. Replies: scriptWrote;
// scriptAlready (a retry of this very call found its own record, see
// createScript); scriptOther (the key holds another type); else a
// one-element array holding the string under the key.
var createOrGetScript = goredis.NewScript(`
if redis.call('SET', KEYS[1], ARGV[1], 'NX', 'PX', ARGV[2]) then
	return 1
end
local v = redis.pcall('GET', KEYS[1])
if type(v) ~= 'string' then
	return 2
end
if string.sub(v, 1, 8) == string.sub(ARGV[1], 1, 8) then
	return 4
end
return {v}
`)

var createOrGetHash any = createOrGetScript.Hash()

func (s *Store) createOrGet(ctx context.Context, key string, value []byte, ttl time.Duration) (store.Record, bool, error) {
	if err := driver.BeginWrite(ctx, s.closed.Load(), key, value, ttl, s.maxValue); err != nil {
		return store.Record{}, false, err
	}
	version := driver.NewVersion()
	rec := make([]byte, versionLen+len(value))
	binary.BigEndian.PutUint64(rec, version)
	copy(rec[versionLen:], value)
	k := s.prefix + key
	ms := expiry(ttl).Milliseconds()
	if !s.noSetNXGet.Load() {
		r, created, ok, err := s.setNXGet(ctx, k, rec, ms, version)
		if ok {
			return r, created, err
		}
	}
	cmd := goredis.NewCmd(ctx, "evalsha", createOrGetHash, 1, k, rec, ms)
	wait, err := s.process(ctx, cmd, len(rec), true)
	if err != nil {
		return store.Record{}, false, s.fail(ctx, "create", err)
	}
	reply, err := cmd.Result()
	if err != nil && goredis.HasErrorPrefix(err, "NOSCRIPT") {
		// The server lost its script cache: send the script itself.
		cmd, wait = s.evalWaited(ctx, createOrGetScript, []string{k}, rec, ms)
		reply, err = cmd.Result()
	}
	if err != nil {
		return store.Record{}, false, s.fail(ctx, "create", err)
	}
	switch r := reply.(type) {
	case int64:
		switch r {
		case scriptWrote, scriptAlready:
			if err := s.confirm("create", wait); err != nil {
				return store.Record{}, false, s.fail(ctx, "create", err)
			}
			return store.Record{Version: version}, true, nil
		case scriptOther:
			return store.Record{}, false, fmt.Errorf("redis: create: the key holds a value of another type; is other data under the key prefix?")
		}
	case []any:
		if len(r) == 1 {
			if v, ok := r[0].(string); ok {
				if len(v) < versionLen {
					return store.Record{}, false, errForeign("create", len(v))
				}
				version := decodeVersion(v)
				if version == 0 {
					return store.Record{}, false, fmt.Errorf("redis: create: the stored value is not a record of this store (its version is 0); is other data under the key prefix?")
				}
				return store.Record{Value: []byte(v[versionLen:]), Version: version}, false, nil
			}
		}
	}
	return store.Record{}, false, fmt.Errorf("redis: create: unexpected reply %T from the script", reply)
}

// setNXGet is CreateOrGet as one native command, SET NX GET PX (Redis
// 7.0 and later): no script to run, so a replay (the key taken) costs
// the server what a GET does. A call go-redis sent again after a lost
// reply finds its own record, which carries this call's version: that is
// a create, as createOrGetScript's scriptAlready is. ok is false when the
// server does not know the command's form; the caller then runs the
// script.
func (s *Store) setNXGet(ctx context.Context, k string, rec []byte, ms int64, version uint64) (r store.Record, created, ok bool, err error) {
	cmd := goredis.NewCmd(ctx, "set", k, rec, "nx", "get", "px", ms)
	wait, err := s.process(ctx, cmd, len(rec), true)
	if err != nil {
		return store.Record{}, false, true, s.fail(ctx, "create", err)
	}
	reply, err := cmd.Result()
	switch {
	case err == goredis.Nil:
		// The key was free: SET wrote it.
		if err := s.confirm("create", wait); err != nil {
			return store.Record{}, false, true, s.fail(ctx, "create", err)
		}
		return store.Record{Version: version}, true, true, nil
	case err != nil && goredis.HasErrorPrefix(err, "ERR syntax error"):
		s.noSetNXGet.Store(true)
		return store.Record{}, false, false, nil
	case err != nil && goredis.HasErrorPrefix(err, "WRONGTYPE"):
		return store.Record{}, false, true, fmt.Errorf("redis: create: the key holds a value of another type; is other data under the key prefix?")
	case err != nil:
		return store.Record{}, false, true, s.fail(ctx, "create", err)
	}
	v, isString := reply.(string)
	switch {
	case !isString:
		return store.Record{}, false, true, fmt.Errorf("redis: create: unexpected reply %T to SET NX GET", reply)
	case len(v) < versionLen:
		return store.Record{}, false, true, errForeign("create", len(v))
	}
	got := decodeVersion(v)
	switch got {
	case 0:
		return store.Record{}, false, true, fmt.Errorf("redis: create: the stored value is not a record of this store (its version is 0); is other data under the key prefix?")
	case version:
		// This call's own record: an earlier attempt of it wrote it.
		if err := s.confirm("create", wait); err != nil {
			return store.Record{}, false, true, s.fail(ctx, "create", err)
		}
		return store.Record{Version: version}, true, true, nil
	}
	return store.Record{Value: []byte(v[versionLen:]), Version: got}, false, true, nil
}
