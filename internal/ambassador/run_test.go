package ambassador

import (
	"bufio"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	neturl "net/url"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/meshlite/meshlite/internal/config"
	"github.com/meshlite/meshlite/internal/testnet"
)

// running is an ambassador started by Run in the background.
type running struct {
	cfg    config.Ambassador
	door   int
	stdout *testnet.Buffer
	stderr *testnet.Buffer
	cancel context.CancelFunc
	done   chan error
}

func testConfig(t *testing.T, routesYAML string) (config.Ambassador, int) {
	t.Helper()
	door := testnet.FreePort(t)
	cfg := config.Ambassador{
		Listen: fmt.Sprintf("127.0.0.1:%d", testnet.FreePort(t)), Admin: fmt.Sprintf("127.0.0.1:%d", testnet.FreePort(t)),
		LogLevel: "debug", ShutdownGrace: 5 * time.Second, ReadHeaderTimeout: 5 * time.Second,
		IdleTimeout: 30 * time.Second, MaxHeaderBytes: 4096, MaxConnections: 64,
		UpstreamTimeout: 10 * time.Second, DialTimeout: 2 * time.Second, MaxIdleConnsPerHost: 16,
		AuditOverflow: "block",
	}
	if routesYAML != "" {
		cfg.Routes = filepath.Join(t.TempDir(), "routes.yaml")
		body := strings.ReplaceAll(routesYAML, "{{DOOR}}", fmt.Sprint(door))
		if err := os.WriteFile(cfg.Routes, []byte(body), 0o600); err != nil {
			t.Fatal(err)
		}
	}
	return cfg, door
}

func start(t *testing.T, cfg config.Ambassador, door int) *running {
	t.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	r := &running{cfg: cfg, door: door, stdout: &testnet.Buffer{}, stderr: &testnet.Buffer{}, cancel: cancel, done: make(chan error, 1)}
	go func() { r.done <- Run(ctx, cfg, r.stdout, r.stderr) }()
	t.Cleanup(func() { cancel(); <-r.done })
	for deadline := time.Now().Add(10 * time.Second); time.Now().Before(deadline); time.Sleep(20 * time.Millisecond) {
		if resp, err := http.Get("http://" + cfg.Admin + "/healthz"); err == nil {
			resp.Body.Close()
			return r
		}
		select {
		case err := <-r.done:
			t.Fatalf("Run returned early: %v\n%s", err, r.stderr.String())
		default:
		}
	}
	t.Fatalf("the ambassador did not start\n%s", r.stderr.String())
	return nil
}

func fetch(t *testing.T, u string) (int, http.Header, string) {
	t.Helper()
	resp, err := http.Get(u)
	if err != nil {
		t.Fatalf("GET %s: %v", u, err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return resp.StatusCode, resp.Header, string(b)
}

const table = `apiVersion: meshlite/v1
kind: RouteTable
metadata: {name: numbers-web}
spec:
  routes:
    - name: rng
      source: http://localhost:{{DOOR}}/api
      target: http://UPSTREAM/rng
`

func TestRunServesStaticTable(t *testing.T) {
	up := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { fmt.Fprint(w, "7") }))
	defer up.Close()
	cfg, door := testConfig(t, strings.ReplaceAll(table, "UPSTREAM", strings.TrimPrefix(up.URL, "http://")))
	r := start(t, cfg, door)

	if status, _, body := fetch(t, fmt.Sprintf("http://127.0.0.1:%d/api", door)); status != 200 || body != "7" {
		t.Fatalf("mapped call: %d %q", status, body)
	}
	if status, _, body := fetch(t, "http://"+cfg.Admin+"/readyz"); status != 200 {
		t.Errorf("readyz: %d %q", status, body)
	}
	_, _, body := fetch(t, "http://"+cfg.Admin+"/config_dump")
	var dump struct {
		Origin, Version string
		Table           struct{ Metadata struct{ Name string } }
	}
	if err := json.Unmarshal([]byte(body), &dump); err != nil {
		t.Fatal(err)
	}
	if dump.Origin != "file:"+cfg.Routes || dump.Version == "" || dump.Table.Metadata.Name != "numbers-web" {
		t.Errorf("config_dump: %s", body)
	}
	if _, _, metrics := fetch(t, "http://"+cfg.Admin+"/metrics"); !strings.Contains(metrics, `meshlite_requests_total{code="2xx",decision="allow",door="local",route="rng",rule="route:rng"} 1`) {
		t.Errorf("metrics lack the request:\n%s", grep(metrics, "meshlite_requests_total"))
	}
	r.cancel()
	if err := <-r.done; err != nil {
		t.Fatalf("Run: %v", err)
	}
	r.done <- nil
	if !strings.Contains(r.stdout.String(), `"route":"rng"`) {
		t.Errorf("no audit line on stdout: %q", r.stdout.String())
	}
}

func grep(s, sub string) string {
	var out []string
	for _, l := range strings.Split(s, "\n") {
		if strings.Contains(l, sub) {
			out = append(out, l)
		}
	}
	return strings.Join(out, "\n")
}

func TestHeaderLimit(t *testing.T) {
	cfg, door := testConfig(t, "")
	start(t, cfg, door)
	req, _ := http.NewRequest("GET", "http://"+cfg.Listen+"/", nil)
	req.Header.Set("X-Big", strings.Repeat("a", 8192))
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusRequestHeaderFieldsTooLarge {
		t.Fatalf("status %d, want 431", resp.StatusCode)
	}
}

func TestNoTableDeniesEverything(t *testing.T) {
	cfg, door := testConfig(t, "")
	start(t, cfg, door)
	status, h, _ := rawProxyGet(t, cfg.Listen, "http://example.com/")
	if status != http.StatusForbidden || !strings.Contains(h.Get("X-Meshlite-Reason"), "no egress rule") {
		t.Fatalf("status %d reason %q", status, h.Get("X-Meshlite-Reason"))
	}
}

// rawProxyGet sends an absolute-form GET to the forward door at addr.
func rawProxyGet(t *testing.T, addr, target string) (int, http.Header, string) {
	t.Helper()
	c, err := net.Dial("tcp", addr)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	c.SetDeadline(time.Now().Add(10 * time.Second))
	u, _ := neturl.Parse(target)
	fmt.Fprintf(c, "GET %s HTTP/1.1\r\nHost: %s\r\nConnection: close\r\n\r\n", target, u.Host)
	resp, err := http.ReadResponse(bufio.NewReader(c), nil)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return resp.StatusCode, resp.Header, string(b)
}

func TestWaitingForControlPlane(t *testing.T) {
	cfg, door := testConfig(t, "")
	cfg.XDS, cfg.Workload = fmt.Sprintf("127.0.0.1:%d", testnet.FreePort(t)), "numbers-web"
	start(t, cfg, door)
	status, _, body := fetch(t, "http://"+cfg.Admin+"/readyz")
	if status != http.StatusServiceUnavailable || !strings.Contains(body, "waiting for workload \"numbers-web\"") {
		t.Errorf("readyz: %d %q", status, body)
	}
	// once the first attempt has failed, /readyz says how
	for deadline := time.Now().Add(10 * time.Second); !strings.Contains(body, "last attempt:") && time.Now().Before(deadline); {
		time.Sleep(20 * time.Millisecond)
		_, _, body = fetch(t, "http://"+cfg.Admin+"/readyz")
	}
	if !strings.Contains(body, "last attempt:") || !strings.Contains(body, "refused") {
		t.Errorf("readyz does not say why the control plane is not answering: %q", body)
	}
	status, h, _ := rawProxyGet(t, cfg.Listen, "http://example.com/")
	if status != http.StatusForbidden || !strings.Contains(h.Get("X-Meshlite-Reason"), "no route table yet") {
		t.Errorf("status %d reason %q", status, h.Get("X-Meshlite-Reason"))
	}
}

func TestDoorBindFailureNamesTheAddress(t *testing.T) {
	busy := testnet.Listen(t)
	port := busy.Addr().(*net.TCPAddr).Port
	cfg, _ := testConfig(t, fmt.Sprintf(strings.ReplaceAll(table, "{{DOOR}}", "%d"), port))
	err := Run(context.Background(), cfg, io.Discard, io.Discard)
	want := fmt.Sprintf("cannot open door on 127.0.0.1:%d", port)
	if err == nil || !strings.Contains(err.Error(), want) || !strings.Contains(err.Error(), "address already in use") {
		t.Fatalf("err = %v, want it to contain %q and the reason", err, want)
	}
}

func TestGracefulStopLetsInFlightRequestsFinish(t *testing.T) {
	entered, release := make(chan struct{}), make(chan struct{})
	up := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		close(entered)
		<-release
		fmt.Fprint(w, "done")
	}))
	defer up.Close()
	cfg, door := testConfig(t, strings.ReplaceAll(table, "UPSTREAM", strings.TrimPrefix(up.URL, "http://")))
	r := start(t, cfg, door)
	result := make(chan string, 1)
	go func() {
		resp, err := http.Get(fmt.Sprintf("http://127.0.0.1:%d/api", door))
		if err != nil {
			result <- err.Error()
			return
		}
		b, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		result <- fmt.Sprintf("%d %s", resp.StatusCode, b)
	}()
	<-entered
	r.cancel() // SIGTERM
	// The door must close while the request is still held upstream.
	closed := false
	for deadline := time.Now().Add(10 * time.Second); !closed && time.Now().Before(deadline); time.Sleep(10 * time.Millisecond) {
		c, err := net.DialTimeout("tcp", cfg.Listen, time.Second)
		if closed = err != nil; !closed {
			c.Close()
		}
	}
	if !closed {
		t.Error("the forward door still accepted connections 10s after the stop began, with a request in flight")
	}
	close(release)
	if got := <-result; got != "200 done" {
		t.Errorf("in-flight request: %q, want 200 done", got)
	}
	if err := <-r.done; err != nil {
		t.Errorf("Run: %v", err)
	}
	r.done <- nil
}
