package telemetry

import (
	"context"
	"encoding/json"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/meshlite/meshlite/internal/testnet"
)

// startAdmin serves a on a fresh 127.0.0.1 listener and returns its base URL;
// the server is shut down when the test ends, and Serve must return nil.
func startAdmin(t *testing.T, a *Admin) string {
	t.Helper()
	ln := testnet.Listen(t)
	served := make(chan error, 1)
	go func() { served <- a.Serve(ln) }()
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		if err := a.Shutdown(ctx); err != nil {
			t.Errorf("Shutdown: %v", err)
		}
		if err := <-served; err != nil {
			t.Errorf("Serve returned %v after Shutdown, want nil", err)
		}
	})
	return "http://" + ln.Addr().String()
}

func get(t *testing.T, method, url string) (int, string, http.Header) {
	t.Helper()
	req, err := http.NewRequestWithContext(t.Context(), method, url, nil)
	if err != nil {
		t.Fatal(err)
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatalf("%s %s: %v", method, url, err)
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(resp.Body)
	if err != nil {
		t.Fatal(err)
	}
	return resp.StatusCode, string(body), resp.Header
}

func TestAdminEndpoints(t *testing.T) {
	reg := prometheus.NewRegistry()
	requests := prometheus.NewCounter(prometheus.CounterOpts{Name: "meshlite_test_requests_total", Help: "test"})
	requests.Add(3)
	reg.MustRegister(requests)
	var ready atomic.Bool
	a := NewAdmin(AdminOptions{
		Registry: reg,
		Ready: func() (bool, string) {
			if !ready.Load() {
				return false, "no route table loaded yet"
			}
			return true, ""
		},
	})
	a.HandleLocal("GET /config_dump", http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) {
		_, _ = io.WriteString(w, `{"version":"v1"}`)
	}))
	a.HandleProfiles()
	base := startAdmin(t, a)

	tests := []struct {
		name       string
		method     string
		path       string
		before     func()
		wantStatus int
		wantBody   string // substring
	}{
		{"healthz is live", "GET", "/healthz", nil, 200, "ok\n"},
		{"readyz names what is missing", "GET", "/readyz", nil, 503, "no route table loaded yet\n"},
		{"readyz turns ready", "GET", "/readyz", func() { ready.Store(true) }, 200, "ready\n"},
		{"metrics serves the registry", "GET", "/metrics", nil, 200, "meshlite_test_requests_total 3"},
		{"version is build info", "GET", "/version", nil, 200, `"version":"` + Version + `"`},
		{"local endpoint answers loopback", "GET", "/config_dump", nil, 200, `{"version":"v1"}`},
		{"profiles list goroutines", "GET", "/debug/pprof/", nil, 200, "goroutine"},
		{"a named profile", "GET", "/debug/pprof/goroutine?debug=1", nil, 200, "goroutine profile: total"},
		{"healthz rejects POST", "POST", "/healthz", nil, 405, ""},
		{"unknown path", "GET", "/nope", nil, 404, ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if tt.before != nil {
				tt.before()
			}
			status, body, _ := get(t, tt.method, base+tt.path)
			if status != tt.wantStatus {
				t.Errorf("status = %d, want %d (body %q)", status, tt.wantStatus, body)
			}
			if !strings.Contains(body, tt.wantBody) {
				t.Errorf("body = %q, want it to contain %q", body, tt.wantBody)
			}
		})
	}
}

func TestAdminVersionIsJSON(t *testing.T) {
	base := startAdmin(t, NewAdmin(AdminOptions{}))
	status, body, h := get(t, "GET", base+"/version")
	if status != 200 || h.Get("Content-Type") != "application/json" {
		t.Fatalf("status %d, content type %q", status, h.Get("Content-Type"))
	}
	var info map[string]string
	if err := json.Unmarshal([]byte(body), &info); err != nil {
		t.Fatalf("body is not a JSON object of strings: %v: %q", err, body)
	}
	if info[BuildVersion] != Version || info[BuildGoVersion] == "" {
		t.Errorf("version info = %v", info)
	}
}

func TestAdminWithoutRegistryOrReady(t *testing.T) {
	base := startAdmin(t, NewAdmin(AdminOptions{}))
	if status, body, _ := get(t, "GET", base+"/readyz"); status != 200 || body != "ready\n" {
		t.Errorf("readyz with no Ready func = %d %q, want 200 ready", status, body)
	}
	if status, _, _ := get(t, "GET", base+"/metrics"); status != 404 {
		t.Errorf("metrics with no registry = %d, want 404", status)
	}
}

func TestLocalOnlyGuard(t *testing.T) {
	tests := []struct {
		name       string
		remoteAddr string
		openDebug  bool
		wantStatus int
	}{
		{"IPv4 loopback", "127.0.0.1:40000", false, 200},
		{"other 127/8 address", "127.10.20.30:1", false, 200},
		{"IPv6 loopback", "[::1]:40000", false, 200},
		{"IPv4-mapped loopback", "[::ffff:127.0.0.1]:40000", false, 200},
		{"pod IP refused", "10.1.2.3:40000", false, 403},
		{"public IPv6 refused", "[2001:db8::1]:40000", false, 403},
		{"unparsable address refused", "not-an-address", false, 403},
		{"missing port refused", "127.0.0.1", false, 403},
		{"pod IP allowed when opened", "10.1.2.3:40000", true, 200},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			a := NewAdmin(AdminOptions{OpenDebug: tt.openDebug})
			h := a.localOnly(http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) {
				_, _ = io.WriteString(w, "secret table")
			}))
			req := httptest.NewRequest("GET", "/explain?url=http://x/", nil)
			req.RemoteAddr = tt.remoteAddr
			rec := httptest.NewRecorder()
			h.ServeHTTP(rec, req)
			if rec.Code != tt.wantStatus {
				t.Fatalf("status = %d, want %d", rec.Code, tt.wantStatus)
			}
			body := rec.Body.String()
			if tt.wantStatus == 403 {
				want := "admin: /explain answers loopback clients only (use kubectl port-forward or kubectl exec, or start with --admin-open)\n"
				if body != want {
					t.Errorf("body = %q, want %q", body, want)
				}
			} else if body != "secret table" {
				t.Errorf("body = %q, want the guarded handler's", body)
			}
		})
	}
}

func TestAdminListenAndServeBadAddress(t *testing.T) {
	err := NewAdmin(AdminOptions{}).ListenAndServe("127.0.0.1:notaport")
	if err == nil || !strings.Contains(err.Error(), `telemetry: admin listen on "127.0.0.1:notaport"`) {
		t.Fatalf("error = %v, want it to name the address", err)
	}
}

func TestAdminStartServesUntilShutdown(t *testing.T) {
	a := NewAdmin(AdminOptions{})
	if a.Addr() != nil {
		t.Fatalf("Addr before Start = %v, want nil", a.Addr())
	}
	if err := a.Start("127.0.0.1:0"); err != nil {
		t.Fatalf("Start: %v", err)
	}
	base := "http://" + a.Addr().String()
	if status, body, _ := get(t, "GET", base+"/healthz"); status != 200 || body != "ok\n" {
		t.Fatalf("healthz after Start = %d %q", status, body)
	}
	if err := a.Shutdown(t.Context()); err != nil {
		t.Fatalf("Shutdown: %v", err)
	}
	if _, err := http.Get(base + "/healthz"); err == nil {
		t.Error("server still answers after Shutdown")
	}
}

func TestAdminStartReportsBusyAddress(t *testing.T) {
	first := NewAdmin(AdminOptions{})
	if err := first.Start("127.0.0.1:0"); err != nil {
		t.Fatalf("Start: %v", err)
	}
	t.Cleanup(func() { _ = first.Shutdown(context.Background()) })
	addr := first.Addr().String()
	err := NewAdmin(AdminOptions{}).Start(addr)
	if err == nil || !strings.Contains(err.Error(), `telemetry: admin listen on "`+addr+`"`) {
		t.Fatalf("Start on a busy address = %v, want an error naming it", err)
	}
}

func TestAdminListenAndServeUntilShutdown(t *testing.T) {
	a := NewAdmin(AdminOptions{})
	served := make(chan error, 1)
	go func() { served <- a.ListenAndServe("127.0.0.1:0") }()
	var status int
	for range 100 { // bounded: up to ~5s for the listener to come up
		select {
		case err := <-served:
			t.Fatalf("ListenAndServe ended early: %v", err)
		default:
		}
		if addr := a.Addr(); addr != nil {
			status, _, _ = get(t, "GET", "http://"+addr.String()+"/healthz")
			break
		}
		time.Sleep(50 * time.Millisecond)
	}
	if status != 200 {
		t.Fatalf("healthz via ListenAndServe never answered 200 (last %d)", status)
	}
	if err := a.Shutdown(t.Context()); err != nil {
		t.Fatalf("Shutdown: %v", err)
	}
	if err := <-served; err != nil {
		t.Errorf("ListenAndServe returned %v after Shutdown, want nil", err)
	}
}
