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

func BenchmarkRoundTrip(b *testing.B) {
	tests := []struct {
		name  string
		retry Retry
	}{
		{"single try", Retry{}},
		{"retry policy", Retry{Attempts: 3, PerTryTimeout: guard, On: routes.RetryOn{GatewayError: true}}},
	}
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) { w.Write([]byte("ok")) }))
	b.Cleanup(srv.Close)
	ep := addrPort(b, srv.Listener)
	b.Run("plain http.Transport for comparison", func(b *testing.B) {
		tr := &http.Transport{MaxIdleConnsPerHost: 256, DisableCompression: true}
		defer tr.CloseIdleConnections()
		b.ReportAllocs()
		for b.Loop() {
			req, _ := http.NewRequest("GET", srv.URL+"/", nil)
			res, err := tr.RoundTrip(req)
			if err != nil {
				b.Fatal(err)
			}
			io.Copy(io.Discard, res.Body)
			res.Body.Close()
		}
	})
	for _, tt := range tests {
		b.Run(tt.name, func(b *testing.B) {
			tr := newTestTransport(b, Options{})
			b.ReportAllocs()
			for b.Loop() {
				tg := targetFor("svc.test", tt.retry, ep)
				req, _ := http.NewRequestWithContext(WithTarget(context.Background(), tg), "GET", srv.URL+"/", nil)
				res, err := tr.RoundTrip(req)
				if err != nil {
					b.Fatal(err)
				}
				io.Copy(io.Discard, res.Body)
				res.Body.Close()
			}
		})
	}
}

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
