package cluster

import (
	"context"
	"fmt"
	"io"
	"net/http"
	"net/netip"
	"strings"
	"testing"
	"time"

	"github.com/moby/moby/api/types/container"
	mobynet "github.com/moby/moby/api/types/network"
	"github.com/moby/moby/client"
	"github.com/testcontainers/testcontainers-go"
	tcexec "github.com/testcontainers/testcontainers-go/exec"
	"github.com/testcontainers/testcontainers-go/network"
	"github.com/testcontainers/testcontainers-go/wait"
)

// The greeters' settings, as GREETER_* variables.
const (
	// tokenSecret encrypts the token signing keys in the store: the same
	// on every greeter, 32 bytes or more.
	tokenSecret = "examples/cluster: not a secret, 0123456789abcdef"
	// greeterDrain is GREETER_DRAIN: longer than HAProxy needs to take a
	// draining greeter out (fall 2 checks, inter 1s then fastinter 500ms:
	// at most 1.5 s after the drain starts).
	greeterDrain = 3 * time.Second
	// stopTimeout is how long docker stop waits for a greeter's drain and
	// shutdown before it SIGKILLs.
	stopTimeout = 30 * time.Second
	// startTimeout bounds a container's start, and waits for a fleet to be
	// ready.
	startTimeout = 2 * time.Minute
)

// fleet is one deployment: two networks of its own — "front" (HAProxy and
// the greeters) and "back" (the greeters and the store) — three greeters,
// HAProxy, and whatever store containers the scenario started on back.
// Only HAProxy's ports are used from the host, on 127.0.0.1.
type fleet struct {
	t           *testing.T
	name        string
	cli         *testcontainers.DockerClient
	image       string
	front, back *testcontainers.DockerNetwork

	greeters []*testcontainers.DockerContainer // greeter1, greeter2, greeter3
	haproxy  *testcontainers.DockerContainer

	fleetURL, directURL, retryURL, statsURL string
	probe                                   *http.Client // probes and stats: short timeouts, no keep-alive
}

func newFleet(t *testing.T, cli *testcontainers.DockerClient, image, name string) *fleet {
	t.Helper()
	f := &fleet{t: t, name: name, cli: cli, image: image}
	f.probe = &http.Client{
		Timeout:   2 * time.Second,
		Transport: &http.Transport{DisableKeepAlives: true},
	}
	t.Cleanup(f.probe.CloseIdleConnections)
	f.front = f.network("front")
	f.back = f.network("back")
	return f
}

// network creates a network of the test's own; it is removed after every
// container on it (cleanups run last-registered first).
func (f *fleet) network(role string) *testcontainers.DockerNetwork {
	f.t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	nw, err := network.New(ctx, network.WithLabels(map[string]string{"org.stateless-go.cluster": f.name + "-" + role}))
	testcontainers.CleanupNetwork(f.t, nw)
	if err != nil {
		f.t.Fatalf("cluster: creating the %s network: %v", role, err)
	}
	return nw
}

// loopback publishes ports on 127.0.0.1 only. testcontainers publishes
// every port an image EXPOSEs when a request names none (on every
// address); naming the image's ports here keeps even those on loopback.
// The test reaches only HAProxy's.
func loopback(ports ...string) testcontainers.CustomizeRequestOption {
	return func(req *testcontainers.GenericContainerRequest) error {
		req.ExposedPorts = append(req.ExposedPorts, ports...)
		return testcontainers.WithHostConfigModifier(func(hc *container.HostConfig) {
			if hc.PortBindings == nil {
				hc.PortBindings = mobynet.PortMap{}
			}
			for _, p := range ports {
				hc.PortBindings[mobynet.MustParsePort(p)] = []mobynet.PortBinding{{HostIP: netip.MustParseAddr("127.0.0.1"), HostPort: "0"}}
			}
		})(req)
	}
}

// run starts a container and registers its removal. A start that failed
// because the engine could not bind the host port it picked (the kernel's
// ephemeral ports are shared with every client socket) is tried again.
func (f *fleet) run(what, image string, opts ...testcontainers.ContainerCustomizer) *testcontainers.DockerContainer {
	f.t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), startTimeout)
	defer cancel()
	opts = append(opts, testcontainers.WithLabels(map[string]string{"org.stateless-go.cluster": f.name + "-" + what}))
	for attempt := 1; ; attempt++ {
		c, err := testcontainers.Run(ctx, image, opts...)
		testcontainers.CleanupContainer(f.t, c)
		if err == nil {
			f.dumpLogsOnFailure(what, c)
			return c
		}
		msg := err.Error()
		if attempt < 3 && (strings.Contains(msg, "address already in use") || strings.Contains(msg, "port is already allocated")) {
			continue
		}
		f.t.Fatalf("cluster: starting %s (image %s): %v", what, image, err)
	}
}

// dumpLogsOnFailure logs the end of the container's output if the test
// fails.
func (f *fleet) dumpLogsOnFailure(what string, c *testcontainers.DockerContainer) {
	f.t.Cleanup(func() {
		if !f.t.Failed() {
			return
		}
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		defer cancel()
		rc, err := c.Logs(ctx)
		if err != nil {
			f.t.Logf("%s: no logs: %v", what, err)
			return
		}
		defer rc.Close()
		b, _ := io.ReadAll(io.LimitReader(rc, 8<<20))
		lines := strings.Split(strings.TrimRight(string(b), "\n"), "\n")
		if len(lines) > 30 {
			lines = lines[len(lines)-30:]
		}
		f.t.Logf("%s %s: last log lines:\n%s", f.name, what, strings.Join(lines, "\n"))
	})
}

// startGreeters starts greeter1..3 from the image built, on both networks
// (aliased greeterN on front, where HAProxy resolves them), configured by
// GREETER_* variables alone, and run as compose.yaml runs them: read-only
// root, no capabilities, no new privileges.
func (f *fleet) startGreeters(storeURL string) {
	f.t.Helper()
	env := map[string]string{
		"GREETER_STORE":            storeURL,
		"GREETER_TOKEN_SECRET":     tokenSecret,
		"GREETER_TRUST_PROXY":      "true",
		"GREETER_LOGIN_RATE":       "0",
		"GREETER_DRAIN":            greeterDrain.String(),
		"GREETER_SHUTDOWN_TIMEOUT": "20s",
		"GREETER_LOG_FORMAT":       "json",
		// warn drops the per-request lines: the engine's log handling would
		// otherwise share the two cores with what is measured.
		"GREETER_LOG_LEVEL": "warn",
	}
	stop := int(stopTimeout / time.Second)
	for _, name := range greeterNames {
		c := f.run(name, f.image,
			network.WithNetwork([]string{name}, f.front),
			network.WithNetwork(nil, f.back),
			testcontainers.WithEnv(env),
			testcontainers.WithConfigModifier(func(cfg *container.Config) { cfg.StopTimeout = &stop }),
			testcontainers.WithHostConfigModifier(func(hc *container.HostConfig) {
				hc.ReadonlyRootfs = true
				hc.CapDrop = []string{"ALL"}
				hc.SecurityOpt = []string{"no-new-privileges:true"}
			}),
			loopback("5000/tcp"),
		)
		f.greeters = append(f.greeters, c)
	}
}

// startHAProxy starts HAProxy on front with haproxyConfig, and waits until
// it reports every greeter UP in both fleet backends.
func (f *fleet) startHAProxy() {
	f.t.Helper()
	cfg := haproxyConfig(f.t)
	f.haproxy = f.run("haproxy", imageFor(envHAProxyImage),
		network.WithNetwork([]string{"haproxy"}, f.front),
		testcontainers.WithFiles(testcontainers.ContainerFile{
			Reader:            strings.NewReader(cfg),
			ContainerFilePath: "/usr/local/etc/haproxy/haproxy.cfg",
			FileMode:          0o644,
		}),
		loopback(portFleet, portDirect, portRetry503, portStats),
		testcontainers.WithWaitStrategy(listening(8080), listening(8404)),
	)
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	url := func(port string) string {
		// Published on the engine's loopback (see loopback), which is this
		// machine's when the engine is local, as it must be here.
		p, err := f.haproxy.MappedPort(ctx, port)
		if err != nil {
			f.t.Fatalf("cluster: HAProxy's host port for %s: %v", port, err)
		}
		return "http://127.0.0.1:" + p.Port()
	}
	f.fleetURL, f.directURL, f.retryURL, f.statsURL = url(portFleet), url(portDirect), url(portRetry503), url(portStats)
	f.waitUp(startTimeout, greeterNames...)
}

// states is HAProxy's view of the servers: backend/server → status.
func (f *fleet) states() (map[string]string, error) {
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
	defer cancel()
	return serverStates(ctx, f.probe, f.statsURL)
}

// waitUp waits until HAProxy reports each of the named greeters fully UP
// in both health-checked backends, and returns how long that took.
func (f *fleet) waitUp(bound time.Duration, names ...string) time.Duration {
	f.t.Helper()
	began := time.Now()
	var last map[string]string
	var lastErr error
	for time.Since(began) < bound {
		last, lastErr = f.states()
		if lastErr == nil {
			up := true
			for _, n := range names {
				up = up && last[backendFleet+"/"+n] == "UP" && last[backendRetry503+"/"+n] == "UP"
			}
			if up {
				return time.Since(began)
			}
		}
		time.Sleep(50 * time.Millisecond)
	}
	f.t.Fatalf("cluster: %s: HAProxy did not report %v UP within %v: states %v, error %v", f.name, names, bound, last, lastErr)
	return 0
}

// waitState polls HAProxy until the server's status in backend satisfies
// ok, and returns how long after since that was (bound when it never
// was within bound of since, with false).
func (f *fleet) waitState(since time.Time, bound time.Duration, backend, name string, ok func(string) bool) (time.Duration, bool) {
	for time.Since(since) < bound {
		if st, err := f.states(); err == nil && ok(st[backend+"/"+name]) {
			return time.Since(since), true
		}
		time.Sleep(25 * time.Millisecond)
	}
	return bound, false
}

func isUp(status string) bool   { return status == "UP" }
func isDown(status string) bool { return status != "" && !strings.HasPrefix(status, "UP") }

// readyz asks the greeter named for its own /readyz through HAProxy's
// direct frontend: its status, or 0 when HAProxy answered for it (the
// server unresolvable) or the request failed.
func (f *fleet) readyz(name string) int {
	req, _ := http.NewRequest(http.MethodGet, f.directURL+"/readyz", nil)
	req.Header.Set("X-Target", name)
	resp, err := f.probe.Do(req)
	if err != nil {
		return 0
	}
	defer resp.Body.Close()
	if !strings.HasPrefix(resp.Header.Get("Content-Type"), "application/json") {
		return 0 // HAProxy's own error page
	}
	return resp.StatusCode
}

// waitReadyz polls the greeter's own /readyz until it answers want, and
// returns how long after since that answer came (bound and false if it
// never came within bound of since).
func (f *fleet) waitReadyz(since time.Time, bound time.Duration, name string, want int) (time.Duration, bool) {
	for time.Since(since) < bound {
		if f.readyz(name) == want {
			return time.Since(since), true
		}
		time.Sleep(20 * time.Millisecond)
	}
	return bound, false
}

func (f *fleet) greeter(name string) *testcontainers.DockerContainer {
	for i, n := range greeterNames {
		if n == name {
			return f.greeters[i]
		}
	}
	f.t.Fatalf("no greeter %q", name)
	return nil
}

// kill sends SIGKILL, as docker kill does, and returns how long the
// engine took to answer (the signal is sent by then).
func (f *fleet) kill(c *testcontainers.DockerContainer) time.Duration {
	f.t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	began := time.Now()
	if _, err := f.cli.ContainerKill(ctx, c.GetContainerID(), client.ContainerKillOptions{Signal: "KILL"}); err != nil {
		f.t.Fatalf("cluster: docker kill: %v", err)
	}
	return time.Since(began)
}

// stop is docker stop: SIGTERM, then SIGKILL after stopTimeout.
func (f *fleet) stop(c *testcontainers.DockerContainer) {
	f.t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), stopTimeout+30*time.Second)
	defer cancel()
	timeout := stopTimeout
	if err := c.Stop(ctx, &timeout); err != nil {
		f.t.Fatalf("cluster: docker stop: %v", err)
	}
}

// start starts a stopped or killed container again.
func (f *fleet) start(c *testcontainers.DockerContainer) {
	f.t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), startTimeout)
	defer cancel()
	if err := c.Start(ctx); err != nil {
		f.t.Fatalf("cluster: docker start: %v", err)
	}
}

// disconnect is docker network disconnect.
func (f *fleet) disconnect(nw *testcontainers.DockerNetwork, c *testcontainers.DockerContainer) {
	f.t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	if _, err := f.cli.NetworkDisconnect(ctx, nw.ID, client.NetworkDisconnectOptions{Container: c.GetContainerID()}); err != nil {
		f.t.Fatalf("cluster: docker network disconnect: %v", err)
	}
}

// connect is docker network connect.
func (f *fleet) connect(nw *testcontainers.DockerNetwork, c *testcontainers.DockerContainer) {
	f.t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	if _, err := f.cli.NetworkConnect(ctx, nw.ID, client.NetworkConnectOptions{Container: c.GetContainerID()}); err != nil {
		f.t.Fatalf("cluster: docker network connect: %v", err)
	}
}

// exec runs a command in a container and returns its output; a non-zero
// exit fails the test.
func (f *fleet) exec(c *testcontainers.DockerContainer, cmd ...string) string {
	f.t.Helper()
	out, err := f.tryExec(c, cmd...)
	if err != nil {
		f.t.Fatalf("cluster: %v", err)
	}
	return out
}

func (f *fleet) tryExec(c *testcontainers.DockerContainer, cmd ...string) (string, error) {
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	code, r, err := c.Exec(ctx, cmd, tcexec.Multiplexed())
	if err != nil {
		return "", fmt.Errorf("exec %q: %w", cmd, err)
	}
	b, _ := io.ReadAll(r)
	out := string(b)
	if code != 0 {
		return out, fmt.Errorf("exec %q: exit %d: %s", cmd, code, out)
	}
	return out, nil
}

// listening waits until something in the container listens on the TCP
// port, as its /proc/net/tcp shows (the container needs sh and grep, which
// the store and HAProxy images have). Unlike wait.ForListeningPort it does
// not dial the published port from here, so it works with whatever host
// testcontainers believes it runs on.
func listening(port int) wait.Strategy {
	return wait.ForExec([]string{"sh", "-c", fmt.Sprintf("grep -q ':%04X 00000000:0000 0A' /proc/net/tcp /proc/net/tcp6", port)}).
		WithStartupTimeout(time.Minute).WithPollInterval(100 * time.Millisecond)
}
