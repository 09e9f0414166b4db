// Package cluster holds no code of its own: its tests run the Greeter as a
// fleet on containers and measure what happens when the fleet changes.
//
// TestCluster builds the Greeter's image (examples/greeter/Dockerfile, FROM
// scratch, from a static binary compiled on the host: nothing is pulled),
// creates Docker networks of its own through testcontainers-go, and starts
// on them three greeters, a store and HAProxy (deploy/haproxy.cfg, with a
// few sections added for measuring). Only HAProxy's ports are used, on
// 127.0.0.1 (testcontainers publishes the ports the other images EXPOSE
// too; they are bound to 127.0.0.1 and never dialled). It logs in 200
// sessions through HAProxy, drives a bounded load of session reads (GET
// /session) and visits (POST /session/visits, each with its own
// Idempotency-Key, retried by the client with the same key) and measures:
//
//   - instance death: one greeter SIGKILLed mid-load;
//   - rolling restart: each greeter stopped (SIGTERM: it drains) and
//     started again in turn;
//   - partition: one greeter cut off from the store's network, then
//     reconnected;
//   - store failover: Redis master, one replica and three Sentinels, the
//     master SIGKILLed, then restarted as the new master's replica; run
//     twice, with asynchronous replication and with store/redis waiting
//     for the replica (wait_replicas=1&wait_timeout=250ms: Redis WAIT);
//   - instance death on Postgres and on a 2-server memcached pool, and the
//     death of one memcached server;
//   - throughput of session reads and visits through HAProxy with three
//     greeters and with one, and the p99 latency during the instance-death
//     and rolling-restart windows against steady state.
//
// It prints a table (scenario, requests, failed, sessions lost, recovery
// time) with t.Logf and writes it to $CLUSTER_REPORT, or to
// stateless-cluster-report.md in the temporary directory; the path is
// logged. Run it with
//
//	.ci/images/build-lookalike-images.sh    # lookalike/redis:7, …, lookalike/haproxy:3.0
//	TESTCONTAINERS_RYUK_DISABLED=true TESTCONTAINERS_HOST_OVERRIDE=127.0.0.1 \
//	TEST_REDIS_IMAGE=lookalike/redis:7 TEST_MEMCACHE_IMAGE=lookalike/memcached:1.6 \
//	TEST_POSTGRES_IMAGE=lookalike/postgres:17 TEST_HAPROXY_IMAGE=lookalike/haproxy:3.0 \
//	TEST_REQUIRE_STORES=1 go test -race -count=1 -v -timeout 20m ./examples/cluster/
//
// TEST_HAPROXY_IMAGE defaults to lookalike/haproxy:3.0 (the official
// haproxy:3.0 reads the same configuration). Without a Docker engine, or
// without one of the images, the test is skipped, or fails under
// TEST_REQUIRE_STORES=1; -short skips it. It takes about four minutes
// (two CPUs), most of it load the scenarios drive on purpose.
package cluster
