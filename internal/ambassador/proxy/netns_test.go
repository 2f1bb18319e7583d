package proxy

// End-to-end tests of egress rules over real sockets. The address guard
// denies loopback to every destination that is not a route target, so a rule
// can only be exercised against a host elsewhere: each test builds a network
// namespace joined to this one by a veth pair, numbers both ends from the
// benchmarking range 198.18.0.0/15 (public to the guard, routed nowhere) and
// runs the upstream servers inside it by re-executing this test binary as
// TestNetnsHelperProcess. Traffic goes only to that namespace and to
// loopback. The tests need root and the ip command (iproute2); without
// them they skip, and under CI=true they fail.

import (
	"bufio"
	"bytes"
	"encoding/json"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/netip"
	"net/textproto"
	"net/url"
	"os"
	"sort"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/meshlite/meshlite/internal/testnet"
	"github.com/meshlite/meshlite/pkg/policy"
)

const (
	netnsHelperEnv   = "MESHLITE_NETNS_HELPER" // the address the helper serves on
	netnsHTTPPort    = 8080                    // HTTP upstream that reports what it received
	netnsControlPort = 8081                    // the helper's report, read directly by the test
	netnsEchoPort    = 9000                    // TCP echo, the far end of CONNECT tunnels
	// netnsHelperLifetime bounds the helper even if the test never stops it.
	netnsHelperLifetime = 2 * time.Minute
	netnsWait           = 10 * time.Second
)

var netnsSeq atomic.Int64

// netnsHost is an upstream host in its own network namespace.
type netnsHost struct {
	t      *testing.T
	ns     string     // namespace name
	addr   netip.Addr // the upstream's address (inside ns)
	gw     netip.Addr // this namespace's end of the link
	helper *testnet.Helper
}

// newNetnsHost creates the namespace, the veth pair (a /30 of the
// benchmarking range picked from the pid and a sequence number, so that
// concurrent test processes do not share addresses) and the helper process
// serving in it; everything is removed in t.Cleanup, also on failure.
func newNetnsHost(t *testing.T) *netnsHost {
	t.Helper()
	requireNetns(t)
	pid, n := os.Getpid(), netnsSeq.Add(1)
	v := testnet.NewVeth(t, fmt.Sprintf("meshlite-test-%d-%d", pid, n),
		fmt.Sprintf("mlh%d-%d", pid, n), fmt.Sprintf("mln%d-%d", pid, n), // at most 15 bytes: pid ≤ 7 digits
		testnet.BenchmarkingPrefix(uint32(pid)*8+uint32(n), 30), 1)
	h := &netnsHost{t: t, ns: v.NS, addr: v.Addrs[0], gw: v.Gateway}
	h.startHelper()
	return h
}

// requireNetns skips the test where namespaces cannot be made (and fails it
// under CI=true).
func requireNetns(t *testing.T) {
	t.Helper()
	testnet.RequireNetns(t, "ip")
}

// startHelper runs this test binary inside the namespace as the upstream
// and waits until it listens and answers from this namespace.
func (h *netnsHost) startHelper() {
	h.t.Helper()
	ready := &readyWriter{ready: make(chan struct{})}
	h.helper = testnet.StartHelper(h.t, h.ns, "TestNetnsHelperProcess", []string{netnsHelperEnv + "=" + h.addr.String()}, ready)
	select {
	case <-ready.ready:
	case <-time.After(netnsWait):
		h.t.Fatalf("netns: helper not ready within %s; stderr: %s", netnsWait, h.helperErr())
	}
	deadline := time.Now().Add(netnsWait)
	for {
		_, err := h.fetchReport()
		if err == nil {
			return
		}
		if time.Now().After(deadline) {
			h.t.Fatalf("netns: helper at %s unreachable from the test: %v; stderr: %s", h.addr, err, h.helperErr())
		}
		time.Sleep(20 * time.Millisecond)
	}
}

func (h *netnsHost) helperErr() string {
	return strings.TrimSpace(h.helper.Stderr.String())
}

// readyWriter is the helper's stdout: it closes ready at the first "ready"
// line and discards the rest.
type readyWriter struct {
	ready chan struct{}
	seen  []byte
	done  bool
}

func (w *readyWriter) Write(p []byte) (int, error) {
	if !w.done {
		w.seen = append(w.seen, p...)
		if bytes.Contains(w.seen, []byte("ready\n")) {
			w.done = true
			close(w.ready)
		}
	}
	return len(p), nil
}

// resolver maps the given names to the host's address (the static
// resolver the policy checks and the transport dials).
func (h *netnsHost) resolver(names ...string) staticResolver {
	r := staticResolver{}
	for _, n := range names {
		r[n] = []netip.Addr{h.addr}
	}
	return r
}

func (h *netnsHost) hostPort(port int) string {
	return netip.AddrPortFrom(h.addr, uint16(port)).String()
}

// report returns what the helper has received so far.
func (h *netnsHost) report() upstreamReport {
	h.t.Helper()
	r, err := h.fetchReport()
	if err != nil {
		h.t.Fatalf("netns: reading the helper's report: %v", err)
	}
	return r
}

func (h *netnsHost) fetchReport() (upstreamReport, error) {
	c := &http.Client{Transport: &http.Transport{Proxy: nil}, Timeout: 2 * time.Second}
	defer c.CloseIdleConnections()
	var r upstreamReport
	resp, err := c.Get("http://" + h.hostPort(netnsControlPort) + "/report")
	if err != nil {
		return r, err
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		return r, fmt.Errorf("report: status %d", resp.StatusCode)
	}
	return r, json.NewDecoder(resp.Body).Decode(&r)
}

// --- the helper process, inside the namespace ---

// seenRequest is what the HTTP upstream received; it answers with it.
type seenRequest struct {
	Method     string
	Host       string
	Path       string
	RequestURI string
	Header     http.Header
	Body       string
}

// upstreamReport is the helper's record of everything that reached it.
type upstreamReport struct {
	Requests  []seenRequest
	HTTPConns int   // connections accepted on the HTTP port
	EchoConns int   // connections accepted on the echo port
	EchoBytes int64 // bytes echoed, counted before each echo connection closes
}

type nsUpstream struct {
	mu  sync.Mutex
	rep upstreamReport
}

// TestNetnsHelperProcess is the upstream of the netns tests, not a test:
// newNetnsHost runs the test binary with only this test selected, inside
// its namespace.
func TestNetnsHelperProcess(t *testing.T) {
	addr := os.Getenv(netnsHelperEnv)
	if addr == "" {
		t.Skip("the upstream of the netns tests; runs only inside their namespace")
	}
	if err := serveNetnsUpstream(addr); err != nil {
		fmt.Fprintln(os.Stderr, "netns helper:", err)
		os.Exit(1)
	}
	os.Exit(0)
}

// serveNetnsUpstream serves HTTP, echo and report listeners on addr until
// stdin ends or netnsHelperLifetime passes.
func serveNetnsUpstream(addr string) error {
	var lns [3]net.Listener
	for i, port := range []int{netnsHTTPPort, netnsEchoPort, netnsControlPort} {
		ln, err := net.Listen("tcp", net.JoinHostPort(addr, strconv.Itoa(port)))
		if err != nil {
			return err
		}
		lns[i] = ln
	}
	up := &nsUpstream{}
	go (&http.Server{Handler: http.HandlerFunc(up.serveHTTP), ConnState: up.connState}).Serve(lns[0])
	go up.echo(lns[1])
	go (&http.Server{Handler: http.HandlerFunc(up.serveReport)}).Serve(lns[2])
	fmt.Println("ready")
	stdinDone := make(chan struct{})
	go func() { io.Copy(io.Discard, os.Stdin); close(stdinDone) }()
	select {
	case <-stdinDone:
	case <-time.After(netnsHelperLifetime):
	}
	return nil
}

func (u *nsUpstream) serveHTTP(w http.ResponseWriter, r *http.Request) {
	body, _ := io.ReadAll(io.LimitReader(r.Body, 1<<20))
	seen := seenRequest{Method: r.Method, Host: r.Host, Path: r.URL.Path, RequestURI: r.RequestURI, Header: r.Header, Body: string(body)}
	u.mu.Lock()
	u.rep.Requests = append(u.rep.Requests, seen)
	u.mu.Unlock()
	b, _ := json.Marshal(seen)
	w.Header().Set("Content-Type", "application/json")
	w.Header().Set("Content-Length", strconv.Itoa(len(b)))
	w.Write(b)
}

func (u *nsUpstream) connState(_ net.Conn, s http.ConnState) {
	if s == http.StateNew {
		u.mu.Lock()
		u.rep.HTTPConns++
		u.mu.Unlock()
	}
}

func (u *nsUpstream) serveReport(w http.ResponseWriter, _ *http.Request) {
	u.mu.Lock()
	b, _ := json.Marshal(u.rep)
	u.mu.Unlock()
	w.Header().Set("Content-Type", "application/json")
	w.Write(b)
}

// echoGreeting opens every echo connection, so a tunnel carries more bytes
// back than forth and a swap of bytes_in and bytes_out shows.
const echoGreeting = "meshlite netns echo\n"

// echo greets each connection and copies it back to itself; when the client
// half-closes it records the bytes, then half-closes its side.
func (u *nsUpstream) echo(ln net.Listener) {
	for {
		c, err := ln.Accept()
		if err != nil {
			return
		}
		u.mu.Lock()
		u.rep.EchoConns++
		u.mu.Unlock()
		go func() {
			defer c.Close()
			c.SetDeadline(time.Now().Add(netnsHelperLifetime))
			io.WriteString(c, echoGreeting)
			n, _ := io.Copy(c, c)
			u.mu.Lock()
			u.rep.EchoBytes += n
			u.mu.Unlock()
			c.(*net.TCPConn).CloseWrite()
		}()
	}
}

// --- the tests ---

// netnsTable is a RouteTable with no routes and the given egress rules
// (flow-style YAML mappings).
func netnsTable(mode string, rules ...string) string {
	var b strings.Builder
	b.WriteString("apiVersion: meshlite/v1\nkind: RouteTable\nmetadata: {name: netns}\nspec:\n")
	if mode != "" {
		fmt.Fprintf(&b, "  mode: %s\n", mode)
	}
	b.WriteString("  egress:\n")
	for _, r := range rules {
		fmt.Fprintf(&b, "    - %s\n", r)
	}
	return b.String()
}

// proxyRaw sends one raw request to the forward door and returns the
// answer and its body.
func proxyRaw(t *testing.T, e *env, method, target, header, body string) (*http.Response, string) {
	t.Helper()
	c, err := net.Dial("tcp", strings.TrimPrefix(e.forward.URL, "http://"))
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	c.SetDeadline(time.Now().Add(netnsWait))
	host := strings.TrimPrefix(target, "http://")
	host, _, _ = strings.Cut(host, "/")
	fmt.Fprintf(c, "%s %s HTTP/1.1\r\nHost: %s\r\n%sContent-Length: %d\r\nConnection: close\r\n\r\n%s",
		method, target, host, header, len(body), body)
	resp, err := http.ReadResponse(bufio.NewReader(c), nil)
	if err != nil {
		t.Fatalf("%s %s: %v", method, target, err)
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	if err != nil {
		t.Fatalf("%s %s: reading the body: %v", method, target, err)
	}
	return resp, string(b)
}

// checkDenied asserts a 403 whose header and body both carry a reason
// containing want.
func checkDenied(t *testing.T, resp *http.Response, body, want string) {
	t.Helper()
	reason := resp.Header.Get("X-Meshlite-Reason")
	if resp.StatusCode != http.StatusForbidden {
		t.Fatalf("status %d (%s), want 403", resp.StatusCode, reason)
	}
	if !strings.Contains(reason, want) || strings.TrimSpace(body) != reason {
		t.Errorf("reason header %q, body %q; want both to say %q", reason, body, want)
	}
}

// checkSeen decodes the upstream's echo of the request and compares it.
func checkSeen(t *testing.T, resp *http.Response, body string, want seenRequest) seenRequest {
	t.Helper()
	if resp.StatusCode != http.StatusOK {
		t.Fatalf("status %d (%s), want 200", resp.StatusCode, resp.Header.Get("X-Meshlite-Reason"))
	}
	var got seenRequest
	if err := json.Unmarshal([]byte(body), &got); err != nil {
		t.Fatalf("upstream answer is not its report: %v: %q", err, body)
	}
	if got.Method != want.Method || got.Host != want.Host || got.Path != want.Path || got.RequestURI != want.RequestURI {
		t.Errorf("upstream received %s %s (Host %q, path %q); want %s %s (Host %q, path %q)",
			got.Method, got.RequestURI, got.Host, got.Path, want.Method, want.RequestURI, want.Host, want.Path)
	}
	return got
}

// waitAudit waits until n audit lines were written, then closes the log
// and returns every line. Lines are written after the answer, and a tunnel's
// only when it closes, so the test cannot know the moment; it polls, bounded.
func waitAudit(t *testing.T, e *env, n int) []map[string]any {
	t.Helper()
	for deadline := time.Now().Add(netnsWait); len(e.sink.entries(t)) < n && time.Now().Before(deadline); {
		time.Sleep(10 * time.Millisecond)
	}
	got := e.audit()
	if len(got) != n {
		t.Fatalf("%d audit lines, want %d: %v", len(got), n, got)
	}
	return got
}

// auditSummary renders the fields a test checks, sorted, so lines written
// in any order compare equal.
func auditSummary(lines []map[string]any) []string {
	out := make([]string, len(lines))
	for i, l := range lines {
		out[i] = fmt.Sprintf("%v %v %v status=%v rule=%v upstream=%v", l["method"], l["url"], l["decision"], l["status"], l["rule"], l["upstream"])
	}
	sort.Strings(out)
	return out
}

func checkAudit(t *testing.T, got []map[string]any, want []string) {
	t.Helper()
	sort.Strings(want)
	if g := auditSummary(got); strings.Join(g, "\n") != strings.Join(want, "\n") {
		t.Errorf("audit lines:\n%s\nwant:\n%s", strings.Join(g, "\n"), strings.Join(want, "\n"))
	}
}

func TestNetnsRuleWithMethodsAndPaths(t *testing.T) {
	host := newNetnsHost(t)
	e := newEnv(t, netnsTable("", `{name: upstream-health, host: upstream.test, ports: [8080], methods: [GET], paths: [/healthz]}`),
		host.resolver("upstream.test"))
	up := host.hostPort(netnsHTTPPort)
	tests := []struct {
		name, method, target string
		path                 string // what the upstream must receive; "" when denied
		reason               string // what the denial must say
	}{
		{name: "GET of the allowed path", method: "GET", target: "/healthz", path: "/healthz"},
		{name: "GET below the allowed path", method: "GET", target: "/healthz/live", path: "/healthz/live"},
		{name: "dot segments cleaned before matching", method: "GET", target: "/admin/..//healthz", path: "/healthz"},
		{name: "GET of another path", method: "GET", target: "/admin",
			reason: `rule "upstream-health" allows only paths /healthz on upstream.test:8080, not "/admin"`},
		{name: "dot segments cannot leave the allowed path", method: "GET", target: "/healthz/../admin",
			reason: `rule "upstream-health" allows only paths /healthz on upstream.test:8080, not "/admin"`},
		{name: "a longer segment is another path", method: "GET", target: "/healthzz",
			reason: `not "/healthzz"`},
		{name: "POST to the allowed path", method: "POST", target: "/healthz",
			reason: `rule "upstream-health" allows only GET to upstream.test:8080, not "POST"`},
	}
	var want []string
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			resp, body := proxyRaw(t, e, tt.method, "http://upstream.test:8080"+tt.target,
				"Proxy-Authorization: Basic c2VjcmV0\r\n", "ping")
			logged := "http://upstream.test:8080" + policy.CleanPath(tt.target)
			if tt.path == "" {
				checkDenied(t, resp, body, tt.reason)
				want = append(want, tt.method+" "+logged+" deny status=403 rule=upstream-health upstream=")
				return
			}
			seen := checkSeen(t, resp, body, seenRequest{Method: tt.method, Host: "upstream.test:8080", Path: tt.path, RequestURI: tt.path})
			if seen.Body != "ping" {
				t.Errorf("upstream received body %q, want %q", seen.Body, "ping")
			}
			if v := seen.Header.Get("Proxy-Authorization"); v != "" {
				t.Errorf("the proxy credentials reached the upstream: %q", v)
			}
			want = append(want, tt.method+" "+logged+" allow status=200 rule=upstream-health upstream="+up)
		})
	}
	rep := host.report()
	var paths []string
	for _, r := range rep.Requests {
		paths = append(paths, r.Method+" "+r.RequestURI)
	}
	if got := strings.Join(paths, ", "); got != "GET /healthz, GET /healthz/live, GET /healthz" {
		t.Errorf("upstream received %q; denied requests must never arrive", got)
	}
	checkAudit(t, waitAudit(t, e, len(tests)), want)
}

func TestNetnsConnectTunnel(t *testing.T) {
	host := newNetnsHost(t)
	e := newEnv(t, netnsTable("", `{name: tunnel-get-only, host: upstream.test, ports: [9000], methods: [GET]}`),
		host.resolver("upstream.test"))
	forward := strings.TrimPrefix(e.forward.URL, "http://")

	status, h := rawRequest(t, forward, "CONNECT upstream.test:9000 HTTP/1.1\r\nHost: upstream.test:9000\r\n\r\n")
	if want := `rule "tunnel-get-only" limits methods or paths, so it cannot allow a CONNECT tunnel to upstream.test:9000`; status != http.StatusForbidden ||
		!strings.Contains(h.Get("X-Meshlite-Reason"), want) {
		t.Errorf("CONNECT through a rule with methods: %d %q, want 403 saying %q", status, h.Get("X-Meshlite-Reason"), want)
	}
	if n := host.report().EchoConns; n != 0 {
		t.Fatalf("a denied CONNECT made %d upstream connections", n)
	}

	e.h.Swap(e.compile(netnsTable("", `{name: tunnel, host: upstream.test, ports: [9000]}`), host.resolver("upstream.test")))
	res := runTunnel(t, forward, "upstream.test:9000", []byte("early bytes sent with the CONNECT request"), 3)
	rep := host.report()
	if rep.EchoConns != 1 || rep.EchoBytes != res.sent {
		t.Errorf("echo server: %d connections, %d bytes; want 1 and %d", rep.EchoConns, rep.EchoBytes, res.sent)
	}

	lines := waitAudit(t, e, 2)
	checkAudit(t, lines, []string{
		"CONNECT upstream.test:9000 deny status=403 rule=tunnel-get-only upstream=",
		"CONNECT upstream.test:9000 allow status=200 rule=tunnel upstream=" + host.hostPort(netnsEchoPort),
	})
	for _, l := range lines {
		if l["decision"] == "allow" {
			checkTunnelLine(t, l, res)
		}
	}
}

// tunnelResult is what the client side of a tunnel saw.
type tunnelResult struct {
	sent, received int64
	// held is from reading the 200 to half-closing: the handler started
	// before the one and ended after the other, so the audit line's
	// duration cannot be shorter (a causal bound, not a timing guess).
	held time.Duration
}

// runTunnel opens CONNECT authority through the forward door (sending
// early right behind the request), then sends rounds of 16 KiB, reading
// each echo back before the next; it half-closes and reads to EOF.
func runTunnel(t *testing.T, forward, authority string, early []byte, rounds int) tunnelResult {
	t.Helper()
	c, err := net.Dial("tcp", forward)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	c.SetDeadline(time.Now().Add(netnsWait))
	req := "CONNECT " + authority + " HTTP/1.1\r\nHost: " + authority + "\r\n\r\n"
	if _, err := c.Write(append([]byte(req), early...)); err != nil {
		t.Fatal(err)
	}
	br := bufio.NewReader(c)
	tp := textproto.NewReader(br)
	line, err := tp.ReadLine()
	if err != nil || !strings.HasPrefix(line, "HTTP/1.1 200 ") {
		t.Fatalf("CONNECT %s: %q %v", authority, line, err)
	}
	if _, err := tp.ReadMIMEHeader(); err != nil {
		t.Fatal(err)
	}
	opened := time.Now()
	res := tunnelResult{sent: int64(len(early))}
	res.received = echoRound(t, br, nil, []byte(echoGreeting))
	res.received += echoRound(t, br, nil, early)
	for i := range rounds {
		chunk := bytes.Repeat([]byte{byte('a' + i)}, 16<<10)
		res.sent += int64(len(chunk))
		res.received += echoRound(t, br, c, chunk)
	}
	time.Sleep(20 * time.Millisecond) // an idle moment in the tunnel
	res.held = time.Since(opened)
	if err := c.(*net.TCPConn).CloseWrite(); err != nil {
		t.Fatal(err)
	}
	rest, err := io.ReadAll(br)
	if err != nil || len(rest) != 0 {
		t.Errorf("after half-close: %d more bytes, %v; want EOF", len(rest), err)
	}
	return res
}

// echoRound writes chunk to w and reads the same bytes back; with w nil it
// only reads chunk (the greeting, or bytes sent with the CONNECT request).
func echoRound(t *testing.T, r io.Reader, w io.Writer, chunk []byte) int64 {
	t.Helper()
	if w != nil {
		if _, err := w.Write(chunk); err != nil {
			t.Fatalf("writing into the tunnel: %v", err)
		}
	}
	got := make([]byte, len(chunk))
	if _, err := io.ReadFull(r, got); err != nil {
		t.Fatalf("reading the echo: %v", err)
	}
	if !bytes.Equal(got, chunk) {
		t.Fatalf("echo differs from what was sent (%d bytes)", len(chunk))
	}
	return int64(len(got))
}

func checkTunnelLine(t *testing.T, l map[string]any, res tunnelResult) {
	t.Helper()
	for k, want := range map[string]any{
		"door": "forward", "target": "upstream.test:9000", "reason": `allowed by rule "tunnel"`,
		"attempts": 1.0, "bytes_in": float64(res.sent), "bytes_out": float64(res.received),
	} {
		if l[k] != want {
			t.Errorf("tunnel audit %s = %v, want %v", k, l[k], want)
		}
	}
	if ms, _ := l["duration_ms"].(float64); ms < float64(res.held.Microseconds())/1000-0.001 {
		t.Errorf("tunnel audit duration_ms = %v, shorter than the %s the tunnel was held open: not written on close", l["duration_ms"], res.held)
	}
}

func TestNetnsLiteralIPNeedsCIDRRule(t *testing.T) {
	host := newNetnsHost(t)
	net24 := netip.PrefixFrom(host.addr, 24).Masked().String()
	ipHost := host.hostPort(netnsHTTPPort)
	tests := []struct {
		name, egress string
		rule         string // the rule the audit line names
		ok           bool
		reason       string
	}{
		{"host rule only", `{name: by-name, host: upstream.test, ports: [8080]}`, "", false,
			`no egress rule allows "` + ipHost + `" (a literal IP destination needs a rule whose cidrs contain it)`},
		{"cidrs rule for another range", `{name: elsewhere, cidrs: [203.0.113.0/24], ports: [8080]}`, "", false,
			"a literal IP destination needs a rule whose cidrs contain it"},
		{"cidrs rule on another port", `{name: bench-net, cidrs: [` + net24 + `], ports: [9000]}`, "bench-net", false,
			`rule "bench-net" allows ` + host.addr.String() + ` only on port 9000, not 8080`},
		{"cidrs rule containing the address", `{name: bench-net, cidrs: [` + net24 + `], ports: [8080]}`, "bench-net", true, ""},
	}
	e := newEnv(t, netnsTable(""), host.resolver("upstream.test"))
	client := e.proxyClient()
	defer client.CloseIdleConnections()
	var want []string
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			e.h.Swap(e.compile(netnsTable("", tt.egress), host.resolver("upstream.test")))
			resp, body := get(t, client, "http://"+ipHost+"/healthz")
			if !tt.ok {
				checkDenied(t, resp, body, tt.reason)
				want = append(want, "GET http://"+ipHost+"/healthz deny status=403 rule="+tt.rule+" upstream=")
				return
			}
			checkSeen(t, resp, body, seenRequest{Method: "GET", Host: ipHost, Path: "/healthz", RequestURI: "/healthz"})
			want = append(want, "GET http://"+ipHost+"/healthz allow status=200 rule="+tt.rule+" upstream="+ipHost)
		})
	}
	if n := len(host.report().Requests); n != 1 {
		t.Errorf("upstream received %d requests, want only the one the cidrs rule allowed", n)
	}
	checkAudit(t, waitAudit(t, e, len(tests)), want)
}

func TestNetnsReportMode(t *testing.T) {
	host := newNetnsHost(t)
	resolver := host.resolver("upstream.test", "unlisted.test")
	resolver["loopback.test"] = []netip.Addr{netip.MustParseAddr("127.0.0.1")}
	e := newEnv(t, netnsTable("report", `{name: upstream-health, host: upstream.test, ports: [8080], methods: [GET], paths: [/healthz]}`), resolver)
	up := host.hostPort(netnsHTTPPort)
	tests := []struct {
		name, url, decision, rule, reason string
	}{
		{"listed and allowed", "http://upstream.test:8080/healthz", "allow", "upstream-health", `allowed by rule "upstream-health"`},
		{"unlisted host", "http://unlisted.test:8080/anything", "would_deny", "",
			`no egress rule allows "unlisted.test:8080" (report mode: sent anyway`},
		{"path the rule does not allow", "http://upstream.test:8080/admin", "would_deny", "upstream-health",
			`allows only paths /healthz on upstream.test:8080, not "/admin" (report mode: sent anyway)`},
		{"address guard still enforced", "http://loopback.test:8080/healthz", "deny", "", `resolves to 127.0.0.1, a loopback address`},
	}
	client := e.proxyClient()
	defer client.CloseIdleConnections()
	var want []string
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			resp, body := get(t, client, tt.url)
			if tt.decision == "deny" {
				checkDenied(t, resp, body, tt.reason)
				want = append(want, "GET "+tt.url+" deny status=403 rule="+tt.rule+" upstream=")
				return
			}
			u, _ := url.Parse(tt.url)
			checkSeen(t, resp, body, seenRequest{Method: "GET", Host: u.Host, Path: u.Path, RequestURI: u.Path})
			want = append(want, "GET "+tt.url+" "+tt.decision+" status=200 rule="+tt.rule+" upstream="+up)
		})
	}
	res := runTunnel(t, strings.TrimPrefix(e.forward.URL, "http://"), "unlisted.test:9000", nil, 1)
	want = append(want, "CONNECT unlisted.test:9000 would_deny status=200 rule= upstream="+host.hostPort(netnsEchoPort))
	lines := waitAudit(t, e, len(tests)+1)
	checkAudit(t, lines, want)
	for _, l := range lines {
		for _, tt := range tests {
			if l["url"] == tt.url && !strings.Contains(l["reason"].(string), tt.reason) {
				t.Errorf("audit reason for %s = %q, want it to say %q", tt.url, l["reason"], tt.reason)
			}
		}
		if l["method"] == "CONNECT" && (l["bytes_in"] != float64(res.sent) || l["bytes_out"] != float64(res.received)) {
			t.Errorf("tunnel audit bytes in/out = %v/%v, want %d/%d", l["bytes_in"], l["bytes_out"], res.sent, res.received)
		}
	}
}

// A route without retries to a name whose first address refuses
// connections still reaches its live address: the dial falls back, and the
// audit line shows both tries and the address that answered.
func TestNetnsRouteFallsBackFromRefusingAddress(t *testing.T) {
	host := newNetnsHost(t)
	table := `apiVersion: meshlite/v1
kind: RouteTable
metadata: {name: netns}
spec:
  routes:
    - {name: svc, source: "http://localhost:{{DOOR}}/api", target: "http://svc.test:` + strconv.Itoa(netnsHTTPPort) + `/x"}
`
	// The first address is this namespace's end of the link, where nothing
	// listens on the port: it refuses at once.
	refusing := netip.AddrPortFrom(host.gw, netnsHTTPPort)
	e := newEnv(t, table, staticResolver{"svc.test": {host.gw, host.addr}})
	resp, _ := get(t, http.DefaultClient, e.local.URL+"/api")
	if resp.StatusCode != http.StatusOK {
		t.Fatalf("status %d (%s), want 200 from %s after %s refused", resp.StatusCode, resp.Header.Get("X-Meshlite-Reason"), host.addr, refusing)
	}
	if got := host.report().Requests; len(got) != 1 || got[0].Path != "/x" {
		t.Errorf("upstream saw %+v, want one GET /x", got)
	}
	l := e.audit()[0]
	if l["attempts"] != 2.0 || l["upstream"] != host.hostPort(netnsHTTPPort) {
		t.Errorf("audit attempts = %v, upstream = %v; want 2, %s", l["attempts"], l["upstream"], host.hostPort(netnsHTTPPort))
	}
}
