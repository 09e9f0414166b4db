package batch

// Test hooks.

// hold takes every free slot, so that calls queue, and returns how many it
// took; give each back with handOff.
func (b *Batcher[T]) hold() int {
	b.mu.Lock()
	defer b.mu.Unlock()
	n := max(b.Limit, 1) - b.busy
	b.busy += n
	return n
}

// queued returns how many calls wait for a slot.
func (b *Batcher[T]) queued() int {
	b.mu.Lock()
	defer b.mu.Unlock()
	return len(b.pending)
}
