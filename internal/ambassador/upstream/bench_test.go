package upstream

import (
	"context"
	"io"
	"net/http"
	"net/http/httptest"
	"testing"

	"github.com/meshlite/meshlite/pkg/routes"
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
