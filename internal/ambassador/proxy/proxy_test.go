package proxy

import (
	"bufio"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"net/netip"
	"net/url"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/meshlite/meshlite/internal/ambassador/audit"
	"github.com/meshlite/meshlite/internal/ambassador/upstream"
	"github.com/meshlite/meshlite/internal/testnet"
	"github.com/meshlite/meshlite/pkg/policy"
	"github.com/meshlite/meshlite/pkg/routes"
)

// staticResolver answers from a map; unknown names fail like NXDOMAIN.
type staticResolver map[string][]netip.Addr

func (r staticResolver) LookupNetIP(_ context.Context, _, host string) ([]netip.Addr, error) {
	if a, ok := r[host]; ok {
		return a, nil
	}
	return nil, &net.DNSError{Err: "no such host", Name: host, IsNotFound: true}
}

// lines is a concurrency-safe audit sink.
type lines struct{ testnet.Buffer }

func (l *lines) entries(t *testing.T) []map[string]any {
	t.Helper()
	var out []map[string]any
	for _, line := range strings.Split(strings.TrimSpace(l.String()), "\n") {
		if line == "" {
			continue
		}
		var m map[string]any
		if err := json.Unmarshal([]byte(line), &m); err != nil {
			t.Fatalf("audit line is not JSON: %q: %v", line, err)
		}
		out = append(out, m)
	}
	return out
}

// env is an ambassador pipeline with a forward door and a local door on
// real loopback sockets.
type env struct {
	t        *testing.T
	h        *Handler
	auditLog *audit.Logger
	sink     *lines
	forward  *testDoor
	local    *testDoor
	doorPort uint16
}

// testDoor is a door served on a loopback listener.
type testDoor struct {
	URL      string
	Listener net.Listener
	door     *Door
}

// serveDoor serves door name (local port port) on ln until the test ends.
func serveDoor(t testing.TB, h *Handler, name string, port uint16, ln net.Listener) *testDoor {
	d := h.NewDoor(name, port, Limits{ReadHeaderTimeout: 10 * time.Second})
	go d.Serve(ln)
	return &testDoor{URL: "http://" + ln.Addr().String(), Listener: ln, door: d}
}

// Close stops the door and waits for its requests.
func (d *testDoor) Close() {
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	d.door.Shutdown(ctx)
}

// newEnv compiles table (with {{DOOR}} replaced by the local door's port);
// tune, when given, adjusts the handler's options.
func newEnv(t *testing.T, table string, resolver policy.Resolver, tune ...func(*Options)) *env {
	t.Helper()
	ln := testnet.Listen(t)
	e := &env{t: t, sink: &lines{}, doorPort: uint16(ln.Addr().(*net.TCPAddr).Port)}
	var err error
	e.auditLog, err = audit.NewLogger(e.sink, audit.Options{})
	if err != nil {
		t.Fatal(err)
	}
	tr := upstream.NewClient(upstream.Options{})
	t.Cleanup(tr.CloseIdleConnections)
	opts := Options{Transport: tr, Audit: e.auditLog}
	for _, f := range tune {
		f(&opts)
	}
	e.h = New(opts, e.compile(table, resolver))
	e.local = serveDoor(t, e.h, DoorLocal, e.doorPort, ln)
	e.forward = serveDoor(t, e.h, DoorForward, 0, testnet.Listen(t))
	// The audit writer stops last, once no door can log (Close may run
	// twice: audit() closes it to flush).
	t.Cleanup(func() { e.local.Close(); e.forward.Close(); _ = e.auditLog.Close() })
	return e
}

func (e *env) compile(table string, resolver policy.Resolver) *State {
	e.t.Helper()
	rt, err := routes.Parse([]byte(strings.ReplaceAll(table, "{{DOOR}}", fmt.Sprint(e.doorPort))))
	if err != nil {
		e.t.Fatal(err)
	}
	tab, err := routes.Compile(rt, policy.Options{Resolver: resolver})
	if err != nil {
		e.t.Fatal(err)
	}
	return &State{Table: tab, Version: "test", Origin: "test"}
}

// audit flushes and returns the audit lines so far.
func (e *env) audit() []map[string]any {
	e.t.Helper()
	if err := e.auditLog.Close(); err != nil {
		e.t.Fatal(err)
	}
	return e.sink.entries(e.t)
}

func (e *env) proxyClient() *http.Client {
	u, _ := url.Parse(e.forward.URL)
	return &http.Client{Transport: &http.Transport{Proxy: http.ProxyURL(u)}, Timeout: 10 * time.Second}
}

// upstreamServer records what it received.
type upstreamServer struct {
	*httptest.Server
	mu       sync.Mutex
	got      []*http.Request
	bodies   []string
	calls    atomic.Int64
	respond  func(n int64, w http.ResponseWriter, r *http.Request)
	hostPort string
}

func newUpstream(t *testing.T, respond func(n int64, w http.ResponseWriter, r *http.Request)) *upstreamServer {
	u := &upstreamServer{respond: respond}
	u.Server = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		body, _ := io.ReadAll(r.Body)
		u.mu.Lock()
		u.got = append(u.got, r)
		u.bodies = append(u.bodies, string(body))
		u.mu.Unlock()
		n := u.calls.Add(1)
		if u.respond != nil {
			u.respond(n, w, r)
			return
		}
		fmt.Fprint(w, "42")
	}))
	u.hostPort = strings.TrimPrefix(u.URL, "http://")
	t.Cleanup(u.Close)
	return u
}

func (u *upstreamServer) last() *http.Request {
	u.mu.Lock()
	defer u.mu.Unlock()
	return u.got[len(u.got)-1]
}

func mappedTable(up *upstreamServer, extra string) string {
	return `apiVersion: meshlite/v1
kind: RouteTable
metadata: {name: numbers-web}
spec:
  routes:
    - name: rng
      source: http://localhost:{{DOOR}}/api
      target: http://` + up.hostPort + `/sixeyed/kiamol/master/ch03/numbers/rng
      timeout: 5s
      retry: {attempts: 3, perTryTimeout: 2s, retryOn: [connect-failure, gateway-error]}
` + extra
}

func get(t *testing.T, c *http.Client, u string) (*http.Response, string) {
	t.Helper()
	resp, err := c.Get(u)
	if err != nil {
		t.Fatalf("GET %s: %v", u, err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return resp, string(b)
}

func TestMappedRequestThroughLocalDoor(t *testing.T) {
	up := newUpstream(t, nil)
	e := newEnv(t, mappedTable(up, ""), nil)
	resp, body := get(t, http.DefaultClient, e.local.URL+"/api/extra?seed=7")
	if resp.StatusCode != 200 || body != "42" {
		t.Fatalf("got %d %q", resp.StatusCode, body)
	}
	r := up.last()
	if r.URL.Path != "/sixeyed/kiamol/master/ch03/numbers/rng/extra" || r.URL.RawQuery != "seed=7" {
		t.Errorf("upstream got %s", r.URL)
	}
	if r.Host != up.hostPort {
		t.Errorf("upstream Host = %q, want the target host %q", r.Host, up.hostPort)
	}
	lines := e.audit()
	if len(lines) != 1 {
		t.Fatalf("want one audit line, got %d", len(lines))
	}
	l := lines[0]
	for k, want := range map[string]any{
		"door": "local", "decision": "allow", "route": "rng", "rule": "route:rng", "status": 200.0,
		"attempts": 1.0, "upstream": up.hostPort, "method": "GET", "bytes_out": 2.0,
	} {
		if l[k] != want {
			t.Errorf("audit %s = %v, want %v", k, l[k], want)
		}
	}
	if !strings.HasSuffix(l["target"].(string), "/rng/extra?seed=7") {
		t.Errorf("audit target = %v", l["target"])
	}
}

func TestMappedRequestThroughForwardDoor(t *testing.T) {
	up := newUpstream(t, nil)
	e := newEnv(t, mappedTable(up, ""), nil)
	resp, body := get(t, e.proxyClient(), fmt.Sprintf("http://localhost:%d/api", e.doorPort))
	if resp.StatusCode != 200 || body != "42" {
		t.Fatalf("got %d %q", resp.StatusCode, body)
	}
	if up.last().URL.Path != "/sixeyed/kiamol/master/ch03/numbers/rng" {
		t.Errorf("upstream got %s", up.last().URL.Path)
	}
	if door := e.audit()[0]["door"]; door != "forward" {
		t.Errorf("door = %v", door)
	}
}

func TestDeniedRequests(t *testing.T) {
	up := newUpstream(t, nil)
	e := newEnv(t, mappedTable(up, ""), staticResolver{})
	tests := []struct {
		name, url, reason string
	}{
		{"unknown host", "http://api.unknown.example/data", `no egress rule allows "api.unknown.example:80"`},
		{"metadata address", "http://169.254.169.254/latest/meta-data/", "169.254.169.254"},
		{"loopback upstream directly", "http://" + up.hostPort + "/", "127.0.0.1"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			resp, body := get(t, e.proxyClient(), tt.url)
			if resp.StatusCode != http.StatusForbidden {
				t.Fatalf("status %d, want 403", resp.StatusCode)
			}
			reason := resp.Header.Get("X-Meshlite-Reason")
			if !strings.Contains(reason, tt.reason) || strings.TrimSpace(body) != reason {
				t.Errorf("reason header %q, body %q; want both to say %q", reason, body, tt.reason)
			}
		})
	}
	if n := up.calls.Load(); n != 0 {
		t.Errorf("upstream was called %d times for denied requests", n)
	}
	for _, l := range e.audit() {
		if l["decision"] != "deny" || l["status"] != 403.0 || l["reason"] == "" {
			t.Errorf("audit line %v", l)
		}
	}
}

// rawRequest writes raw bytes to addr and returns the status line and headers.
func rawRequest(t *testing.T, addr, raw string) (int, http.Header) {
	t.Helper()
	c, err := net.Dial("tcp", addr)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	c.SetDeadline(time.Now().Add(10 * time.Second))
	if _, err := io.WriteString(c, raw); err != nil {
		t.Fatal(err)
	}
	resp, err := http.ReadResponse(bufio.NewReader(c), nil)
	if err != nil {
		t.Fatalf("reading answer to %q: %v", raw, err)
	}
	resp.Body.Close()
	return resp.StatusCode, resp.Header
}

func TestTraversalCannotEscapeTarget(t *testing.T) {
	up := newUpstream(t, nil)
	e := newEnv(t, mappedTable(up, ""), nil)
	addr := strings.TrimPrefix(e.local.URL, "http://")
	for _, path := range []string{"/api/../admin", "/api/%2e%2e/admin", "/x/../api/../../etc/passwd"} {
		status, h := rawRequest(t, addr, "GET "+path+" HTTP/1.1\r\nHost: localhost\r\nConnection: close\r\n\r\n")
		if status != http.StatusForbidden {
			t.Errorf("%s: status %d, want 403 (%s)", path, status, h.Get("X-Meshlite-Reason"))
		}
	}
	status, _ := rawRequest(t, addr, "GET /api/./x/../ HTTP/1.1\r\nHost: localhost\r\nConnection: close\r\n\r\n")
	if status != 200 || !strings.HasPrefix(up.last().URL.Path, "/sixeyed/kiamol/master/ch03/numbers/rng") {
		t.Errorf("cleaned path inside the route: status %d, upstream path %q", status, up.last().URL.Path)
	}
}

func TestMalformedRequests(t *testing.T) {
	e := newEnv(t, mappedTable(newUpstream(t, nil), ""), staticResolver{})
	addr := strings.TrimPrefix(e.forward.URL, "http://")
	tests := []struct{ name, raw, reason string }{
		{"port out of range", "GET http://example.com:65536/ HTTP/1.1\r\nHost: example.com:65536\r\n\r\n", "port"},
		{"port zero", "GET http://example.com:0/ HTTP/1.1\r\nHost: example.com:0\r\n\r\n", "port"},
		{"origin form at the forward door", "GET /api HTTP/1.1\r\nHost: localhost\r\n\r\n", "absolute-form"},
		{"https absolute form", "GET https://example.com/ HTTP/1.1\r\nHost: example.com\r\n\r\n", "CONNECT"},
		{"connect without port", "CONNECT example.com HTTP/1.1\r\nHost: example.com\r\n\r\n", "port"},
		{"connect unbracketed ipv6", "CONNECT ::1:443 HTTP/1.1\r\nHost: ::1:443\r\n\r\n", ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			status, h := rawRequest(t, addr, tt.raw)
			if status != http.StatusBadRequest {
				t.Fatalf("status %d, want 400 (%s)", status, h.Get("X-Meshlite-Reason"))
			}
			if !strings.Contains(h.Get("X-Meshlite-Reason"), tt.reason) {
				t.Errorf("reason %q, want it to mention %q", h.Get("X-Meshlite-Reason"), tt.reason)
			}
		})
	}
}

func TestConnectDeniedBeforeDialing(t *testing.T) {
	ln := testnet.Listen(t)
	var accepted atomic.Int64
	go func() {
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			accepted.Add(1)
			c.Close()
		}
	}()
	e := newEnv(t, mappedTable(newUpstream(t, nil), ""), staticResolver{})
	addr := strings.TrimPrefix(e.forward.URL, "http://")
	target := ln.Addr().String()
	status, h := rawRequest(t, addr, "CONNECT "+target+" HTTP/1.1\r\nHost: "+target+"\r\n\r\n")
	if status != http.StatusForbidden || h.Get("X-Meshlite-Reason") == "" {
		t.Fatalf("status %d reason %q", status, h.Get("X-Meshlite-Reason"))
	}
	status, _ = rawRequest(t, addr, "CONNECT db.internal.example:5432 HTTP/1.1\r\nHost: db.internal.example:5432\r\n\r\n")
	if status != http.StatusForbidden {
		t.Fatalf("status %d, want 403", status)
	}
	if n := accepted.Load(); n != 0 {
		t.Errorf("a denied CONNECT made %d upstream connections", n)
	}
	lines := e.audit()
	if len(lines) != 2 || lines[0]["method"] != "CONNECT" || lines[0]["decision"] != "deny" {
		t.Errorf("audit %v", lines)
	}
}

func TestRetriesGatewayErrors(t *testing.T) {
	up := newUpstream(t, func(n int64, w http.ResponseWriter, r *http.Request) {
		if n == 1 {
			http.Error(w, "busy", http.StatusServiceUnavailable)
			return
		}
		fmt.Fprint(w, "42")
	})
	e := newEnv(t, mappedTable(up, ""), nil)
	resp, body := get(t, http.DefaultClient, e.local.URL+"/api")
	if resp.StatusCode != 200 || body != "42" {
		t.Fatalf("got %d %q", resp.StatusCode, body)
	}
	if l := e.audit()[0]; l["attempts"] != 2.0 {
		t.Errorf("attempts = %v, want 2", l["attempts"])
	}
}

func TestUpstreamFailuresMapToStatus(t *testing.T) {
	dead := testnet.DeadAddr(t)
	hang := newUpstream(t, func(n int64, w http.ResponseWriter, r *http.Request) {
		select {
		case <-r.Context().Done():
		case <-time.After(10 * time.Second):
		}
	})
	table := `apiVersion: meshlite/v1
kind: RouteTable
metadata: {name: failing}
spec:
  routes:
    - {name: dead, source: "http://localhost:{{DOOR}}/dead", target: "http://` + dead + `/x"}
    - {name: slow, source: "http://localhost:{{DOOR}}/slow", target: "http://` + hang.hostPort + `/x", timeout: 300ms}
`
	e := newEnv(t, table, nil)
	tests := []struct {
		path   string
		status int
		reason string
	}{
		{"/dead", http.StatusBadGateway, "cannot connect to upstream"},
		{"/slow", http.StatusGatewayTimeout, "300ms"},
	}
	for _, tt := range tests {
		resp, _ := get(t, http.DefaultClient, e.local.URL+tt.path)
		if resp.StatusCode != tt.status || !strings.Contains(resp.Header.Get("X-Meshlite-Reason"), tt.reason) {
			t.Errorf("%s: %d %q, want %d mentioning %q", tt.path, resp.StatusCode, resp.Header.Get("X-Meshlite-Reason"), tt.status, tt.reason)
		}
	}
}

func TestSwapKeepsInFlightRequestsOnTheirTable(t *testing.T) {
	release := make(chan struct{})
	up := newUpstream(t, func(n int64, w http.ResponseWriter, r *http.Request) {
		if n == 1 {
			<-release
		}
		fmt.Fprint(w, "42")
	})
	e := newEnv(t, mappedTable(up, ""), nil)
	done := make(chan int, 1)
	go func() {
		resp, err := http.Get(e.local.URL + "/api")
		if err != nil {
			done <- 0
			return
		}
		resp.Body.Close()
		done <- resp.StatusCode
	}()
	for deadline := time.Now().Add(5 * time.Second); up.calls.Load() == 0 && time.Now().Before(deadline); {
		time.Sleep(5 * time.Millisecond)
	}
	empty := `apiVersion: meshlite/v1
kind: RouteTable
metadata: {name: numbers-web}
spec: {}
`
	e.h.Swap(e.compile(empty, nil))
	resp, _ := get(t, http.DefaultClient, e.local.URL+"/api")
	if resp.StatusCode != http.StatusForbidden {
		t.Errorf("after the swap: %d, want 403", resp.StatusCode)
	}
	close(release)
	if status := <-done; status != 200 {
		t.Errorf("in-flight request: %d, want 200 from the table it started on", status)
	}
}

func TestExplain(t *testing.T) {
	up := newUpstream(t, nil)
	e := newEnv(t, mappedTable(up, `  egress:
    - {name: google-apis, host: "*.googleapis.com", ports: [443]}
`), staticResolver{"storage.googleapis.com": {netip.MustParseAddr("142.250.1.1")}})
	srv := httptest.NewServer(e.h.ExplainHandler())
	defer srv.Close()
	tests := []struct {
		url, method, decision, rule string
	}{
		{fmt.Sprintf("http://localhost:%d/api", e.doorPort), "GET", "allow", "route:rng"},
		{"https://storage.googleapis.com", "", "allow", "google-apis"},
		{"http://evil.example/", "POST", "deny", ""},
	}
	for _, tt := range tests {
		q := url.Values{"url": {tt.url}, "method": {tt.method}}
		_, body := get(t, http.DefaultClient, srv.URL+"?"+q.Encode())
		var x Explanation
		if err := json.Unmarshal([]byte(body), &x); err != nil {
			t.Fatalf("%s: %v: %s", tt.url, err, body)
		}
		if x.Decision != tt.decision || x.Rule != tt.rule || x.Reason == "" {
			t.Errorf("%s: %+v", tt.url, x)
		}
	}
	if up.calls.Load() != 0 {
		t.Error("explain sent a request upstream")
	}
}

// Without a tracer provider the ambassador records no spans, but an
// incoming trace context still reaches the upstream and the audit line.
func TestTraceContextPassesThroughWithoutTracing(t *testing.T) {
	up := newUpstream(t, nil)
	e := newEnv(t, mappedTable(up, ""), nil)
	const traceID = "4bf92f3577b34da6a3ce929d0e0e4736"
	req, _ := http.NewRequest(http.MethodGet, e.local.URL+"/api", nil)
	req.Header.Set("Traceparent", "00-"+traceID+"-00f067aa0ba902b7-01")
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	got := up.last().Header.Get("Traceparent")
	if !strings.HasPrefix(got, "00-"+traceID+"-") {
		t.Errorf("upstream got traceparent %q, want trace id %s", got, traceID)
	}
	get(t, http.DefaultClient, e.local.URL+"/api")
	if got := up.last().Header.Get("Traceparent"); got != "" {
		t.Errorf("untraced request reached the upstream with traceparent %q", got)
	}
	lines := e.audit()
	if len(lines) != 2 || lines[0]["trace_id"] != traceID || lines[1]["trace_id"] != "" {
		t.Errorf("audit trace ids: %v", lines)
	}
}
