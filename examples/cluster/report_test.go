package cluster

import (
	"fmt"
	"os"
	"path/filepath"
	"runtime"
	"strings"
	"sync"
	"testing"
	"time"
)

// row is one line of the table the issue asks for: scenario, requests,
// failed, sessions lost, recovery time; and the latency and notes that
// explain them.
type row struct {
	scenario     string
	requests     int
	failed       int
	sessionsLost string
	recovery     string
	p99          string
	notes        string
}

// report collects the rows and the performance lines of a run.
type report struct {
	mu      sync.Mutex
	began   time.Time
	rows    []row
	perf    []string
	remarks []string
}

func newReport() *report { return &report{began: time.Now()} }

func (r *report) add(t *testing.T, x row) {
	t.Helper()
	r.mu.Lock()
	r.rows = append(r.rows, x)
	r.mu.Unlock()
	t.Logf("| %s | %d | %d | %s | %s | %s | %s |", x.scenario, x.requests, x.failed, x.sessionsLost, x.recovery, x.p99, x.notes)
}

func (r *report) addPerf(t *testing.T, format string, args ...any) {
	t.Helper()
	line := fmt.Sprintf(format, args...)
	r.mu.Lock()
	r.perf = append(r.perf, line)
	r.mu.Unlock()
	t.Log(line)
}

func (r *report) remark(t *testing.T, format string, args ...any) {
	t.Helper()
	line := fmt.Sprintf(format, args...)
	r.mu.Lock()
	r.remarks = append(r.remarks, line)
	r.mu.Unlock()
	t.Log(line)
}

// String renders the report as Markdown.
func (r *report) String() string {
	r.mu.Lock()
	defer r.mu.Unlock()
	var b strings.Builder
	race := "off"
	if raceEnabled {
		race = "on (the load generator runs several times slower)"
	}
	fmt.Fprintf(&b, "# examples/cluster: measured %s\n\n", r.began.UTC().Format(time.RFC3339))
	fmt.Fprintf(&b, "%d CPUs, %s/%s, %s; race detector %s. Load through HAProxy (deploy/haproxy.cfg) on 127.0.0.1, "+
		"%d sessions a fleet. \"requests\" counts every HTTP request the client made, retries included; \"failed\" those "+
		"that got no 2xx (transport errors included); \"sessions lost\" the sessions that were gone or showed fewer visits "+
		"than had been acknowledged.\n\n",
		runtime.NumCPU(), runtime.GOOS, runtime.GOARCH, runtime.Version(), race, sessionsPerFleet)
	b.WriteString("| scenario | requests | failed | sessions lost | recovery time | p99 | notes |\n")
	b.WriteString("|---|---:|---:|---|---|---|---|\n")
	for _, x := range r.rows {
		fmt.Fprintf(&b, "| %s | %d | %d | %s | %s | %s | %s |\n", x.scenario, x.requests, x.failed, x.sessionsLost, x.recovery, x.p99, x.notes)
	}
	if len(r.perf) > 0 {
		b.WriteString("\n## Performance\n\n")
		for _, l := range r.perf {
			b.WriteString("- " + l + "\n")
		}
	}
	if len(r.remarks) > 0 {
		b.WriteString("\n## Remarks\n\n")
		for _, l := range r.remarks {
			b.WriteString("- " + l + "\n")
		}
	}
	fmt.Fprintf(&b, "\nThe whole test took %v.\n", time.Since(r.began).Round(time.Second))
	return b.String()
}

// reportPath is where the report is written: $CLUSTER_REPORT, else
// stateless-cluster-report.md in the temporary directory.
func reportPath() string {
	if p := os.Getenv("CLUSTER_REPORT"); p != "" {
		return p
	}
	return filepath.Join(os.TempDir(), "stateless-cluster-report.md")
}

// finish logs the report and writes it to reportPath.
func (r *report) finish(t *testing.T) {
	r.mu.Lock()
	none := len(r.rows) == 0 && len(r.perf) == 0
	r.mu.Unlock()
	if none {
		t.Log("cluster: no scenario ran; no report written")
		return
	}
	text := r.String()
	t.Logf("cluster report:\n%s", text)
	p := reportPath()
	if err := os.WriteFile(p, []byte(text), 0o644); err != nil {
		t.Errorf("cluster: writing the report: %v", err)
		return
	}
	t.Logf("cluster report written to %s", p)
}

func ms(d time.Duration) string {
	switch {
	case d < 0:
		return "-"
	case d < 10*time.Millisecond:
		return fmt.Sprintf("%.1f ms", float64(d)/1e6)
	case d < 10*time.Second:
		return fmt.Sprintf("%d ms", d.Milliseconds())
	}
	return fmt.Sprintf("%.1f s", d.Seconds())
}
