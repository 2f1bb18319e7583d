package upstream

import (
	"context"
	"errors"
	"io"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/meshlite/meshlite/pkg/routes"
)

// The cases of retry_test.go, for the Client.

func TestClientRetriesStatus(t *testing.T) {
	gateway := routes.RetryOn{GatewayError: true}
	tests := []struct {
		name         string
		method       string
		codes        []int
		retry        Retry
		wantStatus   int
		wantAttempts int
	}{
		{"GET 503 then 200 with gateway-error", "GET", []int{503, 200}, Retry{Attempts: 3, On: gateway}, 200, 2},
		{"GET 500 then 200 with 5xx", "GET", []int{500, 200}, Retry{Attempts: 3, On: routes.RetryOn{Status5xx: true}}, 200, 2},
		{"GET 500 is not a gateway error", "GET", []int{500, 200}, Retry{Attempts: 3, On: gateway}, 500, 1},
		{"GET 429 then 200 with explicit code", "GET", []int{429, 200}, Retry{Attempts: 3, On: routes.RetryOn{Codes: []int{429}}}, 200, 2},
		{"GET 503 without conditions is not retried", "GET", []int{503, 200}, Retry{Attempts: 3}, 503, 1},
		{"GET 503 with one attempt is not retried", "GET", []int{503, 200}, Retry{Attempts: 1, On: gateway}, 503, 1},
		{"attempts exhausted returns the last response", "GET", []int{503, 502, 200}, Retry{Attempts: 2, On: gateway}, 502, 2},
		{"POST 503 is not retried", "POST", []int{503, 200}, Retry{Attempts: 3, On: gateway}, 503, 1},
		{"POST 503 is retried when non-idempotent allowed", "POST", []int{503, 200}, Retry{Attempts: 3, On: gateway, NonIdempotent: true}, 200, 2},
		{"PUT 503 is retried", "PUT", []int{503, 200}, Retry{Attempts: 3, On: gateway}, 200, 2},
		{"DELETE 504 is retried", "DELETE", []int{504, 200}, Retry{Attempts: 3, On: gateway}, 200, 2},
		{"PATCH 503 is not retried", "PATCH", []int{503, 200}, Retry{Attempts: 3, On: gateway}, 503, 1},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			rec := &recorder{script: statuses(tt.codes...)}
			srv, ep := newUpstream(t, rec)
			cl := newTestClient(t, Options{})
			tg := targetFor("svc.test", tt.retry, ep)
			res, err := sendClient(t, cl, context.Background(), tt.method, srv.URL+"/x", nil, tg)
			if err != nil {
				t.Fatalf("Do: %v", err)
			}
			if res.status != tt.wantStatus || res.body != http.StatusText(tt.wantStatus) {
				t.Errorf("got %d %q, want %d", res.status, res.body, tt.wantStatus)
			}
			if tg.Attempts != tt.wantAttempts || rec.count() != tt.wantAttempts {
				t.Errorf("Target.Attempts = %d, upstream saw %d requests; want %d", tg.Attempts, rec.count(), tt.wantAttempts)
			}
			if tg.Upstream != ep.String() {
				t.Errorf("Target.Upstream = %q, want %q", tg.Upstream, ep)
			}
			retries := counterValue(t, cl.metrics.retries.WithLabelValues("r", reasonStatus))
			if int(retries) != tt.wantAttempts-1 {
				t.Errorf("retries_total{reason=status} = %v, want %d", retries, tt.wantAttempts-1)
			}
		})
	}
}

func TestClientRetriesReset(t *testing.T) {
	tests := []struct {
		name         string
		retry        Retry
		wantErr      bool
		wantAttempts int
	}{
		{"reset then 200 with reset", Retry{Attempts: 2, On: routes.RetryOn{Reset: true}}, false, 2},
		{"reset then 200 with gateway-error", Retry{Attempts: 2, On: routes.RetryOn{GatewayError: true}}, false, 2},
		{"reset is not a connect failure", Retry{Attempts: 2, On: routes.RetryOn{ConnectFailure: true}}, true, 1},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			l := listenOn(t, "127.0.0.1", 0)
			seen := resetThenOK(t, l)
			ep := addrPort(t, l)
			cl := newTestClient(t, Options{})
			tg := targetFor("svc.test", tt.retry, ep)
			res, err := sendClient(t, cl, context.Background(), "GET", "http://svc.test/", nil, tg)
			if tt.wantErr {
				var de *DialError
				var te *TimeoutError
				if err == nil || errors.As(err, &de) || errors.As(err, &te) {
					t.Fatalf("err = %v, want a reset error", err)
				}
			} else if err != nil || res.status != 200 || res.body != "ok" {
				t.Fatalf("got %+v, %v; want 200 ok", res, err)
			}
			if tg.Attempts != tt.wantAttempts || seen() != tt.wantAttempts {
				t.Errorf("Target.Attempts = %d, upstream read %d requests; want %d", tg.Attempts, seen(), tt.wantAttempts)
			}
		})
	}
}

func TestClientPrefersUntriedEndpoint(t *testing.T) {
	bad := &recorder{script: statuses(503)}
	badSrv, badEP := newUpstream(t, bad)
	good := &recorder{script: statuses(200)}
	l := listenOn(t, "127.0.0.2", badEP.Port())
	goodSrv := &http.Server{Handler: good}
	go goodSrv.Serve(l)
	t.Cleanup(func() { goodSrv.Close() })
	goodEP := addrPort(t, l)

	cl := newTestClient(t, Options{})
	tg := targetFor("svc.test", Retry{Attempts: 2, On: routes.RetryOn{GatewayError: true}}, badEP, goodEP)
	res, err := sendClient(t, cl, context.Background(), "GET", badSrv.URL+"/", nil, tg)
	if err != nil || res.status != 200 {
		t.Fatalf("got %+v, %v; want 200 from the untried endpoint", res, err)
	}
	if bad.count() != 1 || good.count() != 1 {
		t.Errorf("bad endpoint saw %d, good saw %d; want 1 each", bad.count(), good.count())
	}
	if tg.Upstream != goodEP.String() || tg.Attempts != 2 {
		t.Errorf("Upstream = %q, Attempts = %d; want %s, 2", tg.Upstream, tg.Attempts, goodEP)
	}
}

func TestClientConnectFailureGoesToLiveAddress(t *testing.T) {
	tests := []struct {
		name         string
		method       string
		body         string
		attempts     int
		wantAttempts int
		wantDial     bool
	}{
		{"GET with retries falls back to the live address", "GET", "hello", 2, 2, false},
		{"POST with retries falls back, nothing was sent", "POST", "hello", 2, 2, false},
		{"one attempt without a body falls back to the live address", "GET", "", 1, 2, false},
		{"one attempt with a body it cannot resend reports the dead address", "GET", "hello", 1, 1, true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			rec := &recorder{script: statuses(200)}
			srv, live := newUpstream(t, rec)
			dead := deadUpstreamAddr(t, live.Port())
			cl := newTestClient(t, Options{})
			tg := targetFor("svc.test", Retry{Attempts: tt.attempts, On: routes.RetryOn{ConnectFailure: true}}, dead, live)
			var body io.Reader // streamed, as the server hands it over
			if tt.body != "" {
				body = strings.NewReader(tt.body)
			}
			res, err := sendClient(t, cl, context.Background(), tt.method, srv.URL+"/", body, tg)
			if tt.wantDial {
				var de *DialError
				if !errors.As(err, &de) || de.Addr != dead.String() || de.Others != 0 {
					t.Fatalf("err = %v, want *DialError for %s alone", err, dead)
				}
				if tg.Upstream != dead.String() {
					t.Errorf("Upstream = %q, want %s", tg.Upstream, dead)
				}
			} else {
				if err != nil || res.status != 200 {
					t.Fatalf("got %+v, %v; want 200", res, err)
				}
				if tg.Upstream != live.String() || rec.count() != 1 || rec.body(0) != tt.body {
					t.Errorf("Upstream = %q, upstream saw %d requests; want %s once with the body", tg.Upstream, rec.count(), live)
				}
				// A fallback is not a retry: no retry is counted or paid for.
				if got := counterValue(t, cl.metrics.retries.WithLabelValues("r", resultConnectFailure)); got != 0 {
					t.Errorf("retries_total{reason=connect_failure} = %v, want 0", got)
				}
			}
			if tg.Attempts != tt.wantAttempts {
				t.Errorf("Attempts = %d, want %d", tg.Attempts, tt.wantAttempts)
			}
		})
	}
}

func TestClientAllAddressesDead(t *testing.T) {
	dead := deadUpstreamAddr(t, 0)
	cl := newTestClient(t, Options{})
	tg := targetFor("svc.test", Retry{Attempts: 3, On: routes.RetryOn{ConnectFailure: true}}, dead)
	_, err := sendClient(t, cl, context.Background(), "GET", "http://svc.test/", nil, tg)
	var de *DialError
	if !errors.As(err, &de) || de.Addr != dead.String() {
		t.Fatalf("err = %v, want *DialError for %s", err, dead)
	}
	if tg.Attempts != 3 {
		t.Errorf("Attempts = %d, want 3", tg.Attempts)
	}
	got := counterValue(t, cl.metrics.tries.WithLabelValues("r", resultConnectFailure))
	if got != 3 {
		t.Errorf("tries_total{result=connect_failure} = %v, want 3", got)
	}
}

func TestClientTimeouts(t *testing.T) {
	never := func(int) bool { return false }
	tests := []struct {
		name         string
		ok           func(int) bool
		retry        Retry
		wantErr      *TimeoutError // nil: want 200
		wantAttempts int
	}{
		{"per-try timeout then success", func(n int) bool { return n > 0 },
			Retry{Attempts: 2, PerTryTimeout: time.Second, On: routes.RetryOn{Reset: true}}, nil, 2},
		{"per-try timeout on every try", never,
			Retry{Attempts: 2, PerTryTimeout: 100 * time.Millisecond, On: routes.RetryOn{GatewayError: true}},
			&TimeoutError{Timeout: 100 * time.Millisecond, PerTry: true}, 2},
		{"per-try timeout without a condition is not retried", never,
			Retry{Attempts: 3, PerTryTimeout: 100 * time.Millisecond, On: routes.RetryOn{ConnectFailure: true}},
			&TimeoutError{Timeout: 100 * time.Millisecond, PerTry: true}, 1},
		{"overall timeout", never,
			Retry{Attempts: 3, Timeout: 200 * time.Millisecond, On: routes.RetryOn{Reset: true}},
			&TimeoutError{Timeout: 200 * time.Millisecond}, 1},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			rec := &recorder{script: hang(tt.ok)}
			srv, ep := newUpstream(t, rec)
			cl := newTestClient(t, Options{})
			tg := targetFor("svc.test", tt.retry, ep)
			res, err := sendClient(t, cl, context.Background(), "GET", srv.URL+"/", nil, tg)
			if tt.wantErr == nil {
				if err != nil || res.status != 200 || res.body != "ok" {
					t.Fatalf("got %+v, %v; want 200 ok", res, err)
				}
			} else {
				var te *TimeoutError
				if !errors.As(err, &te) || *te != *tt.wantErr {
					t.Fatalf("err = %#v, want %#v", err, tt.wantErr)
				}
				if !errors.Is(err, context.DeadlineExceeded) {
					t.Errorf("errors.Is(%v, DeadlineExceeded) = false", err)
				}
			}
			if tg.Attempts != tt.wantAttempts {
				t.Errorf("Attempts = %d, want %d", tg.Attempts, tt.wantAttempts)
			}
		})
	}
}

func TestClientBodyTimeout(t *testing.T) {
	rec := &recorder{script: func(_ int, w http.ResponseWriter, r *http.Request) {
		w.Write([]byte("partial"))
		w.(http.Flusher).Flush()
		<-r.Context().Done()
	}}
	srv, ep := newUpstream(t, rec)
	cl := newTestClient(t, Options{})
	// The per-try timeout ends with the headers; the body has the call's.
	tg := targetFor("svc.test", Retry{Timeout: 2 * time.Second, PerTryTimeout: 100 * time.Millisecond}, ep)
	start := time.Now()
	res, err := sendClient(t, cl, context.Background(), "GET", srv.URL+"/", nil, tg)
	var te *TimeoutError
	if !errors.As(err, &te) || te.PerTry || res == nil {
		t.Fatalf("reading body: %v (result %+v), want *TimeoutError for the call after the headers", err, res)
	}
	if res.body != "partial" {
		t.Errorf("body = %q, want the part sent before the timeout", res.body)
	}
	if took := time.Since(start); took < 2*time.Second {
		t.Errorf("the body read failed after %v, before the call's timeout of 2s", took)
	}
}

func TestClientClientCancel(t *testing.T) {
	arrived := make(chan struct{}, 1)
	rec := &recorder{script: func(_ int, w http.ResponseWriter, r *http.Request) {
		arrived <- struct{}{}
		<-r.Context().Done()
	}}
	srv, ep := newUpstream(t, rec)
	cl := newTestClient(t, Options{})
	ctx, cancel := context.WithCancel(context.Background())
	go func() { <-arrived; cancel() }()
	tg := targetFor("svc.test", Retry{Attempts: 3, PerTryTimeout: guard, On: routes.RetryOn{Reset: true}}, ep)
	start := time.Now()
	_, err := sendClient(t, cl, ctx, "GET", srv.URL+"/", nil, tg)
	var te *TimeoutError
	if !errors.Is(err, context.Canceled) || errors.As(err, &te) {
		t.Fatalf("err = %v, want context.Canceled", err)
	}
	if tg.Attempts != 1 {
		t.Errorf("Attempts = %d, want 1", tg.Attempts)
	}
	if took := time.Since(start); took > guard/2 {
		t.Errorf("Do returned %v after the cancel; the try in flight was not cut short", took)
	}
}

func TestClientBackoffHonoursContext(t *testing.T) {
	tests := []struct {
		name   string
		cancel bool // the client cancels during backoff; else the call times out
	}{
		{"client cancels during backoff", true},
		{"call timeout during backoff", false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			rec := &recorder{script: statuses(503)}
			srv, ep := newUpstream(t, rec)
			cl := newTestClient(t, Options{})
			ctx, cancel := context.WithCancel(context.Background())
			defer cancel()
			waits := 0
			cl.backoff = func(int) time.Duration {
				waits++
				if tt.cancel {
					cancel()
				}
				return time.Hour
			}
			tg := targetFor("svc.test", Retry{Attempts: 3, Timeout: 300 * time.Millisecond, On: routes.RetryOn{GatewayError: true}}, ep)
			errc := make(chan error, 1)
			go func() {
				_, err := sendClient(t, cl, ctx, "GET", srv.URL+"/", nil, tg)
				errc <- err
			}()
			var err error
			select {
			case err = <-errc:
			case <-time.After(guard):
				t.Fatal("Do kept waiting out its backoff after the context ended")
			}
			var te *TimeoutError
			if tt.cancel && !errors.Is(err, context.Canceled) {
				t.Errorf("err = %v, want context.Canceled", err)
			}
			if !tt.cancel && (!errors.As(err, &te) || te.PerTry) {
				t.Errorf("err = %v, want the call's *TimeoutError", err)
			}
			if waits != 1 || rec.count() != 1 || tg.Attempts != 1 {
				t.Errorf("backoffs %d, upstream requests %d, Attempts %d; want 1 each", waits, rec.count(), tg.Attempts)
			}
		})
	}
}

// After a fallback every address has been tried; a retry must go to the
// address that answered, not back to the one whose dial just failed.
func TestClientRetryAfterFallbackSkipsFailedAddress(t *testing.T) {
	rec := &recorder{script: statuses(503, 200)}
	_, live := newUpstream(t, rec)
	dead := deadUpstreamAddr(t, live.Port())
	cl := newTestClient(t, Options{})
	tg := targetFor("svc.test", Retry{Attempts: 2, On: routes.RetryOn{GatewayError: true}}, dead, live)
	res, err := sendClient(t, cl, context.Background(), "GET", "http://svc.test/", nil, tg)
	if err != nil || res.status != 200 {
		t.Fatalf("got %+v, %v; want 200 from the retry on the live address", res, err)
	}
	if rec.count() != 2 || tg.Upstream != live.String() || tg.Attempts != 3 {
		t.Errorf("live saw %d requests, Upstream = %q, Attempts = %d; want 2, %s, 3 (dead, live, live)", rec.count(), tg.Upstream, tg.Attempts, live)
	}
}

// When every address refuses, the error names the last one and counts the
// others, so the reason does not suggest a single dead endpoint.
func TestClientAllAddressesRefuseCountsThem(t *testing.T) {
	first := deadUpstreamAddr(t, 0)
	l := listenOn(t, "127.0.0.3", first.Port()) // a second dead address on the same port
	second := addrPort(t, l)
	l.Close()
	cl := newTestClient(t, Options{})
	tg := targetFor("svc.test", Retry{Attempts: 1}, first, second)
	_, err := sendClient(t, cl, context.Background(), "GET", "http://svc.test/", nil, tg)
	var de *DialError
	if !errors.As(err, &de) || de.Addr != second.String() || de.Others != 1 {
		t.Fatalf("err = %v, want *DialError for %s with 1 other address", err, second)
	}
	if !strings.Contains(err.Error(), "and 1 other address of the target failed") {
		t.Errorf("error %q does not count the other address", err)
	}
	if tg.Attempts != 2 || tg.Upstream != second.String() {
		t.Errorf("Attempts = %d, Upstream = %q; want 2 (one fallback), %s", tg.Attempts, tg.Upstream, second)
	}
}
