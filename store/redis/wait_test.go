package redis_test

import (
	"context"
	"errors"
	"fmt"
	"net/netip"
	"os"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/moby/moby/api/types/container"
	mobynet "github.com/moby/moby/api/types/network"
	"github.com/moby/moby/client"
	goredis "github.com/redis/go-redis/v9"
	"github.com/testcontainers/testcontainers-go"
	"github.com/testcontainers/testcontainers-go/network"
	"github.com/testcontainers/testcontainers-go/wait"

	"github.com/stateless-go/stateless/store"
	"github.com/stateless-go/stateless/store/redis"
	"github.com/stateless-go/stateless/store/storetest"
)

// replicated is a Redis master with one replica, containers of this test on
// a Docker network of their own (the replica reaches the master by its
// alias), each published on 127.0.0.1.
type replicated struct {
	master, replica *goredis.Client
	cli             *testcontainers.DockerClient
	replicaID       string
}

// startReplicated starts the pair and waits until the replica is in sync.
// It needs a Docker engine and $TEST_REDIS_IMAGE (default redis:7); without
// them it skips the test, or fails it under TEST_REQUIRE_STORES=1, as
// internal/testenv does. TEST_REDIS_URL names one server and cannot stand
// in for the pair.
func startReplicated(t *testing.T) *replicated {
	t.Helper()
	unavailable := func(format string, args ...any) {
		t.Helper()
		msg := fmt.Sprintf(format, args...)
		switch os.Getenv("TEST_REQUIRE_STORES") {
		case "", "0", "false":
			t.Skipf("redis master+replica: %s (TEST_REQUIRE_STORES=1 makes this a failure)", msg)
		}
		t.Fatalf("redis master+replica: %s (failing, not skipping, because TEST_REQUIRE_STORES is set)", msg)
	}
	image := os.Getenv("TEST_REDIS_IMAGE")
	if image == "" {
		image = "redis:7"
	}
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	cli, err := func() (cli *testcontainers.DockerClient, err error) {
		defer func() {
			if r := recover(); r != nil { // testcontainers panics on some broken Docker setups
				err = fmt.Errorf("%v", r)
			}
		}()
		return testcontainers.NewDockerClientWithOpts(ctx)
	}()
	if err != nil {
		unavailable("no Docker engine: %v", err)
	}
	t.Cleanup(func() { cli.Close() })
	if _, err := cli.Ping(ctx, client.PingOptions{}); err != nil {
		unavailable("no Docker engine answers: %v", err)
	}
	if _, err := cli.ImageInspect(ctx, image); err != nil {
		unavailable("image %s (TEST_REDIS_IMAGE picks another): %v", image, err)
	}
	r := &replicated{cli: cli}
	nw, err := network.New(ctx)
	if err != nil {
		t.Fatalf("docker network: %v", err)
	}
	testcontainers.CleanupNetwork(t, nw)
	run := func(alias string, args ...string) *goredis.Client {
		t.Helper()
		c, err := testcontainers.Run(ctx, image,
			network.WithNetwork([]string{alias}, nw),
			testcontainers.WithCmd(append([]string{"redis-server", "--save", "", "--appendonly", "no"}, args...)...),
			testcontainers.WithExposedPorts("6379/tcp"),
			testcontainers.WithHostConfigModifier(func(hc *container.HostConfig) {
				hc.PortBindings = mobynet.PortMap{mobynet.MustParsePort("6379/tcp"): {{HostIP: netip.MustParseAddr("127.0.0.1"), HostPort: "0"}}}
			}),
			testcontainers.WithWaitStrategy(wait.ForListeningPort("6379/tcp").WithStartupTimeout(time.Minute)),
		)
		testcontainers.CleanupContainer(t, c)
		if err != nil {
			t.Fatalf("redis %s container: %v", alias, err)
		}
		addr, err := c.PortEndpoint(ctx, "6379/tcp", "")
		if err != nil {
			t.Fatalf("redis %s address: %v", alias, err)
		}
		rc := goredis.NewClient(&goredis.Options{Addr: addr, ContextTimeoutEnabled: true})
		t.Cleanup(func() { rc.Close() })
		if alias == "replica" {
			r.replicaID = c.GetContainerID()
		}
		return rc
	}
	r.master = run("master", "--repl-diskless-sync-delay", "0")
	r.replica = run("replica", "--replicaof", "master", "6379")
	for deadline := time.Now().Add(time.Minute); ; {
		info, err := r.master.Info(ctx, "replication").Result()
		if err == nil && strings.Contains(info, "connected_slaves:1") && strings.Contains(info, "state=online") {
			if n, err := r.master.Wait(ctx, 1, 1000).Result(); err == nil && n == 1 {
				return r
			}
		}
		if time.Now().After(deadline) {
			t.Fatalf("the replica never came in sync with the master: %q %v", info, err)
		}
		time.Sleep(100 * time.Millisecond)
	}
}

// pause freezes the replica (docker pause): connected, but it neither
// applies nor acknowledges the replication stream until unpause.
func (r *replicated) pause(t *testing.T) {
	t.Helper()
	if _, err := r.cli.ContainerPause(context.Background(), r.replicaID, client.ContainerPauseOptions{}); err != nil {
		t.Fatalf("docker pause: %v", err)
	}
}

func (r *replicated) unpause(t testing.TB) {
	t.Helper()
	if _, err := r.cli.ContainerUnpause(context.Background(), r.replicaID, client.ContainerUnpauseOptions{}); err != nil {
		t.Fatalf("docker unpause: %v", err)
	}
}

// waitTimeout is the tests' Options.WaitTimeout: longer than a replica on
// a busy machine takes, shorter than the client's ReadTimeout (3 s).
const waitTimeout = 1500 * time.Millisecond

// TestWaitReplicas runs against a master with one replica: the
// conformance suite with waiting on, then writes that return only once the
// replica has them, then writes that fail with ErrNotReplicated while the
// replica is frozen. The subtests run in turn: the last ones freeze the
// replica.
func TestWaitReplicas(t *testing.T) {
	r := startReplicated(t)
	newStore := func(t *testing.T, batching bool) (*redis.Store, string) {
		prefix := testPrefix()
		s, err := redis.New(r.master, &redis.Options{KeyPrefix: prefix, WaitReplicas: 1, WaitTimeout: waitTimeout, DisableBatching: !batching})
		if err != nil {
			t.Fatal(err)
		}
		return s, prefix
	}
	for _, batching := range []bool{true, false} {
		name := map[bool]string{true: "batching", false: "no batching"}[batching]
		t.Run("conformance, "+name, func(t *testing.T) {
			storetest.Run(t, func(ctx context.Context) (store.Store, error) {
				s, _ := newStore(t, batching)
				return s, nil
			}, suiteOptions)
		})
		t.Run("replica has every acknowledged write, "+name, func(t *testing.T) {
			s, prefix := newStore(t, batching)
			testReplicaHasWrites(t, r, s, prefix)
		})
		t.Run("write waits for a frozen replica, "+name, func(t *testing.T) {
			s, prefix := newStore(t, batching)
			testWaitsForReplica(t, r, s, prefix)
		})
		t.Run("frozen replica fails writes, "+name, func(t *testing.T) {
			s, prefix := newStore(t, batching)
			testNotReplicated(t, r, s, prefix)
		})
	}
}

// testReplicaHasWrites reads each write from the replica as soon as it
// returns, many at once so that the batcher pipelines them.
func testReplicaHasWrites(t *testing.T, r *replicated, s *redis.Store, prefix string) {
	ctx := t.Context()
	const n = 64
	var wg sync.WaitGroup
	for i := range n {
		wg.Go(func() {
			k := fmt.Sprint("k", i)
			onReplica := func(what string) (string, error) {
				v, err := r.replica.Get(ctx, prefix+k).Result()
				if err != nil {
					return "", fmt.Errorf("%s: GET %s on the replica: %w", what, k, err)
				}
				return v, nil
			}
			v, err := s.Create(ctx, k, []byte("one"), time.Minute)
			if err != nil {
				t.Errorf("Create %s: %v", k, err)
				return
			}
			if got, err := onReplica("after Create"); err != nil || !strings.HasSuffix(got, "one") {
				t.Errorf("%q %v, want the created record", got, err)
			}
			if _, err := s.Replace(ctx, k, []byte("two"), time.Minute, v); err != nil {
				t.Errorf("Replace %s: %v", k, err)
				return
			}
			if got, err := onReplica("after Replace"); err != nil || !strings.HasSuffix(got, "two") {
				t.Errorf("%q %v, want the replaced record", got, err)
			}
			if err := s.Touch(ctx, k, time.Hour); err != nil {
				t.Errorf("Touch %s: %v", k, err)
			}
			// PTTL on a replica reports the expiry it has been told.
			if pttl, err := r.replica.PTTL(ctx, prefix+k).Result(); err != nil || pttl <= time.Minute {
				t.Errorf("after Touch: PTTL %s on the replica = %v, %v; want the hour Touch gave", k, pttl, err)
			}
			if err := s.Delete(ctx, k); err != nil {
				t.Errorf("Delete %s: %v", k, err)
			}
			if _, err := onReplica("after Delete"); !errors.Is(err, goredis.Nil) {
				t.Errorf("%v, want no key", err)
			}
		})
	}
	wg.Wait()
	v, err := s.Create(ctx, "cad", []byte("x"), time.Minute)
	if err != nil {
		t.Fatal(err)
	}
	if err := s.CompareAndDelete(ctx, "cad", v); err != nil {
		t.Fatalf("CompareAndDelete: %v", err)
	}
	if n, err := r.replica.Exists(ctx, prefix+"cad").Result(); err != nil || n != 0 {
		t.Errorf("after CompareAndDelete: EXISTS on the replica = %d, %v; want 0", n, err)
	}
}

// testWaitsForReplica freezes the replica, starts a write, and thaws the
// replica a moment later: the write must return after the thaw, not
// before, and the replica must then have it. Without WAIT the write would
// return at once, with the replica still frozen and without it.
func testWaitsForReplica(t *testing.T, r *replicated, s *redis.Store, prefix string) {
	ctx := t.Context()
	v, err := s.Create(ctx, "k", []byte("one"), time.Minute)
	if err != nil {
		t.Fatal(err)
	}
	r.pause(t)
	var thawed atomic.Bool
	done := make(chan struct{})
	go func() {
		defer close(done)
		time.Sleep(waitTimeout / 3)
		thawed.Store(true)
		r.unpause(t)
	}()
	_, err = s.Replace(ctx, "k", []byte("two"), time.Minute, v)
	returnedThawed := thawed.Load()
	<-done
	if err != nil {
		t.Fatalf("Replace while the replica was frozen for %v of a %v wait: %v", waitTimeout/3, waitTimeout, err)
	}
	if !returnedThawed {
		t.Errorf("Replace returned before the replica was thawed: it did not wait for the replica")
	}
	if got, err := r.replica.Get(ctx, prefix+"k").Result(); err != nil || !strings.HasSuffix(got, "two") {
		t.Errorf("GET on the replica after the Replace = %q, %v; want the new record", got, err)
	}
}

// testNotReplicated freezes the replica: every write fails with
// ErrNotReplicated after about the wait timeout, though the master has
// applied it; reads still answer. Thawed, writes succeed again.
func testNotReplicated(t *testing.T, r *replicated, s *redis.Store, prefix string) {
	ctx := t.Context()
	v, err := s.Create(ctx, "k", []byte("one"), time.Minute)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := s.Create(ctx, "del", []byte("x"), time.Minute); err != nil {
		t.Fatal(err)
	}
	r.pause(t)
	thawed := false
	thaw := func() {
		if !thawed {
			thawed = true
			r.unpause(t)
		}
	}
	t.Cleanup(thaw)

	began := time.Now()
	_, err = s.Replace(ctx, "k", []byte("two"), time.Minute, v)
	took := time.Since(began)
	if !errors.Is(err, redis.ErrNotReplicated) {
		t.Fatalf("Replace with the replica frozen = %v, want ErrNotReplicated", err)
	}
	t.Logf("Replace with the replica frozen failed after %v (wait timeout %v): %v", took.Round(time.Millisecond), waitTimeout, err)
	if took < waitTimeout {
		t.Errorf("Replace failed after %v, before the wait timeout %v: WAIT cannot answer fewer replicas before its timeout", took, waitTimeout)
	}
	// The master has the write: the error says it may have happened.
	if got, err := r.master.Get(ctx, prefix+"k").Result(); err != nil || !strings.HasSuffix(got, "two") {
		t.Errorf("GET on the master = %q, %v; want the write, applied though not confirmed", got, err)
	}
	if _, err := s.Get(ctx, "k"); err != nil {
		t.Errorf("Get with the replica frozen: %v", err)
	}
	// Every kind of write that changes something, several at once
	// (batched together when batching is on), fails alike. A call that
	// changes nothing has nothing of its own to confirm: WAIT answers at
	// once unless its connection holds an unconfirmed write, so it gets
	// its answer or ErrNotReplicated.
	var wg sync.WaitGroup
	errs := make([]error, 6)
	wg.Go(func() { _, errs[0] = s.Create(ctx, "new", []byte("x"), time.Minute) })
	wg.Go(func() { errs[1] = s.Touch(ctx, "k", time.Hour) })
	wg.Go(func() { errs[2] = s.Delete(ctx, "del") })
	wg.Go(func() { errs[3] = s.Delete(ctx, "gone") })
	wg.Go(func() { errs[4] = s.CompareAndDelete(ctx, "k", 1) })
	wg.Go(func() { _, errs[5] = s.Replace(ctx, "k", []byte("three"), time.Minute, 1) })
	wg.Wait()
	for i, op := range []string{"Create", "Touch", "Delete"} {
		if !errors.Is(errs[i], redis.ErrNotReplicated) {
			t.Errorf("%s with the replica frozen = %v, want ErrNotReplicated", op, errs[i])
		}
	}
	for i, c := range []struct {
		op     string
		answer error
	}{{"Delete of a missing key", nil}, {"CompareAndDelete (stale)", store.ErrConflict}, {"Replace (stale)", store.ErrConflict}} {
		if err := errs[3+i]; !errors.Is(err, redis.ErrNotReplicated) && !errors.Is(err, c.answer) {
			t.Errorf("%s with the replica frozen = %v, want %v or ErrNotReplicated", c.op, err, c.answer)
		}
	}
	if st := s.Stats(); st.Errors < 4 {
		t.Errorf("Stats.Errors = %d, want at least the 4 unconfirmed writes counted", st.Errors)
	}

	thaw()
	deadline := time.Now().Add(30 * time.Second)
	for {
		rec, err := s.Get(ctx, "k")
		if err == nil {
			_, err = s.Replace(ctx, "k", []byte("four"), time.Minute, rec.Version)
		}
		if err == nil {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("writes still fail 30 s after the replica was thawed: %v", err)
		}
		time.Sleep(100 * time.Millisecond)
	}
}
