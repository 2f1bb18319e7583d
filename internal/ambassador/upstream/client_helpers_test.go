package upstream

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"io"
	"log"
	"net"
	"net/http"
	"net/http/httptest"
	"net/netip"
	"sync"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/valyala/fasthttp"
)

// newTestClient builds a Client with its own registry and no backoff.
func newTestClient(t testing.TB, opts Options) *Client {
	t.Helper()
	if opts.Registerer == nil {
		opts.Registerer = prometheus.NewRegistry()
	}
	cl := NewClient(opts)
	cl.backoff = func(int) time.Duration { return 0 }
	t.Cleanup(cl.CloseIdleConnections)
	return cl
}

// clientResult is what a test call through a Client returned.
type clientResult struct {
	status int
	body   string
	header *fasthttp.ResponseHeader
}

// sendClient makes one call through cl with the given method, URL and
// body (nil for none; a reader is sent as a stream of unknown length),
// reads the whole response body and calls done.
func sendClient(t testing.TB, cl *Client, ctx context.Context, method, url string, body io.Reader, tg *Target) (*clientResult, error) {
	t.Helper()
	ctx, cancel := context.WithTimeout(ctx, guard)
	defer cancel()
	req := fasthttp.AcquireRequest()
	defer fasthttp.ReleaseRequest(req)
	resp := fasthttp.AcquireResponse()
	defer fasthttp.ReleaseResponse(resp)
	req.Header.SetMethod(method)
	req.SetRequestURI(url)
	if body != nil {
		req.SetBodyStream(body, -1)
	}
	done, err := cl.Do(ctx, tg, req, resp)
	defer done()
	if err != nil {
		return nil, err
	}
	res := &clientResult{status: resp.StatusCode(), header: &fasthttp.ResponseHeader{}}
	resp.Header.CopyTo(res.header)
	b, err := readClientBody(resp)
	res.body = string(b)
	return res, err
}

// readClientBody reads resp's body, streamed or whole.
func readClientBody(resp *fasthttp.Response) ([]byte, error) {
	if s := resp.BodyStream(); s != nil {
		return io.ReadAll(s)
	}
	return append([]byte(nil), resp.Body()...), nil
}

// newClientRequest acquires a request for method and url and a response,
// released when the test ends.
func newClientRequest(t testing.TB, method, url string) (*fasthttp.Request, *fasthttp.Response) {
	t.Helper()
	req, resp := fasthttp.AcquireRequest(), fasthttp.AcquireResponse()
	t.Cleanup(func() { fasthttp.ReleaseRequest(req); fasthttp.ReleaseResponse(resp) })
	req.Header.SetMethod(method)
	req.SetRequestURI(url)
	return req, resp
}

// poolCount is the number of pools the client keeps.
func (cl *Client) poolCount() int {
	cl.mu.Lock()
	defer cl.mu.Unlock()
	return len(cl.pools)
}

// newServerOn serves rec on l until the test ends.
func newServerOn(t testing.TB, l net.Listener, rec *recorder) *http.Server {
	t.Helper()
	srv := &http.Server{Handler: rec}
	go srv.Serve(l)
	t.Cleanup(func() { srv.Close() })
	return srv
}

// onlyReader hides every method but Read, so NewRequest sets no GetBody
// and no ContentLength.
type onlyReader struct{ r io.Reader }

func (o onlyReader) Read(p []byte) (int, error) { return o.r.Read(p) }

// connCounter counts the connections a server accepted.
type connCounter struct {
	mu  sync.Mutex
	new int
}

func (c *connCounter) track(_ net.Conn, s http.ConnState) {
	if s == http.StateNew {
		c.mu.Lock()
		c.new++
		c.mu.Unlock()
	}
}

func (c *connCounter) count() int {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.new
}

// pairServer is one server of a name with two addresses.
type pairServer struct {
	rec   *recorder
	conns *connCounter
}

// newServerPair starts two servers on 127.0.0.1 and 127.0.0.2 at one port,
// plain or TLS (with HTTP/2 when h2), as one name's two addresses would be.
func newServerPair(t *testing.T, scheme string, h2 bool) (a, b netip.AddrPort, servers [2]pairServer, cfg *tls.Config) {
	t.Helper()
	var port uint16
	var eps [2]netip.AddrPort
	for i, ip := range []string{"127.0.0.1", "127.0.0.2"} {
		servers[i] = pairServer{rec: &recorder{script: statuses(200)}, conns: &connCounter{}}
		srv := httptest.NewUnstartedServer(servers[i].rec)
		srv.Listener.Close()
		srv.Listener = listenOn(t, ip, port)
		srv.Config.ConnState = servers[i].conns.track
		srv.Config.ErrorLog = log.New(io.Discard, "", 0)
		if scheme == "https" {
			srv.EnableHTTP2 = h2
			srv.StartTLS()
			roots := x509.NewCertPool()
			roots.AddCert(srv.Certificate())
			cfg = &tls.Config{RootCAs: roots}
		} else {
			srv.Start()
		}
		t.Cleanup(srv.Close)
		eps[i] = addrPort(t, srv.Listener)
		port = eps[i].Port()
	}
	return eps[0], eps[1], servers, cfg
}

// hang answers request n with 200 when ok(n), and otherwise waits until
// the client goes away.
func hang(ok func(n int) bool) func(int, http.ResponseWriter, *http.Request) {
	return func(n int, w http.ResponseWriter, r *http.Request) {
		if ok(n) {
			w.Write([]byte("ok"))
			return
		}
		<-r.Context().Done()
	}
}

// newTLSUpstream starts an https upstream (HTTP/2 enabled) on 127.0.0.1:0
// and returns the client configuration that trusts it. Its certificate is
// valid for example.com.
func newTLSUpstream(t testing.TB, rec *recorder) (netip.AddrPort, *tls.Config) {
	t.Helper()
	srv := httptest.NewUnstartedServer(rec)
	srv.EnableHTTP2 = true
	srv.Config.ErrorLog = log.New(io.Discard, "", 0) // failed handshakes are expected
	srv.StartTLS()
	t.Cleanup(srv.Close)
	roots := x509.NewCertPool()
	roots.AddCert(srv.Certificate())
	return addrPort(t, srv.Listener), &tls.Config{RootCAs: roots}
}

func itoa(p uint16) string {
	return netip.AddrPortFrom(netip.IPv4Unspecified(), p).String()[len("0.0.0.0:"):]
}

// echoServer echoes every connection accepted on l.
func echoServer(t testing.TB, l net.Listener) {
	t.Helper()
	go func() {
		for {
			c, err := l.Accept()
			if err != nil {
				return
			}
			go func() { defer c.Close(); io.Copy(c, c) }()
		}
	}()
	t.Cleanup(func() { l.Close() })
}
