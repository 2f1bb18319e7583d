package e2e

import (
	"fmt"
	"maps"
	"net/http"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/meshlite/meshlite/internal/testnet"
)

// load sends GET requests to one URL, one after another, until stopped or
// until its bounds are reached, and counts every outcome.
type load struct {
	ok, failed atomic.Int64
	stopc      chan struct{}
	done       chan struct{}

	mu       sync.Mutex
	firstErr string
	last     string // body of the last good response
}

// Load bounds: a test that needs more has a bug.
const (
	loadMaxRequests = 20000
	loadMaxDuration = 30 * time.Second
	loadPause       = 2 * time.Millisecond
)

// startLoad requests url until stop; a response other than 200 with one of
// the bodies in want counts as failed.
func startLoad(url string, want ...string) *load {
	l := &load{stopc: make(chan struct{}), done: make(chan struct{})}
	go func() {
		defer close(l.done)
		deadline := time.Now().Add(loadMaxDuration)
		for range loadMaxRequests {
			select {
			case <-l.stopc:
				return
			default:
			}
			if time.Now().After(deadline) {
				return
			}
			l.once(url, want)
			time.Sleep(loadPause)
		}
	}()
	return l
}

func (l *load) once(url string, want []string) {
	code, body := get(url)
	l.mu.Lock()
	defer l.mu.Unlock()
	for _, w := range want {
		if code == http.StatusOK && body == w {
			l.ok.Add(1)
			l.last = body
			return
		}
	}
	l.failed.Add(1)
	if l.firstErr == "" {
		l.firstErr = fmt.Sprintf("%d %q", code, body)
	}
}

func (l *load) lastBody() string {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.last
}

// stop ends the loop and returns the counts and the first failure.
func (l *load) stop() (ok, failed int64, firstErr string) {
	close(l.stopc)
	<-l.done
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.ok.Load(), l.failed.Load(), l.firstErr
}

// waitRequests waits until n more requests succeeded.
func (l *load) waitRequests(t *testing.T, n int64, while string) {
	t.Helper()
	target := l.ok.Load() + n
	eventually(t, fmt.Sprintf("%d successful requests %s", n, while), func() bool { return l.ok.Load() >= target })
}

func TestControlPlaneRestartWhileRequestsFlow(t *testing.T) {
	a, b := upstream(t, "A"), upstream(t, "B")
	p := testnet.FreePort(t)
	m := startMesh(t, route{"rng", p, a + "/rng"})
	before := m.waitInSync(t)
	addr := m.cp.xds

	l := startLoad(door(p), "A", "B")
	defer func() {
		if l != nil {
			l.stop()
		}
	}()
	l.waitRequests(t, 50, "before the stop")

	m.cp.stop(t)
	eventually(t, "the ambassador to notice the control plane is gone", func() bool {
		return m.amb.metric("meshlite_xds_connected") == "0"
	})
	l.waitRequests(t, 50, "while the control plane is down")
	if got := m.amb.metric("meshlite_xds_connected"); got != "0" {
		t.Fatalf("meshlite_xds_connected = %q during the outage, want 0", got)
	}

	m.cp = startControlPlane(t, m.dir, addr)
	if after := m.waitInSync(t); after != before {
		t.Errorf("version after the restart %s, want the same content version %s", after, before)
	}
	l.waitRequests(t, 50, "after the restart")

	writeTable(t, m.dir, workload, tableYAML(workload, route{"rng", p, b + "/rng"}))
	eventually(t, "the edit made after the restart to reach the ambassador", func() bool { return l.lastBody() == "B" })
	m.waitInSync(t)

	ok, failed, firstErr := l.stop()
	l = nil
	t.Logf("%d requests succeeded, %d failed", ok, failed)
	if failed != 0 {
		t.Errorf("%d of %d requests failed across the restart; first: %s", failed, ok+failed, firstErr)
	}
}

// egressYAML is a RouteTable without routes (so without local doors: two
// ambassadors of it can share the loopback) that allows host on port 443.
func egressYAML(workload, host string) string {
	return fmt.Sprintf("apiVersion: meshlite/v1\nkind: RouteTable\nmetadata: {name: %s}\n"+
		"spec:\n  egress:\n    - {name: api, host: %q, ports: [443]}\n", workload, host)
}

func TestReplicasServeIdenticalVersions(t *testing.T) {
	dir := t.TempDir()
	writeTable(t, dir, workload, egressYAML(workload, "api.example.com"))
	writeTable(t, dir, "shop", tableYAML("shop", route{"cart", 8080, "http://cart/"}))
	writeTable(t, dir, "billing", tableYAML("billing", route{"pay", 8081, "https://pay.example.com/"}))
	replicas := []*cpInstance{startControlPlane(t, dir, "127.0.0.1:0"), startControlPlane(t, dir, "127.0.0.1:0")}
	ambs := []*ambInstance{
		startAmbassador(t, replicas[0].xds, workload, "numbers-web-1", ""),
		startAmbassador(t, replicas[1].xds, workload, "numbers-web-2", ""),
	}
	versions := func(c *cpInstance) map[string]string {
		out := map[string]string{}
		for _, ts := range c.status(t).Tables {
			out[ts.Name] = ts.Version
		}
		return out
	}
	// agree waits until both replicas serve the same three versions and
	// both ambassadors run the workload's, and returns the versions.
	agree := func(what string) map[string]string {
		t.Helper()
		var v0 map[string]string
		eventually(t, what, func() bool {
			v0 = versions(replicas[0])
			d0, d1 := ambs[0].configDump(t), ambs[1].configDump(t)
			return len(v0) == 3 && maps.Equal(v0, versions(replicas[1])) &&
				d0.Version == v0[workload] && d1.Version == v0[workload]
		})
		return v0
	}
	first := agree("both replicas and both ambassadors on the same versions")
	writeTable(t, dir, workload, egressYAML(workload, "api2.example.com"))
	eventually(t, "the edit served by both replicas", func() bool {
		return versions(replicas[0])[workload] != first[workload] && versions(replicas[1])[workload] != first[workload]
	})
	second := agree("both replicas and both ambassadors on the edited version")
	if second["shop"] != first["shop"] || second["billing"] != first["billing"] {
		t.Errorf("untouched tables changed version: %v then %v", first, second)
	}
}
