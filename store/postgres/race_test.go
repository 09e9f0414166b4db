package postgres_test

import (
	"context"
	"errors"
	"fmt"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/stateless-go/stateless/store"
	"github.com/stateless-go/stateless/store/driver"
	"github.com/stateless-go/stateless/store/postgres"
)

// TestReplaceRaceAnswersAloneAndBatched: a Replace that meets a row another
// transaction is writing answers the same whether it runs alone or in a
// batch. The rival transaction holds the row's lock until the Replace has
// either finished or is seen waiting for it, then commits; no timing is
// assumed. (The batch statement used to judge by the row as locked and the
// lone one by the row as it was when the statement began, so a revived
// record read as ErrConflict in a batch and ErrNotFound alone, and a
// deleted one the other way round.)
func TestReplaceRaceAnswersAloneAndBatched(t *testing.T) {
	ctx := t.Context()
	s := newStore(t, &postgres.Options{ReapInterval: -1})
	pool := testPool(t)
	races := []struct {
		name    string
		expired bool   // the record has expired when the race begins
		rival   string // the rival's statement; $1 is the key
		want    error
	}{
		{"Create revives the expired record", true,
			`UPDATE ` + s.Table() + ` SET value = 'revived', version = version + 1, expires_at = now() + interval '1 hour' WHERE key = $1`,
			store.ErrNotFound},
		{"Delete removes the live record", false,
			`DELETE FROM ` + s.Table() + ` WHERE key = $1`,
			store.ErrConflict},
		{"Replace changes the live record", false,
			`UPDATE ` + s.Table() + ` SET value = 'rival', version = version + 1 WHERE key = $1`,
			store.ErrConflict},
	}
	paths := []struct {
		name    string
		replace func(key string, version uint64) error
	}{
		{"alone", func(key string, version uint64) error {
			_, err := s.Replace(ctx, key, []byte("mine"), time.Hour, version)
			return err
		}},
		{"batched", func(key string, version uint64) error {
			// A second call on a key of its own makes it a real batch.
			other := key + "/other"
			got, err := postgres.RunBatch(ctx, s, []postgres.BatchCall{
				{Key: key, Value: []byte("mine"), TTL: time.Hour, Version: version, NewVersion: driver.NewVersion()},
				{Key: other, Value: []byte("x"), TTL: time.Hour, Version: 1, NewVersion: driver.NewVersion()},
			})
			if err != nil {
				return err
			}
			return []error{store.ErrNotFound, nil, store.ErrConflict}[got[0]]
		}},
	}
	for _, race := range races {
		for _, path := range paths {
			key := fmt.Sprintf("%s/%s", race.name, path.name)
			ttl := time.Hour
			if race.expired {
				ttl = time.Millisecond
			}
			version, err := s.Create(ctx, key, []byte("first"), ttl)
			if err != nil {
				t.Fatal(err)
			}
			for race.expired {
				if _, err := s.Get(ctx, key); errors.Is(err, store.ErrNotFound) {
					break
				}
				time.Sleep(time.Millisecond)
			}

			tx, err := pool.Begin(ctx)
			if err != nil {
				t.Fatal(err)
			}
			var rivalPID int
			if err := tx.QueryRow(ctx, `SELECT pg_backend_pid()`).Scan(&rivalPID); err != nil {
				t.Fatal(err)
			}
			if _, err := tx.Exec(ctx, race.rival, []byte(key)); err != nil {
				t.Fatal(err)
			}
			done := make(chan error, 1)
			go func() { done <- path.replace(key, version) }()
			waitBlockedOrDone(t, rivalPID, done)
			if err := tx.Commit(ctx); err != nil {
				t.Fatal(err)
			}
			got := <-done
			if !errors.Is(got, race.want) {
				t.Errorf("%s, Replace %s with the version it held = %v, want %v", race.name, path.name, got, race.want)
			}
			if rec, err := s.Get(ctx, key); err == nil && string(rec.Value) == "mine" {
				t.Errorf("%s, Replace %s wrote over the rival's change", race.name, path.name)
			}
		}
	}
}

// waitBlockedOrDone returns once done has a value (which it leaves there)
// or a backend is waiting for a lock that the backend rivalPID holds.
func waitBlockedOrDone(t *testing.T, rivalPID int, done chan error) {
	t.Helper()
	for {
		select {
		case err := <-done:
			done <- err
			return
		case <-time.After(2 * time.Millisecond):
		}
		var n int
		err := testPool(t).QueryRow(context.Background(),
			`SELECT count(*) FROM pg_stat_activity WHERE $1::int = ANY (pg_blocking_pids(pid))`, rivalPID).Scan(&n)
		if err != nil {
			t.Fatal(err)
		}
		if n > 0 {
			return
		}
	}
}

// TestCompareAndDeleteRace: a CompareAndDelete that meets a row another
// transaction is writing judges the row as the rival left it (but a row
// that had expired when it began stays not found), and deletes nothing the
// rival changed: the rival holds the row's lock until the call has either
// finished or is seen waiting for it, then commits.
func TestCompareAndDeleteRace(t *testing.T) {
	ctx := t.Context()
	s := newStore(t, &postgres.Options{ReapInterval: -1})
	pool := testPool(t)
	for _, race := range []struct {
		name    string
		expired bool   // the record has expired when the race begins
		rival   string // the rival's statement; $1 is the key
		want    error
		left    string // the value left under the key, "" for none
	}{
		{"Create revives the expired record", true,
			`UPDATE ` + s.Table() + ` SET value = 'revived', version = version + 1, expires_at = now() + interval '1 hour' WHERE key = $1`,
			store.ErrNotFound, "revived"},
		{"Delete removes the live record", false,
			`DELETE FROM ` + s.Table() + ` WHERE key = $1`,
			store.ErrNotFound, ""},
		{"Replace changes the live record", false,
			`UPDATE ` + s.Table() + ` SET value = 'rival', version = version + 1 WHERE key = $1`,
			store.ErrConflict, "rival"},
		{"Delete and Create make a new record", false,
			`WITH d AS (DELETE FROM ` + s.Table() + ` WHERE key = $1 RETURNING key)
			INSERT INTO ` + s.Table() + ` SELECT key, 'new', 1, now() + interval '1 hour' FROM d`,
			store.ErrNotFound, "new"},
		{"Touch extends the live record", false,
			`UPDATE ` + s.Table() + ` SET expires_at = now() + interval '2 hours' WHERE key = $1`,
			nil, ""},
	} {
		key := race.name
		ttl := time.Hour
		if race.expired {
			ttl = time.Millisecond
		}
		version, err := s.Create(ctx, key, []byte("first"), ttl)
		if err != nil {
			t.Fatal(err)
		}
		for race.expired {
			if _, err := s.Get(ctx, key); errors.Is(err, store.ErrNotFound) {
				break
			}
			time.Sleep(time.Millisecond)
		}
		tx, err := pool.Begin(ctx)
		if err != nil {
			t.Fatal(err)
		}
		var rivalPID int
		if err := tx.QueryRow(ctx, `SELECT pg_backend_pid()`).Scan(&rivalPID); err != nil {
			t.Fatal(err)
		}
		if _, err := tx.Exec(ctx, race.rival, []byte(key)); err != nil {
			t.Fatal(err)
		}
		done := make(chan error, 1)
		go func() { done <- s.CompareAndDelete(ctx, key, version) }()
		waitBlockedOrDone(t, rivalPID, done)
		if err := tx.Commit(ctx); err != nil {
			t.Fatal(err)
		}
		if got := <-done; !errors.Is(got, race.want) {
			t.Errorf("%s, CompareAndDelete with the version it held = %v, want %v", race.name, got, race.want)
		}
		var left []byte
		err = pool.QueryRow(ctx, `SELECT value FROM `+s.Table()+` WHERE key = $1`, []byte(key)).Scan(&left)
		if err != nil && !errors.Is(err, pgx.ErrNoRows) {
			t.Fatal(err)
		}
		if string(left) != race.left {
			t.Errorf("%s, then CompareAndDelete: the row holds %q, want %q", race.name, left, race.left)
		}
	}
}
