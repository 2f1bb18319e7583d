package proxy

import (
	"net"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/meshlite/meshlite/internal/ambassador/resolver"
)

// silentDNS is a resolver whose name server (on loopback) receives every
// query and answers none, with resolv.conf's timeout:5 attempts:2: left to
// itself, a lookup would take 10s.
func silentDNS(t *testing.T) *resolver.Resolver {
	t.Helper()
	pc, err := net.ListenPacket("udp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { pc.Close() })
	dir := t.TempDir()
	conf := filepath.Join(dir, "resolv.conf")
	body := "nameserver " + pc.LocalAddr().String() + "\noptions timeout:5 attempts:2\n"
	if err := os.WriteFile(conf, []byte(body), 0o644); err != nil {
		t.Fatal(err)
	}
	r, err := resolver.New(resolver.Options{ResolvConf: conf, Hosts: filepath.Join(dir, "hosts"), NoCache: true})
	if err != nil {
		t.Fatal(err)
	}
	return r
}

func TestSlowDNSIsBoundedByTheRequest(t *testing.T) {
	table := `apiVersion: meshlite/v1
kind: RouteTable
metadata: {name: slow-dns}
spec:
  routes:
    - name: short
      source: http://localhost:{{DOOR}}/short
      target: http://slow.test/
      timeout: 200ms
    - name: long
      source: http://localhost:{{DOOR}}/long
      target: http://slow.test/
      timeout: 1m
  egress:
    - {name: slow, host: slow.test, ports: [443]}
`
	e := newEnv(t, table, silentDNS(t), func(o *Options) { o.DialTimeout = 300 * time.Millisecond })
	local := "http://127.0.0.1:" + strings.TrimPrefix(e.local.URL, "http://127.0.0.1:")
	forward := strings.TrimPrefix(e.forward.URL, "http://")
	c := &http.Client{Timeout: 5 * time.Second}

	resp, body := get(t, c, local+"/short")
	want := `DNS lookup of "slow.test" timed out after 200ms (the route timeout)`
	if resp.StatusCode != http.StatusGatewayTimeout || strings.TrimSpace(body) != want {
		t.Errorf("route timeout 200ms: %d %q, want 504 %q", resp.StatusCode, body, want)
	}
	resp, body = get(t, c, local+"/long")
	want = `DNS lookup of "slow.test" timed out after 300ms (the dial timeout)`
	if resp.StatusCode != http.StatusGatewayTimeout || strings.TrimSpace(body) != want {
		t.Errorf("route timeout 1m, dial timeout 300ms: %d %q, want 504 %q", resp.StatusCode, body, want)
	}
	status, h := rawRequest(t, forward, "CONNECT slow.test:443 HTTP/1.1\r\nHost: slow.test:443\r\n\r\n")
	if status != http.StatusGatewayTimeout || h.Get("X-Meshlite-Reason") != `DNS lookup of "slow.test" timed out after 300ms (the dial timeout)` {
		t.Errorf("CONNECT: %d %q, want 504 and the dial timeout", status, h.Get("X-Meshlite-Reason"))
	}
	lines := e.audit()
	if len(lines) != 3 {
		t.Fatalf("%d audit lines, want 3", len(lines))
	}
	for _, l := range lines {
		if l["status"] != 504.0 || !strings.HasPrefix(l["reason"].(string), `DNS lookup of "slow.test" timed out`) {
			t.Errorf("audit line %v: want status 504 and the DNS reason", l)
		}
	}
}
