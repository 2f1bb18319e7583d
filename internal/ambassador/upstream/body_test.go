package upstream

import (
	"bytes"
	"context"
	"io"
	"net/http"
	"strings"
	"testing"

	"github.com/meshlite/meshlite/pkg/routes"
)

// onlyReader hides every method but Read, so NewRequest sets no GetBody
// and no ContentLength.
type onlyReader struct{ r io.Reader }

func (o onlyReader) Read(p []byte) (int, error) { return o.r.Read(p) }

func TestRoundTripReplaysBody(t *testing.T) {
	tests := []struct {
		name         string
		size         int
		body         func(string) io.Reader
		knownLength  bool
		wantAttempts int
	}{
		{"64 KiB without GetBody is buffered and replayed", maxReplayBody, func(s string) io.Reader { return onlyReader{strings.NewReader(s)} }, false, 2},
		{"64 KiB with GetBody is replayed", maxReplayBody, func(s string) io.Reader { return strings.NewReader(s) }, true, 2},
		{"1 MiB with GetBody is replayed", 1 << 20, func(s string) io.Reader { return strings.NewReader(s) }, true, 2},
		{"64 KiB + 1 of unknown length is sent once", maxReplayBody + 1, func(s string) io.Reader { return onlyReader{strings.NewReader(s)} }, false, 1},
		{"64 KiB + 1 of known length is sent once", maxReplayBody + 1, func(s string) io.Reader { return io.NopCloser(strings.NewReader(s)) }, true, 1},
		{"empty body is retried", 0, func(string) io.Reader { return http.NoBody }, true, 2},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			rec := &recorder{script: statuses(503, 200)}
			srv, ep := newUpstream(t, rec)
			tr := newTestTransport(t, Options{})
			want := payload(tt.size)
			req, err := http.NewRequest("POST", srv.URL+"/upload", tt.body(want))
			if err != nil {
				t.Fatal(err)
			}
			if tt.knownLength {
				req.ContentLength = int64(tt.size)
			}
			tg := targetFor("svc.test", Retry{Attempts: 3, On: routes.RetryOn{GatewayError: true}, NonIdempotent: true}, ep)
			ctx, cancel := context.WithTimeout(WithTarget(context.Background(), tg), guard)
			defer cancel()
			res, err := tr.RoundTrip(req.WithContext(ctx))
			if err != nil {
				t.Fatalf("RoundTrip: %v", err)
			}
			res.Body.Close()
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

// closeCounter counts Close calls on a request body.
type closeCounter struct {
	io.Reader
	closed int
}

func (c *closeCounter) Close() error { c.closed++; return nil }

func TestRoundTripClosesRequestBody(t *testing.T) {
	tests := []struct {
		name   string
		target *Target
	}{
		{"no target", nil},
		{"target without addresses", &Target{Host: "svc.test", Port: 80}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			tr := newTestTransport(t, Options{})
			body := &closeCounter{Reader: bytes.NewReader([]byte("x"))}
			req, _ := http.NewRequest("POST", "http://svc.test/", body)
			if tt.target != nil {
				req = req.WithContext(WithTarget(req.Context(), tt.target))
			}
			if _, err := tr.RoundTrip(req); err == nil {
				t.Fatal("RoundTrip succeeded without a dialable target")
			}
			if body.closed != 1 {
				t.Errorf("request body closed %d times, want 1", body.closed)
			}
		})
	}
}
