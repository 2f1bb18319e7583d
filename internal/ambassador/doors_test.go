package ambassador

import (
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"net/http/httptest"
	"net/netip"
	"slices"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/meshlite/meshlite/internal/ambassador/proxy"
)

// freeDualPort returns a port that was free a moment ago on both 127.0.0.1
// and [::1].
func freeDualPort(t *testing.T) uint16 {
	t.Helper()
	for range 20 {
		ln4, err := net.Listen("tcp", "127.0.0.1:0")
		if err != nil {
			t.Fatal(err)
		}
		port := ln4.Addr().(*net.TCPAddr).Port
		ln6, err := net.Listen("tcp", net.JoinHostPort("::1", strconv.Itoa(port)))
		ln4.Close()
		if err == nil {
			ln6.Close()
			return uint16(port)
		}
	}
	t.Fatal("no port free on both loopbacks")
	return 0
}

// requireIPv6Loopback skips a test where the namespace has no ::1.
func requireIPv6Loopback(t *testing.T) {
	t.Helper()
	ln, err := net.Listen("tcp", "[::1]:0")
	if err != nil {
		t.Skipf("no IPv6 loopback here: %v", err)
	}
	ln.Close()
}

func testDoors(t *testing.T) *doors {
	t.Helper()
	h := proxy.New(proxy.Options{}, &proxy.State{Origin: "none", Pending: "test"})
	d := newDoors(h, limits{maxConnections: 8}, slog.New(slog.DiscardHandler))
	t.Cleanup(func() { d.closeExcept(nil) })
	return d
}

func loopbackPair(p uint16) []string {
	return []string{net.JoinHostPort("127.0.0.1", strconv.Itoa(int(p))), net.JoinHostPort("::1", strconv.Itoa(int(p)))}
}

// refusedWithin polls addr until a dial is refused.
func refusedWithin(t *testing.T, addr string, d time.Duration) {
	t.Helper()
	for deadline := time.Now().Add(d); ; time.Sleep(10 * time.Millisecond) {
		c, err := net.Dial("tcp", addr)
		if errors.Is(err, syscall.ECONNREFUSED) {
			return
		}
		if err == nil {
			c.Close()
		}
		if time.Now().After(deadline) {
			t.Fatalf("%s still accepts connections %s after its door closed (last error %v)", addr, d, err)
		}
	}
}

func TestLocalDoorListensOnBothLoopbacksAndClosesBoth(t *testing.T) {
	requireIPv6Loopback(t)
	d := testDoors(t)
	p := freeDualPort(t)
	if err := d.open([]uint16{p}); err != nil {
		t.Fatal(err)
	}
	self := d.self()
	for _, addr := range loopbackPair(p) {
		c, err := net.Dial("tcp", addr)
		if err != nil {
			t.Fatalf("dial %s: %v", addr, err)
		}
		c.Close()
		if !slices.Contains(self, netip.MustParseAddrPort(addr)) {
			t.Errorf("self() = %v lacks %s: the policy would not know it as the ambassador's own", self, addr)
		}
	}
	d.closeExcept(nil)
	for _, addr := range loopbackPair(p) {
		refusedWithin(t, addr, 5*time.Second)
	}
	if self := d.self(); len(self) != 0 {
		t.Errorf("self() = %v after closing every door", self)
	}
}

func TestLocalDoorIPv6InUseIsAnErrorAndOpensNothing(t *testing.T) {
	requireIPv6Loopback(t)
	d := testDoors(t)
	other := freeDualPort(t)
	p := freeDualPort(t)
	busy, err := net.Listen("tcp", net.JoinHostPort("::1", strconv.Itoa(int(p))))
	if err != nil {
		t.Fatal(err)
	}
	defer busy.Close()

	err = d.open([]uint16{other, p})
	want := fmt.Sprintf("cannot open door on [::1]:%d", p)
	if err == nil || !strings.Contains(err.Error(), want) || !errors.Is(err, syscall.EADDRINUSE) {
		t.Fatalf("open: %v, want an error containing %q and EADDRINUSE", err, want)
	}
	if self := d.self(); len(self) != 0 {
		t.Errorf("self() = %v after a failed open, want no door (all or nothing)", self)
	}
	// the IPv4 side of p was closed at once; the door opened on the other
	// port is closed again
	ln, err := net.Listen("tcp", net.JoinHostPort("127.0.0.1", strconv.Itoa(int(p))))
	if err != nil {
		t.Fatalf("127.0.0.1:%d still held after the failed open: %v", p, err)
	}
	ln.Close()
	for _, addr := range loopbackPair(other) {
		refusedWithin(t, addr, 5*time.Second)
	}
}

func TestLocalDoorIPv4InUseNamesTheAddress(t *testing.T) {
	d := testDoors(t)
	busy, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer busy.Close()
	p := busy.Addr().(*net.TCPAddr).Port
	err = d.open([]uint16{uint16(p)})
	if want := fmt.Sprintf("cannot open door on 127.0.0.1:%d", p); err == nil || !strings.Contains(err.Error(), want) {
		t.Fatalf("open: %v, want an error containing %q", err, want)
	}
}

// The route tests run the whole ambassador: a client that dials [::1]
// reaches the mapped upstream, whichever loopback name the source uses.
func TestLocalDoorServesIPv6Clients(t *testing.T) {
	requireIPv6Loopback(t)
	up := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { fmt.Fprint(w, r.URL.Path) }))
	defer up.Close()
	for _, source := range []string{"localhost", "[::1]", "127.0.0.1"} {
		t.Run(source, func(t *testing.T) {
			tbl := strings.ReplaceAll(table, "UPSTREAM", strings.TrimPrefix(up.URL, "http://"))
			tbl = strings.ReplaceAll(tbl, "http://localhost:", "http://"+source+":")
			door := freeDualPort(t)
			cfg, _ := testConfig(t, strings.ReplaceAll(tbl, "{{DOOR}}", strconv.Itoa(int(door))))
			r := start(t, cfg, int(door))
			for _, addr := range loopbackPair(door) {
				if status, _, body := fetch(t, "http://"+addr+"/api/x"); status != 200 || body != "/rng/x" {
					t.Errorf("GET http://%s/api/x: %d %q, want 200 from the mapped upstream", addr, status, body)
				}
			}
			// a Host header of "[::1]" (port elided) is read as ::1
			v6 := loopbackPair(door)[1]
			res := sendRaw(t, v6, "GET /api HTTP/1.1\r\nHost: [::1]\r\nConnection: close\r\n\r\n")
			if res.status != 200 || res.body != "/rng" {
				t.Errorf("Host [::1]: %d %q", res.status, res.body)
			}
			lines := auditLines(t, r, 3)
			if len(lines) != 3 || lines[2]["url"] != "http://[::1]:"+strconv.Itoa(int(door))+"/api" {
				t.Errorf("audit url of the Host [::1] request: %v, want http://[::1]:%d/api", lines, door)
			}
		})
	}
}
