package load

import (
	"context"
	"fmt"
	"net"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strings"
	"sync/atomic"
	"testing"

	vegeta "github.com/tsenart/vegeta/v12/lib"
	"time"
)

func TestPercentilesOf(t *testing.T) {
	ms := func(n int) time.Duration { return time.Duration(n) * time.Millisecond }
	tests := []struct {
		name string
		in   []time.Duration
		want Percentiles
	}{
		{name: "empty", in: nil, want: Percentiles{}},
		{name: "single value", in: []time.Duration{ms(3)}, want: Percentiles{ms(3), ms(3), ms(3), ms(3), ms(3)}},
		{
			name: "1 to 1000 unsorted uses nearest rank",
			in: func() []time.Duration {
				d := make([]time.Duration, 1000)
				for i := range d {
					d[i] = ms(1000 - i)
				}
				return d
			}(),
			want: Percentiles{P50: ms(500), P90: ms(900), P99: ms(990), P999: ms(999), Max: ms(1000)},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := percentilesOf(tt.in); got != tt.want {
				t.Fatalf("got %+v, want %+v", got, tt.want)
			}
		})
	}
}

func TestRun(t *testing.T) {
	var hits atomic.Int64
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		hits.Add(1)
		if r.URL.Path == "/fail" {
			http.Error(w, "no", http.StatusBadGateway)
			return
		}
		_, _ = w.Write([]byte(strings.Repeat("x", 1024)))
	}))
	defer srv.Close()
	proxyURL, _ := url.Parse(srv.URL) // the server also answers absolute-form requests

	tests := []struct {
		name       string
		spec       Spec
		wantErrors bool
	}{
		{name: "open loop", spec: Spec{URL: srv.URL + "/ok", Rate: 200, Connections: 4, Duration: 300 * time.Millisecond}},
		{name: "closed loop", spec: Spec{URL: srv.URL + "/ok", Connections: 4, Duration: 200 * time.Millisecond}},
		{name: "through a forward proxy", spec: Spec{URL: "http://upstream.invalid/ok", Proxy: proxyURL, Rate: 100, Connections: 2, Duration: 200 * time.Millisecond}},
		{name: "non-2xx answers are errors", spec: Spec{URL: srv.URL + "/fail", Rate: 100, Connections: 2, Duration: 200 * time.Millisecond}, wantErrors: true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			before := hits.Load()
			res, err := Run(context.Background(), tt.spec)
			if err != nil {
				t.Fatal(err)
			}
			if res.Requests == 0 || int64(res.Requests) != hits.Load()-before {
				t.Fatalf("requests = %d, server saw %d", res.Requests, hits.Load()-before)
			}
			if tt.wantErrors {
				if res.Errors != res.Requests || len(res.ErrorSample) == 0 || !strings.Contains(res.ErrorSample[0], "502") {
					t.Fatalf("errors = %d of %d, sample %q; want all, naming 502", res.Errors, res.Requests, res.ErrorSample)
				}
				return
			}
			if res.Errors != 0 || res.Latency.P50 <= 0 || res.Latency.P999 < res.Latency.P50 || res.Throughput <= 0 {
				t.Fatalf("unexpected result %+v", res)
			}
			if tt.spec.Rate > 0 && res.Scheduled != int(tt.spec.Duration.Seconds()*float64(tt.spec.Rate)) {
				t.Fatalf("scheduled = %d, want rate × duration", res.Scheduled)
			}
			if res.Latency.P50 < res.Service.P50 {
				t.Fatalf("latency from schedule %s below service time %s", res.Latency.P50, res.Service.P50)
			}
		})
	}
}

// TestRunDialsWithSpecDial sends every connection through Spec.Dial: the
// URL names a host that only that dialer knows, and the connections it
// opened are counted, within the connection limit.
func TestRunDialsWithSpecDial(t *testing.T) {
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) {
		_, _ = w.Write([]byte("ok"))
	}))
	defer srv.Close()
	var dials atomic.Int64
	var d net.Dialer
	dial := func(ctx context.Context, network, addr string) (net.Conn, error) {
		if addr != "upstream.invalid:80" {
			return nil, fmt.Errorf("dial %s: unexpected address", addr)
		}
		dials.Add(1)
		return d.DialContext(ctx, network, srv.Listener.Addr().String())
	}
	for _, rate := range []int{200, 0} {
		dials.Store(0)
		res, err := Run(context.Background(), Spec{URL: "http://upstream.invalid/ok", Rate: rate, Connections: 3, Duration: 200 * time.Millisecond, Dial: dial})
		if err != nil {
			t.Fatal(err)
		}
		if res.Requests == 0 || res.Errors != 0 {
			t.Fatalf("rate %d: %d requests, %d errors %q", rate, res.Requests, res.Errors, res.ErrorSample)
		}
		if n := dials.Load(); n < 1 || n > 3 {
			t.Fatalf("rate %d: Dial called %d times, want 1 to 3 (the connection limit)", rate, n)
		}
	}
}

func TestRunRejectsBadSpec(t *testing.T) {
	for _, s := range []Spec{
		{URL: "http://127.0.0.1:1/", Rate: 10, Duration: time.Second},
		{URL: "http://127.0.0.1:1/", Rate: -1, Connections: 1, Duration: time.Second},
		{URL: "http://127.0.0.1:1/", Rate: 10, Connections: 1},
	} {
		if _, err := Run(context.Background(), s); err == nil {
			t.Fatalf("spec %+v: want error", s)
		}
	}
}

func TestRunStopsOnCancel(t *testing.T) {
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) {}))
	defer srv.Close()
	ctx, cancel := context.WithTimeout(context.Background(), 100*time.Millisecond)
	defer cancel()
	_, err := Run(ctx, Spec{URL: srv.URL, Rate: 100, Connections: 2, Duration: time.Minute})
	if err == nil {
		t.Fatal("cancelled run: want error")
	}
}

// TestTimerPacerIsOnSchedule checks the pacer waits for each send time and
// not much longer (bounds are loose: the machine is shared).
func TestTimerPacerIsOnSchedule(t *testing.T) {
	tp := newTimerPacer(vegeta.ConstantPacer{Freq: 1000, Per: time.Second})
	if tp == nil {
		t.Skip("no timerfd")
	}
	defer tp.Close()
	began := time.Now()
	for hits := uint64(0); hits < 50; hits++ {
		wait, stop := tp.Pace(time.Since(began), hits)
		// A negative wait is a hit already late (a busy machine descheduled
		// this test): the pacer rightly sends it at once without waiting.
		if stop || wait > 0 {
			t.Fatalf("Pace = %s, %v; want to have waited itself", wait, stop)
		}
		if due := time.Duration(hits+1) * time.Millisecond; time.Since(began) < due {
			t.Fatalf("hit %d released at %s, before its send time %s", hits, time.Since(began), due)
		}
	}
	if total := time.Since(began); total > 5*time.Second {
		t.Fatalf("50 hits at 1000/s took %s", total)
	}
}
