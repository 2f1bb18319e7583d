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

	"github.com/meshlite/meshlite/pkg/policy"
	"github.com/meshlite/meshlite/pkg/routes"
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
// rules lets traffic to seven destinations through and writes would_deny
// lines with its workload and node; `controlplane suggest` turns them into
// a table that `controlplane validate` accepts; an ambassador enforcing
// that table allows every request seen before and denies a new name under
// a domain without a wildcard, a new port, a new IP and a tunnel to a new
// port, while a new name under the suggested wildcard is allowed; `suggest
// --report` lists each destination with its count. In a second round the
// table runs in report mode, `suggest --merge` adds what was new, and the
// merged table allows it. The metadata address stays denied throughout
// and is reported as such, and the upstreams receive exactly the requests
// that were allowed, each on the address its name resolves to.
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

	// (2) suggest a table from the log; it must validate
	auditFile := filepath.Join(dir, "audit.jsonl")
	if err := os.WriteFile(auditFile, []byte(learnLog), 0o644); err != nil {
		t.Fatal(err)
	}
	table := suggest(t, auditFile, filepath.Join(dir, "tables"))

	// (3) enforce the suggestion and replay
	a = startAmbassador(t, table, w.resolvConf)
	c.forward = strings.TrimPrefix(a.forward, "http://")
	for _, u := range seenURLs {
		if code := c.do(t, u); code != http.StatusOK {
			t.Errorf("enforce: %s (seen while learning): status %d, want 200 from the upstream", u, code)
		}
	}
	// never seen: a name under one.example (two names seen: no wildcard),
	// a port of a seen name, an IP beside the seen one, a tunnel to a seen
	// name on a port seen only for plain HTTP
	newURLs := []string{
		"http://new.one.example:8080/v1/items",
		"http://api.one.example:8081/v1/items",
		ipURL(w.newIP, "/ip"),
		"https://api.one.example:9443/secure",
		metadataURL,
	}
	for _, u := range newURLs {
		if code := c.do(t, u); code != http.StatusForbidden {
			t.Errorf("enforce: %s (never seen): status %d, want 403", u, code)
		}
	}
	// a fourth name under svc.example is inside the suggested wildcard; it
	// is also the barrier: what was denied above would have arrived before it
	wildURL := "http://e.svc.example:8080/e"
	if code := c.do(t, wildURL); code != http.StatusOK {
		t.Errorf("enforce: %s (under the suggested *.svc.example): status %d, want 200", wildURL, code)
	}
	a.waitLines(t, len(seenURLs)+len(newURLs)+1)
	lines = parseAudit(t, a.stop(t))
	for _, u := range append(slices.Clone(seenURLs), wildURL) {
		if l, ok := lineFor(&lines, u); !ok || l.Decision != "allow" || l.Status != http.StatusOK {
			t.Errorf("enforce: %s: audit line %+v (found %v), want allow 200", u, l, ok)
		}
	}
	for _, u := range newURLs {
		if l, ok := lineFor(&lines, u); !ok || l.Decision != "deny" || l.Status != http.StatusForbidden {
			t.Errorf("enforce: %s: audit line %+v (found %v), want deny 403", u, l, ok)
		}
	}
	if len(lines) > 0 {
		t.Errorf("enforce: audit lines for no request: %+v", lines)
	}
	arrives[hostOf(wildURL)] = netip.AddrPortFrom(w.svc, httpPort)
	checkArrivals(t, w.ns.report(), append(append(slices.Clone(seenURLs), seenURLs...), wildURL), arrives)

	// (4) the report lists what enforce mode would have denied, with counts
	checkReport(t, auditFile, map[string]int{
		"api.one.example:8080":        4,
		"a.svc.example:8080":          1,
		"b.svc.example:8080":          1,
		"c.svc.example:8080":          1,
		"d.other.example:8081":        1,
		hostOf(ipURL(w.literal, "/")): 1,
		"tls.one.example:9443":        1,
	})

	// (5) the next round: the suggested table in report mode lets three of
	// the new destinations through; --merge adds them and keeps the rest
	learned := newURLs[:3]
	merged := mergeRound(t, w, table, learned, filepath.Join(dir, "round2"))
	a = startAmbassador(t, merged, w.resolvConf)
	c.forward = strings.TrimPrefix(a.forward, "http://")
	for _, u := range append(slices.Clone(learned), seenURLs[0]) {
		if code := c.do(t, u); code != http.StatusOK {
			t.Errorf("enforce the merged table: %s: status %d, want 200 from the upstream", u, code)
		}
	}
	for _, u := range newURLs[3:] {
		if code := c.do(t, u); code != http.StatusForbidden {
			t.Errorf("enforce the merged table: %s (never seen): status %d, want 403", u, code)
		}
	}
	marker := "http://a.svc.example:8080/marker" // the barrier for the denials above
	if code := c.do(t, marker); code != http.StatusOK {
		t.Errorf("enforce the merged table: %s: status %d, want 200", marker, code)
	}
	a.stop(t)
	arrives[hostOf(newURLs[0])] = netip.AddrPortFrom(w.one, httpPort)
	arrives[hostOf(newURLs[1])] = netip.AddrPortFrom(w.one, altPort)
	arrives[hostOf(newURLs[2])] = netip.AddrPortFrom(w.newIP, httpPort)
	want := slices.Concat(seenURLs, seenURLs, []string{wildURL}, learned, seenURLs[:1], learned, seenURLs[:1], []string{marker})
	checkArrivals(t, w.ns.report(), want, arrives)
}

// mergeRound runs the enforced table in report mode, sends urls through
// it (each would_deny), and returns the table `controlplane suggest
// --merge` makes of that log, written to dir/web.yaml, which `controlplane
// validate` passes. The merged table keeps every rule of the first.
func mergeRound(t *testing.T, w *world, table string, urls []string, dir string) string {
	t.Helper()
	b, err := os.ReadFile(table)
	if err != nil {
		t.Fatal(err)
	}
	reportTable := filepath.Join(t.TempDir(), "web.yaml")
	if err := os.WriteFile(reportTable, []byte(strings.Replace(string(b), "mode: enforce", "mode: report", 1)), 0o644); err != nil {
		t.Fatal(err)
	}
	a := startAmbassador(t, reportTable, w.resolvConf)
	c := &client{forward: strings.TrimPrefix(a.forward, "http://"), roots: w.roots}
	all := append(slices.Clone(urls), "http://api.one.example:8080/v1/items")
	for _, u := range all {
		if code := c.do(t, u); code != http.StatusOK {
			t.Errorf("next round: %s: status %d, want 200 from the upstream", u, code)
		}
	}
	a.waitLines(t, len(all))
	logText := a.stop(t)
	lines := parseAudit(t, logText)
	for i, u := range all {
		want := "would_deny"
		if i == len(urls) {
			want = "allow"
		}
		if l, ok := lineFor(&lines, u); !ok || l.Decision != want {
			t.Errorf("next round: %s: audit line %+v (found %v), want %s", u, l, ok, want)
		}
	}
	log := filepath.Join(t.TempDir(), "audit-2.jsonl")
	if err := os.WriteFile(log, []byte(logText), 0o644); err != nil {
		t.Fatal(err)
	}
	out, errOut, err := run(t, "controlplane", "suggest", "--merge", table, log)
	t.Logf("controlplane suggest --merge web.yaml audit-2.jsonl (stdout):\n%s", out)
	t.Logf("controlplane suggest --merge web.yaml audit-2.jsonl (stderr):\n%s", errOut)
	if err != nil {
		t.Fatalf("controlplane suggest --merge: %v", err)
	}
	if err := os.MkdirAll(dir, 0o755); err != nil {
		t.Fatal(err)
	}
	merged := filepath.Join(dir, "web.yaml")
	if err := os.WriteFile(merged, []byte(out), 0o644); err != nil {
		t.Fatal(err)
	}
	if vout, verr, err := run(t, "controlplane", "validate", dir); err != nil {
		t.Fatalf("controlplane validate %s: %v\n%s%s", dir, err, vout, verr)
	}
	before, err := routes.Load(table)
	if err != nil {
		t.Fatal(err)
	}
	after, err := routes.Load(merged)
	if err != nil {
		t.Fatalf("merged table: %v", err)
	}
	if after.Spec.Mode != policy.Enforce || len(after.Spec.Egress) <= len(before.Spec.Egress) {
		t.Errorf("merged table: mode %q, %d rules; want enforce and more than the %d before:\n%s",
			after.Spec.Mode, len(after.Spec.Egress), len(before.Spec.Egress), out)
	}
	for _, r := range before.Spec.Egress {
		if !slices.ContainsFunc(after.Spec.Egress, func(m policy.Rule) bool { return m.Name == r.Name }) {
			t.Errorf("merged table lost rule %q:\n%s", r.Name, out)
		}
	}
	if !strings.Contains(errOut, "new.one.example") {
		t.Errorf("merge diff on stderr does not name new.one.example:\n%s", errOut)
	}
	return merged
}

// suggest runs `controlplane suggest` on the audit log, to stdout and into
// dir, checks what it suggests and that `controlplane validate dir` passes,
// and returns the path of the suggested table for workload web.
func suggest(t *testing.T, auditFile, dir string) string {
	t.Helper()
	out, errOut, err := run(t, "controlplane", "suggest", auditFile)
	t.Logf("controlplane suggest audit.jsonl (stdout):\n%s", out)
	t.Logf("controlplane suggest audit.jsonl (stderr):\n%s", errOut)
	if err != nil {
		t.Fatalf("controlplane suggest: %v", err)
	}
	if !strings.Contains(errOut, "will stay denied") || !strings.Contains(errOut, "169.254.169.254") {
		t.Errorf("suggest stderr does not say that 169.254.169.254 will stay denied:\n%s", errOut)
	}
	if strings.Contains(out, "169.254") {
		t.Errorf("suggest output mentions the metadata address:\n%s", out)
	}
	if _, errOut, err := run(t, "controlplane", "suggest", "-o", dir, auditFile); err != nil {
		t.Fatalf("controlplane suggest -o: %v\n%s", err, errOut)
	}
	file := filepath.Join(dir, "web.yaml")
	if vout, verr, err := run(t, "controlplane", "validate", dir); err != nil {
		t.Fatalf("controlplane validate %s: %v\n%s%s", dir, err, vout, verr)
	}
	rt, err := routes.Load(file)
	if err != nil {
		t.Fatalf("suggested table: %v", err)
	}
	b, _ := os.ReadFile(file)
	if rt.Metadata.Name != "web" || rt.Spec.Mode != policy.Enforce {
		t.Errorf("suggested table: name %q, mode %q; want web, enforce:\n%s", rt.Metadata.Name, rt.Spec.Mode, b)
	}
	hosts := map[string]bool{}
	for _, r := range rt.Spec.Egress {
		hosts[r.Host] = true
	}
	for _, h := range []string{"*.svc.example", "api.one.example", "tls.one.example", "d.other.example"} {
		if !hosts[h] {
			t.Errorf("suggested table has no rule for host %q:\n%s", h, b)
		}
	}
	for _, h := range []string{"*.one.example", "*.example", "a.svc.example"} {
		if hosts[h] {
			t.Errorf("suggested table has a rule for host %q:\n%s", h, b)
		}
	}
	return file
}

// checkReport runs `controlplane suggest --report` and checks that it
// names each destination enforce mode would deny with its count of
// requests, and the metadata address (once) only among those that will
// stay denied.
func checkReport(t *testing.T, auditFile string, want map[string]int) {
	t.Helper()
	out, errOut, err := run(t, "controlplane", "suggest", "--report", auditFile)
	t.Logf("controlplane suggest --report audit.jsonl:\n%s%s", out, errOut)
	if err != nil {
		t.Fatalf("controlplane suggest --report: %v", err)
	}
	wouldDeny, stay, ok := strings.Cut(out, "will stay denied")
	if !ok {
		t.Fatalf("report has no \"will stay denied\" part:\n%s", out)
	}
	for dest, n := range want {
		if !hasCount(wouldDeny, dest, n) {
			t.Errorf("report has no line naming %s with count %d before \"will stay denied\"", dest, n)
		}
	}
	if strings.Contains(wouldDeny, "169.254") || !hasCount(stay, "169.254.169.254:80", 1) {
		t.Errorf("report does not list 169.254.169.254:80 (1 request) only under \"will stay denied\"")
	}
}

// hasCount reports whether a line of text names dest and has n as a field.
func hasCount(text, dest string, n int) bool {
	for l := range strings.SplitSeq(text, "\n") {
		f := strings.Fields(l)
		if slices.Contains(f, dest) && slices.Contains(f, fmt.Sprint(n)) {
			return true
		}
	}
	return false
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
