package upstream

import (
	"context"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"testing"

	"github.com/meshlite/meshlite/pkg/routes"
	"github.com/valyala/fasthttp"
)

func BenchmarkClientDo(b *testing.B) {
	tests := []struct {
		name    string
		retry   Retry
		endless bool // ctx can never end, so nothing watches it
	}{
		{"single try", Retry{}, false},
		{"single try, ctx that never ends", Retry{}, true},
		{"retry policy", Retry{Attempts: 3, PerTryTimeout: guard, On: routes.RetryOn{GatewayError: true}}, false},
	}
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) { w.Write([]byte("ok")) }))
	b.Cleanup(srv.Close)
	ep := addrPort(b, srv.Listener)
	b.Run("plain fasthttp.HostClient for comparison", func(b *testing.B) {
		hc := &fasthttp.HostClient{Addr: ep.String(), MaxConns: 256, Dial: func(addr string) (net.Conn, error) { return net.Dial("tcp", addr) }}
		defer hc.CloseIdleConnections()
		req, resp := fasthttp.AcquireRequest(), fasthttp.AcquireResponse()
		b.ReportAllocs()
		for b.Loop() {
			req.SetRequestURI(srv.URL + "/")
			if err := hc.Do(req, resp); err != nil {
				b.Fatal(err)
			}
		}
	})
	for _, tt := range tests {
		b.Run(tt.name, func(b *testing.B) {
			cl := newTestClient(b, Options{})
			req, resp := fasthttp.AcquireRequest(), fasthttp.AcquireResponse()
			ctx, cancel := context.WithCancel(context.Background())
			defer cancel()
			if tt.endless {
				ctx = context.Background()
			}
			b.ReportAllocs()
			for b.Loop() {
				req.Reset()
				req.SetRequestURI(srv.URL + "/")
				tg := targetFor("svc.test", tt.retry, ep)
				done, err := cl.Do(ctx, tg, req, resp)
				if err != nil {
					b.Fatal(err)
				}
				if s := resp.BodyStream(); s != nil {
					io.Copy(io.Discard, s)
				}
				done()
			}
		})
	}
}
