package proxy

import (
	"bufio"
	"context"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"net/netip"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/meshlite/meshlite/internal/ambassador/audit"
	"github.com/meshlite/meshlite/internal/ambassador/upstream"
	"github.com/meshlite/meshlite/internal/testnet"
)

// idleWait bounds every wait in these tests; it is never asserted on.
const idleWait = 10 * time.Second

func withIdleTimeout(d time.Duration) func(*Options) {
	return func(o *Options) { o.TunnelIdleTimeout = d }
}

// tcpPair returns the two ends of a TCP connection on loopback.
func tcpPair(t *testing.T) (a, b *net.TCPConn) {
	t.Helper()
	ln := testnet.Listen(t)
	accepted := make(chan net.Conn, 1)
	go func() {
		c, _ := ln.Accept()
		accepted <- c
	}()
	c, err := net.Dial("tcp", ln.Addr().String())
	if err != nil {
		t.Fatal(err)
	}
	s := <-accepted
	if s == nil {
		t.Fatal("accept failed")
	}
	t.Cleanup(func() { c.Close(); s.Close() })
	return c.(*net.TCPConn), s.(*net.TCPConn)
}

// relayHandler is a Handler for driving relay directly.
func relayHandler(t *testing.T, idle time.Duration) *Handler {
	t.Helper()
	a, err := audit.NewLogger(io.Discard, audit.Options{})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { a.Close() })
	return New(Options{Transport: upstream.NewClient(upstream.Options{}), Audit: a, TunnelIdleTimeout: idle},
		&State{Origin: "test", Pending: "test"})
}

// readsEOF reports whether c reaches EOF (or is reset) before the wait ends.
func readsEOF(c net.Conn) bool {
	c.SetReadDeadline(time.Now().Add(idleWait))
	_, err := io.Copy(io.Discard, c)
	var ne net.Error
	return !(err != nil && errorsAs(err, &ne) && ne.Timeout())
}

func errorsAs(err error, ne *net.Error) bool {
	e, ok := err.(net.Error)
	if ok {
		*ne = e
	}
	return ok
}

// TestRelayClosesIdleConnections: a relay with no bytes either way for the
// idle timeout ends, closes both sides and says why; a half-closed side no
// longer pins it.
func TestRelayClosesIdleConnections(t *testing.T) {
	tests := []struct {
		name  string
		setup func(t *testing.T, app, server *net.TCPConn)
	}{
		{"both sides silent", func(*testing.T, *net.TCPConn, *net.TCPConn) {}},
		{"client half-closed, upstream silent", func(t *testing.T, app, server *net.TCPConn) {
			app.CloseWrite()
			server.SetReadDeadline(time.Now().Add(idleWait))
			if n, err := server.Read(make([]byte, 1)); n != 0 || err != io.EOF {
				t.Errorf("upstream read %d, %v; want the client's half-close (EOF)", n, err)
			}
		}},
		{"upstream half-closed, client silent", func(t *testing.T, app, server *net.TCPConn) {
			server.CloseWrite()
			app.SetReadDeadline(time.Now().Add(idleWait))
			if n, err := app.Read(make([]byte, 1)); n != 0 || err != io.EOF {
				t.Errorf("client read %d, %v; want the upstream's half-close (EOF)", n, err)
			}
		}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			h := relayHandler(t, 200*time.Millisecond)
			app, client := tcpPair(t)
			up, server := tcpPair(t)
			e := &audit.Entry{Reason: "allowed"}
			done := make(chan struct{})
			go func() { defer close(done); h.relay(e, client, up, client) }()
			tt.setup(t, app, server)
			select {
			case <-done:
			case <-time.After(idleWait):
				t.Fatal("relay still open after the idle timeout")
			}
			if e.Reason != "idle for 200ms" {
				t.Errorf("reason = %q, want %q", e.Reason, "idle for 200ms")
			}
			if !readsEOF(app) || !readsEOF(server) {
				t.Error("a side of the relay was left open")
			}
		})
	}
}

// TestRelayKeepsActiveConnection: bytes moving keep a relay open well past
// its idle timeout, and it then ends normally.
func TestRelayKeepsActiveConnection(t *testing.T) {
	// generous, so that a stalled 2-core machine under -race cannot pause
	// a round for as long as the timeout
	const timeout = 2 * time.Second
	h := relayHandler(t, timeout)
	app, client := tcpPair(t)
	up, server := tcpPair(t)
	go func() { io.Copy(server, server); server.CloseWrite() }()
	e := &audit.Entry{Reason: "allowed"}
	done := make(chan int64)
	go func() { in, _ := h.relay(e, client, up, client); done <- in }()

	app.SetDeadline(time.Now().Add(idleWait))
	start, sent := time.Now(), int64(0)
	for time.Since(start) < 3*timeout { // bounded: each round waits for its echo
		if _, err := app.Write([]byte("x")); err != nil {
			t.Fatalf("write after %s: %v", time.Since(start), err)
		}
		if _, err := io.ReadFull(app, make([]byte, 1)); err != nil {
			t.Fatalf("echo after %s: %v (closed while active)", time.Since(start), err)
		}
		sent++
		time.Sleep(timeout / 10) // pacing the traffic, not a wait for an event
	}
	app.CloseWrite()
	if !readsEOF(app) {
		t.Fatal("relay did not end after both sides closed")
	}
	if in := <-done; in != sent || e.Reason != "allowed" {
		t.Errorf("relay: in = %d, reason %q; want %d, %q", in, e.Reason, sent, "allowed")
	}
}

// TestUpgradeClosedWhenIdle: a protocol upgrade (101) with no bytes either
// way for the idle timeout is closed on both sides, and its audit line
// says so.
func TestUpgradeClosedWhenIdle(t *testing.T) {
	upClosed := make(chan error, 1)
	up := newUpstream(t, func(_ int64, w http.ResponseWriter, _ *http.Request) {
		w.Header().Set("Connection", "Upgrade")
		w.Header().Set("Upgrade", "test")
		w.WriteHeader(http.StatusSwitchingProtocols)
		c, rw, err := http.NewResponseController(w).Hijack()
		if err != nil {
			upClosed <- err
			return
		}
		defer c.Close()
		c.SetReadDeadline(time.Now().Add(idleWait))
		_, err = rw.ReadByte() // silent until the ambassador closes
		upClosed <- err
	})
	table := `apiVersion: meshlite/v1
kind: RouteTable
metadata: {name: upgrade}
spec:
  routes:
    - {name: ws, source: "http://localhost:{{DOOR}}/ws", target: "http://` + up.hostPort + `/ws"}
`
	e := newEnv(t, table, nil, withIdleTimeout(200*time.Millisecond))
	c, err := net.Dial("tcp", e.local.Listener.Addr().String())
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	c.SetDeadline(time.Now().Add(idleWait))
	io.WriteString(c, "GET /ws HTTP/1.1\r\nHost: localhost\r\nConnection: Upgrade\r\nUpgrade: test\r\n\r\n")
	br := bufio.NewReader(c)
	res, err := http.ReadResponse(br, nil)
	if err != nil || res.StatusCode != http.StatusSwitchingProtocols {
		t.Fatalf("upgrade: %v, %v; want 101", res, err)
	}
	if _, err := br.ReadByte(); err != io.EOF {
		t.Errorf("client read: %v, want EOF once idle", err)
	}
	if err := <-upClosed; err != io.EOF {
		t.Errorf("upstream read: %v, want EOF once idle", err)
	}
	// The line is written once the relay has ended, just after both sides
	// saw the close.
	testnet.Eventually(t, 5*time.Second, "the upgrade's audit line", func() bool {
		return strings.Contains(e.sink.String(), "idle for")
	})
	lines := e.audit()
	if len(lines) != 1 || lines[0]["status"] != 101.0 || lines[0]["reason"] != "idle for 200ms" {
		t.Errorf("audit = %v, want one line with status 101 and reason %q", lines, "idle for 200ms")
	}
}

// connCount counts the connections a server accepted and closed.
type connCount struct{ opened, closed atomic.Int64 }

func (c *connCount) track(_ net.Conn, s http.ConnState) {
	switch s {
	case http.StateNew:
		c.opened.Add(1)
	case http.StateClosed, http.StateHijacked:
		c.closed.Add(1)
	}
}

// TestSwapClosesIdleUpstreamConnections: after a table swap, the idle pool
// is empty (the upstream sees its connection closed) and the next request
// dials anew.
func TestSwapClosesIdleUpstreamConnections(t *testing.T) {
	var conns connCount
	srv := httptest.NewUnstartedServer(http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) { io.WriteString(w, "42") }))
	srv.Config.ConnState = conns.track
	srv.Start()
	t.Cleanup(srv.Close)
	up := &upstreamServer{Server: srv, hostPort: srv.Listener.Addr().String()}
	e := newEnv(t, mappedTable(up, ""), nil)
	url := "http://" + e.local.Listener.Addr().String() + "/api"
	for range 2 {
		if res, _ := get(t, http.DefaultClient, url); res.StatusCode != http.StatusOK {
			t.Fatalf("GET: %d", res.StatusCode)
		}
	}
	if n := conns.opened.Load(); n != 1 {
		t.Fatalf("upstream accepted %d connections for two requests, want 1 (pooled)", n)
	}
	e.h.Swap(e.compile(mappedTable(up, ""), nil))
	for deadline := time.Now().Add(idleWait); conns.closed.Load() != 1; time.Sleep(5 * time.Millisecond) {
		if time.Now().After(deadline) {
			t.Fatal("the pooled connection is still open after the swap")
		}
	}
	if res, _ := get(t, http.DefaultClient, url); res.StatusCode != http.StatusOK {
		t.Fatalf("GET: %d", res.StatusCode)
	}
	if n := conns.opened.Load(); n != 2 {
		t.Errorf("upstream accepted %d connections, want 2 (a new one after the swap)", n)
	}
	if lines := e.audit(); len(lines) != 3 {
		t.Errorf("%d audit lines, want 3", len(lines))
	}
}

// recordingResolver records every lookup and answers none.
type recordingResolver struct {
	mu    sync.Mutex
	hosts []string
}

func (r *recordingResolver) LookupNetIP(_ context.Context, _, host string) ([]netip.Addr, error) {
	r.mu.Lock()
	r.hosts = append(r.hosts, host)
	r.mu.Unlock()
	return nil, &net.DNSError{Err: "no such host", Name: host, IsNotFound: true}
}

func (r *recordingResolver) lookups() []string {
	r.mu.Lock()
	defer r.mu.Unlock()
	return append([]string(nil), r.hosts...)
}

// TestConnectToLocalDoorRefusedBeforeLookup: a CONNECT at a local mapping
// door is refused without resolving its host; the same CONNECT at the
// forward door does resolve it (so the resolver would have seen a lookup).
func TestConnectToLocalDoorRefusedBeforeLookup(t *testing.T) {
	res := &recordingResolver{}
	table := `apiVersion: meshlite/v1
kind: RouteTable
metadata: {name: connect}
spec:
  egress:
    - {name: api, host: api.example.test, ports: [443]}
`
	e := newEnv(t, table, res)
	connect := "CONNECT api.example.test:443 HTTP/1.1\r\nHost: api.example.test:443\r\n\r\n"
	if status, _ := rawRequest(t, e.local.Listener.Addr().String(), connect); status != http.StatusBadRequest {
		t.Errorf("CONNECT at the local door: %d, want 400", status)
	}
	if got := res.lookups(); len(got) != 0 {
		t.Errorf("CONNECT at the local door looked up %q, want no lookup", got)
	}
	if status, _ := rawRequest(t, strings.TrimPrefix(e.forward.URL, "http://"), connect); status != http.StatusBadGateway {
		t.Errorf("CONNECT at the forward door: %d, want 502 (the name does not resolve)", status)
	}
	if got := res.lookups(); len(got) == 0 || got[0] != "api.example.test" {
		t.Errorf("CONNECT at the forward door looked up %q, want api.example.test", got)
	}
	lines := e.audit()
	if len(lines) != 2 || lines[0]["door"] != DoorLocal || lines[0]["status"] != 400.0 || lines[1]["status"] != 502.0 {
		t.Errorf("audit = %v, want the local door's 400 and the forward door's 502", lines)
	}
}

// TestNetnsConnectTunnelClosedWhenIdle: a CONNECT tunnel through the
// forward door, silent both ways after the greeting, is closed once idle
// and its audit line says so.
func TestNetnsConnectTunnelClosedWhenIdle(t *testing.T) {
	host := newNetnsHost(t)
	e := newEnv(t, netnsTable("", `{name: tunnel, host: upstream.test, ports: [9000]}`),
		host.resolver("upstream.test"), withIdleTimeout(200*time.Millisecond))
	c, err := net.Dial("tcp", strings.TrimPrefix(e.forward.URL, "http://"))
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	c.SetDeadline(time.Now().Add(idleWait))
	io.WriteString(c, "CONNECT upstream.test:9000 HTTP/1.1\r\nHost: upstream.test:9000\r\n\r\n")
	br := bufio.NewReader(c)
	res, err := http.ReadResponse(br, &http.Request{Method: http.MethodConnect})
	if err != nil || res.StatusCode != http.StatusOK {
		t.Fatalf("CONNECT: %v, %v; want 200", res, err)
	}
	rest, err := io.ReadAll(br) // the greeting, then EOF once idle
	if err != nil || string(rest) != echoGreeting {
		t.Errorf("tunnel gave %q, %v; want the greeting, then EOF", rest, err)
	}
	lines := waitAudit(t, e, 1)
	if lines[0]["status"] != 200.0 || lines[0]["reason"] != "idle for 200ms" {
		t.Errorf("audit = %v, want status 200 and reason %q", lines[0], "idle for 200ms")
	}
}
