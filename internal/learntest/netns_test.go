package learntest

// The test hosts live in a network namespace joined to the test's own by a
// veth pair, numbered from the benchmarking range 198.18.0.0/15 (public to
// the address guard, routed nowhere), because the guard denies loopback to
// every egress rule. The upstream servers run in that namespace in a
// helper process: this test binary, re-executed with only
// TestUpstreamHelperProcess selected.

import (
	"crypto/tls"
	"encoding/json"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/netip"
	"os"
	"strconv"
	"sync"
	"testing"
	"time"

	"github.com/meshlite/meshlite/internal/testnet"
)

const (
	helperEnv = "MESHLITE_LEARN_HELPER" // the helper's configuration, JSON
	// the helper's ports, on every address of the namespace
	httpPort    = 8080 // plain HTTP
	altPort     = 8081 // plain HTTP, a second port
	tlsPort     = 9443 // HTTPS, reached through CONNECT
	controlPort = 8090 // the helper's report, read directly by the test
	// helperLifetime bounds the helper even if the test never stops it.
	helperLifetime = 2 * time.Minute
	// hostAddrs is how many addresses the far end of the veth carries.
	hostAddrs = 6
)

// helperConfig is what the helper is told through helperEnv.
type helperConfig struct {
	CertPEM, KeyPEM []byte // the HTTPS server's certificate and key
}

// netns is the namespace with the upstream servers.
type netns struct {
	t *testing.T
	*testnet.Veth
	addrs []netip.Addr // the far end's addresses, all served
}

// newNetns creates the namespace and the veth pair (a /28 of the
// benchmarking range picked from the pid, so that concurrent test
// processes do not share addresses), numbers the far end with hostAddrs
// addresses and starts the helper; everything is removed in t.Cleanup,
// also on failure.
func newNetns(t *testing.T, cfg helperConfig) *netns {
	t.Helper()
	testnet.RequireNetns(t, "ip")
	pid := os.Getpid()
	v := testnet.NewVeth(t, fmt.Sprintf("meshlite-learn-%d", pid),
		fmt.Sprintf("mllh%d", pid), fmt.Sprintf("mlln%d", pid), // at most 15 bytes: pid ≤ 7 digits
		testnet.BenchmarkingPrefix(uint32(pid), 28), hostAddrs)
	n := &netns{t: t, Veth: v, addrs: v.Addrs}
	b, err := json.Marshal(cfg)
	if err != nil {
		t.Fatal(err)
	}
	testnet.StartHelper(t, v.NS, "TestUpstreamHelperProcess", []string{helperEnv + "=" + string(b)}, nil)
	eventually(t, "the upstream helper to answer", func() bool {
		_, err := n.fetchReport()
		return err == nil
	})
	return n
}

// seen is one request an upstream server received.
type seen struct {
	Local  string // the address:port it arrived on
	Host   string
	Method string
	Path   string
	TLS    bool
}

// report returns every request the helper has received so far.
func (n *netns) report() []seen {
	n.t.Helper()
	r, err := n.fetchReport()
	if err != nil {
		n.t.Fatalf("netns: reading the helper's report: %v", err)
	}
	return r
}

func (n *netns) fetchReport() ([]seen, error) {
	c := &http.Client{Transport: &http.Transport{Proxy: nil, DisableKeepAlives: true}, Timeout: 2 * time.Second}
	resp, err := c.Get("http://" + netip.AddrPortFrom(n.addrs[0], controlPort).String() + "/report")
	if err != nil {
		return nil, err
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		return nil, fmt.Errorf("report: status %d", resp.StatusCode)
	}
	var r []seen
	return r, json.NewDecoder(resp.Body).Decode(&r)
}

// --- the helper process, inside the namespace ---

// TestUpstreamHelperProcess is the upstream of the round trip, not a test:
// newNetns runs the test binary with only this test selected, inside its
// namespace.
func TestUpstreamHelperProcess(t *testing.T) {
	raw := os.Getenv(helperEnv)
	if raw == "" {
		t.Skip("the upstream of the round trip; runs only inside its namespace")
	}
	if err := serveUpstreams(raw); err != nil {
		fmt.Fprintln(os.Stderr, "upstream helper:", err)
		os.Exit(1)
	}
	os.Exit(0)
}

type recorder struct {
	mu   sync.Mutex
	seen []seen
}

// serveUpstreams serves HTTP on httpPort and altPort, HTTPS on tlsPort and
// the report on controlPort, on every address, until stdin ends or
// helperLifetime passes.
func serveUpstreams(raw string) error {
	var cfg helperConfig
	if err := json.Unmarshal([]byte(raw), &cfg); err != nil {
		return err
	}
	cert, err := tls.X509KeyPair(cfg.CertPEM, cfg.KeyPEM)
	if err != nil {
		return err
	}
	rec := &recorder{}
	for _, port := range []int{httpPort, altPort, tlsPort, controlPort} {
		ln, err := net.Listen("tcp", ":"+strconv.Itoa(port))
		if err != nil {
			return err
		}
		var h http.Handler = http.HandlerFunc(rec.serveHTTP)
		switch port {
		case tlsPort:
			ln = tls.NewListener(ln, &tls.Config{Certificates: []tls.Certificate{cert}})
		case controlPort:
			h = http.HandlerFunc(rec.serveReport)
		}
		go (&http.Server{Handler: h}).Serve(ln)
	}
	stdinDone := make(chan struct{})
	go func() { io.Copy(io.Discard, os.Stdin); close(stdinDone) }()
	select {
	case <-stdinDone:
	case <-time.After(helperLifetime):
	}
	return nil
}

func (r *recorder) serveHTTP(w http.ResponseWriter, req *http.Request) {
	local, _ := req.Context().Value(http.LocalAddrContextKey).(net.Addr)
	s := seen{Host: req.Host, Method: req.Method, Path: req.URL.Path, TLS: req.TLS != nil}
	if local != nil {
		s.Local = local.String()
	}
	r.mu.Lock()
	r.seen = append(r.seen, s)
	r.mu.Unlock()
	fmt.Fprintf(w, "upstream %s saw %s %s\n", s.Local, s.Method, s.Path)
}

func (r *recorder) serveReport(w http.ResponseWriter, _ *http.Request) {
	r.mu.Lock()
	b, _ := json.Marshal(r.seen)
	r.mu.Unlock()
	w.Header().Set("Content-Type", "application/json")
	w.Write(b)
}
