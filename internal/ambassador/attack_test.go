package ambassador

import (
	"bufio"
	"encoding/json"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	neturl "net/url"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/meshlite/meshlite/internal/config"
)

// These tests throw hostile requests at a running ambassador over raw TCP,
// the way an outside client would: every door, every spelling. Traffic goes
// to loopback only: the tables below allow no non-loopback destination, and
// the one table with cidrs rules is used only for loopback destinations and
// /explain (which sends nothing).

// attackTable maps the local door's /api to the recording upstream's /rng
// and has no egress rules.
const attackTable = `apiVersion: meshlite/v1
kind: RouteTable
metadata: {name: attack}
spec:
  routes:
    - name: rng
      source: http://localhost:{{DOOR}}/api
      target: http://UPSTREAM/rng
`

// guardTable lets every literal IP and localhost through the allowlist, so
// that only the address guard stands between a request and the address.
const guardTable = attackTable + `  egress:
    - name: any-v4
      cidrs: [0.0.0.0/0]
      ports: [1-65535]
    - name: any-v6
      cidrs: ["::/0"]
      ports: [1-65535]
    - name: localhost
      host: localhost
      ports: [1-65535]
`

// seenRequest is what the upstream received.
type seenRequest struct {
	method, uri, host string
	header            http.Header
	body              string
	conn              string // the ambassador's end of the upstream connection
}

// recordingUpstream records every request; "/forge" answers 403 with a
// forged X-Meshlite-Reason, "/ws" switches protocols and echoes one line.
type recordingUpstream struct {
	*httptest.Server
	mu     sync.Mutex
	seen   []seenRequest
	closed map[string]bool // connections that can carry no more requests
}

func newRecordingUpstream(t *testing.T) *recordingUpstream {
	t.Helper()
	u := &recordingUpstream{closed: map[string]bool{}}
	u.Server = httptest.NewUnstartedServer(http.HandlerFunc(u.serve))
	u.Config.ConnState = func(c net.Conn, s http.ConnState) {
		if s == http.StateClosed || s == http.StateHijacked {
			u.mu.Lock()
			u.closed[c.RemoteAddr().String()] = true
			u.mu.Unlock()
		}
	}
	u.Start()
	t.Cleanup(u.Close)
	return u
}

func (u *recordingUpstream) serve(w http.ResponseWriter, r *http.Request) {
	body, _ := io.ReadAll(r.Body)
	u.mu.Lock()
	u.seen = append(u.seen, seenRequest{r.Method, r.RequestURI, r.Host, r.Header.Clone(), string(body), r.RemoteAddr})
	u.mu.Unlock()
	switch {
	case strings.HasSuffix(r.URL.Path, "/forge"):
		w.Header().Set("X-Meshlite-Reason", "forged by the upstream")
		w.WriteHeader(http.StatusForbidden)
	case strings.HasSuffix(r.URL.Path, "/ws"):
		c, brw, err := http.NewResponseController(w).Hijack()
		if err != nil {
			return
		}
		defer c.Close()
		io.WriteString(c, "HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n\r\n")
		line, _ := brw.ReadString('\n')
		io.WriteString(c, "echo:"+line)
	default:
		fmt.Fprint(w, "ok")
	}
}

func (u *recordingUpstream) requests() []seenRequest {
	u.mu.Lock()
	defer u.mu.Unlock()
	return slices.Clone(u.seen)
}

func (u *recordingUpstream) hostPort() string { return strings.TrimPrefix(u.URL, "http://") }

// startAttack runs an ambassador with table (UPSTREAM replaced by up).
func startAttack(t *testing.T, table string, up *recordingUpstream) *running {
	t.Helper()
	cfg, door := testConfig(t, strings.ReplaceAll(table, "UPSTREAM", up.hostPort()))
	return startChecked(t, cfg, door)
}

// startChecked starts the ambassador and, when the test ends, checks that
// nothing panicked and that it stops cleanly.
func startChecked(t *testing.T, cfg config.Ambassador, door int) *running {
	t.Helper()
	r := start(t, cfg, door)
	t.Cleanup(func() {
		if strings.Contains(r.stderr.String(), "panic") {
			t.Errorf("the ambassador logged a panic:\n%s", r.stderr.String())
		}
	})
	return r
}

func (r *running) local() string   { return fmt.Sprintf("127.0.0.1:%d", r.door) }
func (r *running) forward() string { return r.cfg.Listen }

// rawResponse is one parsed answer to a raw request.
type rawResponse struct {
	status int
	header http.Header
	body   string
}

// sendRaw writes req as is to addr and reads one response. A connection
// closed without a response fails the test.
func sendRaw(t *testing.T, addr, req string) rawResponse {
	t.Helper()
	return sendPipelined(t, addr, req, 1)[0]
}

// sendPipelined writes req (n pipelined requests) and reads n responses
// before closing the connection.
func sendPipelined(t *testing.T, addr, req string, n int) []rawResponse {
	t.Helper()
	c, err := net.Dial("tcp", addr)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	c.SetDeadline(time.Now().Add(10 * time.Second))
	if _, err := io.WriteString(c, req); err != nil {
		t.Fatal(err)
	}
	br := bufio.NewReader(c)
	out := make([]rawResponse, 0, n)
	for range n {
		resp, err := http.ReadResponse(br, nil)
		if err != nil {
			t.Fatalf("reading answer %d to %.120q: %v", len(out)+1, req, err)
		}
		b, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		out = append(out, rawResponse{resp.StatusCode, resp.Header, string(b)})
	}
	return out
}

func get(target string) string {
	return "GET " + target + " HTTP/1.1\r\nHost: localhost\r\nConnection: close\r\n\r\n"
}

func connect(authority string) string {
	return "CONNECT " + authority + " HTTP/1.1\r\nHost: " + authority + "\r\nConnection: close\r\n\r\n"
}

// checkErrorShape asserts the contract of every error answer: the reason in
// X-Meshlite-Reason (printable ASCII) and as the one-line body.
func checkErrorShape(t *testing.T, res rawResponse) {
	t.Helper()
	reason := res.header.Get("X-Meshlite-Reason")
	if reason == "" {
		t.Errorf("status %d without X-Meshlite-Reason (body %q)", res.status, res.body)
	}
	for i := 0; i < len(reason); i++ {
		if c := reason[i]; c < 0x20 || c > 0x7e {
			t.Errorf("X-Meshlite-Reason has byte %#x: %q", c, reason)
			break
		}
	}
	if !strings.HasSuffix(res.body, "\n") || strings.Count(res.body, "\n") != 1 {
		t.Errorf("body is not one line: %q", res.body)
	}
}

// auditLines waits until stdout holds at least n audit lines (bounded) and
// returns every line, each decoded.
func auditLines(t *testing.T, r *running, n int) []map[string]any {
	t.Helper()
	var lines []string
	for deadline := time.Now().Add(5 * time.Second); time.Now().Before(deadline); time.Sleep(10 * time.Millisecond) {
		lines = strings.Split(strings.TrimSuffix(r.stdout.String(), "\n"), "\n")
		if lines[0] == "" {
			lines = nil
		}
		if len(lines) >= n {
			break
		}
	}
	out := make([]map[string]any, 0, len(lines))
	for _, l := range lines {
		var m map[string]any
		if err := json.Unmarshal([]byte(l), &m); err != nil {
			t.Fatalf("audit line is not one JSON object: %v\n%q", err, l)
		}
		out = append(out, m)
	}
	return out
}

// underTarget reports whether the upstream request-target stays under /rng
// and has no dot segment.
func underTarget(uri string) bool {
	p, _, _ := strings.Cut(uri, "?")
	if p != "/rng" && !strings.HasPrefix(p, "/rng/") {
		return false
	}
	for seg := range strings.SplitSeq(p, "/") {
		if seg == "." || seg == ".." {
			return false
		}
	}
	return true
}

func TestAttackPathTraversalStaysUnderTarget(t *testing.T) {
	up := newRecordingUpstream(t)
	r := startAttack(t, attackTable, up)
	tests := []struct {
		name    string
		forward bool // through the forward door as http://localhost:<door><path>
		path    string
		status  int
		sent    string // request-target the upstream must receive (200 only)
	}{
		{"dot-dot climbs out of the prefix", false, "/api/../x", 403, ""},
		{"percent-encoded dot-dot", false, "/api/%2e%2e/x", 403, ""},
		{"upper-case percent-encoded dot-dot", false, "/api/%2E%2E/x", 403, ""},
		{"encoded slashes around dot-dot", false, "/api%2f..%2fx", 403, ""},
		{"encoded dot-dot and slash", false, "/api/%2e%2e%2fx", 403, ""},
		{"backslash is not a separator", false, `/api\..\x`, 400, ""},
		{"double leading slash", false, "//api", 200, "/rng"},
		{"dot segments that stay inside", false, "/api/./../api/y", 200, "/rng/y"},
		{"encoded slash inside the remainder", false, "/api/a%2fb", 200, "/rng/a/b"},
		{"dot-dot in the query is not a path", false, "/api?x=../../y", 200, "/rng?x=../../y"},
		{"prefix match is case-sensitive", false, "/API", 403, ""},
		{"segment prefix, not string prefix", false, "/apix", 403, ""},
		{"fragment is not stripped into a match", false, "/api#frag", 403, ""},
		{"asterisk form on the local door", false, "*", 400, ""},
		{"forward door dot-dot", true, "/api/../x", 403, ""},
		{"forward door encoded dot-dot", true, "/api/%2e%2e/x", 403, ""},
		{"forward door dot segments inside", true, "/api/z/../q", 200, "/rng/q"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			before := len(up.requests())
			var res rawResponse
			if tc.forward {
				res = sendRaw(t, r.forward(), get(fmt.Sprintf("http://localhost:%d%s", r.door, tc.path)))
			} else {
				res = sendRaw(t, r.local(), get(tc.path))
			}
			if res.status != tc.status {
				t.Fatalf("status %d, want %d (reason %q)", res.status, tc.status, res.header.Get("X-Meshlite-Reason"))
			}
			seen := up.requests()[before:]
			if tc.status != 200 {
				checkErrorShape(t, res)
				if len(seen) != 0 {
					t.Fatalf("a denied request reached the upstream: %+v", seen)
				}
				return
			}
			if len(seen) != 1 || seen[0].uri != tc.sent || !underTarget(seen[0].uri) {
				t.Fatalf("upstream received %+v, want exactly %q", seen, tc.sent)
			}
		})
	}
}

func TestAttackPathSegmentsUpstreamsReadAsDotDot(t *testing.T) {
	up := newRecordingUpstream(t)
	r := startAttack(t, attackTable, up)
	for _, p := range []string{
		"/api/..;/x", "/api/..;jsessionid=1/x", `/api/..\x`, "/api/..%5cx", "/api/..%5c..%5cx",
		"/api/%c0%ae%c0%ae/x", "/api/x%00", "/api/%2e%2e;/x",
	} {
		t.Run(p, func(t *testing.T) {
			before := len(up.requests())
			res := sendRaw(t, r.local(), get(p))
			if seen := up.requests()[before:]; len(seen) != 0 {
				t.Fatalf("forwarded as %q; want a 400 before any upstream call", seen[0].uri)
			}
			if res.status != http.StatusBadRequest {
				t.Fatalf("status %d, want 400", res.status)
			}
			checkErrorShape(t, res)
		})
	}
}

func TestAttackForwardDoorHosts(t *testing.T) {
	up := newRecordingUpstream(t)
	r := startAttack(t, attackTable, up)
	mapped := fmt.Sprintf("localhost:%d", r.door)
	tests := []struct {
		name   string
		url    string
		status int
		reason string // substring of X-Meshlite-Reason; "" for 200
	}{
		{"userinfo hides the real host", "http://user@evil.invalid/", 403, `"evil.invalid:80"`},
		{"localhost as userinfo before the metadata address", "http://localhost@169.254.169.254/", 403, "169.254.169.254"},
		{"mapped source as userinfo before another address", "http://" + mapped + "@127.0.0.1:9/api", 403, "127.0.0.1:9"},
		{"path that looks like an authority", "http://" + mapped + "/api@127.0.0.1:9/", 403, `"` + mapped + `"`},
		{"mixed-case host still maps", "http://LocalHost:" + mapped[10:] + "/api", 200, ""},
		{"trailing-dot host still maps", "http://localhost.:" + mapped[10:] + "/api", 200, ""},
		{"127.0.0.1 is not the mapped source", "http://127.0.0.1:" + mapped[10:] + "/api", 403, "literal IP"},
		{"IPv4-mapped metadata address", "http://[::ffff:169.254.169.254]/", 403, "169.254.169.254"},
		{"IPv4-mapped metadata in hex", "http://[::ffff:a9fe:a9fe]/", 403, "169.254.169.254"},
		{"IPv4-mapped loopback long form", "http://[0:0:0:0:0:ffff:7f00:1]:9/", 403, "127.0.0.1"},
		{"IPv6 zone id", "http://[fe80::1%25eth0]/", 400, "zones"},
		{"decimal IPv4", "http://2852039166/", 400, "non-standard form"},
		{"octal IPv4", "http://0251.0376.0251.0376/", 400, "non-standard form"},
		{"hex IPv4", "http://0xa9fea9fe/", 400, "non-standard form"},
		{"two-part IPv4", "http://169.254.43518/", 400, "non-standard form"},
		{"short loopback", "http://127.1:9/", 400, "non-standard form"},
		{"unbalanced bracket", "http://[::1/", 400, ""},
		{"empty host", "http://:80/", 400, "empty host"},
		{"port zero", "http://localhost:0/", 400, "port"},
		{"port above 65535", "http://localhost:65536/", 400, "port"},
		{"empty port", "http://localhost:/api", 400, "port"},
		{"https in absolute form", "https://" + mapped + "/api", 400, "CONNECT"},
		{"unknown scheme", "ftp://example.invalid/", 400, "scheme"},
		{"origin form on the forward door", "/api", 400, "absolute-form"},
		{"invalid UTF-8 host", "http://%ff.invalid/", 400, "UTF-8"},
		{"quote in host", `http://exa"mple.invalid/`, 400, "invalid character"},
		{"IDN label that is not valid", "http://a\u200db.invalid/", 400, "invalid host"},
		{"unicode host becomes punycode", "http://\u00e9xample.invalid/", 403, "xn--xample-9ua.invalid"},
		{"Host header that differs from the absolute-form host", "http://" + mapped + "/api#evil.invalid", 400, `differs from Host header "evil.invalid"`},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			before := len(up.requests())
			// The Host header names the URI's host, as a client sends it: the
			// gate refuses a request whose two hosts differ (the last case).
			host := authorityHost(tc.url)
			switch tc.name {
			case "quote in host", "IDN label that is not valid":
				host = "evil.invalid" // not a valid Host header: the target's host is refused first
			case "unicode host becomes punycode":
				host = "xn--xample-9ua.invalid" // what a client sends (a raw non-ASCII Host is refused)
			}
			if strings.HasSuffix(tc.url, "#evil.invalid") {
				tc.url, host = strings.TrimSuffix(tc.url, "#evil.invalid"), "evil.invalid"
			}
			res := sendRaw(t, r.forward(), "GET "+tc.url+" HTTP/1.1\r\nHost: "+host+"\r\nConnection: close\r\n\r\n")
			if res.status != tc.status {
				t.Fatalf("status %d, want %d (reason %q)", res.status, tc.status, res.header.Get("X-Meshlite-Reason"))
			}
			seen := up.requests()[before:]
			if tc.status == 200 {
				if len(seen) != 1 || !underTarget(seen[0].uri) || seen[0].host != up.hostPort() {
					t.Fatalf("upstream received %+v", seen)
				}
				return
			}
			if len(seen) != 0 {
				t.Fatalf("a refused request reached the upstream: %+v", seen)
			}
			if strings.HasPrefix(tc.name, "unbalanced") {
				return // refused by the HTTP parser before the pipeline
			}
			checkErrorShape(t, res)
			if got := res.header.Get("X-Meshlite-Reason"); !strings.Contains(got, tc.reason) {
				t.Errorf("reason %q, want it to mention %q", got, tc.reason)
			}
		})
	}
}

// authorityHost is the host and port of an absolute URI as its Host header
// carries them (no userinfo), or "localhost" for an origin-form target.
func authorityHost(uri string) string {
	_, rest, ok := strings.Cut(uri, "://")
	if !ok {
		return "localhost"
	}
	if i := strings.IndexByte(rest, '/'); i >= 0 {
		rest = rest[:i]
	}
	if i := strings.LastIndexByte(rest, '@'); i >= 0 {
		rest = rest[i+1:]
	}
	return rest
}

func TestAttackConnectToOwnAndLoopbackAddresses(t *testing.T) {
	up := newRecordingUpstream(t)
	r := startAttack(t, guardTable, up)
	upPort := up.hostPort()[strings.LastIndexByte(up.hostPort(), ':')+1:]
	fwdPort := r.forward()[strings.LastIndexByte(r.forward(), ':')+1:]
	adminPort := r.cfg.Admin[strings.LastIndexByte(r.cfg.Admin, ':')+1:]
	tests := []struct {
		name, authority string
		status          int
		reason          string
	}{
		{"own forward door", r.forward(), 403, "own listener"},
		{"own admin listener", r.cfg.Admin, 403, "own listener"},
		{"own admin listener by name", "localhost:" + adminPort, 403, "own listener"},
		{"own admin listener IPv4-mapped", "[::ffff:127.0.0.1]:" + adminPort, 403, "own listener"},
		{"own forward door on 0.0.0.0", "0.0.0.0:" + fwdPort, 403, "unspecified"},
		{"own forward door on [::]", "[::]:" + fwdPort, 403, "unspecified"},
		{"loopback upstream", "127.0.0.1:" + upPort, 403, "loopback"},
		{"loopback upstream by name", "localhost:" + upPort, 403, "loopback"},
		{"IPv6 loopback", "[::1]:" + upPort, 403, "loopback"},
		{"IPv4-compatible loopback", "[::127.0.0.1]:" + upPort, 403, "loopback"},
		{"NAT64 loopback", "[64:ff9b::7f00:1]:" + upPort, 403, "loopback"},
		{"6to4 loopback", "[2002:7f00:1::]:" + upPort, 403, "loopback"},
		{"metadata address", "169.254.169.254:443", 403, "cloud metadata endpoint"},
		{"metadata address IPv4-mapped hex", "[::ffff:a9fe:a9fe]:443", 403, "cloud metadata endpoint"},
		{"no port", "localhost", 400, "missing port"},
		{"port zero", "localhost:0", 400, "port"},
		{"port above 65535", "localhost:65536", 400, "port"},
		{"empty authority host", ":443", 400, "empty host"},
		{"zone id", "[fe80::1%25eth0]:443", 400, "zones"},
		{"decimal IPv4", "2130706433:" + upPort, 400, "non-standard form"},
		{"hex IPv4", "0x7f000001:" + upPort, 400, "non-standard form"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			before := len(up.requests())
			res := sendRaw(t, r.forward(), connect(tc.authority))
			if res.status != tc.status {
				t.Fatalf("status %d, want %d (reason %q)", res.status, tc.status, res.header.Get("X-Meshlite-Reason"))
			}
			checkErrorShape(t, res)
			if got := res.header.Get("X-Meshlite-Reason"); !strings.Contains(got, tc.reason) {
				t.Errorf("reason %q, want it to mention %q", got, tc.reason)
			}
			if len(up.requests()) != before {
				t.Error("the upstream was reached")
			}
		})
	}
}

func TestAttackConnectToOwnLocalDoorNamesItself(t *testing.T) {
	up := newRecordingUpstream(t)
	r := startAttack(t, guardTable, up)
	res := sendRaw(t, r.forward(), connect(r.local()))
	if res.status != 403 || !strings.Contains(res.header.Get("X-Meshlite-Reason"), "own listener") {
		t.Fatalf("status %d reason %q, want 403 naming the ambassador's own listener", res.status, res.header.Get("X-Meshlite-Reason"))
	}
}

func TestAttackRouteTargetIsOwnListener(t *testing.T) {
	cfg, door := testConfig(t, "")
	fwdPort := cfg.Listen[strings.LastIndexByte(cfg.Listen, ':')+1:]
	adminPort := cfg.Admin[strings.LastIndexByte(cfg.Admin, ':')+1:]
	tests := []struct{ name, target string }{
		{"the forward door", "http://127.0.0.1:" + fwdPort + "/"},
		{"the admin listener", "http://127.0.0.1:" + adminPort + "/config_dump"},
		{"the admin listener by name", "http://localhost:" + adminPort + "/config_dump"},
		{"the route's own local door", fmt.Sprintf("http://127.0.0.1:%d/api", door)},
		{"the route's own local door by name", fmt.Sprintf("http://localhost:%d/api", door)},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			if strings.Contains(tc.name, "local door") {
			}
			cfg := cfg
			cfg.Routes = filepath.Join(t.TempDir(), "routes.yaml")
			table := strings.ReplaceAll(strings.ReplaceAll(attackTable, "{{DOOR}}", fmt.Sprint(door)), "http://UPSTREAM/rng", tc.target)
			if err := os.WriteFile(cfg.Routes, []byte(table), 0o600); err != nil {
				t.Fatal(err)
			}
			r := startChecked(t, cfg, door)
			client := &http.Client{Timeout: 5 * time.Second}
			resp, err := client.Get(fmt.Sprintf("http://127.0.0.1:%d/api", door))
			if err != nil {
				t.Fatalf("no answer: %v", err)
			}
			resp.Body.Close()
			if resp.StatusCode != 403 || !strings.Contains(resp.Header.Get("X-Meshlite-Reason"), "own listener") {
				t.Fatalf("status %d reason %q, want 403 naming the ambassador's own listener", resp.StatusCode, resp.Header.Get("X-Meshlite-Reason"))
			}
			if lines := auditLines(t, r, 1); len(lines) != 1 {
				t.Fatalf("%d audit lines for one request", len(lines))
			}
		})
	}
}

func TestAttackGuardThroughExplain(t *testing.T) {
	up := newRecordingUpstream(t)
	r := startAttack(t, guardTable, up)
	tests := []struct{ url, class string }{
		{"http://169.254.169.254/latest/meta-data/", "cloud metadata endpoint"},
		{"http://[::ffff:169.254.169.254]/", "cloud metadata endpoint"},
		{"http://[::ffff:a9fe:a9fe]/", "cloud metadata endpoint"},
		{"http://[64:ff9b::a9fe:a9fe]/", "cloud metadata endpoint"},
		{"http://[2002:a9fe:a9fe::1]/", "cloud metadata endpoint"},
		{"http://[2001:0:a9fe:a9fe::]/", "cloud metadata endpoint"},
		{"http://[0:0:0:0:0:ffff:7f00:1]/", "loopback"},
		{"http://[fe80::1]/", "link-local"},
		{"http://[ff02::1]/", "multicast"},
		{"http://255.255.255.255/", "broadcast"},
		{"http://0.0.0.0/", "unspecified"},
		{"http://[::]/", "unspecified"},
		{"https://169.254.169.254", "cloud metadata endpoint"},
	}
	for _, tc := range tests {
		t.Run(tc.url, func(t *testing.T) {
			x := explain(t, r, tc.url)
			if x.Decision != "deny" || !strings.Contains(x.Reason, tc.class) {
				t.Fatalf("decision %q reason %q, want deny naming %q", x.Decision, x.Reason, tc.class)
			}
		})
	}
}

func TestAttackGuardIPv4TranslatedForm(t *testing.T) {
	up := newRecordingUpstream(t)
	r := startAttack(t, guardTable, up)
	for _, u := range []string{"http://[::ffff:0:a9fe:a9fe]/", "http://[::ffff:0:7f00:1]/"} {
		if x := explain(t, r, u); x.Decision != "deny" {
			t.Errorf("%s: decision %q reason %q, want deny", u, x.Decision, x.Reason)
		}
	}
}

type explanation struct{ Decision, Reason string }

func explain(t *testing.T, r *running, target string) explanation {
	t.Helper()
	_, _, body := fetch(t, "http://"+r.cfg.Admin+"/explain?url="+neturl.QueryEscape(target))
	var x explanation
	if err := json.Unmarshal([]byte(body), &x); err != nil {
		t.Fatalf("explain: %v: %s", err, body)
	}
	return x
}

func TestAttackHopByHopAndForwardingHeaders(t *testing.T) {
	up := newRecordingUpstream(t)
	r := startAttack(t, attackTable, up)
	hostile := "Connection: close, X-Meshlite-Reason, Host, X-Secret\r\n" +
		"X-Secret: s\r\nX-Meshlite-Reason: forged\r\n" +
		"Proxy-Authorization: Basic dXNlcjpwYXNz\r\nProxy-Connection: keep-alive\r\nKeep-Alive: 5\r\n" +
		"X-Forwarded-For: 6.6.6.6\r\nX-Forwarded-Host: evil.invalid\r\nX-Forwarded-Proto: https\r\nForwarded: for=6.6.6.6\r\n\r\n"
	tests := []struct{ name, addr, head string }{
		{"local door", r.local(), "GET /api/h HTTP/1.1\r\nHost: localhost\r\n"},
		{"forward door", r.forward(), fmt.Sprintf("GET http://localhost:%d/api/h HTTP/1.1\r\nHost: localhost:%d\r\n", r.door, r.door)},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			before := len(up.requests())
			if res := sendRaw(t, tc.addr, tc.head+hostile); res.status != 200 {
				t.Fatalf("status %d", res.status)
			}
			seen := up.requests()[before:]
			if len(seen) != 1 {
				t.Fatalf("upstream saw %d requests", len(seen))
			}
			if seen[0].host != up.hostPort() {
				t.Errorf("upstream Host %q, want the target %q", seen[0].host, up.hostPort())
			}
			for _, h := range []string{"X-Secret", "X-Meshlite-Reason", "Proxy-Authorization", "Proxy-Connection",
				"Keep-Alive", "X-Forwarded-Host", "X-Forwarded-Proto", "Forwarded"} {
				if v := seen[0].header.Values(h); len(v) > 0 {
					t.Errorf("upstream received %s: %q", h, v)
				}
			}
			if xff := seen[0].header.Get("X-Forwarded-For"); strings.Contains(xff, "6.6.6.6") {
				t.Errorf("the client's X-Forwarded-For reached the upstream: %q", xff)
			}
		})
	}
}

func TestAttackSmugglingIsFramedOnce(t *testing.T) {
	up := newRecordingUpstream(t)
	r := startAttack(t, attackTable, up)
	tests := []struct {
		name, req string
		status    int
		upstream  int // requests the upstream must receive
	}{
		// Content-Length with Transfer-Encoding, and obs-fold, are refused
		// outright (RFC 9112 sections 6.1 and 5.2 allow either): nothing
		// reaches the upstream and the connection closes.
		{"content-length and chunked are refused",
			"POST /api/s HTTP/1.1\r\nHost: localhost\r\nContent-Length: 40\r\nTransfer-Encoding: chunked\r\n\r\n0\r\n\r\n" +
				"GET /api/smuggled HTTP/1.1\r\nHost: localhost\r\nConnection: close\r\n\r\n", 400, 0},
		{"two different content-lengths", "POST /api/s HTTP/1.1\r\nHost: localhost\r\nContent-Length: 4\r\nContent-Length: 5\r\n\r\nabcde", 400, 0},
		{"content-length list", "POST /api/s HTTP/1.1\r\nHost: localhost\r\nContent-Length: 5, 5\r\n\r\nabcde", 400, 0},
		{"signed content-length", "POST /api/s HTTP/1.1\r\nHost: localhost\r\nContent-Length: +5\r\n\r\nabcde", 400, 0},
		{"chunked plus identity", "POST /api/s HTTP/1.1\r\nHost: localhost\r\nTransfer-Encoding: chunked, identity\r\n\r\n0\r\n\r\n", 501, 0},
		{"unknown transfer coding", "POST /api/s HTTP/1.1\r\nHost: localhost\r\nTransfer-Encoding: xchunked\r\n\r\n0\r\n\r\n", 501, 0},
		{"space before the colon", "POST /api/s HTTP/1.1\r\nHost: localhost\r\nTransfer-Encoding : chunked\r\n\r\n0\r\n\r\n", 400, 0},
		{"two Host headers", "GET /api/s HTTP/1.1\r\nHost: localhost\r\nHost: evil.invalid\r\n\r\n", 400, 0},
		{"bare CR inside a header", "GET /api/s HTTP/1.1\r\nHost: localhost\r\nX-A: a\rb\r\n\r\n", 400, 0},
		{"obs-fold is refused", "GET /api/s HTTP/1.1\r\nHost: localhost\r\nX-Fold: a\r\n b\r\nConnection: close\r\n\r\n", 400, 0},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			before := len(up.requests())
			for i, res := range sendPipelined(t, r.local(), tc.req, max(tc.upstream, 1)) {
				if res.status != tc.status {
					t.Fatalf("answer %d: status %d, want %d", i+1, res.status, tc.status)
				}
			}
			seen := untilMarker(t, up, r.local(), before)
			if len(seen) != tc.upstream {
				t.Fatalf("upstream received %d requests, want %d: %+v", len(seen), tc.upstream, seen)
			}
			for _, s := range seen {
				if s.body != "" {
					t.Errorf("%s %s reached the upstream with body %q", s.method, s.uri, s.body)
				}
				for k, vs := range s.header {
					for _, v := range vs {
						if strings.ContainsAny(v, "\r\n") {
							t.Errorf("header %s reached the upstream with a line break: %q", k, v)
						}
					}
				}
			}
		})
	}
}

// untilMarker returns the requests the upstream received from index from
// on, before a marker request sent afterwards through door: ordering, not a
// wait, proves that nothing else arrived. The upstream serves a
// connection's requests one after another, so once a marker has come over
// every upstream connection that carried one of those requests (or that
// connection is closed), a request smuggled into it would already be
// recorded. The ambassador reuses its idle upstream connection, so the
// first marker is usually enough; more are sent until it holds.
func untilMarker(t *testing.T, up *recordingUpstream, door string, from int) []seenRequest {
	t.Helper()
	for i, deadline := 0, time.Now().Add(10*time.Second); time.Now().Before(deadline); i++ {
		marker := fmt.Sprintf("marker-%d-%d", from, i)
		if res := sendRaw(t, door, get("/api/"+marker)); res.status != http.StatusOK {
			t.Fatalf("marker request %s: status %d %q", marker, res.status, res.body)
		}
		if seen, ok := up.settledBefore(from, marker); ok {
			return seen
		}
	}
	t.Fatalf("no marker request shared a connection with the requests from index %d, which stayed open, for 10s", from)
	return nil
}

// settledBefore returns the requests from index from on that arrived before
// marker, markers left out, and whether each came over marker's connection
// or over one that is closed.
func (u *recordingUpstream) settledBefore(from int, marker string) ([]seenRequest, bool) {
	u.mu.Lock()
	defer u.mu.Unlock()
	var before []seenRequest
	for _, s := range u.seen[from:] {
		if strings.HasSuffix(s.uri, "/"+marker) {
			for _, b := range before {
				if b.conn != s.conn && !u.closed[b.conn] {
					return nil, false
				}
			}
			return before, true
		}
		if !strings.Contains(s.uri, "/marker-") {
			before = append(before, s)
		}
	}
	return nil, false // the marker answered 200 only after it was recorded
}

func TestAttackClientBodyErrorsAreBadRequests(t *testing.T) {
	up := newRecordingUpstream(t)
	r := startAttack(t, attackTable, up)
	for _, body := range []string{"zz\r\nabc\r\n0\r\n\r\n", "fffffffffffffffff\r\nabc\r\n0\r\n\r\n", "5\nabcde\n0\n\n"} {
		res := sendRaw(t, r.local(), "POST /api/b HTTP/1.1\r\nHost: localhost\r\nTransfer-Encoding: chunked\r\nConnection: close\r\n\r\n"+body)
		if res.status != http.StatusBadRequest {
			t.Errorf("body %q: status %d reason %q, want 400", body, res.status, res.header.Get("X-Meshlite-Reason"))
		}
	}
}

func TestAttackAuditStaysOneLinePerRequest(t *testing.T) {
	up := newRecordingUpstream(t)
	r := startAttack(t, attackTable, up)
	reqs := []struct{ addr, req string }{
		{r.local(), get("/api/%0a%0d%22%5c%00%e2%80%a8%ff")},
		{r.local(), "GET /api/\xff\xfe\"q\"{} HTTP/1.1\r\nHost: localhost\r\nConnection: close\r\n\r\n"},
		{r.local(), get("/nope/%0a{\"decision\":\"allow\"}")},
		{r.local(), "PROPFIND /api/m HTTP/1.1\r\nHost: localhost\r\nConnection: close\r\n\r\n"},
		{r.local(), "TRACE /api/m HTTP/1.1\r\nHost: localhost\r\nConnection: close\r\n\r\n"},
		{r.local(), "GET /api/m HTTP/1.0\r\n\r\n"},
		{r.forward(), fmt.Sprintf("GET http://localhost:%d/api/m HTTP/1.0\r\n\r\n", r.door)},
		{r.forward(), get("http://exa\"mple.invalid/%0a")},
		{r.forward(), get("http://%ff.invalid/")},
		{r.forward(), get("http://\u00e9xample.invalid/%22%7d")},
		{r.forward(), connect("a-b.invalid:443")},
		{r.forward(), get("http://a.invalid/" + strings.Repeat("x", 3000))},
	}
	for _, q := range reqs {
		res := sendRaw(t, q.addr, q.req)
		if res.status >= 400 {
			checkErrorShape(t, res)
		}
	}
	marker := get("/api/marker")
	sendRaw(t, r.local(), marker)
	lines := auditLines(t, r, len(reqs)+1)
	if len(lines) != len(reqs)+1 {
		t.Fatalf("%d audit lines for %d requests:\n%s", len(lines), len(reqs)+1, r.stdout.String())
	}
	if u, _ := lines[len(lines)-1]["url"].(string); !strings.HasSuffix(u, "/api/marker") {
		t.Errorf("last line is not the marker request: %q", u)
	}
	fields := []string{"ts", "id", "door", "client", "method", "url", "route", "target", "upstream", "decision",
		"reason", "rule", "status", "attempts", "duration_ms", "bytes_in", "bytes_out", "trace_id",
		"original_dst", "sni", "workload", "node_id"}
	for i, l := range lines {
		for _, f := range fields {
			if _, ok := l[f]; !ok {
				t.Errorf("line %d lacks %q", i, f)
			}
		}
		if len(l) != len(fields) {
			t.Errorf("line %d has %d fields, want %d", i, len(l), len(fields))
		}
		if u, _ := l["url"].(string); len(u) > 2100 {
			t.Errorf("line %d: url of %d bytes is not truncated", i, len(u))
		}
	}
}

func TestAttackAuditKeepsTheReasonOfABadRequest(t *testing.T) {
	up := newRecordingUpstream(t)
	r := startAttack(t, attackTable, up)
	res := sendRaw(t, r.forward(), get("http://2852039166/"))
	lines := auditLines(t, r, 1)
	if res.status != 400 || len(lines) != 1 {
		t.Fatalf("status %d, %d audit lines", res.status, len(lines))
	}
	if got, _ := lines[0]["reason"].(string); got != res.header.Get("X-Meshlite-Reason") {
		t.Errorf("audit reason %q, want the answer's reason %q", got, res.header.Get("X-Meshlite-Reason"))
	}
}

func TestAttackAsteriskOptionsIsAnsweredByThePipeline(t *testing.T) {
	up := newRecordingUpstream(t)
	r := startAttack(t, attackTable, up)
	for _, addr := range []string{r.forward(), r.local()} {
		res := sendRaw(t, addr, "OPTIONS * HTTP/1.1\r\nHost: localhost\r\nConnection: close\r\n\r\n")
		if res.status < 400 {
			t.Errorf("%s: OPTIONS * got %d, want an error from the pipeline", addr, res.status)
			continue
		}
		checkErrorShape(t, res)
	}
	if lines := auditLines(t, r, 2); len(lines) != 2 {
		t.Errorf("%d audit lines for two OPTIONS * requests", len(lines))
	}
}

func TestAttackLocalDoorRefusesTunnels(t *testing.T) {
	up := newRecordingUpstream(t)
	r := startAttack(t, attackTable, up)
	res := sendRaw(t, r.local(), connect("example.invalid:443"))
	if res.status != http.StatusBadRequest && res.status != http.StatusMethodNotAllowed {
		t.Fatalf("CONNECT on a local door: status %d reason %q, want 400 or 405", res.status, res.header.Get("X-Meshlite-Reason"))
	}
	checkErrorShape(t, res)
}

func TestAttackUpgradeIsAuditedAsSwitchingProtocols(t *testing.T) {
	up := newRecordingUpstream(t)
	r := startAttack(t, attackTable, up)
	c, err := net.Dial("tcp", r.local())
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	c.SetDeadline(time.Now().Add(10 * time.Second))
	io.WriteString(c, "GET /api/ws HTTP/1.1\r\nHost: localhost\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n"+
		"Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nSec-WebSocket-Version: 13\r\n\r\n")
	br := bufio.NewReader(c)
	resp, err := http.ReadResponse(br, nil)
	if err != nil || resp.StatusCode != http.StatusSwitchingProtocols {
		t.Fatalf("upgrade: %v %v", resp, err)
	}
	io.WriteString(c, "hello\n")
	if line, _ := br.ReadString('\n'); line != "echo:hello\n" {
		t.Fatalf("upgraded stream: %q", line)
	}
	c.Close()
	lines := auditLines(t, r, 1)
	if len(lines) != 1 {
		t.Fatalf("%d audit lines", len(lines))
	}
	if st, _ := lines[0]["status"].(float64); st != 101 {
		t.Errorf("audit status %v, want 101", lines[0]["status"])
	}
}

func TestAttackUpstreamCannotForgeTheReasonHeader(t *testing.T) {
	up := newRecordingUpstream(t)
	r := startAttack(t, attackTable, up)
	res := sendRaw(t, r.local(), get("/api/forge"))
	if res.status != 403 {
		t.Fatalf("status %d", res.status)
	}
	if got := res.header.Get("X-Meshlite-Reason"); got != "" {
		t.Errorf("client received the upstream's X-Meshlite-Reason %q", got)
	}
}

func TestAttackAuditTargetIsTruncated(t *testing.T) {
	up := newRecordingUpstream(t)
	r := startAttack(t, attackTable, up)
	sendRaw(t, r.local(), get("/api/"+strings.Repeat("b", 3000)))
	lines := auditLines(t, r, 1)
	if tg, _ := lines[0]["target"].(string); len(tg) > 2100 {
		t.Errorf("audit target of %d bytes", len(tg))
	}
}

func TestAttackClientLimits(t *testing.T) {
	up := newRecordingUpstream(t)
	cfg, door := testConfig(t, strings.ReplaceAll(attackTable, "UPSTREAM", up.hostPort()))
	cfg.ReadHeaderTimeout = 300 * time.Millisecond
	cfg.MaxConnections = 4
	r := startChecked(t, cfg, door)

	t.Run("headers over the limit get 431", func(t *testing.T) {
		for _, addr := range []string{r.local(), r.forward()} {
			c, err := net.Dial("tcp", addr)
			if err != nil {
				t.Fatal(err)
			}
			c.SetDeadline(time.Now().Add(10 * time.Second))
			// write in the background: the server answers before reading it all
			go io.WriteString(c, "GET /api HTTP/1.1\r\nHost: localhost\r\nX-Big: "+strings.Repeat("a", 3*cfg.MaxHeaderBytes)+"\r\n\r\n")
			resp, err := http.ReadResponse(bufio.NewReader(c), nil)
			c.Close()
			if err != nil || resp.StatusCode != http.StatusRequestHeaderFieldsTooLarge {
				t.Errorf("%s: %v %v, want 431", addr, resp, err)
			}
		}
	})
	t.Run("a request line over the limit gets 431", func(t *testing.T) {
		c, err := net.Dial("tcp", r.local())
		if err != nil {
			t.Fatal(err)
		}
		defer c.Close()
		c.SetDeadline(time.Now().Add(10 * time.Second))
		go io.WriteString(c, get("/api/"+strings.Repeat("a", 3*cfg.MaxHeaderBytes)))
		resp, err := http.ReadResponse(bufio.NewReader(c), nil)
		if err != nil || resp.StatusCode != http.StatusRequestHeaderFieldsTooLarge {
			t.Errorf("%v %v, want 431", resp, err)
		}
	})
	t.Run("slow headers are cut off", func(t *testing.T) {
		c, err := net.Dial("tcp", r.local())
		if err != nil {
			t.Fatal(err)
		}
		defer c.Close()
		c.SetDeadline(time.Now().Add(10 * time.Second))
		io.WriteString(c, "GET /api HTTP/1.1\r\nHost: localhost\r\n")
		// never finish the headers: the server must close the connection
		// long before the 10 s deadline
		n, err := c.Read(make([]byte, 1))
		if ne, ok := err.(net.Error); ok && ne.Timeout() {
			t.Fatalf("connection still open after 10 s (read %d bytes)", n)
		}
	})
	t.Run("idle connections beyond the cap do not break the door", func(t *testing.T) {
		var conns []net.Conn
		for range 3 * cfg.MaxConnections {
			c, err := net.Dial("tcp", r.local())
			if err != nil {
				t.Fatal(err)
			}
			conns = append(conns, c)
		}
		for _, c := range conns {
			c.Close()
		}
		if res := sendRaw(t, r.local(), get("/api")); res.status != 200 {
			t.Fatalf("after a connection flood: status %d", res.status)
		}
	})
}

func TestAttackMethodsAndVersions(t *testing.T) {
	up := newRecordingUpstream(t)
	r := startAttack(t, attackTable, up)
	tests := []struct {
		name, req string
		status    int
		method    string // what the upstream must see; "" when it must see nothing
	}{
		{"TRACE is proxied, not answered locally", "TRACE /api/m HTTP/1.1\r\nHost: localhost\r\nConnection: close\r\n\r\n", 200, "TRACE"},
		{"WebDAV method", "PROPFIND /api/m HTTP/1.1\r\nHost: localhost\r\nConnection: close\r\n\r\n", 200, "PROPFIND"},
		{"lower-case method is kept as sent", "get /api/m HTTP/1.1\r\nHost: localhost\r\nConnection: close\r\n\r\n", 200, "get"},
		{"quote in the method", "GE\"T /api/m HTTP/1.1\r\nHost: localhost\r\nConnection: close\r\n\r\n", 400, ""},
		{"HTTP/1.0 without Host", "GET /api/m HTTP/1.0\r\n\r\n", 200, "GET"},
		{"HTTP/0.9", "GET /api/m\r\n\r\n", 400, ""},
		{"HTTP/2.0 request line", "GET /api/m HTTP/2.0\r\nHost: localhost\r\n\r\n", 505, ""},
		{"h2c preface", "PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n", 400, ""},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			before := len(up.requests())
			res := sendRaw(t, r.local(), tc.req)
			if res.status != tc.status {
				t.Fatalf("status %d, want %d", res.status, tc.status)
			}
			seen := up.requests()[before:]
			if tc.method == "" {
				if len(seen) != 0 {
					t.Fatalf("upstream received %+v", seen)
				}
				return
			}
			if len(seen) != 1 || seen[0].method != tc.method || !underTarget(seen[0].uri) {
				t.Fatalf("upstream received %+v, want one %s under /rng", seen, tc.method)
			}
		})
	}
}

func TestAttackShutdownAuditsUpgradedConnections(t *testing.T) {
	up := newRecordingUpstream(t)
	cfg, door := testConfig(t, strings.ReplaceAll(attackTable, "UPSTREAM", up.hostPort()))
	cfg.ShutdownGrace = time.Second
	r := startChecked(t, cfg, door)
	c, err := net.Dial("tcp", r.local())
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	c.SetDeadline(time.Now().Add(10 * time.Second))
	io.WriteString(c, "GET /api/ws HTTP/1.1\r\nHost: localhost\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n\r\n")
	if resp, err := http.ReadResponse(bufio.NewReader(c), nil); err != nil || resp.StatusCode != http.StatusSwitchingProtocols {
		t.Fatalf("upgrade: %v %v", resp, err)
	}
	r.cancel() // SIGTERM with the upgraded connection still open
	if err := <-r.done; err != nil {
		t.Fatalf("Run: %v", err)
	}
	r.done <- nil
	if !strings.Contains(r.stdout.String(), "/api/ws") {
		t.Errorf("no audit line for the upgraded request after the stop:\n%s", r.stdout.String())
	}
}
