package learntest

import (
	"crypto/x509"
	"encoding/json"
	"fmt"
	"net/http"
	"net/netip"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
)

// auditLine is the part of an audit line the round trip reads.
type auditLine struct {
	Method   string `json:"method"`
	URL      string `json:"url"`
	Decision string `json:"decision"`
	Reason   string `json:"reason"`
	Status   int    `json:"status"`
	Workload string `json:"workload"`
	NodeID   string `json:"node_id"`
}

func parseAudit(t *testing.T, log string) []auditLine {
	t.Helper()
	var out []auditLine
	for l := range strings.SplitSeq(strings.TrimSpace(log), "\n") {
		var a auditLine
		if err := json.Unmarshal([]byte(l), &a); err != nil {
			t.Fatalf("audit line %q: %v", l, err)
		}
		out = append(out, a)
	}
	return out
}

// lineFor finds the audit line of the request for rawURL (method and
// destination), removing it from lines; ok is false when there is none.
func lineFor(lines *[]auditLine, rawURL string) (auditLine, bool) {
	method, host := methodOf(rawURL), hostOf(rawURL)
	for i, l := range *lines {
		if l.Method != method {
			continue
		}
		if (method == "CONNECT" && strings.Contains(l.URL, host)) || (method != "CONNECT" && l.URL == rawURL) {
			*lines = slices.Delete(*lines, i, i+1)
			return l, true
		}
	}
	return auditLine{}, false
}

// world is the round trip's set of destinations: names in a zone served on
// loopback, all pointing into the test namespace.
type world struct {
	ns         *netns
	resolvConf string
	roots      *x509.CertPool
	// the namespace's addresses by role
	one, svc, other, literal, newIP netip.Addr
}

func newWorld(t *testing.T) *world {
	t.Helper()
	certPEM, keyPEM := selfSigned(t, "tls.one.example")
	ns := newNetns(t, helperConfig{CertPEM: certPEM, KeyPEM: keyPEM})
	w := &world{ns: ns, roots: x509.NewCertPool(),
		one: ns.addrs[0], svc: ns.addrs[1], other: ns.addrs[2], literal: ns.addrs[3], newIP: ns.addrs[4]}
	if !w.roots.AppendCertsFromPEM(certPEM) {
		t.Fatal("test certificate not added to the pool")
	}
	w.resolvConf = nameServer(t, map[string]netip.Addr{
		"api.one.example": w.one, "tls.one.example": w.one, "new.one.example": w.one,
		"a.svc.example": w.svc, "b.svc.example": w.svc, "c.svc.example": w.svc, "e.svc.example": w.svc,
		"d.other.example": w.other,
	})
	return w
}

// ipURL is http://IP:8080/path.
func ipURL(a netip.Addr, path string) string {
	return fmt.Sprintf("http://%s%s", netip.AddrPortFrom(a, httpPort), path)
}

// metadataURL is a destination the address guard always denies: no
// suggestion may allow it, and no request to it leaves the ambassador.
const metadataURL = "http://169.254.169.254/latest/meta-data/"

// TestLearnAllowlistRoundTrip: an ambassador in report mode with no egress
// rules lets traffic to seven destinations through (the upstreams receive
// every request on the address its name resolves to) and writes a
// would_deny line for each, with its workload and node; the metadata
// address stays denied.
func TestLearnAllowlistRoundTrip(t *testing.T) {
	defer plainClient.CloseIdleConnections()
	w := newWorld(t)
	dir := t.TempDir()
	report := filepath.Join(dir, "report.yaml")
	if err := os.WriteFile(report, []byte(
		"apiVersion: meshlite/v1\nkind: RouteTable\nmetadata:\n  name: web\nspec:\n  mode: report\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	// what the app calls in the learning phase, in order; api.one.example
	// three times
	seenURLs := []string{
		"http://api.one.example:8080/v1/items",
		"http://api.one.example:8080/v1/items",
		"http://api.one.example:8080/v1/items",
		"http://api.one.example:8080/v1/users/7",
		"http://a.svc.example:8080/a",
		"http://b.svc.example:8080/b",
		"http://c.svc.example:8080/c",
		"http://d.other.example:8081/status",
		ipURL(w.literal, "/ip"),
		"https://tls.one.example:9443/secure",
	}
	// where each seen request must arrive
	arrives := map[string]netip.AddrPort{
		"api.one.example:8080":        netip.AddrPortFrom(w.one, httpPort),
		"a.svc.example:8080":          netip.AddrPortFrom(w.svc, httpPort),
		"b.svc.example:8080":          netip.AddrPortFrom(w.svc, httpPort),
		"c.svc.example:8080":          netip.AddrPortFrom(w.svc, httpPort),
		"d.other.example:8081":        netip.AddrPortFrom(w.other, altPort),
		hostOf(ipURL(w.literal, "/")): netip.AddrPortFrom(w.literal, httpPort),
		"tls.one.example:9443":        netip.AddrPortFrom(w.one, tlsPort),
	}

	// (1) learn: report mode lets everything through but the metadata address
	a := startAmbassador(t, report, w.resolvConf)
	c := &client{forward: strings.TrimPrefix(a.forward, "http://"), roots: w.roots}
	for _, u := range seenURLs {
		if code := c.do(t, u); code != http.StatusOK {
			t.Errorf("report mode: %s: status %d, want 200 from the upstream", u, code)
		}
	}
	if code := c.do(t, metadataURL); code != http.StatusForbidden {
		t.Errorf("report mode: %s: status %d, want 403 (the guard denies it in every mode)", metadataURL, code)
	}
	a.waitLines(t, len(seenURLs)+1)
	learnLog := a.stop(t)
	lines := parseAudit(t, learnLog)
	for _, u := range seenURLs {
		l, ok := lineFor(&lines, u)
		if !ok || l.Decision != "would_deny" || l.Workload != "web" || l.NodeID != "web-7d9f-x2" {
			t.Errorf("report mode: %s: audit line %+v (found %v), want would_deny for workload web, node web-7d9f-x2", u, l, ok)
		}
	}
	if l, ok := lineFor(&lines, metadataURL); !ok || l.Decision != "deny" || l.Status != http.StatusForbidden {
		t.Errorf("report mode: %s: audit line %+v (found %v), want deny 403", metadataURL, l, ok)
	}
	if len(lines) > 0 {
		t.Errorf("report mode: audit lines for no request: %+v", lines)
	}
	checkArrivals(t, w.ns.report(), seenURLs, arrives)
	t.Logf("learning log:\n%s", learnLog)
}

// checkArrivals checks that the upstreams received exactly the requests
// for urls, in order, each on the address its destination resolves to.
func checkArrivals(t *testing.T, got []seen, urls []string, arrives map[string]netip.AddrPort) {
	t.Helper()
	if len(got) != len(urls) {
		t.Errorf("upstreams received %d requests, want %d: %+v", len(got), len(urls), got)
	}
	for i, u := range urls {
		if i >= len(got) {
			break
		}
		want := arrives[hostOf(u)]
		g := got[i]
		path := u[strings.Index(u[len("https://"):], "/")+len("https://"):]
		if g.Local != want.String() || g.Path != path || g.TLS != strings.HasPrefix(u, "https:") {
			t.Errorf("upstream request %d: %+v, want %s on %s (TLS %v)", i, g, path, want, strings.HasPrefix(u, "https:"))
		}
	}
}
