package soak

import (
	"bufio"
	"context"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"net/http/httptest"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"github.com/meshlite/meshlite/internal/controlplane"
	"github.com/meshlite/meshlite/internal/controlplane/xds"
	"github.com/meshlite/meshlite/internal/testnet"
)

// waitLimit bounds every wait for a state; the machine is shared.
const waitLimit = 30 * time.Second

// eventually polls cond until it holds or waitLimit passes.
func eventually(t *testing.T, what string, cond func() bool) {
	t.Helper()
	testnet.Eventually(t, waitLimit, what, cond)
}

// world is everything the soak runs against: a real upstream HTTP server,
// a TCP echo server at the far end of the tunnels, a control plane serving
// a directory, and the ambassador binary subscribed to it.
type world struct {
	upstream *httptest.Server
	echo     net.Listener
	dir      string // the control plane's RouteTable directory
	xds      string // control plane xDS address
	// The ambassador's addresses: the local mapping door of the "api"
	// route, the door only table "b" opens, the forward door, the admin.
	localPort, extraPort int
	forward, admin       string
	pid                  int
	auditLines           atomic.Int64 // lines the ambassador wrote to stdout
	warm                 *barrier     // see load.warmUp
}

// upstreamHandler answers every request with its path, so the load can
// tell which table's route served it. Requests for .../warm wait at the
// warm-up barrier first.
func (w *world) upstreamHandler(rw http.ResponseWriter, r *http.Request) {
	_, _ = io.Copy(io.Discard, r.Body)
	if strings.HasSuffix(r.URL.Path, "/warm") {
		w.warm.wait()
	}
	fmt.Fprint(rw, r.URL.Path)
}

// barrier holds requests until n are inside it (or waitLimit passes), so
// that n connections are open at the same moment.
type barrier struct {
	mu      sync.Mutex
	n, in   int
	release chan struct{}
}

func newBarrier(n int) *barrier { return &barrier{n: n, release: make(chan struct{})} }

func (b *barrier) wait() {
	b.mu.Lock()
	if b.in++; b.in == b.n {
		close(b.release)
	}
	b.mu.Unlock()
	select {
	case <-b.release:
	case <-time.After(waitLimit):
	}
}

func newWorld(t *testing.T, bin string) *world {
	t.Helper()
	w := &world{dir: t.TempDir(), localPort: testnet.FreePort(t), extraPort: testnet.FreePort(t), warm: newBarrier(2 * connsPerClient)}
	ln, err := net.Listen("tcp", soakAddr+":0")
	if err != nil {
		t.Fatal(err)
	}
	w.upstream = &httptest.Server{Listener: ln, Config: &http.Server{Handler: http.HandlerFunc(w.upstreamHandler)}}
	w.upstream.Start()
	t.Cleanup(w.upstream.Close)
	w.echo = startEcho(t)
	if err := writeFile(w.dir, w.table("a")); err != nil {
		t.Fatal(err)
	}
	w.xds = startControlPlane(t, w.dir)
	w.startAmbassador(t, bin)
	return w
}

// startEcho serves a TCP echo on soakAddr: it copies until the client
// half-closes or closes, then closes.
func startEcho(t *testing.T) net.Listener {
	t.Helper()
	ln, err := net.Listen("tcp", soakAddr+":0")
	if err != nil {
		t.Fatal(err)
	}
	done := make(chan struct{})
	go func() {
		defer close(done)
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			go func() {
				defer c.Close()
				_ = c.SetDeadline(time.Now().Add(waitLimit))
				_, _ = io.Copy(c, c)
			}()
		}
	}()
	t.Cleanup(func() { ln.Close(); <-done })
	return ln
}

// table is the RouteTable of version v ("a" or "b"): both map the local
// door to the upstream (under /a or /b) and allow the soak network for the
// forward door and tunnels; "b" also opens a second door, so every swap
// opens or closes a listener.
func (w *world) table(v string) string {
	up := w.upstream.Listener.Addr().String()
	echoPort := w.echo.Addr().(*net.TCPAddr).Port
	upPort := w.upstream.Listener.Addr().(*net.TCPAddr).Port
	var b strings.Builder
	fmt.Fprintf(&b, "apiVersion: meshlite/v1\nkind: RouteTable\nmetadata:\n  name: soak\nspec:\n  routes:\n")
	fmt.Fprintf(&b, "    - name: api\n      source: http://localhost:%d/api\n      target: http://%s/%s\n      timeout: 10s\n", w.localPort, up, v)
	if v == "b" {
		fmt.Fprintf(&b, "    - name: extra\n      source: http://localhost:%d/extra\n      target: http://%s/extra\n", w.extraPort, up)
	}
	fmt.Fprintf(&b, "  egress:\n    - name: soak-net-%s\n      cidrs: [%s]\n      ports: [%d, %d]\n", v, soakCIDR, upPort, echoPort)
	return b.String()
}

// writeFile replaces dir/soak.yaml as an editor would (write, rename), so
// the control plane never reads half a file.
func writeFile(dir, content string) error {
	tmp := filepath.Join(dir, ".soak.tmp")
	if err := os.WriteFile(tmp, []byte(content), 0o644); err != nil {
		return err
	}
	return os.Rename(tmp, filepath.Join(dir, "soak.yaml"))
}

// startControlPlane serves dir in-process on loopback until the test ends
// and returns its xDS address.
func startControlPlane(t *testing.T, dir string) string {
	t.Helper()
	cp, err := controlplane.New(controlplane.Options{
		RoutesDir: dir, Debounce: 20 * time.Millisecond,
		XDS: xds.Options{StopTimeout: 5 * time.Second}, ShutdownGrace: 5 * time.Second,
		Logger: slog.New(slog.DiscardHandler),
	})
	if err != nil {
		t.Fatal(err)
	}
	xl, al := testnet.Listen(t), testnet.Listen(t)
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- cp.Serve(ctx, xl, al) }()
	t.Cleanup(func() {
		cancel()
		select {
		case err := <-done:
			if err != nil {
				t.Errorf("control plane Serve: %v", err)
			}
		case <-time.After(waitLimit):
			t.Errorf("control plane did not stop within %s", waitLimit)
		}
	})
	admin := "http://" + al.Addr().String()
	eventually(t, "the control plane ready", func() bool { code, _ := get(admin + "/readyz"); return code == http.StatusOK })
	return xl.Addr().String()
}

// startAmbassador runs the ambassador binary subscribed to the control
// plane until the test ends (SIGTERM, then wait), counting its audit lines.
func (w *world) startAmbassador(t *testing.T, bin string) {
	t.Helper()
	w.forward = fmt.Sprintf("127.0.0.1:%d", testnet.FreePort(t))
	w.admin = fmt.Sprintf("http://127.0.0.1:%d", testnet.FreePort(t))
	cmd := exec.Command(bin, "--listen", w.forward, "--admin", strings.TrimPrefix(w.admin, "http://"),
		"--xds", w.xds, "--workload", "soak", "--node-id", "soak-1", "--log-level", "warn",
		"--shutdown-grace", "5s")
	stdout, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	stderr := &testnet.Buffer{}
	cmd.Stderr = stderr
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	w.pid = cmd.Process.Pid
	read := make(chan struct{})
	go func() {
		defer close(read)
		sc := bufio.NewScanner(stdout)
		sc.Buffer(make([]byte, 64<<10), 1<<20)
		for sc.Scan() {
			w.auditLines.Add(1)
		}
	}()
	t.Cleanup(func() {
		_ = cmd.Process.Signal(syscall.SIGTERM)
		<-read
		if err := cmd.Wait(); err != nil {
			t.Errorf("ambassador exit: %v\n%s", err, stderr.String())
		}
		// One per request and tunnel: the load's, the warm-up's and the
		// readiness checks'. For the record; it is not asserted here.
		t.Logf("audit lines the ambassador wrote: %d", w.auditLines.Load())
		if s := stderr.String(); s != "" {
			t.Logf("ambassador stderr (warnings and errors):\n%s", s)
		}
	})
	eventually(t, "the ambassador ready", func() bool { code, _ := get(w.admin + "/readyz"); return code == http.StatusOK })
	eventually(t, "table a served on the local door", func() bool {
		code, body := get(fmt.Sprintf("http://127.0.0.1:%d/api", w.localPort))
		return code == http.StatusOK && body == "/a"
	})
}

// adminClient reads the admin endpoints, bounded.
var adminClient = &http.Client{Timeout: 10 * time.Second}

// get returns the status and body of GET url; status 0 when it failed.
func get(url string) (int, string) {
	resp, err := adminClient.Get(url)
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

// metric returns the value of the unlabelled series name on the
// ambassador's /metrics.
func (w *world) metric(t *testing.T, name string) float64 {
	t.Helper()
	code, body := get(w.admin + "/metrics")
	if code != http.StatusOK {
		t.Fatalf("ambassador /metrics: %d %s", code, body)
	}
	for line := range strings.SplitSeq(body, "\n") {
		if v, ok := strings.CutPrefix(line, name+" "); ok {
			f, err := strconv.ParseFloat(strings.TrimSpace(v), 64)
			if err != nil {
				t.Fatalf("metric %s: %v", name, err)
			}
			return f
		}
	}
	t.Fatalf("metric %s is not on /metrics", name)
	return 0
}
