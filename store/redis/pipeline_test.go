package redis

import (
	"context"
	"encoding/binary"
	"errors"
	"fmt"
	"math/rand/v2"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	goredis "github.com/redis/go-redis/v9"

	"github.com/stateless-go/stateless/internal/testenv"
	"github.com/stateless-go/stateless/store"
	"github.com/stateless-go/stateless/store/storetest"
)

func pipelineStore(t *testing.T, client goredis.UniversalClient) *Store {
	t.Helper()
	t.Cleanup(func() { client.Close() })
	s, err := New(client, &Options{KeyPrefix: "stateless-test:" + storetest.RandomPrefix() + ":"})
	if err != nil {
		t.Fatal(err)
	}
	return s
}

func standaloneClient(t *testing.T) goredis.UniversalClient {
	opts, err := goredis.ParseURL(testenv.RedisURL(t))
	if err != nil {
		t.Fatal(err)
	}
	return goredis.NewClient(opts)
}

// TestPipelinesUnderLoad: 32 goroutines increment 8 counters by Get and
// compare-and-swap (and Touch them), on a standalone server and on a
// Cluster, whose pipelines go-redis splits by node, and with batching off.
// Pipelines form when batching is on, never when it is off, and every
// counter equals the increments acknowledged on it.
func TestPipelinesUnderLoad(t *testing.T) {
	cluster := func(t *testing.T) goredis.UniversalClient {
		return goredis.NewClusterClient(&goredis.ClusterOptions{Addrs: testenv.RedisClusterAddrs(t)})
	}
	for _, tc := range []struct {
		name       string
		client     func(*testing.T) goredis.UniversalClient
		noBatching bool
	}{
		{"standalone", standaloneClient, false},
		{"cluster", cluster, false},
		{"standalone/batching=false", standaloneClient, true},
	} {
		t.Run(tc.name, func(t *testing.T) {
			client := tc.client(t)
			t.Cleanup(func() { client.Close() })
			s, err := New(client, &Options{KeyPrefix: "stateless-test:" + storetest.RandomPrefix() + ":", DisableBatching: tc.noBatching})
			if err != nil {
				t.Fatal(err)
			}
			ctx := t.Context()
			const keys, workers = 8, 32
			for k := range keys {
				if _, err := s.Create(ctx, fmt.Sprint("n", k), make([]byte, 8), time.Hour); err != nil {
					t.Fatal(err)
				}
			}
			var acked [keys]atomic.Int64
			deadline := time.Now().Add(1500 * time.Millisecond)
			var wg sync.WaitGroup
			for w := range workers {
				rng := rand.New(rand.NewPCG(uint64(w), 2))
				wg.Go(func() {
					for time.Now().Before(deadline) {
						k := rng.IntN(keys)
						key := fmt.Sprint("n", k)
						if err := s.Touch(ctx, key, time.Hour); err != nil {
							t.Errorf("Touch: %v", err)
							return
						}
						for {
							rec, err := s.Get(ctx, key)
							if err != nil {
								t.Errorf("Get: %v", err)
								return
							}
							n := binary.BigEndian.Uint64(rec.Value) + 1
							_, err = s.Replace(ctx, key, binary.BigEndian.AppendUint64(nil, n), time.Hour, rec.Version)
							if errors.Is(err, store.ErrConflict) {
								continue
							}
							if err != nil {
								t.Errorf("Replace: %v", err)
								return
							}
							acked[k].Add(1)
							break
						}
					}
				})
			}
			wg.Wait()
			var total int64
			for k := range keys {
				rec, err := s.Get(ctx, fmt.Sprint("n", k))
				if err != nil {
					t.Fatal(err)
				}
				if got, want := binary.BigEndian.Uint64(rec.Value), acked[k].Load(); got != uint64(want) {
					t.Errorf("counter n%d is %d, but %d increments were acknowledged", k, got, want)
				}
				total += acked[k].Load()
			}
			st := s.Stats()
			t.Logf("%d increments, %d pipelines of %d calls in all", total, st.Batches, st.BatchedCalls)
			switch {
			case tc.noBatching && st.Batches != 0:
				t.Errorf("with batching off, Stats reports %d pipelines, want 0", st.Batches)
			case !tc.noBatching && st.Batches == 0:
				t.Error("32 goroutines made no pipeline")
			}
			if st.Conns == 0 || st.Conns < st.IdleConns {
				t.Errorf("Stats reports %d connections, %d of them idle; want some, fewer idle", st.Conns, st.IdleConns)
			}
		})
	}
}

// TestPipelineScriptNotCached: compare-and-swaps that go in one pipeline
// to a server that lacks the script in its cache each fall back to EVAL
// and succeed. (The server is made to answer NOSCRIPT by forgetScripts,
// not by a SCRIPT FLUSH of the whole server.)
func TestPipelineScriptNotCached(t *testing.T) {
	ctx := t.Context()
	s, p, client := proxiedStore(t)
	const n = 5
	var versions [n]uint64
	for i := range n {
		v, err := s.Create(ctx, fmt.Sprint("k", i), []byte("a"), time.Minute)
		if err != nil {
			t.Fatal(err)
		}
		versions[i] = v
	}
	hook := &forgetScripts{}
	client.AddHook(hook)
	errs := make([]error, n)
	var calls []func()
	for i := range n {
		calls = append(calls, func() {
			_, errs[i] = s.Replace(ctx, fmt.Sprint("k", i), []byte("b"), time.Minute, versions[i])
		})
	}
	release, wait := queueBehind(t, s, p, calls...)
	release()
	wait()
	for i, err := range errs {
		if err != nil {
			t.Errorf("Replace k%d in a pipeline without the script cached: %v", i, err)
		}
	}
	if st := s.Stats(); st.Batches != 1 || st.BatchedCalls != n {
		t.Errorf("Stats = %d pipelines of %d calls, want the %d queued calls in one", st.Batches, st.BatchedCalls, n)
	}
	if hook.renamed.Load() < n {
		t.Errorf("the hook saw %d EVALSHAs, want at least %d", hook.renamed.Load(), n)
	}
}

// TestQueuedCallHonoursContext: a call waiting for its turn returns its
// context's error when the context ends, and is never sent.
func TestQueuedCallHonoursContext(t *testing.T) {
	s, p, client := proxiedStore(t)
	if _, err := s.Create(t.Context(), "k", []byte("v"), time.Minute); err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(t.Context())
	var err error
	release, wait := queueBehind(t, s, p, func() { err = s.Touch(ctx, "k", time.Hour) })
	cancel()
	wait()
	if !errors.Is(err, context.Canceled) {
		t.Errorf("queued Touch after cancel: %v, want context.Canceled", err)
	}
	if n := s.Stats().Queued; n != 0 {
		t.Errorf("%d calls still queued", n)
	}
	release()
	ttl, err := client.PTTL(t.Context(), s.prefix+"k").Result()
	if err != nil || ttl <= 0 || ttl > time.Minute {
		t.Errorf("the key's ttl after the cancelled Touch: %v, %v; want at most the minute it was created with", ttl, err)
	}
	if err := s.Touch(t.Context(), "k", time.Hour); err != nil {
		t.Errorf("Touch after release: %v", err)
	}
}
