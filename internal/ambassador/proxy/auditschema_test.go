package proxy

import (
	"net/http"
	"strings"
	"testing"

	auditv1 "github.com/meshlite/meshlite/api/audit/v1"
	"github.com/meshlite/meshlite/internal/ambassador/audit/schematest"
)

// schemaTable maps the local door's /api to the namespace host and allows
// upstream.test by a rule; other.test is known to the resolver but to no
// rule.
func schemaTable(mode string) string {
	return netnsTable(mode, `{name: upstream, host: upstream.test, ports: [8080, 9000]}`) + `  routes:
    - name: api
      source: http://localhost:{{DOOR}}/api
      target: http://upstream.test:8080/mapped
`
}

// TestNetnsAuditLinesMatchTheSchema sends requests of every kind through
// the pipeline (allowed by a route and by a rule, denied, let through in
// report mode, CONNECT tunnels allowed, denied and let through) and holds
// every audit line written to api/audit/v1/audit-line.schema.json, with
// the workload and node id filled in.
func TestNetnsAuditLinesMatchTheSchema(t *testing.T) {
	host := newNetnsHost(t)
	res := host.resolver("upstream.test", "other.test")
	e := newEnv(t, schemaTable(""), res, func(o *Options) { o.NodeID = "web-7d9f8-x2k4q" })
	st := e.compile(schemaTable(""), res)
	st.Workload = "web"
	e.h.Swap(st)
	forward := strings.TrimPrefix(e.forward.URL, "http://")
	early := []byte("early bytes")

	mustStatus := func(what string, got, want int) {
		t.Helper()
		if got != want {
			t.Fatalf("%s: status %d, want %d", what, got, want)
		}
	}
	resp, _ := proxyRaw(t, e, "GET", "http://upstream.test:8080/a", "", "")
	mustStatus("allowed GET", resp.StatusCode, http.StatusOK)
	resp, _ = proxyRaw(t, e, "POST", "http://other.test:8080/b", "", "body")
	mustStatus("denied POST", resp.StatusCode, http.StatusForbidden)
	status, _ := rawRequest(t, forward, "CONNECT other.test:9000 HTTP/1.1\r\nHost: other.test:9000\r\n\r\n")
	mustStatus("denied CONNECT", status, http.StatusForbidden)
	runTunnel(t, forward, "upstream.test:9000", early, 1)
	status, _ = rawRequest(t, strings.TrimPrefix(e.local.URL, "http://"), "GET /api/c HTTP/1.1\r\nHost: localhost\r\n\r\n")
	mustStatus("mapped GET", status, http.StatusOK)

	report := e.compile(schemaTable("report"), res)
	report.Workload = "web"
	e.h.Swap(report)
	resp, _ = proxyRaw(t, e, "GET", "http://other.test:8080/d", "", "")
	mustStatus("reported GET", resp.StatusCode, http.StatusOK)
	runTunnel(t, forward, "other.test:9000", early, 1)

	lines := waitAudit(t, e, 7)
	count := map[string]int{}
	for _, l := range lines {
		count[l["door"].(string)+" "+l["method"].(string)+" "+l["decision"].(string)]++
		if l["workload"] != "web" || l["node_id"] != "web-7d9f8-x2k4q" {
			t.Errorf("line for %v %v: workload %q node_id %q", l["method"], l["url"], l["workload"], l["node_id"])
		}
	}
	want := map[string]int{
		"forward GET allow": 1, "forward POST deny": 1, "forward CONNECT deny": 1, "forward CONNECT allow": 1,
		"local GET allow": 1, "forward GET would_deny": 1, "forward CONNECT would_deny": 1,
	}
	for k, n := range want {
		if count[k] != n {
			t.Errorf("%d lines of %q, want %d (all: %v)", count[k], k, n, count)
		}
	}
	raw := strings.Split(strings.TrimSuffix(e.sink.String(), "\n"), "\n")
	for _, line := range raw {
		if err := schematest.Validate(auditv1.Schema, []byte(line)); err != nil {
			t.Errorf("line breaks the schema: %v\n%s", err, line)
		}
	}
}
