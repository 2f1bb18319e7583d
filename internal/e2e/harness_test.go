package e2e

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/meshlite/meshlite/internal/testnet"

	"github.com/meshlite/meshlite/internal/ambassador"
	"github.com/meshlite/meshlite/internal/config"
	"github.com/meshlite/meshlite/internal/controlplane"
	"github.com/meshlite/meshlite/internal/controlplane/source"
	"github.com/meshlite/meshlite/internal/controlplane/xds"
)

// waitLimit bounds every wait in these tests. It is generous: the machine is
// shared, and the tests assert what happens, never how fast.
const waitLimit = 20 * time.Second

// eventually polls cond until it holds or waitLimit passes.
func eventually(t *testing.T, what string, cond func() bool) {
	t.Helper()
	testnet.Eventually(t, waitLimit, what, cond)
}

// route is one route of a generated table: a local mapping door on port
// whose /api path goes to target.
type route struct {
	name   string
	port   int
	target string
}

// tableYAML is a RouteTable document for workload with routes.
func tableYAML(workload string, routes ...route) string {
	var b strings.Builder
	fmt.Fprintf(&b, "apiVersion: meshlite/v1\nkind: RouteTable\nmetadata:\n  name: %s\nspec:\n  routes:\n", workload)
	for _, r := range routes {
		fmt.Fprintf(&b, "    - name: %s\n      source: http://localhost:%d/api\n      target: %s\n      timeout: 5s\n", r.name, r.port, r.target)
	}
	return b.String()
}

// writeTable writes content to dir/name.yaml as an editor would: a new file
// renamed over the old one, so the control plane never reads half a file.
func writeTable(t *testing.T, dir, name, content string) {
	t.Helper()
	path := filepath.Join(dir, name+".yaml")
	tmp := filepath.Join(dir, ".tmp-"+name)
	if err := os.WriteFile(tmp, []byte(content), 0o644); err != nil {
		t.Fatal(err)
	}
	if err := os.Rename(tmp, path); err != nil {
		t.Fatal(err)
	}
}

// upstream is a real HTTP server that answers every request with its name.
func upstream(t *testing.T, name string) string {
	t.Helper()
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) {
		fmt.Fprint(w, name)
	}))
	t.Cleanup(srv.Close)
	return srv.URL
}

// cpInstance is a control plane serving a directory on loopback.
type cpInstance struct {
	cp     *controlplane.ControlPlane
	xds    string // host:port
	admin  string // base URL
	cancel context.CancelFunc
	done   chan error
}

// startControlPlane serves dir with the xDS listener on xdsAddr
// ("127.0.0.1:0" for a fresh port) until stop or the end of the test.
func startControlPlane(t *testing.T, dir, xdsAddr string) *cpInstance {
	t.Helper()
	logs := &testnet.Buffer{}
	cp, err := controlplane.New(controlplane.Options{
		RoutesDir: dir, Debounce: 20 * time.Millisecond,
		XDS: xds.Options{StopTimeout: 5 * time.Second}, ShutdownGrace: 5 * time.Second,
		Logger: slog.New(slog.NewTextHandler(logs, &slog.HandlerOptions{Level: slog.LevelDebug})),
	})
	if err != nil {
		t.Fatal(err)
	}
	xl := listen(t, xdsAddr)
	al := listen(t, "127.0.0.1:0")
	ctx, cancel := context.WithCancel(context.Background())
	c := &cpInstance{cp: cp, xds: xl.Addr().String(), admin: "http://" + al.Addr().String(), cancel: cancel, done: make(chan error, 1)}
	go func() { c.done <- cp.Serve(ctx, xl, al) }()
	t.Cleanup(func() {
		if t.Failed() { // what the control plane saw, for the failure's diagnosis
			_, status := get(c.admin + "/status")
			t.Logf("control plane %s /status:\n%s\nlog:\n%s", c.xds, status, logs.String())
		}
		c.stop(t)
	})
	eventually(t, "the control plane ready", func() bool { code, _ := get(c.admin + "/readyz"); return code == http.StatusOK })
	return c
}

// stop stops the control plane and waits for Serve to return; it may be
// called more than once.
func (c *cpInstance) stop(t *testing.T) {
	t.Helper()
	c.cancel()
	if c.done == nil {
		return
	}
	select {
	case err := <-c.done:
		if err != nil {
			t.Errorf("control plane Serve: %v", err)
		}
	case <-time.After(waitLimit):
		t.Errorf("control plane did not stop within %s", waitLimit)
	}
	c.done = nil
}

// listen binds addr, retrying briefly: a port just released by a stopped
// server can take a moment to be free again.
func listen(t *testing.T, addr string) net.Listener {
	t.Helper()
	var err error
	for deadline := time.Now().Add(waitLimit); time.Now().Before(deadline); time.Sleep(50 * time.Millisecond) {
		var ln net.Listener
		if ln, err = net.Listen("tcp", addr); err == nil {
			return ln
		}
	}
	t.Fatalf("listen %s: %v", addr, err)
	return nil
}

// status reads the control plane's /status.
func (c *cpInstance) status(t *testing.T) controlplane.Status {
	t.Helper()
	code, body := get(c.admin + "/status")
	if code != http.StatusOK {
		t.Fatalf("control plane /status: %d %s", code, body)
	}
	var st controlplane.Status
	if err := json.Unmarshal([]byte(body), &st); err != nil {
		t.Fatalf("control plane /status is not JSON: %v\n%s", err, body)
	}
	return st
}

// table is the /status entry of one table; the zero value when absent.
func (c *cpInstance) table(t *testing.T, name string) source.TableStatus {
	t.Helper()
	for _, ts := range c.status(t).Tables {
		if ts.Name == name {
			return ts
		}
	}
	return source.TableStatus{}
}

// ambassadorStatus is the /status entry of the ambassador with node id.
func (c *cpInstance) ambassadorStatus(t *testing.T, node string) (xds.Ambassador, bool) {
	t.Helper()
	for _, a := range c.status(t).Ambassadors {
		if a.NodeID == node {
			return a, true
		}
	}
	return xds.Ambassador{}, false
}

// ambInstance is an ambassador run in-process by ambassador.Run.
type ambInstance struct {
	cfg    config.Ambassador
	admin  string // base URL
	stderr *testnet.Buffer
}

// startAmbassador runs an ambassador of workload subscribed to the control
// plane at xdsAddr, with node id node and an optional static table file.
func startAmbassador(t *testing.T, xdsAddr, workload, node, routesFile string) *ambInstance {
	t.Helper()
	cfg := config.Ambassador{
		Listen: fmt.Sprintf("127.0.0.1:%d", testnet.FreePort(t)), Admin: fmt.Sprintf("127.0.0.1:%d", testnet.FreePort(t)),
		Routes: routesFile, XDS: xdsAddr, Workload: workload, NodeID: node,
		LogLevel: "info", ShutdownGrace: 5 * time.Second, ReadHeaderTimeout: 5 * time.Second,
		IdleTimeout: 30 * time.Second, MaxHeaderBytes: 16 << 10, MaxConnections: 256,
		UpstreamTimeout: 10 * time.Second, DialTimeout: 2 * time.Second, MaxIdleConnsPerHost: 16,
		AuditOverflow: "block",
	}
	a := &ambInstance{cfg: cfg, admin: "http://" + cfg.Admin, stderr: &testnet.Buffer{}}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- ambassador.Run(ctx, cfg, io.Discard, a.stderr) }()
	t.Cleanup(func() {
		cancel()
		select {
		case err := <-done:
			if err != nil {
				t.Errorf("ambassador Run: %v", err)
			}
		case <-time.After(waitLimit):
			t.Errorf("ambassador did not stop within %s", waitLimit)
		}
		if t.Failed() {
			t.Logf("ambassador %s log:\n%s", node, a.stderr.String())
		}
	})
	eventually(t, "the ambassador's admin listener", func() bool {
		select {
		case err := <-done:
			t.Fatalf("ambassador Run returned early: %v\n%s", err, a.stderr.String())
		default:
		}
		code, _ := get(a.admin + "/healthz")
		return code == http.StatusOK
	})
	return a
}

// configDump is the part of the ambassador's /config_dump the tests read.
type configDump struct {
	Version string `json:"version"`
	Origin  string `json:"origin"`
	Pending string `json:"pending"`
	Table   *struct {
		Metadata struct{ Name string } `json:"metadata"`
	} `json:"table"`
}

func (a *ambInstance) configDump(t *testing.T) configDump {
	t.Helper()
	code, body := get(a.admin + "/config_dump")
	if code != http.StatusOK {
		t.Fatalf("ambassador /config_dump: %d %s", code, body)
	}
	var d configDump
	if err := json.Unmarshal([]byte(body), &d); err != nil {
		t.Fatalf("ambassador /config_dump is not JSON: %v\n%s", err, body)
	}
	return d
}

// metric returns the value of one unlabelled series on the ambassador's
// /metrics, or "" when it is absent.
func (a *ambInstance) metric(name string) string {
	_, body := get(a.admin + "/metrics")
	for line := range strings.SplitSeq(body, "\n") {
		if v, ok := strings.CutPrefix(line, name+" "); ok {
			return v
		}
	}
	return ""
}

// httpClient is used for every request of the tests: bounded, and with
// keep-alive so that a load loop reuses its connection.
var httpClient = &http.Client{Timeout: 10 * time.Second}

// get returns the status and body of GET url; status 0 when the request
// failed (the error is in the body).
func get(url string) (int, string) {
	resp, err := httpClient.Get(url)
	if err != nil {
		return 0, err.Error()
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	if err != nil {
		return 0, err.Error()
	}
	return resp.StatusCode, string(b)
}

// door is the URL of the /api path on a local mapping door.
func door(port int) string { return fmt.Sprintf("http://127.0.0.1:%d/api", port) }

// answers reports whether GET url returns 200 with body want.
func answers(url, want string) bool {
	code, body := get(url)
	return code == http.StatusOK && body == want
}

// refused reports whether nothing listens on the local door port.
func refused(port int) bool {
	c, err := net.DialTimeout("tcp", fmt.Sprintf("127.0.0.1:%d", port), time.Second)
	if err != nil {
		return true
	}
	c.Close()
	return false
}
