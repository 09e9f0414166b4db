package deploy

import (
	"bytes"
	"context"
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"os"
	"os/exec"
	"regexp"
	"slices"
	"strings"
	"testing"

	"github.com/prometheus/client_golang/prometheus"
	"sigs.k8s.io/yaml"

	"github.com/stateless-go/stateless/instrument/prom"
	"github.com/stateless-go/stateless/session"
	"github.com/stateless-go/stateless/store"
	"github.com/stateless-go/stateless/store/memory"
)

// The observability files: the Grafana dashboard and the Prometheus alert
// rules, with promtool's unit tests of the rules beside them.
const (
	dashboardFile  = "grafana/greeter.json"
	alertsFile     = "prometheus/alerts.yaml"
	alertTestsFile = "prometheus/alerts_test.yaml"
)

// usedMetrics are the metric families the files may name, with their
// type: what package instrument/prom exports (TestUsedMetricsExported
// checks them against it), and up, which Prometheus records for every
// target.
var usedMetrics = map[string]string{
	"up":                            "gauge",
	"stateless_http_requests_total": "counter",
	"stateless_http_request_duration_seconds":    "histogram",
	"stateless_store_operations_total":           "counter",
	"stateless_store_operation_duration_seconds": "histogram",
	"stateless_session_events_total":             "counter",
}

// ruleFile is a Prometheus rule file, decoded strictly: a misspelt field
// fails.
type ruleFile struct {
	Groups []struct {
		Name     string `json:"name"`
		Interval string `json:"interval,omitempty"`
		Rules    []struct {
			Alert       string            `json:"alert"`
			Expr        string            `json:"expr"`
			For         string            `json:"for"`
			Labels      map[string]string `json:"labels"`
			Annotations map[string]string `json:"annotations"`
		} `json:"rules"`
	} `json:"groups"`
}

// dashboard is the part of Grafana's dashboard model the file uses,
// decoded strictly.
type dashboard struct {
	UID          string          `json:"uid"`
	Title        string          `json:"title"`
	Description  string          `json:"description"`
	Tags         []string        `json:"tags"`
	Timezone     string          `json:"timezone"`
	Editable     bool            `json:"editable"`
	GraphTooltip int             `json:"graphTooltip"`
	Refresh      string          `json:"refresh"`
	Schema       int             `json:"schemaVersion"`
	Version      int             `json:"version"`
	Time         json.RawMessage `json:"time"`
	Annotations  json.RawMessage `json:"annotations"`
	Templating   struct {
		List []struct {
			Name       string          `json:"name"`
			Label      string          `json:"label"`
			Type       string          `json:"type"`
			Datasource *datasource     `json:"datasource"`
			Query      json.RawMessage `json:"query"`
			Definition string          `json:"definition"`
			Refresh    int             `json:"refresh"`
			Multi      bool            `json:"multi"`
			IncludeAll bool            `json:"includeAll"`
			AllValue   string          `json:"allValue"`
			Current    json.RawMessage `json:"current"`
			Hide       int             `json:"hide"`
			Sort       int             `json:"sort"`
		} `json:"list"`
	} `json:"templating"`
	Panels []struct {
		ID          int                      `json:"id"`
		Type        string                   `json:"type"`
		Title       string                   `json:"title"`
		Description string                   `json:"description"`
		Datasource  datasource               `json:"datasource"`
		GridPos     struct{ H, W, X, Y int } `json:"gridPos"`
		FieldConfig json.RawMessage          `json:"fieldConfig"`
		Options     json.RawMessage          `json:"options"`
		Targets     []struct {
			Datasource   datasource `json:"datasource"`
			RefID        string     `json:"refId"`
			Expr         string     `json:"expr"`
			LegendFormat string     `json:"legendFormat"`
		} `json:"targets"`
	} `json:"panels"`
}

type datasource struct {
	Type string `json:"type"`
	UID  string `json:"uid"`
}

func readRules(t *testing.T) ruleFile {
	t.Helper()
	b, err := os.ReadFile(alertsFile)
	if err != nil {
		t.Fatal(err)
	}
	var rf ruleFile
	if err := yaml.UnmarshalStrict(b, &rf); err != nil {
		t.Fatalf("%s: %v", alertsFile, err)
	}
	return rf
}

func readDashboard(t *testing.T) dashboard {
	t.Helper()
	b, err := os.ReadFile(dashboardFile)
	if err != nil {
		t.Fatal(err)
	}
	dec := json.NewDecoder(bytes.NewReader(b))
	dec.DisallowUnknownFields()
	var d dashboard
	if err := dec.Decode(&d); err != nil {
		t.Fatalf("%s: %v", dashboardFile, err)
	}
	return d
}

var (
	promString    = regexp.MustCompile(`"(?:[^"\\]|\\.)*"`)
	promMatchers  = regexp.MustCompile(`\{[^}]*\}|\[[^\]]*\]`)
	promGrouping  = regexp.MustCompile(`\b(?:by|without|on|ignoring|group_left|group_right)\s*\([^)]*\)`)
	promIdent     = regexp.MustCompile(`[a-zA-Z_:][a-zA-Z0-9_:]*(\s*\()?`)
	promNumber    = regexp.MustCompile(`\b\d+(?:\.\d+)?(?:e[+-]?\d+)?\b`)
	promOperators = []string{"and", "or", "unless", "bool", "offset", "inf", "nan"}
)

// metricNames returns the metric names a PromQL expression selects: the
// identifiers left once strings, label matchers, ranges, groupings,
// function calls and keywords are taken out.
func metricNames(expr string) []string {
	e := promString.ReplaceAllString(expr, `""`)
	e = promMatchers.ReplaceAllString(e, " ")
	e = promGrouping.ReplaceAllString(e, " ")
	e = promNumber.ReplaceAllString(e, " ")
	var out []string
	for _, m := range promIdent.FindAllStringSubmatch(e, -1) {
		if m[1] != "" || slices.Contains(promOperators, strings.ToLower(m[0])) {
			continue // a function or an aggregation, or a keyword
		}
		out = append(out, m[0])
	}
	return out
}

// checkMetric fails t unless name is an exported metric, or a histogram's
// _bucket, _sum or _count series.
func checkMetric(t *testing.T, where, name string) {
	t.Helper()
	if _, ok := usedMetrics[name]; ok {
		if usedMetrics[name] == "histogram" {
			t.Errorf("%s selects histogram %s itself; want its _bucket, _sum or _count", where, name)
		}
		return
	}
	for _, suffix := range []string{"_bucket", "_sum", "_count"} {
		if base, ok := strings.CutSuffix(name, suffix); ok && usedMetrics[base] == "histogram" {
			return
		}
	}
	t.Errorf("%s names %q, which is not among the metrics the greeter exports (usedMetrics)", where, name)
}

func TestMetricNames(t *testing.T) {
	got := metricNames(`histogram_quantile(0.99, sum by (le, op) (rate(a_seconds_bucket{job="x", route!~"/a|/b"}[5m]))) > 0.5 and on(instance) up == 0 or absent(b_total{x="y"})`)
	if want := []string{"a_seconds_bucket", "up", "b_total"}; !slices.Equal(got, want) {
		t.Errorf("metricNames = %q, want %q", got, want)
	}
}

func TestAlertRules(t *testing.T) {
	rf := readRules(t)
	seen := map[string]bool{}
	var exprs []string
	for _, g := range rf.Groups {
		if g.Name == "" || len(g.Rules) == 0 {
			t.Errorf("group %q: want a name and rules", g.Name)
		}
		for _, r := range g.Rules {
			where := alertsFile + ": alert " + r.Alert
			if r.Alert == "" || seen[r.Alert] {
				t.Errorf("%s: empty or repeated alert name", where)
			}
			seen[r.Alert] = true
			if sev := r.Labels["severity"]; sev != "warning" && sev != "critical" {
				t.Errorf("%s: severity %q, want warning or critical", where, sev)
			}
			if r.For == "" {
				t.Errorf("%s: no for: one bad scrape would page", where)
			}
			if r.Annotations["summary"] == "" || r.Annotations["description"] == "" {
				t.Errorf("%s: want a summary and a description", where)
			}
			if !strings.Contains(r.Expr, `job="greeter"`) {
				t.Errorf("%s: expr does not select job=\"greeter\": %s", where, r.Expr)
			}
			names := metricNames(r.Expr)
			if len(names) == 0 {
				t.Errorf("%s: expr names no metric: %s", where, r.Expr)
			}
			for _, n := range names {
				checkMetric(t, where, n)
			}
			exprs = append(exprs, r.Expr)
		}
	}
	// What the issue asks alerts for: error ratio, p99 latency, store
	// errors, readiness and instances down.
	all := strings.Join(exprs, "\n")
	for _, want := range []string{`code="5xx"`, "histogram_quantile(0.99", `result="error"`, `route="/readyz"`, "up{"} {
		if !strings.Contains(all, want) {
			t.Errorf("no alert uses %s", want)
		}
	}
}

// TestPromtool checks the rules with promtool (Debian's prometheus
// package) and runs their unit tests, alerts_test.yaml. CI installs it and
// sets TEST_REQUIRE_PROMTOOL=1, which turns its absence into a failure.
func TestPromtool(t *testing.T) {
	promtool, err := exec.LookPath("promtool")
	if err != nil {
		if os.Getenv("TEST_REQUIRE_PROMTOOL") == "1" {
			t.Fatal("promtool not found and TEST_REQUIRE_PROMTOOL=1: apt-get install prometheus")
		}
		t.Skip("promtool not found (apt-get install prometheus); the rules were only parsed")
	}
	for _, args := range [][]string{{"check", "rules", "alerts.yaml"}, {"test", "rules", "alerts_test.yaml"}} {
		cmd := exec.Command(promtool, args...)
		cmd.Dir = "prometheus"
		out, err := cmd.CombinedOutput()
		if err != nil {
			t.Errorf("promtool %s: %v\n%s", strings.Join(args, " "), err, out)
		}
	}
}

func TestDashboard(t *testing.T) {
	d := readDashboard(t)
	if d.UID == "" || d.Title == "" {
		t.Errorf("%s: want a uid and a title", dashboardFile)
	}
	var hasDS bool
	for _, v := range d.Templating.List {
		hasDS = hasDS || (v.Name == "datasource" && v.Type == "datasource")
	}
	if !hasDS {
		t.Errorf("%s: no datasource variable: the dashboard would be bound to one Prometheus", dashboardFile)
	}
	ids := map[int]bool{}
	cells := map[[2]int]string{} // each grid cell a panel covers
	var titles, exprs []string
	for _, p := range d.Panels {
		where := dashboardFile + ": panel " + p.Title
		if ids[p.ID] || p.ID == 0 {
			t.Errorf("%s: id %d zero or repeated", where, p.ID)
		}
		ids[p.ID] = true
		if p.Datasource.UID != "${datasource}" {
			t.Errorf("%s: datasource %q, want ${datasource}", where, p.Datasource.UID)
		}
		g := p.GridPos
		if g.W <= 0 || g.H <= 0 || g.X < 0 || g.X+g.W > 24 {
			t.Errorf("%s: gridPos %+v outside the 24 columns", where, g)
		}
		for x := g.X; x < g.X+g.W; x++ {
			for y := g.Y; y < g.Y+g.H; y++ {
				if other, ok := cells[[2]int{x, y}]; ok {
					t.Errorf("%s overlaps panel %s", where, other)
				}
				cells[[2]int{x, y}] = p.Title
			}
		}
		if len(p.Targets) == 0 {
			t.Errorf("%s: no query", where)
		}
		for _, q := range p.Targets {
			names := metricNames(q.Expr)
			if len(names) == 0 {
				t.Errorf("%s: query %s names no metric", where, q.RefID)
			}
			for _, n := range names {
				checkMetric(t, where, n)
			}
			if !strings.Contains(q.Expr, `instance=~"$instance"`) {
				t.Errorf("%s: query %s ignores the instance selection: %s", where, q.RefID, q.Expr)
			}
			exprs = append(exprs, q.Expr)
		}
		titles = append(titles, strings.ToLower(p.Title))
	}
	// What the issue asks the dashboard for.
	all := strings.Join(exprs, "\n")
	for _, want := range []string{
		"stateless_http_requests_total", `code="5xx"`, "histogram_quantile(0.5,", "histogram_quantile(0.99,",
		"stateless_store_operation_duration_seconds_bucket", "create|destroy", "conflict|retry",
	} {
		if !strings.Contains(all, want) {
			t.Errorf("%s: no panel query uses %s", dashboardFile, want)
		}
	}
	for _, want := range []string{"request rate", "error ratio", "latency", "store latency", "sessions created", "conflicts"} {
		if !slices.ContainsFunc(titles, func(s string) bool { return strings.Contains(s, want) }) {
			t.Errorf("%s: no panel titled with %q", dashboardFile, want)
		}
	}
}

// TestUsedMetricsExported checks usedMetrics against package prom: every
// hook of a fresh prom.Metrics is used once, and each family the files
// name must then be on its /metrics page, with the same type.
func TestUsedMetricsExported(t *testing.T) {
	m := prom.New(&prom.Options{Registry: prometheus.NewRegistry()})
	st := store.WithHook(memory.New(nil), m.StoreHook("memory"))
	defer st.Close()
	st.Get(context.Background(), "k")
	if _, done := m.SessionObserver()(context.Background(), session.EventCreate); done != nil {
		done(nil)
	}
	h := m.Handler(http.HandlerFunc(func(http.ResponseWriter, *http.Request) {}), func(*http.Request) string { return "/x" })
	h.ServeHTTP(httptest.NewRecorder(), httptest.NewRequest("GET", "/x", nil))

	w := httptest.NewRecorder()
	m.MetricsHandler().ServeHTTP(w, httptest.NewRequest("GET", "/metrics", nil))
	exported := map[string]string{}
	for line := range strings.Lines(w.Body.String()) {
		if f := strings.Fields(line); len(f) == 4 && f[0] == "#" && f[1] == "TYPE" {
			exported[f[2]] = f[3]
		}
	}
	if len(exported) == 0 {
		t.Fatalf("no metric families on the /metrics page:\n%s", w.Body)
	}
	for name, typ := range usedMetrics {
		if name == "up" {
			continue // Prometheus's own
		}
		if got, ok := exported[name]; !ok || got != typ {
			t.Errorf("the files use %s %s; package prom exports it as %q", typ, name, got)
		}
	}
}
