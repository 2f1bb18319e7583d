package faulttest

import (
	"encoding/json"
	"fmt"
	"net"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"syscall"
	"testing"

	"github.com/meshlite/meshlite/internal/testnet"
)

// cp is a control plane process serving a directory.
type cp struct {
	*proc
	xds, admin string
}

// startControlPlane runs the control plane on xdsAddr ("" = a free port)
// serving dir, and waits until it is ready.
func startControlPlane(t *testing.T, dir, xdsAddr string) *cp {
	t.Helper()
	if xdsAddr == "" {
		xdsAddr = fmt.Sprintf("127.0.0.1:%d", testnet.FreePort(t))
	}
	admin := fmt.Sprintf("127.0.0.1:%d", testnet.FreePort(t))
	c := &cp{xds: xdsAddr, admin: "http://" + admin}
	c.proc = start(t, "controlplane", []string{"serve", "--routes", dir, "--xds", xdsAddr, "--admin", admin,
		"--debounce", "20ms", "--shutdown-grace", "2s"}, nil)
	eventually(t, "the control plane ready", func() bool {
		select {
		case <-c.exited:
			t.Fatalf("control plane exited early: %v\n%s", c.err, c.stderr.String())
		default:
		}
		code, _ := get(c.admin + "/readyz")
		return code == http.StatusOK
	})
	return c
}

// writeTable writes the workload's table as an editor would: a new file
// renamed over the old one.
func writeTable(t *testing.T, dir, content string) {
	t.Helper()
	tmp := filepath.Join(dir, ".tmp-app")
	if err := os.WriteFile(tmp, []byte(content), 0o644); err != nil {
		t.Fatal(err)
	}
	if err := os.Rename(tmp, filepath.Join(dir, "app.yaml")); err != nil {
		t.Fatal(err)
	}
}

// version is the table version the ambassador serves and where it came
// from, from /config_dump.
func (a *amb) version(t *testing.T) (version, origin string) {
	t.Helper()
	code, body := get(a.admin + "/config_dump")
	if code != http.StatusOK {
		t.Fatalf("/config_dump: %d %s", code, body)
	}
	var d struct{ Version, Origin string }
	if err := json.Unmarshal([]byte(body), &d); err != nil {
		t.Fatalf("/config_dump: %v", err)
	}
	return d.Version, d.Origin
}

// okUpstream answers every request with body.
func okUpstream(t *testing.T, body string) string {
	t.Helper()
	up := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) { fmt.Fprint(w, body) }))
	t.Cleanup(up.Close)
	return up.URL
}

// xdsAmbassador starts a control plane serving one route on a fresh port
// to an upstream answering "ok", and an ambassador that serves it.
func xdsAmbassador(t *testing.T) (c *cp, a *amb, dir string, port int, up string) {
	t.Helper()
	dir = t.TempDir()
	up = okUpstream(t, "ok")
	port = testnet.FreePort(t)
	writeTable(t, dir, routeTable(routeSpec{name: "api", port: port, target: up}))
	c = startControlPlane(t, dir, "")
	a = startAmbassador(t, ambOptions{xds: c.xds})
	if _, origin := a.version(t); !strings.HasPrefix(origin, "xds:") {
		t.Fatalf("ambassador serves a table from %q, want the control plane's", origin)
	}
	return c, a, dir, port, up
}

// TestControlPlaneKilledAndRestartedUnderLoad: SIGKILL the control plane
// while requests flow, keep them flowing while it is gone, start it again
// on the same address: the ambassador keeps its last table, no request
// fails, and it reconnects.
func TestControlPlaneKilledAndRestartedUnderLoad(t *testing.T) {
	c, a, dir, port, _ := xdsAmbassador(t)
	version, _ := a.version(t)
	reconnects := a.metric("meshlite_xds_reconnects_total")
	l := startLoad(door(port), 4, 0)
	eventually(t, "load flowing", func() bool { return l.count() >= 50 })

	c.signal(t, syscall.SIGKILL)
	eventually(t, "the ambassador to notice the control plane is gone", func() bool { return a.metric("meshlite_xds_connected") == 0 })
	atKill := l.count()
	eventually(t, "100 requests while the control plane is down", func() bool { return l.count() >= atKill+100 })

	startControlPlane(t, dir, c.xds)
	eventually(t, "the ambassador to reconnect", func() bool {
		return a.metric("meshlite_xds_connected") == 1 && a.metric("meshlite_xds_reconnects_total") > reconnects
	})
	atBack := l.count()
	eventually(t, "50 requests after the restart", func() bool { return l.count() >= atBack+50 })
	res := l.stop()

	if res.noAnswer != 0 || res.byStatus[http.StatusOK] != res.answered {
		t.Errorf("client: %d sent, %d answered %v, %d without an answer; want every one 200; first failure %s",
			res.sent, res.answered, res.byStatus, res.noAnswer, res.firstFail)
	}
	if v, _ := a.version(t); v != version {
		t.Errorf("table version %q after the restart, want the same table %q", v, version)
	}
	k := a.settle(t, res.answered)
	checkIntegrity(t, "control plane SIGKILL and restart", res.answered, k, a.stop(t))
	t.Logf("control plane down for %d requests, %d in all", atBack-atKill, res.sent)
}

// TestRejectedTableKeepsTheLastGoodOneServing: the control plane pushes a
// table the ambassador cannot apply (its new door's port is taken), which
// the ambassador NACKs while the last good table keeps serving; a corrected
// table pushed next is applied.
func TestRejectedTableKeepsTheLastGoodOneServing(t *testing.T) {
	_, a, dir, port, up := xdsAmbassador(t)
	good, _ := a.version(t)
	taken, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer taken.Close()
	takenPort := taken.Addr().(*net.TCPAddr).Port
	nacks := a.metric("meshlite_xds_nacks_total")
	l := startLoad(door(port), 4, 0)
	eventually(t, "load flowing", func() bool { return l.count() >= 50 })

	writeTable(t, dir, routeTable(routeSpec{name: "api", port: port, target: up}, routeSpec{name: "blocked", port: takenPort, target: up}))
	eventually(t, "a NACK", func() bool { return a.metric("meshlite_xds_nacks_total") > nacks })
	atNack := l.count()
	eventually(t, "50 requests after the NACK", func() bool { return l.count() >= atNack+50 })
	if v, _ := a.version(t); v != good {
		t.Errorf("after the NACK the ambassador serves version %q, want the last good %q", v, good)
	}

	fixed := testnet.FreePort(t)
	writeTable(t, dir, routeTable(routeSpec{name: "api", port: port, target: up}, routeSpec{name: "fixed", port: fixed, target: up}))
	eventually(t, "the corrected table", func() bool { v, _ := a.version(t); return v != good })
	res := l.stop()
	if code, body := get(door(fixed)); code != http.StatusOK || body != "ok" {
		t.Errorf("the corrected table's door: %d %q, want 200 ok", code, body)
	}

	if res.noAnswer != 0 || res.byStatus[http.StatusOK] != res.answered {
		t.Errorf("client: %d sent, %d answered %v, %d without an answer; want every one 200; first failure %s",
			res.sent, res.answered, res.byStatus, res.noAnswer, res.firstFail)
	}
	k := a.settle(t, res.answered+1) // the load, and the corrected door's request
	checkIntegrity(t, "rejected table (NACK)", res.answered+1, k, a.stop(t))
}
