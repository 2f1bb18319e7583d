package upstream

import (
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"net/http"
	"testing"

	"github.com/meshlite/meshlite/pkg/routes"
)

// The cases of tls_test.go, for the Client.

// TestClientOriginatesTLS: the upstream offers HTTP/2 (newTLSUpstream) and
// the Client speaks HTTP/1.1, the only protocol of its pools.
func TestClientOriginatesTLS(t *testing.T) {
	rec := &recorder{script: statuses(200)}
	ep, cfg := newTLSUpstream(t, rec)
	cl := newTestClient(t, Options{TLSConfig: cfg})
	tg := targetFor("example.com", Retry{}, ep)
	url := fmt.Sprintf("https://example.com:%d/tls", ep.Port())
	res, err := sendClient(t, cl, context.Background(), "GET", url, nil, tg)
	if err != nil || res.status != 200 || res.body != "OK" {
		t.Fatalf("got %+v, %v; want 200 OK", res, err)
	}
	r := rec.reqs[0]
	if r.TLS == nil || r.TLS.ServerName != "example.com" {
		t.Errorf("upstream saw SNI %v, want example.com", r.TLS)
	}
	if want := fmt.Sprintf("example.com:%d", ep.Port()); r.Host != want {
		t.Errorf("upstream saw Host %q, want %q", r.Host, want)
	}
	if r.ProtoMajor != 1 || r.TLS.NegotiatedProtocol == "h2" {
		t.Errorf("upstream saw %s (ALPN %q), want HTTP/1.1", r.Proto, r.TLS.NegotiatedProtocol)
	}
	if tg.Upstream != ep.String() {
		t.Errorf("Upstream = %q, want %s", tg.Upstream, ep)
	}
}

func TestClientVerifiesTLS(t *testing.T) {
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
			cl := newTestClient(t, Options{TLSConfig: tt.cfg})
			tg := targetFor(tt.host, Retry{}, ep)
			url := fmt.Sprintf("https://%s:%d/", tt.host, ep.Port())
			_, err := sendClient(t, cl, context.Background(), "GET", url, nil, tg)
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

func TestClientTLSConnectFailureGoesToLiveAddress(t *testing.T) {
	rec := &recorder{script: statuses(200)}
	live, cfg := newTLSUpstream(t, rec)
	dead := deadUpstreamAddr(t, live.Port())
	cl := newTestClient(t, Options{TLSConfig: cfg})
	tg := targetFor("example.com", Retry{Attempts: 2, On: routes.RetryOn{ConnectFailure: true}}, dead, live)
	url := fmt.Sprintf("https://example.com:%d/", live.Port())
	res, err := sendClient(t, cl, context.Background(), "GET", url, nil, tg)
	if err != nil || res.status != http.StatusOK {
		t.Fatalf("got %+v, %v; want 200", res, err)
	}
	if tg.Attempts != 2 || tg.Upstream != live.String() {
		t.Errorf("Attempts = %d, Upstream = %q; want 2, %s", tg.Attempts, tg.Upstream, live)
	}
}

// TestClientDialTLS: Dial with TLS for an https upgrade verifies the
// target's name, and a failed verification is a *DialError.
func TestClientDialTLS(t *testing.T) {
	rec := &recorder{script: statuses(200)}
	ep, cfg := newTLSUpstream(t, rec)
	cl := newTestClient(t, Options{TLSConfig: cfg})
	conn, err := cl.Dial(context.Background(), targetFor("example.com", Retry{}, ep), true)
	if err != nil {
		t.Fatalf("Dial: %v", err)
	}
	st := conn.(*tls.Conn).ConnectionState()
	conn.Close()
	if st.ServerName != "example.com" || !st.HandshakeComplete {
		t.Errorf("TLS state %+v, want a completed handshake with example.com", st)
	}
	_, err = cl.Dial(context.Background(), targetFor("other.test", Retry{}, ep), true)
	var de *DialError
	var ve *tls.CertificateVerificationError
	if !errors.As(err, &de) || !errors.As(err, &ve) {
		t.Fatalf("Dial to a name not in the certificate: %v, want *DialError wrapping a verification error", err)
	}
}
