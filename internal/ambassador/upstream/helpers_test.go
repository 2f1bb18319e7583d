package upstream

import (
	"bufio"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"net/netip"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	dto "github.com/prometheus/client_model/go"
)

// guard bounds every call a test makes; it is never asserted on.
const guard = 20 * time.Second

// addrPort is the listening address of l.
func addrPort(t testing.TB, l net.Listener) netip.AddrPort {
	t.Helper()
	return l.Addr().(*net.TCPAddr).AddrPort()
}

// deadUpstreamAddr returns an address where nothing listens: it listens on
// 127.0.0.2:port (any port when 0), closes the listener and returns its
// address. Using 127.0.0.2 lets a dead address share a live server's port,
// since a Target has one port for all its addresses.
func deadUpstreamAddr(t testing.TB, port uint16) netip.AddrPort {
	t.Helper()
	l, err := net.Listen("tcp", netip.AddrPortFrom(netip.MustParseAddr("127.0.0.2"), port).String())
	if err != nil {
		t.Fatalf("listen for dead address: %v", err)
	}
	ap := addrPort(t, l)
	l.Close()
	return ap
}

// listenOn listens on ip at the given port.
func listenOn(t testing.TB, ip string, port uint16) net.Listener {
	t.Helper()
	l, err := net.Listen("tcp", netip.AddrPortFrom(netip.MustParseAddr(ip), port).String())
	if err != nil {
		t.Fatalf("listen on %s:%d: %v", ip, port, err)
	}
	return l
}

// recorder is an upstream handler that answers each request with the
// status its script gives for that request's number, and records what it
// received.
type recorder struct {
	script func(n int, w http.ResponseWriter, r *http.Request)

	mu     sync.Mutex
	bodies []string
	hosts  []string
	reqs   []*http.Request
}

func (rec *recorder) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	body, _ := io.ReadAll(r.Body)
	rec.mu.Lock()
	n := len(rec.bodies)
	rec.bodies = append(rec.bodies, string(body))
	rec.hosts = append(rec.hosts, r.Host)
	rec.reqs = append(rec.reqs, r)
	rec.mu.Unlock()
	rec.script(n, w, r)
}

func (rec *recorder) count() int {
	rec.mu.Lock()
	defer rec.mu.Unlock()
	return len(rec.bodies)
}

func (rec *recorder) body(i int) string {
	rec.mu.Lock()
	defer rec.mu.Unlock()
	return rec.bodies[i]
}

// statuses answers request n with codes[n] (the last code repeats) and a
// body naming it.
func statuses(codes ...int) func(int, http.ResponseWriter, *http.Request) {
	return func(n int, w http.ResponseWriter, _ *http.Request) {
		code := codes[min(n, len(codes)-1)]
		w.WriteHeader(code)
		io.WriteString(w, http.StatusText(code))
	}
}

// newUpstream starts an http upstream on 127.0.0.1:0.
func newUpstream(t testing.TB, rec *recorder) (*httptest.Server, netip.AddrPort) {
	t.Helper()
	srv := httptest.NewServer(rec)
	t.Cleanup(srv.Close)
	return srv, addrPort(t, srv.Listener)
}

// targetFor plans a call to name at the endpoints' port.
func targetFor(name string, retry Retry, eps ...netip.AddrPort) *Target {
	tg := &Target{Host: name, Port: eps[0].Port(), Route: "r", Retry: retry}
	for _, ep := range eps {
		tg.Addrs = append(tg.Addrs, ep.Addr())
	}
	return tg
}

// readRequest reads one request (headers and body) from conn.
func readRequest(conn net.Conn) error {
	req, err := http.ReadRequest(bufio.NewReader(conn))
	if err != nil {
		return err
	}
	_, err = io.Copy(io.Discard, req.Body)
	return err
}

// resetThenOK accepts connections on l: it resets the first one after
// reading its request and answers 200 on the others. It returns a counter
// of the requests it read.
func resetThenOK(t testing.TB, l net.Listener) func() int {
	t.Helper()
	var mu sync.Mutex
	n := 0
	go func() {
		for {
			conn, err := l.Accept()
			if err != nil {
				return
			}
			if readRequest(conn) != nil {
				conn.Close()
				continue
			}
			mu.Lock()
			n++
			first := n == 1
			mu.Unlock()
			if first {
				conn.(*net.TCPConn).SetLinger(0)
				conn.Close()
				continue
			}
			io.WriteString(conn, "HTTP/1.1 200 OK\r\nContent-Length: 2\r\nConnection: close\r\n\r\nok")
			conn.Close()
		}
	}()
	t.Cleanup(func() { l.Close() })
	return func() int {
		mu.Lock()
		defer mu.Unlock()
		return n
	}
}

func payload(n int) string { return strings.Repeat("0123456789abcdef", n/16+1)[:n] }

// counterValue reads a counter's current value.
func counterValue(t testing.TB, c prometheus.Counter) float64 {
	t.Helper()
	var m dto.Metric
	if err := c.Write(&m); err != nil {
		t.Fatal(err)
	}
	return m.GetCounter().GetValue()
}
