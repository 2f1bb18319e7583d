package proxy

import (
	"bytes"
	"context"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"

	"github.com/meshlite/meshlite/internal/ambassador/audit"
	"github.com/meshlite/meshlite/internal/ambassador/upstream"
	"github.com/meshlite/meshlite/pkg/policy"
	"github.com/meshlite/meshlite/pkg/routes"
)

// memoryUpstream answers every request with a 1 KiB body, in memory.
type memoryUpstream struct{ body []byte }

func (m *memoryUpstream) RoundTrip(r *http.Request) (*http.Response, error) {
	if t := upstream.TargetFrom(r.Context()); t != nil {
		t.Attempts, t.Upstream = 1, "10.0.0.1:80"
	}
	if r.Body != nil {
		r.Body.Close()
	}
	return &http.Response{
		StatusCode: 200, ProtoMajor: 1, ProtoMinor: 1,
		Header:        http.Header{"Content-Type": {"text/plain"}},
		Body:          io.NopCloser(bytes.NewReader(m.body)),
		ContentLength: int64(len(m.body)),
		Request:       r,
	}, nil
}

func (m *memoryUpstream) DialTunnel(context.Context, *upstream.Target) (net.Conn, error) {
	return nil, net.ErrClosed
}

// BenchmarkHandler measures the whole pipeline for a mapped request —
// destination, route match, policy, rewrite, reverse proxy, audit line and
// metrics — with an in-memory upstream answering 1 KiB.
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
	door := h.Door(DoorLocal, 8080)
	req := httptest.NewRequest("GET", "http://localhost:8080/api", nil)
	req.RemoteAddr = "127.0.0.1:40000"
	b.ReportAllocs()
	b.ResetTimer()
	for b.Loop() {
		w := httptest.NewRecorder()
		door.ServeHTTP(w, req)
		if w.Code != 200 {
			b.Fatalf("status %d: %s", w.Code, w.Body)
		}
	}
}
