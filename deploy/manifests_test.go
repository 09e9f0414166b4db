// Package deploy holds no Go code: its tests check the files beside them.
// The Kubernetes manifests under k8s/ are decoded strictly into the API
// types (a misspelt or misplaced field fails), then checked against each
// other and against the greeter binary, built and run here with the
// Deployment's environment. compose.yaml and haproxy.cfg are checked
// against the same binary and each other.
package deploy

import (
	"bufio"
	"bytes"
	"errors"
	"io"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	appsv1 "k8s.io/api/apps/v1"
	autoscalingv2 "k8s.io/api/autoscaling/v2"
	corev1 "k8s.io/api/core/v1"
	policyv1 "k8s.io/api/policy/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/labels"
	"k8s.io/apimachinery/pkg/runtime"
	kjson "k8s.io/apimachinery/pkg/runtime/serializer/json"
	"k8s.io/apimachinery/pkg/util/intstr"
	utilyaml "k8s.io/apimachinery/pkg/util/yaml"
	"sigs.k8s.io/yaml"
)

// The kinds a manifest may hold, and the only ones.
var scheme = func() *runtime.Scheme {
	s := runtime.NewScheme()
	for _, add := range []func(*runtime.Scheme) error{appsv1.AddToScheme, corev1.AddToScheme, policyv1.AddToScheme, autoscalingv2.AddToScheme} {
		if err := add(s); err != nil {
			panic(err)
		}
	}
	return s
}()

// strict decodes YAML the way kubectl's server-side field validation
// does: an unknown field, a field in the wrong case and a duplicate field
// are errors.
var strict = kjson.NewSerializerWithOptions(kjson.DefaultMetaFactory, scheme, scheme,
	kjson.SerializerOptions{Yaml: true, Strict: true})

// decode decodes every YAML document in data.
func decode(data []byte) ([]runtime.Object, error) {
	var objs []runtime.Object
	r := utilyaml.NewYAMLReader(bufio.NewReader(bytes.NewReader(data)))
	for {
		doc, err := r.Read()
		if errors.Is(err, io.EOF) {
			return objs, nil
		}
		if err != nil {
			return nil, err
		}
		if j, err := yaml.YAMLToJSON(doc); err == nil && string(j) == "null" {
			continue // comments only
		}
		obj, _, err := strict.Decode(doc, nil, nil)
		if err != nil {
			return nil, err
		}
		objs = append(objs, obj)
	}
}

// manifests is everything under k8s/, by kind.
type manifests struct {
	deployments []*appsv1.Deployment
	services    []*corev1.Service
	pdbs        []*policyv1.PodDisruptionBudget
	hpas        []*autoscalingv2.HorizontalPodAutoscaler
	secrets     []*corev1.Secret
}

func loadManifests(t *testing.T) *manifests {
	t.Helper()
	files, err := filepath.Glob(filepath.Join("k8s", "*.yaml"))
	if err != nil || len(files) == 0 {
		t.Fatalf("no manifests in k8s/: %v", err)
	}
	m := &manifests{}
	for _, f := range files {
		data, err := os.ReadFile(f)
		if err != nil {
			t.Fatal(err)
		}
		objs, err := decode(data)
		if err != nil {
			t.Errorf("%s: %v", f, err)
			continue
		}
		for _, o := range objs {
			switch o := o.(type) {
			case *appsv1.Deployment:
				m.deployments = append(m.deployments, o)
			case *corev1.Service:
				m.services = append(m.services, o)
			case *policyv1.PodDisruptionBudget:
				m.pdbs = append(m.pdbs, o)
			case *autoscalingv2.HorizontalPodAutoscaler:
				m.hpas = append(m.hpas, o)
			case *corev1.Secret:
				m.secrets = append(m.secrets, o)
			default:
				t.Errorf("%s: a %T, which no check here covers", f, o)
			}
		}
	}
	if t.Failed() {
		t.FailNow()
	}
	if len(m.deployments) != 1 || len(m.services) != 1 || len(m.pdbs) != 1 || len(m.hpas) != 1 || len(m.secrets) != 1 {
		t.Fatalf("want one each of Deployment, Service, PodDisruptionBudget, HorizontalPodAutoscaler and Secret; got %d, %d, %d, %d, %d",
			len(m.deployments), len(m.services), len(m.pdbs), len(m.hpas), len(m.secrets))
	}
	return m
}

// TestStrictDecoding: the decoder refuses what kubectl would, so that a
// clean decode of the manifests means something.
func TestStrictDecoding(t *testing.T) {
	data, err := os.ReadFile(filepath.Join("k8s", "deployment.yaml"))
	if err != nil {
		t.Fatal(err)
	}
	if _, err := decode(data); err != nil {
		t.Fatalf("deployment.yaml: %v", err)
	}
	for _, tc := range []struct{ name, from, to string }{
		{"misspelt field", "readinessProbe:", "readinesProbe:"},
		{"field in the wrong case", "readOnlyRootFilesystem:", "ReadOnlyRootFilesystem:"},
		{"field in the wrong place", "      terminationGracePeriodSeconds: 30", "      terminationGracePeriodSeconds: 30\n      image: x"},
		{"duplicate field", "      terminationGracePeriodSeconds: 30", "      terminationGracePeriodSeconds: 30\n      terminationGracePeriodSeconds: 31"},
		{"wrong type", "containerPort: 5000", "containerPort: five"},
		{"unknown kind", "kind: Deployment", "kind: Deploymnet"},
	} {
		bad := strings.Replace(string(data), tc.from, tc.to, 1)
		if bad == string(data) {
			t.Fatalf("%s: %q is not in deployment.yaml", tc.name, tc.from)
		}
		if _, err := decode([]byte(bad)); err == nil {
			t.Errorf("%s (%q → %q): decoded without an error", tc.name, tc.from, tc.to)
		}
	}
}

// greeter is the binary, built once.
var greeter struct {
	once sync.Once
	dir  string
	path string
	err  error
	out  []byte
}

func TestMain(m *testing.M) {
	code := m.Run()
	if greeter.dir != "" {
		os.RemoveAll(greeter.dir)
	}
	os.Exit(code)
}

// greeterBinary builds ../examples/greeter once and returns its path.
func greeterBinary(t *testing.T) string {
	t.Helper()
	goTool, err := exec.LookPath("go")
	if err != nil {
		t.Skip("no go tool in PATH to build the greeter")
	}
	greeter.once.Do(func() {
		greeter.dir, greeter.err = os.MkdirTemp("", "deploy-test-")
		if greeter.err != nil {
			return
		}
		greeter.path = filepath.Join(greeter.dir, "greeter")
		greeter.out, greeter.err = exec.Command(goTool, "build", "-o", greeter.path, "../examples/greeter").CombinedOutput()
	})
	if greeter.err != nil {
		t.Fatalf("building the greeter: %v\n%s", greeter.err, greeter.out)
	}
	return greeter.path
}

// greeterEnv returns the environment variables the greeter reads (from its
// -h output, which names each flag's) and its default listen address.
func greeterEnv(t *testing.T) (names []string, defaultAddr string) {
	t.Helper()
	out, err := exec.Command(greeterBinary(t), "-h").Output()
	if err != nil {
		t.Fatalf("greeter -h: %v", err)
	}
	for _, m := range regexp.MustCompile(`\(env ([A-Z0-9_]+(?: or [A-Z0-9_]+)*)\)`).FindAllStringSubmatch(string(out), -1) {
		names = append(names, strings.Split(m[1], " or ")...)
	}
	if len(names) < 10 || !slices.Contains(names, "GREETER_DRAIN") {
		t.Fatalf("greeter -h names too few variables (%q):\n%s", names, out)
	}
	m := regexp.MustCompile(`(?m)^  -addr .*\n.*\(default "([^"]*)"\)`).FindStringSubmatch(string(out))
	if m == nil {
		t.Fatalf("no default -addr in greeter -h:\n%s", out)
	}
	return names, m[1]
}

// otherEnv are the variables a manifest may set that are not the
// greeter's flags.
var otherEnv = []string{"GOMEMLIMIT", "GOMAXPROCS", "GOGC"}

// checkEnvNames fails for each name that neither the greeter nor the Go
// runtime reads: a misspelt GREETER_DRIAN would be ignored silently.
func checkEnvNames(t *testing.T, where string, names, known []string) {
	t.Helper()
	for _, n := range names {
		if !slices.Contains(known, n) && !slices.Contains(otherEnv, n) {
			t.Errorf("%s sets %s, which is no greeter flag's variable (greeter -h names %q) nor one of %q", where, n, known, otherEnv)
		}
	}
}

// port returns the port of a host:port.
func port(t *testing.T, hostPort string) int {
	t.Helper()
	_, p, err := net.SplitHostPort(hostPort)
	if err != nil {
		t.Fatalf("%q: %v", hostPort, err)
	}
	n, err := strconv.Atoi(p)
	if err != nil {
		t.Fatalf("%q: port %q is not a number", hostPort, p)
	}
	return n
}

// resolvePort returns the container port that p (a number or a port name)
// names in c, or 0.
func resolvePort(c corev1.Container, p intstr.IntOrString) int32 {
	for _, cp := range c.Ports {
		if (p.Type == intstr.String && cp.Name == p.StrVal) || (p.Type == intstr.Int && cp.ContainerPort == p.IntVal) {
			return cp.ContainerPort
		}
	}
	return 0
}

func selects(t *testing.T, what string, sel *metav1.LabelSelector, podLabels map[string]string) {
	t.Helper()
	s, err := metav1.LabelSelectorAsSelector(sel)
	if err != nil {
		t.Errorf("%s selector: %v", what, err)
		return
	}
	if s.Empty() || !s.Matches(labels.Set(podLabels)) {
		t.Errorf("%s selector %q does not select the Deployment's pods (labels %v)", what, s, podLabels)
	}
}

func duration(t *testing.T, what, v string) time.Duration {
	t.Helper()
	d, err := time.ParseDuration(v)
	if err != nil {
		t.Fatalf("%s %q: %v", what, v, err)
	}
	return d
}

// TestManifests: the manifests decode strictly and agree with each other
// and with the greeter.
func TestManifests(t *testing.T) {
	m := loadManifests(t)
	d, svc, pdb, hpa, secret := m.deployments[0], m.services[0], m.pdbs[0], m.hpas[0], m.secrets[0]
	pod := d.Spec.Template
	if len(pod.Spec.Containers) != 1 {
		t.Fatalf("the Deployment has %d containers, want 1", len(pod.Spec.Containers))
	}
	c := pod.Spec.Containers[0]

	// Selectors.
	selects(t, "Deployment", d.Spec.Selector, pod.Labels)
	selects(t, "PodDisruptionBudget", pdb.Spec.Selector, pod.Labels)
	selects(t, "Service", &metav1.LabelSelector{MatchLabels: svc.Spec.Selector}, pod.Labels)
	if ref := hpa.Spec.ScaleTargetRef; ref.Kind != "Deployment" || ref.Name != d.Name || ref.APIVersion != "apps/v1" {
		t.Errorf("the HorizontalPodAutoscaler scales %s %s (%s), want Deployment %s (apps/v1)", ref.Kind, ref.Name, ref.APIVersion, d.Name)
	}
	if hpa.Spec.MinReplicas == nil || *hpa.Spec.MinReplicas < 2 || hpa.Spec.MaxReplicas < *hpa.Spec.MinReplicas {
		t.Errorf("HorizontalPodAutoscaler replicas %v..%d: want at least 2, so that the PodDisruptionBudget can let one go", hpa.Spec.MinReplicas, hpa.Spec.MaxReplicas)
	}
	for _, metric := range hpa.Spec.Metrics {
		if metric.Resource != nil && metric.Resource.Target.Type == autoscalingv2.UtilizationMetricType {
			if _, ok := c.Resources.Requests[metric.Resource.Name]; !ok {
				t.Errorf("the HorizontalPodAutoscaler scales on %s utilization, which the container does not request", metric.Resource.Name)
			}
		}
	}
	if pdb.Spec.MaxUnavailable == nil && pdb.Spec.MinAvailable == nil {
		t.Error("the PodDisruptionBudget sets neither maxUnavailable nor minAvailable")
	}

	// Ports: GREETER_ADDR, the container port, the probes, the Service.
	env := map[string]corev1.EnvVar{}
	var envNames []string
	for _, e := range c.Env {
		if _, dup := env[e.Name]; dup {
			t.Errorf("the container sets %s twice", e.Name)
		}
		env[e.Name] = e
		envNames = append(envNames, e.Name)
	}
	known, defaultAddr := greeterEnv(t)
	checkEnvNames(t, "the Deployment", envNames, known)
	addr := defaultAddr
	if e, ok := env["GREETER_ADDR"]; ok {
		addr = e.Value
	}
	if len(c.Ports) != 1 || c.Ports[0].ContainerPort != int32(port(t, addr)) {
		t.Errorf("container ports %v, want the one the greeter listens on (%s)", c.Ports, addr)
	}
	probes := map[string]*corev1.Probe{"readiness": c.ReadinessProbe, "liveness": c.LivenessProbe, "startup": c.StartupProbe}
	wantPath := map[string]string{"readiness": "/readyz", "liveness": "/healthz", "startup": "/healthz"}
	for name, p := range probes {
		if p == nil || p.HTTPGet == nil {
			t.Errorf("no HTTP %s probe", name)
			continue
		}
		if p.HTTPGet.Path != wantPath[name] {
			t.Errorf("%s probe on %s, want %s", name, p.HTTPGet.Path, wantPath[name])
		}
		if resolvePort(c, p.HTTPGet.Port) != c.Ports[0].ContainerPort {
			t.Errorf("%s probe on port %s, which is not the container's", name, p.HTTPGet.Port.String())
		}
	}
	if len(svc.Spec.Ports) == 0 {
		t.Error("the Service has no ports")
	}
	for _, sp := range svc.Spec.Ports {
		if resolvePort(c, sp.TargetPort) == 0 {
			t.Errorf("Service port %d targets %s, which is no container port", sp.Port, sp.TargetPort.String())
		}
	}

	// The drain and the grace period.
	for _, n := range []string{"GREETER_DRAIN", "GREETER_SHUTDOWN_TIMEOUT"} {
		if env[n].Value == "" {
			t.Fatalf("the Deployment does not set %s: the grace period must be checked against it", n)
		}
	}
	drain := duration(t, "GREETER_DRAIN", env["GREETER_DRAIN"].Value)
	shutdown := duration(t, "GREETER_SHUTDOWN_TIMEOUT", env["GREETER_SHUTDOWN_TIMEOUT"].Value)
	var preStop time.Duration
	if c.Lifecycle != nil && c.Lifecycle.PreStop != nil {
		if c.Lifecycle.PreStop.Sleep == nil {
			t.Error("a preStop hook other than sleep: the image has no shell or sleep")
		} else {
			preStop = time.Duration(c.Lifecycle.PreStop.Sleep.Seconds) * time.Second
		}
	}
	grace := time.Duration(*pod.Spec.TerminationGracePeriodSeconds) * time.Second
	if need := preStop + drain + shutdown; grace <= need {
		t.Errorf("terminationGracePeriodSeconds %v, want more than preStop %v + GREETER_DRAIN %v + GREETER_SHUTDOWN_TIMEOUT %v", grace, preStop, drain, shutdown)
	}
	if drain <= 0 {
		t.Error("GREETER_DRAIN is 0: pods would stop listening while endpoints still name them")
	}
	if rp := c.ReadinessProbe; rp != nil && time.Duration(rp.PeriodSeconds*rp.FailureThreshold)*time.Second >= drain {
		t.Errorf("the readiness probe notices the drain after %ds × %d, not within GREETER_DRAIN %v", rp.PeriodSeconds, rp.FailureThreshold, drain)
	}

	// Security and resources.
	sc, psc := c.SecurityContext, pod.Spec.SecurityContext
	switch {
	case sc == nil || psc == nil:
		t.Error("no securityContext on the pod or the container")
	case !isTrue(sc.RunAsNonRoot) && !isTrue(psc.RunAsNonRoot):
		t.Error("runAsNonRoot is not set")
	case !isTrue(sc.ReadOnlyRootFilesystem):
		t.Error("readOnlyRootFilesystem is not set")
	case sc.AllowPrivilegeEscalation == nil || *sc.AllowPrivilegeEscalation:
		t.Error("allowPrivilegeEscalation is not false")
	case sc.Capabilities == nil || !slices.Contains(sc.Capabilities.Drop, "ALL"):
		t.Error("capabilities do not drop ALL")
	case psc.RunAsUser == nil || *psc.RunAsUser == 0:
		t.Error("runAsUser is not a non-root number (the image's USER is numeric, 65532)")
	}
	for _, r := range []corev1.ResourceName{corev1.ResourceCPU, corev1.ResourceMemory} {
		if _, ok := c.Resources.Requests[r]; !ok {
			t.Errorf("no %s request", r)
		}
		if _, ok := c.Resources.Limits[r]; !ok {
			t.Errorf("no %s limit", r)
		}
	}

	// The Secret: every key the Deployment refers to, placeholders only.
	values := map[string]string{}
	for k, v := range secret.StringData {
		values[k] = v
	}
	for k, v := range secret.Data {
		values[k] = string(v)
	}
	for k, v := range values {
		if !strings.Contains(v, "REPLACE-ME") {
			t.Errorf("Secret key %s holds something other than a REPLACE-ME placeholder: no real secret belongs in the repository", k)
		}
	}
	// The environment the pod would get.
	podEnv := map[string]string{}
	for _, e := range c.Env {
		switch {
		case e.ValueFrom == nil:
			podEnv[e.Name] = e.Value
		case e.ValueFrom.SecretKeyRef != nil:
			ref := e.ValueFrom.SecretKeyRef
			v, ok := values[ref.Key]
			if ref.Name != secret.Name || !ok {
				t.Errorf("%s refers to key %s of Secret %s, which secret.yaml does not hold", e.Name, ref.Key, ref.Name)
			}
			podEnv[e.Name] = v
		case e.ValueFrom.ResourceFieldRef != nil:
			q, ok := c.Resources.Limits[corev1.ResourceName(strings.TrimPrefix(e.ValueFrom.ResourceFieldRef.Resource, "limits."))]
			if !ok {
				t.Errorf("%s refers to %s, which the container does not set", e.Name, e.ValueFrom.ResourceFieldRef.Resource)
			}
			podEnv[e.Name] = strconv.FormatInt(q.Value(), 10)
		default:
			t.Errorf("%s: a valueFrom this test does not resolve", e.Name)
		}
	}
	if t.Failed() {
		return
	}

	// As shipped, the placeholders keep the greeter from starting.
	t.Run("placeholders refused", func(t *testing.T) {
		var stderr bytes.Buffer
		cmd := exec.Command(greeterBinary(t), "-addr", "127.0.0.1:0")
		cmd.Env, cmd.Stderr = envList(podEnv), &stderr
		err := cmd.Run()
		var exit *exec.ExitError
		if !errors.As(err, &exit) || exit.ExitCode() != 2 || !strings.Contains(stderr.String(), "GREETER_TOKEN_SECRET") {
			t.Errorf("with the Secret's placeholders: %v, %q; want exit 2 naming GREETER_TOKEN_SECRET", err, stderr.String())
		}
		if strings.Contains(stderr.String(), "REPLACE-ME") {
			t.Errorf("the error repeats the secret: %q", stderr.String())
		}
	})

	// With real values in the Secret, the greeter takes the Deployment's
	// environment, serves its probes and drains as configured. The store
	// is memory:// here, given as a flag (which overrides the variable).
	t.Run("serves the probes", func(t *testing.T) {
		for k, v := range podEnv {
			if strings.Contains(v, "REPLACE-ME") {
				podEnv[k] = strings.Repeat("0123456789abcdef", 3)
			}
		}
		ln, err := net.Listen("tcp", "127.0.0.1:0")
		if err != nil {
			t.Fatal(err)
		}
		listen := ln.Addr().String()
		ln.Close()
		p := startGreeter(t, podEnv, "-addr", listen, "-store", "memory://", "-drain", "0")
		p.waitServing(t, "http://"+listen+"/healthz")
		for name, pr := range probes {
			resp, err := http.Get("http://" + listen + pr.HTTPGet.Path)
			if err != nil {
				t.Fatalf("%s probe: %v", name, err)
			}
			resp.Body.Close()
			if resp.StatusCode != http.StatusOK {
				t.Errorf("%s probe GET %s: %d, want 200", name, pr.HTTPGet.Path, resp.StatusCode)
			}
		}
		p.cmd.Process.Signal(syscall.SIGTERM)
		if err := p.wait(t); err != nil {
			t.Errorf("after SIGTERM: %v; stderr:\n%s", err, p.stderr.String())
		}
		logs := p.stderr.String()
		if !strings.Contains(logs, `"shutdown_timeout":`+strconv.FormatInt(int64(shutdown), 10)) && // json
			!strings.Contains(logs, "shutdown_timeout="+shutdown.String()) { // text
			t.Errorf("the greeter did not take GREETER_SHUTDOWN_TIMEOUT=%v:\n%s", shutdown, logs)
		}
	})
}

func isTrue(b *bool) bool { return b != nil && *b }

func envList(m map[string]string) []string {
	var l []string
	for k, v := range m {
		l = append(l, k+"="+v)
	}
	return l
}

// proc is the greeter running.
type proc struct {
	cmd     *exec.Cmd
	stderr  *syncBuffer
	exited  chan struct{}
	waitErr error
}

func startGreeter(t *testing.T, env map[string]string, args ...string) *proc {
	t.Helper()
	p := &proc{cmd: exec.Command(greeterBinary(t), args...), stderr: &syncBuffer{}, exited: make(chan struct{})}
	p.cmd.Env, p.cmd.Stderr = envList(env), p.stderr
	if err := p.cmd.Start(); err != nil {
		t.Fatal(err)
	}
	go func() {
		p.waitErr = p.cmd.Wait()
		close(p.exited)
	}()
	t.Cleanup(func() {
		p.cmd.Process.Kill()
		<-p.exited
	})
	return p
}

// waitServing polls url until it answers, failing if the process exits or
// 10 s pass.
func (p *proc) waitServing(t *testing.T, url string) {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for {
		select {
		case <-p.exited:
			t.Fatalf("the greeter exited: %v; stderr:\n%s", p.waitErr, p.stderr.String())
		default:
		}
		if resp, err := http.Get(url); err == nil {
			resp.Body.Close()
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("the greeter did not serve within 10s; stderr:\n%s", p.stderr.String())
		}
		time.Sleep(20 * time.Millisecond)
	}
}

func (p *proc) wait(t *testing.T) error {
	t.Helper()
	select {
	case <-p.exited:
		return p.waitErr
	case <-time.After(30 * time.Second):
		t.Fatalf("the greeter did not exit within 30s; stderr:\n%s", p.stderr.String())
		return nil
	}
}

type syncBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (s *syncBuffer) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.Write(p)
}

func (s *syncBuffer) String() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.String()
}

// compose is the part of compose.yaml the checks read.
type compose struct {
	Version  string `json:"version"`
	Services map[string]struct {
		Image           string            `json:"image"`
		Environment     map[string]string `json:"environment"`
		Ports           []string          `json:"ports"`
		Volumes         []string          `json:"volumes"`
		User            string            `json:"user"`
		ReadOnly        bool              `json:"read_only"`
		StopGracePeriod string            `json:"stop_grace_period"`
	} `json:"services"`
}

// TestCompose: compose.yaml's greeters set only variables the greeter
// reads, its images can be overridden, HAProxy gets haproxy.cfg, and
// haproxy.cfg sends requests to those greeters, checks /readyz, retries
// failed connections elsewhere and notices a drain before it ends.
func TestCompose(t *testing.T) {
	data, err := os.ReadFile("compose.yaml")
	if err != nil {
		t.Fatal(err)
	}
	var c compose
	if err := yaml.Unmarshal(data, &c); err != nil {
		t.Fatalf("compose.yaml: %v", err)
	}
	if c.Version != "3.8" {
		t.Errorf("compose.yaml version %q, want \"3.8\" (docker-compose 1.x reads it; docker compose v2 ignores it)", c.Version)
	}
	known, defaultAddr := greeterEnv(t)
	greeterPort := port(t, defaultAddr)
	var greeters []string
	for name, s := range c.Services {
		if !strings.HasPrefix(name, "greeter") {
			continue
		}
		greeters = append(greeters, name)
		var names []string
		for k := range s.Environment {
			names = append(names, k)
		}
		checkEnvNames(t, "compose service "+name, names, known)
		if s.Image != "${GREETER_IMAGE:-stateless/greeter:dev}" {
			t.Errorf("%s: image %q, want ${GREETER_IMAGE:-stateless/greeter:dev}", name, s.Image)
		}
		if a := s.Environment["GREETER_ADDR"]; a != "" {
			greeterPort = port(t, a)
		}
		drain := duration(t, name+" GREETER_DRAIN", s.Environment["GREETER_DRAIN"])
		shutdown := duration(t, name+" GREETER_SHUTDOWN_TIMEOUT", s.Environment["GREETER_SHUTDOWN_TIMEOUT"])
		if grace := duration(t, name+" stop_grace_period", s.StopGracePeriod); grace <= drain+shutdown {
			t.Errorf("%s: stop_grace_period %v, want more than GREETER_DRAIN %v + GREETER_SHUTDOWN_TIMEOUT %v", name, grace, drain, shutdown)
		}
		if !strings.HasPrefix(s.Environment["GREETER_STORE"], "redis://redis:") {
			t.Errorf("%s: GREETER_STORE %q, want the redis service", name, s.Environment["GREETER_STORE"])
		}
		if s.User == "" || strings.HasPrefix(s.User, "0") || !s.ReadOnly {
			t.Errorf("%s: user %q, read_only %v; want a non-root user and a read-only root", name, s.User, s.ReadOnly)
		}
	}
	slices.Sort(greeters)
	if len(greeters) != 3 {
		t.Errorf("compose.yaml runs greeters %q, want 3", greeters)
	}
	for name, want := range map[string]string{"redis": "${REDIS_IMAGE:-lookalike/redis:7}", "haproxy": "${HAPROXY_IMAGE:-lookalike/haproxy:3.0}"} {
		if c.Services[name].Image != want {
			t.Errorf("service %s: image %q, want %s", name, c.Services[name].Image, want)
		}
	}
	hp := c.Services["haproxy"]
	if !slices.Contains(hp.Volumes, "./haproxy.cfg:/usr/local/etc/haproxy/haproxy.cfg:ro") {
		t.Errorf("haproxy volumes %q do not mount ./haproxy.cfg where the image reads it", hp.Volumes)
	}

	cfg := readHAProxy(t)
	// Every greeter, and nothing else, is a server, on the greeter's port.
	var servers []string
	for _, l := range cfg.lines("server ") {
		f := strings.Fields(l)
		if len(f) < 3 {
			t.Errorf("haproxy.cfg: %q", l)
			continue
		}
		host, p, _ := strings.Cut(f[2], ":")
		servers = append(servers, host)
		if p != strconv.Itoa(greeterPort) {
			t.Errorf("haproxy.cfg: %q: port %s, want the greeter's %d", l, p, greeterPort)
		}
	}
	slices.Sort(servers)
	if !slices.Equal(servers, greeters) {
		t.Errorf("haproxy.cfg servers %q, want compose's greeters %q", servers, greeters)
	}
	if bind := cfg.lines("bind "); len(bind) == 0 || !slices.ContainsFunc(hp.Ports, func(p string) bool {
		return strings.HasSuffix(p, ":"+strings.TrimPrefix(strings.Fields(bind[0])[1], ":"))
	}) {
		t.Errorf("haproxy.cfg binds %q, which compose's haproxy ports %q do not publish", bind, hp.Ports)
	}
	for _, want := range []string{"balance roundrobin", "option httpchk", "http-check send meth GET uri /readyz", "http-check expect status 200", "option redispatch"} {
		if len(cfg.lines(want)) == 0 {
			t.Errorf("haproxy.cfg lacks %q", want)
		}
	}
	if r := cfg.lines("retries "); len(r) == 0 || strings.Fields(r[0])[1] == "0" {
		t.Errorf("haproxy.cfg retries %q, want some", r)
	}
	if r := cfg.lines("retry-on "); len(r) == 0 || !strings.Contains(r[0], "conn-failure") {
		t.Errorf("haproxy.cfg retry-on %q, want conn-failure among them", r)
	}
	// HAProxy takes a draining greeter out (fall × inter) before it stops
	// listening (GREETER_DRAIN).
	ds := cfg.lines("default-server ")
	if len(ds) == 0 {
		t.Fatal("haproxy.cfg has no default-server line")
	}
	opt := map[string]string{}
	f := strings.Fields(ds[0])
	for i := 1; i+1 < len(f); i++ {
		opt[f[i]] = f[i+1]
	}
	fall, err := strconv.Atoi(opt["fall"])
	if err != nil {
		t.Fatalf("default-server fall %q", opt["fall"])
	}
	detect := time.Duration(fall) * duration(t, "default-server inter", opt["inter"])
	if drain := duration(t, "GREETER_DRAIN", c.Services[greeters[0]].Environment["GREETER_DRAIN"]); detect >= drain {
		t.Errorf("HAProxy takes a draining greeter out after %v (fall %d × inter %s), not within GREETER_DRAIN %v", detect, fall, opt["inter"], drain)
	}
}

type haproxyCfg []string

func readHAProxy(t *testing.T) haproxyCfg {
	t.Helper()
	data, err := os.ReadFile("haproxy.cfg")
	if err != nil {
		t.Fatal(err)
	}
	var lines haproxyCfg
	for _, l := range strings.Split(string(data), "\n") {
		if l, _, _ = strings.Cut(l, "#"); strings.TrimSpace(l) != "" {
			lines = append(lines, strings.Join(strings.Fields(l), " "))
		}
	}
	return lines
}

// lines returns the lines that start with prefix.
func (c haproxyCfg) lines(prefix string) []string {
	var out []string
	for _, l := range c {
		if strings.HasPrefix(l, prefix) {
			out = append(out, l)
		}
	}
	return out
}

// TestComposeConfig: docker-compose (and docker compose, where present)
// accept compose.yaml. Skipped when neither is installed.
func TestComposeConfig(t *testing.T) {
	ran := false
	if _, err := exec.LookPath("docker-compose"); err == nil {
		ran = true
		if out, err := exec.Command("docker-compose", "-f", "compose.yaml", "config", "-q").CombinedOutput(); err != nil {
			t.Errorf("docker-compose config: %v\n%s", err, out)
		}
	}
	if err := exec.Command("docker", "compose", "version").Run(); err == nil {
		ran = true
		if out, err := exec.Command("docker", "compose", "-f", "compose.yaml", "config", "-q").CombinedOutput(); err != nil {
			t.Errorf("docker compose config: %v\n%s", err, out)
		}
	}
	if !ran {
		t.Skip("neither docker-compose nor docker compose is installed")
	}
}

// TestHAProxyConfig: HAProxy itself accepts haproxy.cfg, run from the
// image compose.yaml names (HAPROXY_IMAGE, default lookalike/haproxy:3.0).
// Skipped without a Docker engine or the image.
func TestHAProxyConfig(t *testing.T) {
	image := os.Getenv("HAPROXY_IMAGE")
	if image == "" {
		image = "lookalike/haproxy:3.0"
	}
	if err := exec.Command("docker", "image", "inspect", image).Run(); err != nil {
		t.Skipf("no Docker engine with image %s (build it with .ci/images/build-lookalike-images.sh)", image)
	}
	abs, err := filepath.Abs("haproxy.cfg")
	if err != nil {
		t.Fatal(err)
	}
	out, err := exec.Command("docker", "run", "--rm", "--network", "none",
		"-v", abs+":/usr/local/etc/haproxy/haproxy.cfg:ro", image,
		"haproxy", "-c", "-f", "/usr/local/etc/haproxy/haproxy.cfg").CombinedOutput()
	if err != nil {
		t.Errorf("haproxy -c: %v\n%s", err, out)
	}
	if bytes.Contains(out, []byte("[WARNING]")) || bytes.Contains(out, []byte("[ALERT]")) {
		t.Errorf("haproxy -c warns:\n%s", out)
	}
	t.Logf("haproxy -c (%s): %s", image, strings.TrimSpace(string(out)))
}
