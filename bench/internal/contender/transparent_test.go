package contender

import (
	"context"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"net/netip"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"
)

func TestFreePrefix(t *testing.T) {
	first, err := freePrefix(1234, nil)
	if err != nil {
		t.Fatal(err)
	}
	if first.Bits() != 30 || !benchmarkingRange.Contains(first.Addr()) || first.Masked() != first {
		t.Fatalf("freePrefix = %s, want a /30 of %s", first, benchmarkingRange)
	}
	taken := []netip.Addr{netip.MustParseAddr("10.0.0.1"), first.Addr().Next()}
	next, err := freePrefix(1234, taken)
	if err != nil {
		t.Fatal(err)
	}
	if next == first || next.Overlaps(first) {
		t.Fatalf("freePrefix with %s taken = %s, want another /30", taken[1], next)
	}
}

// TestTransparentDoor runs the transparent contender against a real
// ambassador: the load generator's dial from the pod must be captured and
// reach the upstream through the ambassador (the upstream sees the pod's
// address, the audit log a transparent line), a destination outside the
// egress rule must be refused, and Stop must remove the namespace and its
// /etc/netns files. It needs root and the ip command.
func TestTransparentDoor(t *testing.T) {
	if testing.Short() {
		t.Skip("builds the ambassador")
	}
	if why := TransparentMissing(); why != "" {
		t.Skip(why)
	}
	bin, err := BuildAmbassador(context.Background(), "../../..", t.TempDir())
	if err != nil {
		t.Skipf("ambassador not buildable yet: %v", err)
	}
	var mu sync.Mutex
	var clients []string
	var gateway netip.Addr // where the contender asked the upstream to listen
	srv := &http.Server{Handler: http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		mu.Lock()
		clients = append(clients, r.RemoteAddr)
		mu.Unlock()
		_, _ = io.WriteString(w, strings.Repeat("x", 1024))
	})}
	defer srv.Close()
	dir := t.TempDir()
	_ = os.Chmod(filepath.Dir(dir), 0o755)
	_ = os.Chmod(dir, 0o755)
	env := Env{Dir: dir, Log: slog.New(slog.NewTextHandler(io.Discard, nil)), ServeUpstream: func(addr string) (net.Listener, error) {
		l, err := net.Listen("tcp", addr)
		if err == nil {
			gateway = l.Addr().(*net.TCPAddr).AddrPort().Addr()
			go func() { _ = srv.Serve(l) }()
		}
		return l, err
	}}
	inst, err := Transparent{Binary: bin}.Start(context.Background(), env)
	if err != nil {
		t.Fatal(err)
	}
	stopped := false
	defer func() {
		if !stopped {
			_ = inst.Stop()
		}
	}()
	if err := inst.WaitReady(context.Background(), 1024, 15*time.Second); err != nil {
		stderr, _ := os.ReadFile(filepath.Join(dir, "ambassador.stderr"))
		t.Fatalf("%v; ambassador stderr:\n%s", err, stderr)
	}
	podAddr := gateway.Next().String()
	mu.Lock()
	if len(clients) == 0 || !strings.HasPrefix(clients[0], podAddr+":") {
		t.Errorf("upstream saw clients %q, want the pod's address %s (through the ambassador)", clients, podAddr)
	}
	mu.Unlock()

	// The upstream's name, another port: captured, and no rule allows it.
	other := fmt.Sprintf("http://%s:1%s", UpstreamName, UpstreamPath)
	client := &http.Client{Timeout: 5 * time.Second, Transport: &http.Transport{DialContext: inst.Target.Dial}}
	resp, err := client.Get(other)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusForbidden || resp.Header.Get("X-Meshlite-Reason") == "" {
		t.Fatalf("GET %s (no egress rule): status %d, reason %q; want 403 with a reason", other, resp.StatusCode, resp.Header.Get("X-Meshlite-Reason"))
	}
	client.CloseIdleConnections()

	if err := inst.Stop(); err != nil {
		t.Fatal(err)
	}
	stopped = true
	audit, _ := os.ReadFile(inst.LogFile)
	if !strings.Contains(string(audit), `"door":"transparent"`) {
		t.Errorf("audit log has no transparent line:\n%.600s", audit)
	}
	ours := fmt.Sprintf("meshbench-%d-*", os.Getpid())
	for _, dir := range []string{"/run/netns", "/etc/netns"} {
		if left, _ := filepath.Glob(filepath.Join(dir, ours)); len(left) > 0 {
			t.Errorf("left after Stop: %q", left)
		}
	}
	for _, a := range hostAddrs() {
		if a == gateway {
			t.Errorf("the pod's veth end (%s) is still in this namespace after Stop", gateway)
		}
	}
}
