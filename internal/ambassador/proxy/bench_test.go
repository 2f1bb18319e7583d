package proxy

import (
	"context"
	"io"
	"net"
	"strings"
	"testing"

	"github.com/valyala/fasthttp"

	"github.com/meshlite/meshlite/internal/ambassador/audit"
	"github.com/meshlite/meshlite/internal/ambassador/upstream"
	"github.com/meshlite/meshlite/internal/testnet"
	"github.com/meshlite/meshlite/pkg/policy"
	"github.com/meshlite/meshlite/pkg/routes"
)

// memoryUpstream answers every request with a 1 KiB body, in memory.
type memoryUpstream struct{ body []byte }

func (m *memoryUpstream) Do(_ context.Context, t *upstream.Target, _ *fasthttp.Request, resp *fasthttp.Response) (func(), error) {
	t.Attempts, t.Upstream = 1, "10.0.0.1:80"
	resp.Header.SetContentType("text/plain")
	resp.SetBody(m.body)
	return func() {}, nil
}

func (m *memoryUpstream) DialTunnel(context.Context, *upstream.Target) (net.Conn, error) {
	return nil, net.ErrClosed
}

func (m *memoryUpstream) Dial(context.Context, *upstream.Target, bool) (net.Conn, error) {
	return nil, net.ErrClosed
}

func (m *memoryUpstream) CloseIdleConnections() {}

// BenchmarkHandler measures the whole pipeline for a mapped request — the
// gate, the HTTP server, destination, route match, policy, rewrite, audit
// line and metrics — over loopback, with an in-memory upstream answering
// 1 KiB.
func BenchmarkHandler(b *testing.B) {
	rt, err := routes.Parse([]byte(`apiVersion: meshlite/v1
kind: RouteTable
metadata: {name: bench}
spec:
  routes:
    - {name: api, source: "http://localhost:8080/api", target: "http://127.0.0.1:9000/data"}
`))
	if err != nil {
		b.Fatal(err)
	}
	tab, err := routes.Compile(rt, policy.Options{})
	if err != nil {
		b.Fatal(err)
	}
	log, err := audit.NewLogger(io.Discard, audit.Options{})
	if err != nil {
		b.Fatal(err)
	}
	defer log.Close()
	h := New(Options{Transport: &memoryUpstream{body: []byte(strings.Repeat("x", 1024))}, Audit: log}, &State{Table: tab})
	d := serveDoor(b, h, DoorLocal, 8080, testnet.Listen(b))
	defer d.Close()
	c := &fasthttp.HostClient{Addr: d.Listener.Addr().String()}
	defer c.CloseIdleConnections()
	req, resp := fasthttp.AcquireRequest(), fasthttp.AcquireResponse()
	req.SetRequestURI("http://localhost:8080/api")
	b.ReportAllocs()
	b.ResetTimer()
	for b.Loop() {
		if err := c.Do(req, resp); err != nil || resp.StatusCode() != 200 {
			b.Fatalf("status %d, %v: %s", resp.StatusCode(), err, resp.Body())
		}
	}
}
