package upstream

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net/http"
	"testing"

	"github.com/meshlite/meshlite/pkg/routes"
)

func TestClientDoSendsRequest(t *testing.T) {
	rec := &recorder{script: statuses(200)}
	srv, ep := newUpstream(t, rec)
	cl := newTestClient(t, Options{})
	tg := targetFor("svc.test", Retry{}, ep)
	res, err := sendClient(t, cl, context.Background(), "GET", srv.URL+"/x?q=1", nil, tg)
	if err != nil || res.status != 200 || res.body != "OK" {
		t.Fatalf("got %+v, %v; want 200 OK", res, err)
	}
	r := rec.reqs[0]
	if want := "svc.test:" + itoa(ep.Port()); r.Host != want || r.URL.RequestURI() != "/x?q=1" {
		t.Errorf("upstream saw Host %q, URI %q; want %q, /x?q=1", r.Host, r.URL.RequestURI(), want)
	}
	if ua := r.Header.Get("User-Agent"); ua != "" {
		t.Errorf("client added User-Agent %q", ua)
	}
	if tg.Attempts != 1 || tg.Upstream != ep.String() {
		t.Errorf("Attempts = %d, Upstream = %q; want 1, %s", tg.Attempts, tg.Upstream, ep)
	}
}

func TestClientDoStreamsLargeBody(t *testing.T) {
	const size = 1 << 20
	rec := &recorder{script: func(_ int, w http.ResponseWriter, _ *http.Request) {
		io.WriteString(w, payload(size))
	}}
	srv, ep := newUpstream(t, rec)
	cl := newTestClient(t, Options{})
	for i := range 2 { // the second call reuses the connection the first read to its end
		tg := targetFor("svc.test", Retry{}, ep)
		res, err := sendClient(t, cl, context.Background(), "GET", srv.URL+"/", nil, tg)
		if err != nil || res.status != 200 || res.body != payload(size) {
			t.Fatalf("call %d: %v, %d bytes; want 200 with %d bytes", i, err, len(res.body), size)
		}
	}
}

func TestClientDoRetriesAndFallsBack(t *testing.T) {
	rec := &recorder{script: statuses(503, 200)}
	srv, live := newUpstream(t, rec)
	dead := deadUpstreamAddr(t, live.Port())
	cl := newTestClient(t, Options{})
	tg := targetFor("svc.test", Retry{Attempts: 2, On: routes.RetryOn{GatewayError: true}}, dead, live)
	res, err := sendClient(t, cl, context.Background(), "GET", srv.URL+"/", nil, tg)
	if err != nil || res.status != 200 {
		t.Fatalf("got %+v, %v; want 200", res, err)
	}
	if rec.count() != 2 || tg.Attempts != 3 || tg.Upstream != live.String() {
		t.Errorf("live saw %d, Attempts = %d, Upstream = %q; want 2, 3, %s", rec.count(), tg.Attempts, tg.Upstream, live)
	}
}

func TestClientDoDialError(t *testing.T) {
	dead := deadUpstreamAddr(t, 0)
	cl := newTestClient(t, Options{})
	tg := targetFor("svc.test", Retry{}, dead)
	_, err := sendClient(t, cl, context.Background(), "GET", "http://svc.test/", nil, tg)
	var de *DialError
	if !errors.As(err, &de) || de.Addr != dead.String() {
		t.Fatalf("err = %v, want *DialError for %s", err, dead)
	}
}

func TestClientDoOriginatesTLS(t *testing.T) {
	rec := &recorder{script: statuses(200)}
	ep, cfg := newTLSUpstream(t, rec)
	cl := newTestClient(t, Options{TLSConfig: cfg})
	tg := targetFor("example.com", Retry{}, ep)
	res, err := sendClient(t, cl, context.Background(), "GET", fmt.Sprintf("https://example.com:%d/tls", ep.Port()), nil, tg)
	if err != nil || res.status != 200 || res.body != "OK" {
		t.Fatalf("got %+v, %v; want 200 OK", res, err)
	}
	if r := rec.reqs[0]; r.TLS == nil || r.TLS.ServerName != "example.com" || r.ProtoMajor != 1 {
		t.Errorf("upstream saw %s with TLS %v, want HTTP/1.1 with SNI example.com", r.Proto, r.TLS)
	}
}

func TestClientCloseIdleConnections(t *testing.T) {
	a, _, srv, _ := newServerPair(t, "http", false)
	cl := newTestClient(t, Options{})
	for i := range 2 {
		tg := targetFor("svc.test", Retry{}, a)
		if _, err := sendClient(t, cl, context.Background(), "GET", "http://svc.test/", nil, tg); err != nil {
			t.Fatal(err)
		}
		if i == 0 {
			cl.CloseIdleConnections()
		}
	}
	if got := srv[0].conns.count(); got != 2 {
		t.Errorf("server accepted %d connections, want 2 (the idle one was closed)", got)
	}
	if cl.poolCount() != 1 {
		t.Errorf("%d pools, want 1", cl.poolCount())
	}
}

func TestClientDoRefusesUpgrade(t *testing.T) {
	rec := &recorder{script: statuses(200)}
	srv, ep := newUpstream(t, rec)
	cl := newTestClient(t, Options{})
	req, resp := newClientRequest(t, "GET", srv.URL+"/")
	req.Header.Set("Connection", "Upgrade")
	req.Header.Set("Upgrade", "websocket")
	done, err := cl.Do(context.Background(), targetFor("svc.test", Retry{}, ep), req, resp)
	done()
	if !errors.Is(err, errUpgrade) || rec.count() != 0 {
		t.Fatalf("err = %v, upstream saw %d; want errUpgrade and nothing sent", err, rec.count())
	}
}

func TestClientDialTunnel(t *testing.T) {
	l := listenOn(t, "127.0.0.1", 0)
	echoServer(t, l)
	live := addrPort(t, l)
	dead := deadUpstreamAddr(t, live.Port())
	cl := newTestClient(t, Options{})
	tg := targetFor("svc.test", Retry{}, dead, live)
	conn, err := cl.DialTunnel(context.Background(), tg)
	if err != nil {
		t.Fatalf("DialTunnel: %v", err)
	}
	defer conn.Close()
	if tg.Upstream != live.String() || tg.Attempts != 2 {
		t.Errorf("Upstream = %q, Attempts = %d; want %s, 2", tg.Upstream, tg.Attempts, live)
	}
	io.WriteString(conn, "ping")
	buf := make([]byte, 4)
	if _, err := io.ReadFull(conn, buf); err != nil || string(buf) != "ping" {
		t.Fatalf("echo = %q, %v; want ping", buf, err)
	}
}
