package upstream

import (
	"context"
	"io"
	"strings"
	"testing"

	"github.com/meshlite/meshlite/pkg/routes"
	"github.com/valyala/fasthttp"
)

// The cases of body_test.go, for the Client: a buffered body (the
// server read it whole) is replayed; a streamed one is buffered for replay
// when it is at most 64 KiB, else sent once.
func TestClientReplaysBody(t *testing.T) {
	tests := []struct {
		name         string
		size         int
		set          func(req *fasthttp.Request, body string) // how the server handed the body over
		wantAttempts int
	}{
		{"64 KiB streamed of unknown length is buffered and replayed", maxReplayBody, streamed(-1), 2},
		{"64 KiB streamed of known length is buffered and replayed", maxReplayBody, streamed(maxReplayBody), 2},
		{"64 KiB buffered is replayed", maxReplayBody, buffered, 2},
		{"1 MiB buffered is replayed", 1 << 20, buffered, 2},
		{"64 KiB + 1 streamed of unknown length is sent once", maxReplayBody + 1, streamed(-1), 1},
		{"64 KiB + 1 streamed of known length is sent once", maxReplayBody + 1, streamed(maxReplayBody + 1), 1},
		{"empty body is retried", 0, buffered, 2},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			rec := &recorder{script: statuses(503, 200)}
			srv, ep := newUpstream(t, rec)
			cl := newTestClient(t, Options{})
			want := payload(tt.size)
			req, resp := newClientRequest(t, "POST", srv.URL+"/upload")
			tt.set(req, want)
			tg := targetFor("svc.test", Retry{Attempts: 3, On: routes.RetryOn{GatewayError: true}, NonIdempotent: true}, ep)
			ctx, cancel := context.WithTimeout(context.Background(), guard)
			defer cancel()
			done, err := cl.Do(ctx, tg, req, resp)
			done()
			if err != nil {
				t.Fatalf("Do: %v", err)
			}
			if tg.Attempts != tt.wantAttempts || rec.count() != tt.wantAttempts {
				t.Fatalf("Attempts = %d, upstream saw %d; want %d", tg.Attempts, rec.count(), tt.wantAttempts)
			}
			for i := range rec.count() {
				if got := rec.body(i); got != want {
					t.Errorf("request %d: upstream received %d bytes, want %d intact", i, len(got), len(want))
				}
			}
		})
	}
}

func buffered(req *fasthttp.Request, body string) { req.SetBodyString(body) }

// streamed hands the body over as a stream of the given length (-1:
// unknown), as a server that streams request bodies does.
func streamed(size int) func(*fasthttp.Request, string) {
	return func(req *fasthttp.Request, body string) {
		req.SetBodyStream(onlyReader{strings.NewReader(body)}, size)
	}
}

// TestClientFailsWithoutDialableTarget replaces
// TestRoundTripClosesRequestBody: without a dialable target Do fails
// before reading the request body.
func TestClientFailsWithoutDialableTarget(t *testing.T) {
	tests := []struct {
		name   string
		target *Target
	}{
		{"no target", nil},
		{"target without addresses", &Target{Host: "svc.test", Port: 80}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			cl := newTestClient(t, Options{})
			req, resp := newClientRequest(t, "POST", "http://svc.test/")
			body := strings.NewReader("x")
			req.SetBodyStream(onlyReader{body}, -1)
			done, err := cl.Do(context.Background(), tt.target, req, resp)
			done()
			if err == nil {
				t.Fatal("Do succeeded without a dialable target")
			}
			if body.Len() != 1 {
				t.Errorf("Do read the request body of a call it could not make")
			}
		})
	}
}

// TestClientRetriedResponseIsDrained: the body of a response that is
// retried is read to its end when it is small, so its connection carries
// the retry.
func TestClientRetriedResponseIsDrained(t *testing.T) {
	a, _, srv, _ := newServerPair(t, "http", false)
	srv[0].rec.script = statuses(503, 200)
	cl := newTestClient(t, Options{})
	tg := targetFor("svc.test", Retry{Attempts: 2, On: routes.RetryOn{GatewayError: true}}, a)
	res, err := sendClient(t, cl, context.Background(), "GET", "http://svc.test/", io.Reader(nil), tg)
	if err != nil || res.status != 200 {
		t.Fatalf("got %+v, %v; want 200", res, err)
	}
	if got := srv[0].conns.count(); got != 1 {
		t.Errorf("server accepted %d connections, want 1 (the retry reused the drained one)", got)
	}
}
