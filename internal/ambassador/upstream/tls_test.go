package upstream

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"errors"
	"fmt"
	"io"
	"log"
	"net/http"
	"net/http/httptest"
	"net/netip"
	"testing"

	"github.com/meshlite/meshlite/pkg/routes"
)

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

func TestRoundTripOriginatesTLS(t *testing.T) {
	rec := &recorder{script: statuses(200)}
	ep, cfg := newTLSUpstream(t, rec)
	tr := newTestTransport(t, Options{TLSConfig: cfg})
	tg := targetFor("example.com", Retry{}, ep)
	url := fmt.Sprintf("https://example.com:%d/tls", ep.Port())
	res, body, err := send(t, tr, context.Background(), "GET", url, nil, tg)
	if err != nil || res.StatusCode != 200 || body != "OK" {
		t.Fatalf("got %v %q, %v; want 200 OK", res, body, err)
	}
	r := rec.reqs[0]
	if r.TLS == nil || r.TLS.ServerName != "example.com" {
		t.Errorf("upstream saw SNI %v, want example.com", r.TLS)
	}
	if want := fmt.Sprintf("example.com:%d", ep.Port()); r.Host != want {
		t.Errorf("upstream saw Host %q, want %q", r.Host, want)
	}
	if r.ProtoMajor != 2 {
		t.Errorf("upstream saw %s, want HTTP/2", r.Proto)
	}
	if tg.Upstream != ep.String() {
		t.Errorf("Upstream = %q, want %s", tg.Upstream, ep)
	}
}

func TestRoundTripVerifiesTLS(t *testing.T) {
	rec := &recorder{script: statuses(200)}
	ep, cfg := newTLSUpstream(t, rec)
	tests := []struct {
		name string
		host string
		cfg  *tls.Config
	}{
		{"name not in the certificate", "other.test", cfg},
		{"system roots do not trust a test certificate", "example.com", nil},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			tr := newTestTransport(t, Options{TLSConfig: tt.cfg})
			tg := targetFor(tt.host, Retry{}, ep)
			url := fmt.Sprintf("https://%s:%d/", tt.host, ep.Port())
			_, _, err := send(t, tr, context.Background(), "GET", url, nil, tg)
			var de *DialError
			var ve *tls.CertificateVerificationError
			if !errors.As(err, &de) || !errors.As(err, &ve) {
				t.Fatalf("err = %v, want *DialError wrapping a certificate verification error", err)
			}
			if rec.count() != 0 {
				t.Errorf("upstream received %d requests over an unverified connection", rec.count())
			}
		})
	}
}

func TestRoundTripTLSConnectFailureGoesToLiveAddress(t *testing.T) {
	rec := &recorder{script: statuses(200)}
	live, cfg := newTLSUpstream(t, rec)
	dead := deadUpstreamAddr(t, live.Port())
	tr := newTestTransport(t, Options{TLSConfig: cfg})
	tg := targetFor("example.com", Retry{Attempts: 2, On: routes.RetryOn{ConnectFailure: true}}, dead, live)
	url := fmt.Sprintf("https://example.com:%d/", live.Port())
	res, _, err := send(t, tr, context.Background(), "GET", url, nil, tg)
	if err != nil || res.StatusCode != http.StatusOK {
		t.Fatalf("got %v, %v; want 200", res, err)
	}
	if tg.Attempts != 2 || tg.Upstream != live.String() {
		t.Errorf("Attempts = %d, Upstream = %q; want 2, %s", tg.Attempts, tg.Upstream, live)
	}
}
