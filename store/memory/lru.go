package memory

import "time"

// Eviction is a segmented LRU. A record starts on probation; a Get, Replace
// or Touch of it, proof that someone came back for it, moves it to the
// protected segment. Over a bound, probation gives up its records first, so
// a flood of Creates that are never used again (anonymous logins, bots)
// only displaces itself, never the sessions in use. Protected is held to
// four fifths of the bounds so that a new record always gets some time on
// probation to be used: past that, its least recently used record goes
// back to probation.
//
// Each shard keeps both segments as intrusive lists under its own lock, so
// Get pays a few pointer moves and no extra locking. Eviction starts in the
// shard the write landed in, then falls back to the other shards, so across
// shards "least recently used" is approximate. The rare paths that do
// compare shards (evicting from protected when probation is empty
// everywhere, demoting when a shard has nothing else protected) go by the
// time each record was last used.

// reorderInterval is how long a protected record keeps its place in the
// order of use before another use moves it again.
const reorderInterval = time.Second

// lruList is a doubly-linked list through the entries themselves, most
// recently used at the front. root is its sentinel.
type lruList struct{ root entry }

func (l *lruList) init() { l.root.prev, l.root.next = &l.root, &l.root }

func (l *lruList) pushFront(e *entry) {
	e.prev, e.next = &l.root, l.root.next
	e.next.prev = e
	l.root.next = e
}

// back returns the least recently used entry, or nil.
func (l *lruList) back() *entry {
	if l.root.prev == &l.root {
		return nil
	}
	return l.root.prev
}

func (l *lruList) moveToFront(e *entry) {
	if l.root.next != e {
		unlink(e)
		l.pushFront(e)
	}
}

func unlink(e *entry) {
	e.prev.next, e.next.prev = e.next, e.prev
	e.prev, e.next = nil, nil
}

// account adds (sign 1) or takes away (sign -1) e's share of the counters.
func (s *Store) account(e *entry, sign int64) {
	s.count.Add(sign)
	s.bytes.Add(sign * e.size)
	if e.protected {
		s.protCount.Add(sign)
		s.protBytes.Add(sign * e.size)
	}
}

func (s *Store) over() bool {
	return (s.maxCount > 0 && s.count.Load() > s.maxCount) ||
		(s.maxBytes > 0 && s.bytes.Load() > s.maxBytes)
}

func (s *Store) protectedOver() bool {
	return (s.protMaxCount > 0 && s.protCount.Load() > s.protMaxCount) ||
		(s.protMaxBytes > 0 && s.protBytes.Load() > s.protMaxBytes)
}

// insert adds a new record on probation. sh.mu must be held.
func (s *Store) insert(sh *shard, e *entry) {
	sh.entries[e.key] = e
	sh.push(e.key, e.deadline)
	sh.probation.pushFront(e)
	s.account(e, 1)
}

// remove forgets a record. sh.mu must be held.
func (s *Store) remove(sh *shard, e *entry) {
	delete(sh.entries, e.key)
	unlink(e)
	s.account(e, -1)
	// The heap items left behind are stale and go when they surface.
}

// use records that e was used, promoting it if it was on probation. It
// reports whether protected is still over its bound after demoting what it
// could in this shard: the caller then calls demoteElsewhere once sh.mu is
// released. sh.mu must be held.
func (s *Store) use(sh *shard, e *entry, now int64) (overflow bool) {
	switch {
	case s.protMaxBytes > 0 && e.size > s.protMaxBytes:
		// Protected could only take it by demoting every other record.
		e.used = now
		if e.protected {
			s.demote(sh, e)
		} else {
			sh.probation.moveToFront(e)
		}
		return false
	case e.protected:
		// Moving a record writes to its neighbours too; doing it at most
		// once a second keeps that off most reads of a busy session, and
		// eviction has no use for a finer order.
		if now-e.used >= int64(reorderInterval) {
			e.used = now
			sh.protected.moveToFront(e)
		}
		return false
	}
	e.used = now
	unlink(e)
	sh.protected.pushFront(e)
	e.protected = true
	s.protCount.Add(1)
	s.protBytes.Add(e.size)
	return s.demoteLocal(sh, e)
}

// demoteLocal moves this shard's least recently used protected records to
// probation while protected is over its bound, never keep. It reports
// whether protected is still over. sh.mu must be held.
func (s *Store) demoteLocal(sh *shard, keep *entry) bool {
	for s.protectedOver() {
		v := sh.protected.back()
		if v == nil || v == keep {
			return true
		}
		s.demote(sh, v)
	}
	return false
}

func (s *Store) demote(sh *shard, e *entry) {
	unlink(e)
	s.protCount.Add(-1)
	s.protBytes.Add(-e.size)
	e.protected = false
	// At the front: a demoted record gets as long on probation as a new one.
	sh.probation.pushFront(e)
}

// evictLocal evicts this shard's probation records, least recently used
// first and never keep, while the store is over a bound. It reports
// whether the store is still over. sh.mu must be held.
func (s *Store) evictLocal(sh *shard, keep *entry) bool {
	for s.over() {
		v := sh.probation.back()
		if v == nil || v == keep {
			return true
		}
		s.remove(sh, v)
		s.evictions.Add(1)
	}
	return false
}

// makeRoom brings the store back within its bounds when the shard a write
// landed in (from) had nothing left on probation to give: first the other
// shards' expired and probation records, then, only when no shard has any
// on probation, protected records, least recently used first. keep, the
// record just written, is never evicted. No shard lock may be held.
func (s *Store) makeRoom(from *shard, keep *entry) {
	now := time.Now().UnixNano()
	for i := range numShards {
		sh := &s.shards[(from.index+1+i)%numShards]
		sh.mu.Lock()
		s.reap(sh, now)
		s.evictLocal(sh, keep)
		sh.mu.Unlock()
		if !s.over() {
			return
		}
	}
	for s.over() {
		sh := s.oldestProtected(keep)
		if sh == nil {
			// Nothing left but keep and records still being created;
			// those Creates evict after they insert.
			return
		}
		sh.mu.Lock()
		if v := sh.protected.back(); v != nil && v != keep {
			s.remove(sh, v)
			s.evictions.Add(1)
		}
		sh.mu.Unlock()
	}
}

// demoteElsewhere brings protected back within its bound when the shard of
// the record just used (keep) had nothing else there to demote. No shard
// lock may be held.
func (s *Store) demoteElsewhere(keep *entry) {
	for s.protectedOver() {
		sh := s.oldestProtected(keep)
		if sh == nil {
			return
		}
		sh.mu.Lock()
		if v := sh.protected.back(); v != nil && v != keep {
			s.demote(sh, v)
		}
		sh.mu.Unlock()
	}
}

// oldestProtected returns the shard whose least recently used protected
// record, other than keep, was used longest ago, or nil if there is none.
// It takes every shard's lock in turn, which only the rare paths above can
// afford. No shard lock may be held.
func (s *Store) oldestProtected(keep *entry) *shard {
	var best *shard
	var used int64
	for i := range s.shards {
		sh := &s.shards[i]
		sh.mu.Lock()
		if v := sh.protected.back(); v != nil && v != keep && (best == nil || v.used < used) {
			best, used = sh, v.used
		}
		sh.mu.Unlock()
	}
	return best
}
