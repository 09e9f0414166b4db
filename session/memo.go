package session

import (
	"hash/maphash"
	"sync"
)

// touchMemo remembers, per instance, when this instance last extended a
// session's expiry, so that a session read again and again is touched once
// per TouchInterval rather than on every request once its last write is
// older than that. It is only an economy: losing it (a restart, another
// instance) costs one extra touch, never a session. Memory is bounded: two
// generations of at most memoGen entries per shard.
type touchMemo struct {
	seed   maphash.Seed
	shards [16]memoShard
}

const memoGen = 4096

type memoShard struct {
	mu       sync.Mutex
	cur, old map[string]int64
}

func newTouchMemo() *touchMemo {
	m := &touchMemo{seed: maphash.MakeSeed()}
	for i := range m.shards {
		m.shards[i].cur = make(map[string]int64)
	}
	return m
}

func (m *touchMemo) shard(key string) *memoShard {
	return &m.shards[maphash.String(m.seed, key)%uint64(len(m.shards))]
}

// last returns when this instance last extended key's expiry (Unix ms), or 0.
func (m *touchMemo) last(key string) int64 {
	s := m.shard(key)
	s.mu.Lock()
	defer s.mu.Unlock()
	if t, ok := s.cur[key]; ok {
		return t
	}
	return s.old[key]
}

func (m *touchMemo) note(key string, at int64) {
	s := m.shard(key)
	s.mu.Lock()
	defer s.mu.Unlock()
	if len(s.cur) >= memoGen {
		s.old, s.cur = s.cur, make(map[string]int64, memoGen)
	}
	s.cur[key] = at
}

func (m *touchMemo) forget(key string) {
	s := m.shard(key)
	s.mu.Lock()
	defer s.mu.Unlock()
	delete(s.cur, key)
	delete(s.old, key)
}
