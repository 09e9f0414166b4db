package session

import (
	"hash/maphash"
	"sync"
)

// boundedMap is a per-instance map of economies: what this instance
// remembers to save store work, never what a request needs to be right.
// Losing an entry (a restart, another instance) costs one store operation,
// never a session. Memory is bounded: per shard, two generations of at most
// gen entries; a full generation is dropped whole.
type boundedMap[V any] struct {
	seed   maphash.Seed
	gen    int
	shards [16]boundedShard[V]
}

type boundedShard[V any] struct {
	mu       sync.Mutex
	cur, old map[string]V
}

func newBoundedMap[V any](gen int) *boundedMap[V] {
	m := &boundedMap[V]{seed: maphash.MakeSeed(), gen: gen}
	for i := range m.shards {
		m.shards[i].cur = make(map[string]V)
	}
	return m
}

func (m *boundedMap[V]) shard(key string) *boundedShard[V] {
	return &m.shards[maphash.String(m.seed, key)%uint64(len(m.shards))]
}

func (m *boundedMap[V]) get(key string) (V, bool) {
	s := m.shard(key)
	s.mu.Lock()
	defer s.mu.Unlock()
	if v, ok := s.cur[key]; ok {
		return v, true
	}
	v, ok := s.old[key]
	return v, ok
}

func (m *boundedMap[V]) put(key string, v V) {
	s := m.shard(key)
	s.mu.Lock()
	defer s.mu.Unlock()
	if len(s.cur) >= m.gen {
		s.old, s.cur = s.cur, make(map[string]V, m.gen)
	}
	s.cur[key] = v
	delete(s.old, key)
}

func (m *boundedMap[V]) forget(key string) {
	s := m.shard(key)
	s.mu.Lock()
	defer s.mu.Unlock()
	delete(s.cur, key)
	delete(s.old, key)
}

// cachedRecord is the last version of a session this instance read or
// wrote: Retry runs a handler on it first, speculatively, and the
// compare-and-swap of the save tells whether it was still current.
type cachedRecord struct {
	version uint64
	value   []byte // encoded; never modified (decoded strings share it)
}

// The cache holds at most 16 shards × 2 generations × 1024 records of at
// most 1 KiB: 32 MiB however big sessions get; larger records are not
// cached.
const (
	cacheGen        = 1024
	maxCachedRecord = 1 << 10
	touchedGen      = 4096
)
