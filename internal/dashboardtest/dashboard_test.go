package dashboardtest

import (
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/meshlite/meshlite/internal/testnet"
)

const dashboardFile = "../../deploy/grafana/meshlite.json"

// waitLimit bounds every wait; the machine is shared.
const waitLimit = 30 * time.Second

var bins = map[string]string{}

func TestMain(m *testing.M) { os.Exit(testnet.MainWithCommands(m, bins, "ambassador", "controlplane")) }

// dashboard is the part of a Grafana dashboard the test reads.
type dashboard struct {
	Panels     []panel `json:"panels"`
	Templating struct {
		List []struct {
			Name  string `json:"name"`
			Type  string `json:"type"`
			Query any    `json:"query"`
		} `json:"list"`
	} `json:"templating"`
}

type panel struct {
	Title   string  `json:"title"`
	Type    string  `json:"type"`
	Panels  []panel `json:"panels"` // a collapsed row's panels
	Targets []struct {
		RefID string `json:"refId"`
		Expr  string `json:"expr"`
	} `json:"targets"`
}

// query is one PromQL expression of the dashboard and where it is.
type query struct{ where, expr string }

func loadQueries(t *testing.T) []query {
	t.Helper()
	b, err := os.ReadFile(dashboardFile)
	if err != nil {
		t.Fatal(err)
	}
	var d dashboard
	if err := json.Unmarshal(b, &d); err != nil {
		t.Fatalf("%s: %v", dashboardFile, err)
	}
	var out []query
	var walk func([]panel)
	walk = func(ps []panel) {
		for _, p := range ps {
			walk(p.Panels)
			if p.Type != "row" && len(p.Targets) == 0 {
				t.Errorf("panel %q queries nothing", p.Title)
			}
			for _, tg := range p.Targets {
				out = append(out, query{fmt.Sprintf("panel %q, query %s", p.Title, tg.RefID), tg.Expr})
			}
		}
	}
	walk(d.Panels)
	for _, v := range d.Templating.List {
		if v.Type != "query" {
			continue
		}
		q, _ := v.Query.(string)
		if m, ok := v.Query.(map[string]any); ok {
			q, _ = m["query"].(string)
		}
		expr, ok := labelValuesMetric(q)
		if !ok {
			t.Errorf("variable %q: query %q is not label_values(METRIC, LABEL)", v.Name, q)
			continue
		}
		out = append(out, query{fmt.Sprintf("variable %q", v.Name), expr})
	}
	if len(out) == 0 {
		t.Fatalf("%s: no queries found", dashboardFile)
	}
	return out
}

var labelValues = regexp.MustCompile(`^label_values\((.+),\s*[a-zA-Z_][a-zA-Z0-9_]*\)$`)

// labelValuesMetric returns the selector of a Grafana label_values query.
func labelValuesMetric(q string) (string, bool) {
	m := labelValues.FindStringSubmatch(strings.TrimSpace(q))
	if m == nil {
		return "", false
	}
	return m[1], true
}

// TestDashboardQueriesParse runs without the binaries: every expression
// must parse and select at least one meshlite metric.
func TestDashboardQueriesParse(t *testing.T) {
	for _, q := range loadQueries(t) {
		names, err := metricNames(q.expr)
		if err != nil {
			t.Errorf("%s: %q: %v", q.where, q.expr, err)
			continue
		}
		if !slices.ContainsFunc(names, func(n string) bool { return strings.HasPrefix(n, "meshlite_") }) {
			t.Errorf("%s: %q selects no meshlite_ metric (%v)", q.where, q.expr, names)
		}
	}
}

// TestDashboardMetricsAreExported runs a control plane and an ambassador,
// makes every kind of event the dashboard shows happen, and checks that
// each metric the dashboard queries is on one of their /metrics pages.
func TestDashboardMetricsAreExported(t *testing.T) {
	queries := loadQueries(t)
	m := startMesh(t)
	m.drive(t)

	exported := map[string]string{} // family → type, from both processes
	for _, admin := range []string{m.cpAdmin, m.ambAdmin} {
		code, body := get(admin + "/metrics")
		if code != http.StatusOK {
			t.Fatalf("GET %s/metrics: %d", admin, code)
		}
		for name, typ := range families(body) {
			exported[name] = typ
		}
	}
	seen := map[string]bool{}
	for _, q := range queries {
		names, err := metricNames(q.expr)
		if err != nil {
			t.Fatalf("%s: %v", q.where, err)
		}
		for _, name := range names {
			if seen[name] {
				continue
			}
			seen[name] = true
			if !isExported(exported, name) {
				t.Errorf("%s: %s is exported by neither the ambassador nor the control plane", q.where, name)
			}
		}
	}
	t.Logf("%d queries select %d metrics", len(queries), len(seen))
}

// families reads the metric families and their types from the "# TYPE"
// lines of a text exposition. A family appears only once it has a series.
func families(exposition string) map[string]string {
	out := map[string]string{}
	for l := range strings.SplitSeq(exposition, "\n") {
		if f := strings.Fields(l); len(f) == 4 && f[0] == "#" && f[1] == "TYPE" {
			out[f[2]] = f[3]
		}
	}
	return out
}

// isExported reports whether name is a family, or one of a histogram's or
// summary's series (_bucket, _sum, _count).
func isExported(families map[string]string, name string) bool {
	if _, ok := families[name]; ok {
		return true
	}
	for _, suffix := range []string{"_bucket", "_sum", "_count"} {
		base, ok := strings.CutSuffix(name, suffix)
		if !ok {
			continue
		}
		if typ := families[base]; typ == "histogram" || typ == "summary" && suffix != "_bucket" {
			return true
		}
	}
	return false
}

// mesh is a control plane serving workload "app" to one ambassador.
type mesh struct {
	cpAdmin, ambAdmin, proxy string
	okPort, flakyPort        int
}

func startMesh(t *testing.T) *mesh {
	t.Helper()
	ok := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) { io.WriteString(w, "ok") }))
	t.Cleanup(ok.Close)
	flaky := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) {
		http.Error(w, "overloaded", http.StatusServiceUnavailable)
	}))
	t.Cleanup(flaky.Close)
	m := &mesh{okPort: testnet.FreePort(t), flakyPort: testnet.FreePort(t)}

	dir := t.TempDir()
	table := fmt.Sprintf(`apiVersion: meshlite/v1
kind: RouteTable
metadata:
  name: app
spec:
  mode: enforce
  routes:
    - name: ok
      source: http://localhost:%d/api
      target: %s
    - name: flaky
      source: http://localhost:%d/api
      target: %s
      timeout: 5s
      retry: {attempts: 3, retryOn: [5xx]}
  egress:
    - name: example
      host: allowed.example
      ports: [80]
`, m.okPort, ok.URL, m.flakyPort, flaky.URL)
	if err := os.WriteFile(filepath.Join(dir, "app.yaml"), []byte(table), 0o644); err != nil {
		t.Fatal(err)
	}
	xds := fmt.Sprintf("127.0.0.1:%d", testnet.FreePort(t))
	cpAdmin := fmt.Sprintf("127.0.0.1:%d", testnet.FreePort(t))
	m.cpAdmin = "http://" + cpAdmin
	start(t, "controlplane", "serve", "--routes", dir, "--xds", xds, "--admin", cpAdmin, "--shutdown-grace", "2s")
	waitReady(t, m.cpAdmin)

	listen := fmt.Sprintf("127.0.0.1:%d", testnet.FreePort(t))
	ambAdmin := fmt.Sprintf("127.0.0.1:%d", testnet.FreePort(t))
	m.ambAdmin, m.proxy = "http://"+ambAdmin, "http://"+listen
	start(t, "ambassador", "--listen", listen, "--admin", ambAdmin, "--xds", xds, "--workload", "app",
		"--node-id", "dashboardtest", "--shutdown-grace", "2s", "--log-level", "warn")
	waitReady(t, m.ambAdmin)
	return m
}

// drive makes the ambassador allow a request, deny one, retry a failing
// call and run out of retry budget, and waits until its metrics show it.
func (m *mesh) drive(t *testing.T) {
	t.Helper()
	if code, body := get(fmt.Sprintf("http://127.0.0.1:%d/api", m.okPort)); code != http.StatusOK {
		t.Fatalf("allowed request: %d %s", code, body)
	}
	proxyURL, _ := url.Parse(m.proxy)
	viaProxy := &http.Client{Timeout: waitLimit, Transport: &http.Transport{Proxy: http.ProxyURL(proxyURL)}}
	resp, err := viaProxy.Get("http://denied.example/")
	if err != nil {
		t.Fatalf("denied request: %v", err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusForbidden {
		t.Fatalf("denied request: status %d, want 403", resp.StatusCode)
	}
	// Every try of the flaky route fails; a burst of calls empties the
	// retry budget (it starts with 10 tokens and gains 10 per second).
	deadline := time.Now().Add(waitLimit)
	for m.metric(t, "meshlite_upstream_retry_budget_exhausted_total") == 0 {
		if time.Now().After(deadline) {
			t.Fatal("the retry budget was never exhausted")
		}
		var wg sync.WaitGroup
		for range 20 {
			wg.Go(func() { get(fmt.Sprintf("http://127.0.0.1:%d/api", m.flakyPort)) })
		}
		wg.Wait()
	}
	for _, name := range []string{"meshlite_upstream_retries_total", "meshlite_requests_total"} {
		if m.metric(t, name) == 0 {
			t.Fatalf("%s is 0 after the requests", name)
		}
	}
}

// metric sums the named metric on the ambassador's /metrics.
func (m *mesh) metric(t *testing.T, name string) float64 {
	_, body := get(m.ambAdmin + "/metrics")
	return testnet.MetricSum(body, name)
}

// start runs a built binary until the test ends.
func start(t *testing.T, name string, args ...string) {
	t.Helper()
	cmd := exec.Command(bins[name], args...)
	stderr := &testnet.Buffer{}
	cmd.Stdout, cmd.Stderr = io.Discard, stderr
	if err := cmd.Start(); err != nil {
		t.Fatalf("start %s: %v", name, err)
	}
	exited := make(chan struct{})
	go func() { cmd.Wait(); close(exited) }()
	t.Cleanup(func() {
		cmd.Process.Kill()
		<-exited
		if t.Failed() {
			t.Logf("%s stderr:\n%s", name, stderr.String())
		}
	})
}

func waitReady(t *testing.T, admin string) {
	t.Helper()
	testnet.Eventually(t, waitLimit, admin+" ready", func() bool {
		code, _ := get(admin + "/readyz")
		return code == http.StatusOK
	})
}

var client = &http.Client{Timeout: waitLimit}

// get returns the status and body of GET url; 0 when it fails.
func get(url string) (int, string) {
	resp, err := client.Get(url)
	if err != nil {
		return 0, err.Error()
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return resp.StatusCode, string(b)
}
