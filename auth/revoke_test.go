package auth

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/stateless-go/stateless/store"
	"github.com/stateless-go/stateless/store/memory"
)

// revNew returns a Revocations over st, closed when the test ends.
func revNew(t testing.TB, st store.Store, opts *RevocationOptions) *Revocations {
	t.Helper()
	r, err := NewRevocations(t.Context(), st, opts)
	if err != nil {
		t.Fatalf("NewRevocations: %v", err)
	}
	t.Cleanup(func() { r.Close() })
	return r
}

// revFast are options for tests that need polls to come quickly.
func revFast() *RevocationOptions {
	return &RevocationOptions{PollInterval: 10 * time.Millisecond, MaxStaleness: 100 * time.Millisecond}
}

// revAwait polls r.Revoked until it answers true and returns how long that
// took from since; it fails the test after limit.
func revAwait(t testing.TB, r *Revocations, s RevocationSubject, since time.Time, limit time.Duration) time.Duration {
	t.Helper()
	for {
		ok, err := r.Revoked(t.Context(), s)
		if err != nil {
			t.Fatalf("Revoked: %v", err)
		}
		d := time.Since(since)
		if ok {
			return d
		}
		if d > limit {
			t.Fatalf("not revoked after %v", d)
		}
		time.Sleep(200 * time.Microsecond)
	}
}

func revWant(t testing.TB, r *Revocations, s RevocationSubject, want bool) {
	t.Helper()
	got, err := r.Revoked(t.Context(), s)
	if err != nil {
		t.Fatalf("Revoked: %v", err)
	}
	if got != want {
		t.Errorf("Revoked(sub %q sid %q jti %q iat %v) = %v, want %v", s.Subject, s.SID, s.JTI, s.IssuedAt, got, want)
	}
}

// revRecords returns the value of every record of the list in st.
func revRecords(t testing.TB, st store.Store, r *Revocations) map[string][]byte {
	t.Helper()
	out := make(map[string][]byte)
	for _, k := range append(r.shardKeys[:], r.genKey) {
		rec, err := st.Get(t.Context(), k)
		if errors.Is(err, store.ErrNotFound) {
			continue
		}
		if err != nil {
			t.Fatalf("Get: %v", err)
		}
		out[k] = rec.Value
	}
	return out
}

// revStored returns every entry stored in the shards.
func revStored(t testing.TB, st store.Store, r *Revocations) []revWire {
	t.Helper()
	var all []revWire
	for _, k := range r.shardKeys {
		rec, err := st.Get(t.Context(), k)
		if errors.Is(err, store.ErrNotFound) {
			continue
		}
		if err != nil {
			t.Fatalf("Get: %v", err)
		}
		entries, err := revDecodeShard(rec.Value)
		if err != nil {
			t.Fatal(err)
		}
		all = append(all, entries...)
	}
	return all
}

// TestRevocationsPropagate: with the default options, what instance A
// revokes is refused by A at once and by B within a second; other tokens
// stay accepted.
func TestRevocationsPropagate(t *testing.T) {
	t.Parallel()
	st := memory.New(nil)
	a := revNew(t, st, nil)
	b := revNew(t, st, nil)
	ctx := t.Context()
	now := time.Now()
	live := RevocationSubject{Subject: "user-live", SID: "sid-live", JTI: "jti-live", IssuedAt: now}

	cases := []struct {
		name   string
		revoke func() error
		token  RevocationSubject
	}{
		{"session", func() error { return a.RevokeSession(ctx, "sid-1") },
			RevocationSubject{Subject: "user-a", SID: "sid-1", JTI: "jti-x", IssuedAt: now}},
		{"token", func() error { return a.RevokeToken(ctx, "jti-1", now.Add(5*time.Minute)) },
			RevocationSubject{Subject: "user-b", JTI: "jti-1", IssuedAt: now}},
		{"subject", func() error { return a.RevokeSubject(ctx, "user-1", now) },
			RevocationSubject{Subject: "user-1", SID: "sid-y", JTI: "jti-y", IssuedAt: now.Add(-time.Minute)}},
	}
	for _, c := range cases {
		began := time.Now()
		if err := c.revoke(); err != nil {
			t.Fatalf("%s: revoke: %v", c.name, err)
		}
		revWant(t, a, c.token, true) // the revoking instance: at once
		d := revAwait(t, b, c.token, began, time.Second)
		t.Logf("%s: refused by the other instance after %v", c.name, d)
		revWant(t, b, live, false)
		revWant(t, a, live, false)
	}
	// Each kind matches its own field only.
	revWant(t, b, RevocationSubject{Subject: "sid-1", JTI: "sid-1", IssuedAt: now}, false)
	revWant(t, b, RevocationSubject{Subject: "jti-1", SID: "jti-1", IssuedAt: now}, false)
	revWant(t, b, RevocationSubject{SID: "user-1", JTI: "user-1", IssuedAt: now}, false)
	// A third instance, started later, loads the list at start.
	c := revNew(t, st, nil)
	for _, cs := range cases {
		revWant(t, c, cs.token, true)
	}
}

// TestRevokeSubjectBefore: a subject revocation covers the tokens issued
// at or before its time, and tokens without iat, but not later ones.
func TestRevokeSubjectBefore(t *testing.T) {
	t.Parallel()
	st := memory.New(nil)
	a := revNew(t, st, revFast())
	b := revNew(t, st, revFast())
	before := time.Now().Truncate(time.Second)
	if err := a.RevokeSubject(t.Context(), "alice", before); err != nil {
		t.Fatal(err)
	}
	revAwait(t, b, RevocationSubject{Subject: "alice", IssuedAt: before}, time.Now(), time.Second)
	for _, r := range []*Revocations{a, b} {
		revWant(t, r, RevocationSubject{Subject: "alice", IssuedAt: before}, true)
		revWant(t, r, RevocationSubject{Subject: "alice", IssuedAt: before.Add(-time.Hour)}, true)
		revWant(t, r, RevocationSubject{Subject: "alice"}, true) // no iat: the earliest
		revWant(t, r, RevocationSubject{Subject: "alice", IssuedAt: before.Add(time.Nanosecond)}, false)
		revWant(t, r, RevocationSubject{Subject: "alice", IssuedAt: before.Add(time.Second)}, false)
		revWant(t, r, RevocationSubject{Subject: "bob", IssuedAt: before.Add(-time.Hour)}, false)
	}
	// An earlier time does not shrink the revocation; a later one extends it.
	if err := b.RevokeSubject(t.Context(), "alice", before.Add(-time.Minute)); err != nil {
		t.Fatal(err)
	}
	revWant(t, b, RevocationSubject{Subject: "alice", IssuedAt: before}, true)
	later := before.Add(2 * time.Second)
	if err := b.RevokeSubject(t.Context(), "alice", later); err != nil {
		t.Fatal(err)
	}
	revAwait(t, a, RevocationSubject{Subject: "alice", IssuedAt: later}, time.Now(), time.Second)
	revWant(t, a, RevocationSubject{Subject: "alice", IssuedAt: later.Add(time.Second)}, false)
	if n := len(revStored(t, st, a)); n != 1 {
		t.Errorf("the store holds %d entries for one subject, want 1", n)
	}
	// Errors: empty subject, zero time.
	if err := a.RevokeSubject(t.Context(), "", before); err == nil {
		t.Error("RevokeSubject with an empty subject: no error")
	}
	if err := a.RevokeSubject(t.Context(), "alice", time.Time{}); err == nil {
		t.Error("RevokeSubject with a zero time: no error")
	}
}

// TestRevocationsExpire: entries stop mattering after their life, and are
// pruned from the store on the next write and from the local views.
func TestRevocationsExpire(t *testing.T) {
	t.Parallel()
	st := memory.New(nil)
	opts := revFast()
	opts.MaxTokenLifetime = 150 * time.Millisecond
	opts.Leeway = -1 // none
	a := revNew(t, st, opts)
	b := revNew(t, st, opts)
	ctx := t.Context()
	now := time.Now()
	if err := a.RevokeSession(ctx, "sid-old"); err != nil {
		t.Fatal(err)
	}
	if err := a.RevokeToken(ctx, "jti-old", now.Add(150*time.Millisecond)); err != nil {
		t.Fatal(err)
	}
	if err := a.RevokeSubject(ctx, "sub-old", now); err != nil {
		t.Fatal(err)
	}
	old := []RevocationSubject{{SID: "sid-old"}, {JTI: "jti-old"}, {Subject: "sub-old", IssuedAt: now}}
	for _, s := range old {
		revAwait(t, b, s, time.Now(), time.Second)
	}
	if n := len(revStored(t, st, a)); n != 3 {
		t.Fatalf("the store holds %d entries, want 3", n)
	}
	time.Sleep(200 * time.Millisecond)
	for _, s := range old {
		revWant(t, a, s, false)
		revWant(t, b, s, false)
	}
	// A token already past exp+Leeway needs no entry.
	if err := a.RevokeToken(ctx, "jti-expired", time.Now().Add(-time.Second)); err != nil {
		t.Fatal(err)
	}
	if err := a.RevokeSubject(ctx, "sub-ancient", time.Now().Add(-time.Hour)); err != nil {
		t.Fatal(err)
	}
	// Writing to every shard prunes the expired entries there.
	ids := revIDPerShard("sid-new-")
	for _, id := range ids {
		if err := a.RevokeSession(ctx, id); err != nil {
			t.Fatal(err)
		}
	}
	stored := revStored(t, st, a)
	if len(stored) != RevocationShards {
		t.Errorf("the store holds %d entries, want the %d new ones", len(stored), RevocationShards)
	}
	for _, w := range stored {
		if w.kind != revSession || w.until <= time.Now().UnixNano() {
			t.Errorf("stored entry of kind %d, until %v: not one of the new ones", w.kind, time.Unix(0, w.until))
		}
	}
	// The local views drop expired entries when their shard is read again.
	for _, id := range ids {
		revAwait(t, b, RevocationSubject{SID: id}, time.Now(), time.Second)
	}
	for _, r := range []*Revocations{a, b} {
		deadline := time.Now().Add(time.Second)
		for {
			n := 0
			for i := range r.shards {
				sh := &r.shards[i]
				sh.mu.RLock()
				n += sh.lenLocked()
				sh.mu.RUnlock()
			}
			if n == RevocationShards {
				break
			}
			if time.Now().After(deadline) {
				t.Errorf("a local view holds %d entries, want %d", n, RevocationShards)
				break
			}
			time.Sleep(5 * time.Millisecond)
		}
	}
}

// revIDPerShard returns one ID for each shard, in shard order.
func revIDPerShard(prefix string) []string {
	ids := make([]string, RevocationShards)
	for i, left := 0, RevocationShards; left > 0; i++ {
		id := fmt.Sprintf("%s%d", prefix, i)
		if sh := revShardOfID(id); ids[sh] == "" {
			ids[sh] = id
			left--
		}
	}
	return ids
}

func revShardOfID(id string) int {
	h := revSum(id)
	return revShardOf(&h)
}

// TestRevocationsConcurrent: revocations made at once on two instances
// sharing a store all survive the compare-and-swaps.
func TestRevocationsConcurrent(t *testing.T) {
	t.Parallel()
	st := memory.New(nil)
	a := revNew(t, st, revFast())
	b := revNew(t, st, revFast())
	const workers, each = 8, 40
	var wg sync.WaitGroup
	errs := make(chan error, 2*workers*each)
	for _, r := range []*Revocations{a, b} {
		for w := range workers {
			wg.Go(func() {
				for i := range each {
					jti := fmt.Sprintf("%p-%d-%d", r, w, i)
					if err := r.RevokeToken(t.Context(), jti, time.Now().Add(time.Minute)); err != nil {
						errs <- err
					}
				}
			})
		}
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Fatalf("RevokeToken: %v", err)
	}
	if n := len(revStored(t, st, a)); n != 2*workers*each {
		t.Errorf("the store holds %d entries, want %d", n, 2*workers*each)
	}
	c := revNew(t, st, nil)
	for _, r := range []*Revocations{a, b} {
		for w := range workers {
			for i := range each {
				s := RevocationSubject{JTI: fmt.Sprintf("%p-%d-%d", r, w, i)}
				revWant(t, c, s, true)
				revAwait(t, a, s, time.Now(), time.Second)
				revAwait(t, b, s, time.Now(), time.Second)
			}
		}
	}
}

// revFailStore is a store that fails every call while fail is set. It
// hides the wrapped store's NonBlocking, so calls get deadlines.
type revFailStore struct {
	store.Store
	fail atomic.Bool
	gets atomic.Int64
	slow atomic.Int64 // nanoseconds each Get waits
}

var errRevStoreDown = errors.New("test store down")

func (f *revFailStore) Get(ctx context.Context, key string) (store.Record, error) {
	f.gets.Add(1)
	if d := f.slow.Load(); d > 0 {
		select {
		case <-time.After(time.Duration(d)):
		case <-ctx.Done():
			return store.Record{}, ctx.Err()
		}
	}
	if f.fail.Load() {
		return store.Record{}, errRevStoreDown
	}
	return f.Store.Get(ctx, key)
}

func (f *revFailStore) Create(ctx context.Context, key string, value []byte, ttl time.Duration) (uint64, error) {
	if f.fail.Load() {
		return 0, errRevStoreDown
	}
	return f.Store.Create(ctx, key, value, ttl)
}

func (f *revFailStore) Replace(ctx context.Context, key string, value []byte, ttl time.Duration, version uint64) (uint64, error) {
	if f.fail.Load() {
		return 0, errRevStoreDown
	}
	return f.Store.Replace(ctx, key, value, ttl, version)
}

// TestRevocationsStoreDown: while the store fails, Revoke answers an
// error (the revocation still holds locally), and Revoked answers from its
// view until it is MaxStaleness old, then fails closed; it recovers when the
// store does.
func TestRevocationsStoreDown(t *testing.T) {
	t.Parallel()
	fs := &revFailStore{Store: memory.New(nil)}
	opts := &RevocationOptions{PollInterval: 20 * time.Millisecond, MaxStaleness: 60 * time.Millisecond}
	r := revNew(t, fs, opts)
	ctx := t.Context()
	if err := r.RevokeSession(ctx, "sid-before"); err != nil {
		t.Fatal(err)
	}
	live := RevocationSubject{Subject: "user", SID: "sid-live", JTI: "jti-live", IssuedAt: time.Now()}
	revWant(t, r, live, false)

	fs.fail.Store(true)
	err := r.RevokeSession(ctx, "sid-during-outage")
	if !errors.Is(err, errRevStoreDown) {
		t.Fatalf("RevokeSession with the store down: %v, want the store's error", err)
	}
	if strings.Contains(err.Error(), "sid-during-outage") {
		t.Errorf("the error contains the session ID: %v", err)
	}
	revWant(t, r, RevocationSubject{SID: "sid-during-outage"}, true) // held locally
	revWant(t, r, RevocationSubject{SID: "sid-before"}, true)        // known revoked: no store needed

	// Past MaxStaleness, a token not known revoked is an error.
	deadline := time.Now().Add(time.Second)
	for {
		ok, err := r.Revoked(ctx, live)
		if err != nil {
			if !errors.Is(err, ErrRevocationUnavailable) || ok {
				t.Fatalf("Revoked with the store down = %v, %v; want false and ErrRevocationUnavailable", ok, err)
			}
			if strings.Contains(err.Error(), "sid-live") || strings.Contains(err.Error(), "jti-live") {
				t.Errorf("the error contains an ID: %v", err)
			}
			break
		}
		if time.Now().After(deadline) {
			t.Fatal("Revoked still answers without error one second into the outage")
		}
		time.Sleep(5 * time.Millisecond)
	}
	// Many requests during the outage do not each wait for the store.
	began := time.Now()
	for range 100 {
		if _, err := r.Revoked(ctx, live); err == nil {
			t.Fatal("Revoked answered during the outage")
		}
	}
	if d := time.Since(began); d > 500*time.Millisecond {
		t.Errorf("100 Revoked calls during the outage took %v", d)
	}

	fs.fail.Store(false)
	deadline = time.Now().Add(time.Second)
	for {
		ok, err := r.Revoked(ctx, live)
		if err == nil {
			if ok {
				t.Fatal("the live token is revoked after the outage")
			}
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("Revoked still fails one second after the store came back: %v", err)
		}
		time.Sleep(5 * time.Millisecond)
	}
	// A retried revocation reaches the store.
	if err := r.RevokeSession(ctx, "sid-during-outage"); err != nil {
		t.Fatal(err)
	}
	other := revNew(t, fs, opts)
	revWant(t, other, RevocationSubject{SID: "sid-during-outage"}, true)
}

// TestRevocationsStartWhileStoreDown: NewRevocations succeeds with a store
// that does not answer, and Revoked fails closed until it does.
func TestRevocationsStartWhileStoreDown(t *testing.T) {
	t.Parallel()
	fs := &revFailStore{Store: memory.New(nil)}
	fs.fail.Store(true)
	r := revNew(t, fs, revFast())
	if ok, err := r.Revoked(t.Context(), RevocationSubject{JTI: "x"}); !errors.Is(err, ErrRevocationUnavailable) || ok {
		t.Fatalf("Revoked before any poll succeeded = %v, %v; want ErrRevocationUnavailable", ok, err)
	}
	fs.fail.Store(false)
	deadline := time.Now().Add(time.Second)
	for {
		if _, err := r.Revoked(t.Context(), RevocationSubject{JTI: "x"}); err == nil {
			break
		}
		if time.Now().After(deadline) {
			t.Fatal("Revoked still fails a second after the store came up")
		}
		time.Sleep(5 * time.Millisecond)
	}
}

// TestRevocationsStaleRefreshShared: requests that find the view stale
// share one refresh, and a view refreshed by it answers.
func TestRevocationsStaleRefreshShared(t *testing.T) {
	t.Parallel()
	mem := memory.New(nil)
	fs := &revFailStore{Store: mem} // counts r's reads only
	// Polls far apart, so that only the test makes the view stale.
	r := revNew(t, fs, &RevocationOptions{PollInterval: time.Hour, MaxStaleness: 2 * time.Hour})
	writer := revNew(t, mem, nil)
	if err := writer.RevokeToken(t.Context(), "jti-new", time.Time{}); err != nil {
		t.Fatal(err)
	}
	revWant(t, r, RevocationSubject{JTI: "jti-new"}, false) // fresh view, from before
	fs.slow.Store(int64(20 * time.Millisecond))
	r.freshAt.Store(revNever)
	before := fs.gets.Load()
	var wg sync.WaitGroup
	var revoked atomic.Int64
	for range 100 {
		wg.Go(func() {
			ok, err := r.Revoked(t.Context(), RevocationSubject{JTI: "jti-new"})
			if err != nil {
				t.Errorf("Revoked: %v", err)
			}
			if ok {
				revoked.Add(1)
			}
		})
	}
	wg.Wait()
	// One refresh: the generation record and the one changed shard; a
	// second may start if the first began before some request arrived.
	if n := fs.gets.Load() - before; n > 4 {
		t.Errorf("100 requests on a stale view made %d store reads, want at most 4", n)
	}
	if revoked.Load() != 100 {
		t.Errorf("%d of 100 requests saw the revocation", revoked.Load())
	}
	// A request whose context ends while it waits gets an error.
	fs.slow.Store(int64(time.Second))
	r.freshAt.Store(revNever)
	ctx, cancel := context.WithTimeout(t.Context(), 10*time.Millisecond)
	defer cancel()
	if _, err := r.Revoked(ctx, RevocationSubject{JTI: "other"}); !errors.Is(err, ErrRevocationUnavailable) || !errors.Is(err, context.DeadlineExceeded) {
		t.Errorf("Revoked with a context that ends while it waits: %v", err)
	}
	fs.slow.Store(0)
}

// TestRevocationsFull: beyond MaxEntries a revocation fails with
// ErrTooManyRevocations, on the instance's own view and in the store;
// nothing is dropped.
func TestRevocationsFull(t *testing.T) {
	t.Parallel()
	st := memory.New(nil)
	opts := revFast()
	opts.MaxEntries = RevocationShards // one per shard
	// b reads the store only at start: its view does not see a's entries.
	b := revNew(t, st, &RevocationOptions{PollInterval: time.Hour, MaxStaleness: 2 * time.Hour, MaxEntries: RevocationShards})
	a := revNew(t, st, opts)
	ctx := t.Context()
	var taken [RevocationShards]string
	var full, left = 0, RevocationShards
	for i := 0; full == 0 || left > 0; i++ {
		id := fmt.Sprintf("jti-%d", i)
		sh := revShardOfID(id)
		err := a.RevokeToken(ctx, id, time.Now().Add(time.Minute))
		switch {
		case taken[sh] == "" && err != nil:
			t.Fatalf("RevokeToken into an empty shard: %v", err)
		case taken[sh] == "":
			taken[sh] = id
			left--
		case !errors.Is(err, ErrTooManyRevocations):
			t.Fatalf("RevokeToken into a full shard: %v, want ErrTooManyRevocations", err)
		default:
			if full++; full == 1 {
				t.Logf("first refusal: %v", err)
			}
			if strings.Contains(err.Error(), id) {
				t.Errorf("the error contains the token ID: %v", err)
			}
			revWant(t, a, RevocationSubject{JTI: id}, false) // refused, not applied
		}
	}
	// The same ID again is no new entry.
	if err := a.RevokeToken(ctx, taken[3], time.Now().Add(2*time.Minute)); err != nil {
		t.Errorf("revoking a revoked token again: %v", err)
	}
	// The store refuses too, for an instance whose view missed the entries.
	for i := 0; ; i++ {
		id := fmt.Sprintf("other-%d", i)
		if revShardOfID(id) != 0 {
			continue
		}
		if err := b.RevokeToken(ctx, id, time.Now().Add(time.Minute)); !errors.Is(err, ErrTooManyRevocations) {
			t.Fatalf("RevokeToken into a shard full in the store: %v, want ErrTooManyRevocations", err)
		}
		break
	}
	for _, id := range taken {
		revWant(t, a, RevocationSubject{JTI: id}, true)
	}
	if n := len(revStored(t, st, a)); n != RevocationShards {
		t.Errorf("the store holds %d entries, want %d", n, RevocationShards)
	}
}

// TestRevocationsNoRawIDs: the store never holds a raw sid, jti or sub.
func TestRevocationsNoRawIDs(t *testing.T) {
	t.Parallel()
	st := memory.New(nil)
	r := revNew(t, st, nil)
	ctx := t.Context()
	ids := []string{"SESSION-ID-d2f1c0ffee", "TOKEN-ID-7a9beef", "SUBJECT-alice@example.com"}
	if err := r.RevokeSession(ctx, ids[0]); err != nil {
		t.Fatal(err)
	}
	if err := r.RevokeToken(ctx, ids[1], time.Now().Add(time.Minute)); err != nil {
		t.Fatal(err)
	}
	if err := r.RevokeSubject(ctx, ids[2], time.Now()); err != nil {
		t.Fatal(err)
	}
	recs := revRecords(t, st, r)
	if len(recs) < 2 {
		t.Fatalf("%d records stored, want the generation record and at least one shard", len(recs))
	}
	total := 0
	for k, v := range recs {
		total += len(v)
		for _, id := range ids {
			for _, form := range []string{id, strings.ToLower(id), fmt.Sprintf("%x", id)} {
				if bytes.Contains(v, []byte(form)) || strings.Contains(k, form) {
					t.Errorf("record %s holds an ID in clear", k)
				}
			}
		}
	}
	if n := len(revStored(t, st, r)); n != 3 {
		t.Errorf("%d entries stored, want 3", n)
	}
	t.Logf("%d records, %d bytes in all", len(recs), total)
}

// TestRevocationsGenerationLost: if the generation record disappears
// (expiry, memcached eviction), polls and writers make a new one and no
// revocation is missed.
func TestRevocationsGenerationLost(t *testing.T) {
	t.Parallel()
	st := memory.New(nil)
	a := revNew(t, st, revFast())
	b := revNew(t, st, revFast())
	ctx := t.Context()
	if err := a.RevokeSession(ctx, "sid-1"); err != nil {
		t.Fatal(err)
	}
	revAwait(t, b, RevocationSubject{SID: "sid-1"}, time.Now(), time.Second)
	for i := range 3 {
		if err := st.Delete(ctx, a.genKey); err != nil {
			t.Fatal(err)
		}
		sid := fmt.Sprintf("sid-after-%d", i)
		if i == 1 {
			time.Sleep(50 * time.Millisecond) // let a poll recreate it first
		}
		if err := a.RevokeSession(ctx, sid); err != nil {
			t.Fatal(err)
		}
		revAwait(t, b, RevocationSubject{SID: sid}, time.Now(), time.Second)
	}
	// A generation record of another format is replaced by writers.
	rec, err := st.Get(ctx, a.genKey)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := st.Replace(ctx, a.genKey, []byte("garbage"), time.Hour, rec.Version); err != nil {
		t.Fatal(err)
	}
	// Polls repair it, without waiting for a revocation.
	deadline := time.Now().Add(time.Second)
	for {
		rec, err := st.Get(ctx, a.genKey)
		if err != nil {
			t.Fatal(err)
		}
		if _, err := revDecodeGen(rec.Value); err == nil {
			break
		}
		if time.Now().After(deadline) {
			t.Fatal("the malformed generation record is still there after a second")
		}
		time.Sleep(5 * time.Millisecond)
	}
	if err := a.RevokeSession(ctx, "sid-after-garbage"); err != nil {
		t.Fatal(err)
	}
	revAwait(t, b, RevocationSubject{SID: "sid-after-garbage"}, time.Now(), time.Second)
}

// TestRevocationsMalformedShard: a shard record that cannot be read is
// never overwritten (its revocations would be lost): writers to it fail,
// and Revoked fails closed once the view is stale.
func TestRevocationsMalformedShard(t *testing.T) {
	t.Parallel()
	st := memory.New(nil)
	opts := &RevocationOptions{PollInterval: 10 * time.Millisecond, MaxStaleness: 50 * time.Millisecond}
	a := revNew(t, st, opts)
	ctx := t.Context()
	ids := revIDPerShard("sid-")
	if _, err := st.Create(ctx, a.shardKeys[3], []byte("RVK9 from the future"), time.Hour); err != nil {
		t.Fatal(err)
	}
	if err := a.RevokeSession(ctx, ids[3]); err == nil {
		t.Fatal("RevokeSession into a malformed shard: no error")
	}
	if err := a.RevokeSession(ctx, ids[4]); err != nil {
		t.Fatalf("RevokeSession into another shard: %v", err)
	}
	rec, err := st.Get(ctx, a.shardKeys[3])
	if err != nil || string(rec.Value) != "RVK9 from the future" {
		t.Fatalf("the malformed shard was changed: %q, %v", rec.Value, err)
	}
	b := revNew(t, st, opts)
	if _, err := b.Revoked(ctx, RevocationSubject{JTI: "x"}); !errors.Is(err, ErrRevocationUnavailable) {
		t.Errorf("Revoked over a malformed shard: %v, want ErrRevocationUnavailable", err)
	}
	revWant(t, b, RevocationSubject{SID: ids[4]}, true) // known revoked: answered
	if err := st.Delete(ctx, a.shardKeys[3]); err != nil {
		t.Fatal(err)
	}
	deadline := time.Now().Add(time.Second)
	for {
		if _, err := b.Revoked(ctx, RevocationSubject{JTI: "x"}); err == nil {
			break
		}
		if time.Now().After(deadline) {
			t.Fatal("Revoked still fails a second after the malformed shard was deleted")
		}
		time.Sleep(5 * time.Millisecond)
	}
}

func TestRevocationsOptions(t *testing.T) {
	t.Parallel()
	st := memory.New(nil)
	for _, o := range []RevocationOptions{
		{PollInterval: -1},
		{MaxStaleness: -1},
		{StoreTimeout: -1},
		{MaxTokenLifetime: -1},
		{MaxEntries: -1},
		{PollInterval: time.Second}, // MaxStaleness defaults to 3 s: fine
		{PollInterval: time.Second, MaxStaleness: time.Second},
		{Key: strings.Repeat("k", store.MaxKeyLen)},
	} {
		r, err := NewRevocations(t.Context(), st, &o)
		if o.PollInterval == time.Second && o.MaxStaleness == 0 {
			if err != nil {
				t.Errorf("%+v: %v", o, err)
			} else {
				r.Close()
			}
			continue
		}
		if err == nil {
			r.Close()
			t.Errorf("%+v: no error", o)
		}
	}
	if _, err := NewRevocations(t.Context(), nil, nil); err == nil {
		t.Error("nil store: no error")
	}
	ctx, cancel := context.WithCancel(t.Context())
	cancel()
	if _, err := NewRevocations(ctx, st, nil); !errors.Is(err, context.Canceled) {
		t.Errorf("ended context: %v", err)
	}
	r := revNew(t, st, nil)
	if err := r.RevokeSession(t.Context(), ""); err == nil {
		t.Error("RevokeSession(\"\"): no error")
	}
	if err := r.RevokeToken(t.Context(), "", time.Now()); err == nil {
		t.Error("RevokeToken(\"\"): no error")
	}
	// An empty token matches nothing.
	revWant(t, r, RevocationSubject{}, false)
}

// TestRevocationsClose: Close stops the poller and later calls fail.
func TestRevocationsClose(t *testing.T) {
	t.Parallel()
	fs := &revFailStore{Store: memory.New(nil)}
	r, err := NewRevocations(t.Context(), fs, revFast())
	if err != nil {
		t.Fatal(err)
	}
	time.Sleep(50 * time.Millisecond)
	if err := r.Close(); err != nil {
		t.Fatal(err)
	}
	if err := r.Close(); err != nil {
		t.Fatalf("second Close: %v", err)
	}
	gets := fs.gets.Load()
	time.Sleep(50 * time.Millisecond)
	if n := fs.gets.Load() - gets; n != 0 {
		t.Errorf("%d store reads after Close", n)
	}
	if _, err := r.Revoked(t.Context(), RevocationSubject{JTI: "x"}); !errors.Is(err, ErrRevocationsClosed) {
		t.Errorf("Revoked after Close: %v", err)
	}
	if err := r.RevokeToken(t.Context(), "x", time.Time{}); !errors.Is(err, ErrRevocationsClosed) {
		t.Errorf("RevokeToken after Close: %v", err)
	}
}

// TestRevocationsCodec: records decode to what was encoded, and malformed
// ones are refused.
func TestRevocationsCodec(t *testing.T) {
	entries := []revWire{
		{kind: revSession, hash: revSum("a"), revEntry: revEntry{until: 42}},
		{kind: revSubject, hash: revSum("b"), revEntry: revEntry{before: -7, until: 1 << 62}},
	}
	got, err := revDecodeShard(revEncodeShard(entries))
	if err != nil || len(got) != 2 || got[0] != entries[0] || got[1] != entries[1] {
		t.Fatalf("round trip: %v, %v", got, err)
	}
	b := revEncodeShard(entries)
	for _, bad := range [][]byte{nil, []byte("RVK"), b[:len(b)-1], append([]byte("XVK1"), b[4:]...)} {
		if _, err := revDecodeShard(bad); err == nil {
			t.Errorf("decoded %q", bad)
		}
	}
	b[4] = byte(revKinds)
	if _, err := revDecodeShard(b); err == nil {
		t.Error("decoded an unknown kind")
	}
	stamps := revFreshStamps()
	if g, err := revDecodeGen(revEncodeGen(&stamps)); err != nil || g != stamps {
		t.Errorf("generation round trip: %v", err)
	}
}
