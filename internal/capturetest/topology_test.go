package capturetest

// The topology: a pod namespace and a world namespace joined by one veth
// pair and nothing else, so no test traffic can leave them. IPv4 comes from
// the benchmarking range 198.18.0.0/15 (public to the address guard), IPv6
// from the documentation prefix 2001:db8::/32 (public to the guard, and not
// inside 2001::/32, which the guard reads as Teredo); a slot derived from
// the pid keeps concurrent test processes apart.

import (
	"bytes"
	"context"
	"fmt"
	"net/netip"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync/atomic"
	"testing"
	"time"
)

const (
	// cmdWait bounds every ip, nft and init command the harness runs.
	cmdWait = 20 * time.Second
	// stateWait bounds every poll for a state (a helper listening, a line
	// written, a marker arrived).
	stateWait = 15 * time.Second
	podIf     = "eth0" // the veth end in the pod
	worldIf   = "wld0" // the veth end in the world
)

var topoSeq atomic.Int64

// dual is one host's IPv4 and IPv6 address.
type dual struct{ v4, v6 netip.Addr }

// port returns the host's address on port in the given family (4 or 6).
func (d dual) port(family, port int) string {
	a := d.v4
	if family == 6 {
		a = d.v6
	}
	return netip.AddrPortFrom(a, uint16(port)).String()
}

// topology is a pod namespace and a world namespace joined by a veth pair.
// The world end carries several addresses: its gateway address, the allowed
// host, the decoy and the pod's resolver.
type topology struct {
	t          *testing.T
	pod, world string // namespace names
	etcDir     string // /etc/netns/<pod>: the pod's hosts and resolv.conf
	podAddr    dual
	gateway    dual // the world end of the veth, the pod's default route
	allowed    dual // allowed.test: the allowed upstream, TLS server and echo
	decoy      dual // decoy.test: records every byte, answers nothing
	resolver   dual // the pod's nameserver: a UDP sink
	made       []string
}

// newTopology creates both namespaces, the veth pair, the addresses and
// routes, and the pod's /etc/netns files; all of it is removed in
// t.Cleanup, also on failure.
func newTopology(t *testing.T) *topology {
	t.Helper()
	pid, n := os.Getpid(), topoSeq.Add(1)
	slot := (uint32(pid)*4 + uint32(n)) % 512 // a /24 of 198.18.0.0/15
	name := fmt.Sprintf("meshlite-cap-%d-%d", pid, n)
	tp := &topology{t: t, pod: name + "-pod", world: name + "-world"}
	tp.etcDir = filepath.Join("/etc/netns", tp.pod)
	host := func(last byte) dual {
		v4 := netip.AddrFrom4([4]byte{198, 18 + byte(slot>>8), byte(slot), last})
		v6 := netip.AddrFrom16([16]byte{0x20, 0x01, 0x0d, 0xb8, byte(slot >> 8), byte(slot), 15: last})
		return dual{v4, v6}
	}
	tp.gateway, tp.podAddr = host(1), host(2)
	tp.allowed, tp.decoy, tp.resolver = host(10), host(20), host(53)
	t.Cleanup(tp.teardown)
	for _, ns := range []string{tp.pod, tp.world} {
		if err := runCmd("ip", "netns", "add", ns); err != nil {
			t.Fatalf("topology: %v", err)
		}
		tp.made = append(tp.made, ns)
	}
	tp.link()
	tp.writeEtc()
	return tp
}

// link creates the veth pair straight between the two namespaces (no end
// in this one), numbers both ends and routes the pod through the world.
func (tp *topology) link() {
	tp.t.Helper()
	steps := [][]string{
		{"-n", tp.pod, "link", "add", podIf, "type", "veth", "peer", "name", worldIf, "netns", tp.world},
		{"-n", tp.pod, "link", "set", "lo", "up"},
		{"-n", tp.world, "link", "set", "lo", "up"},
		{"-n", tp.pod, "addr", "add", tp.podAddr.v4.String() + "/24", "dev", podIf},
		{"-n", tp.pod, "addr", "add", tp.podAddr.v6.String() + "/64", "dev", podIf, "nodad"},
	}
	for _, h := range []dual{tp.gateway, tp.allowed, tp.decoy, tp.resolver} {
		steps = append(steps,
			[]string{"-n", tp.world, "addr", "add", h.v4.String() + "/24", "dev", worldIf},
			[]string{"-n", tp.world, "addr", "add", h.v6.String() + "/64", "dev", worldIf, "nodad"})
	}
	steps = append(steps,
		[]string{"-n", tp.pod, "link", "set", podIf, "up"},
		[]string{"-n", tp.world, "link", "set", worldIf, "up"},
		[]string{"-n", tp.pod, "route", "add", "default", "via", tp.gateway.v4.String()},
		[]string{"-n", tp.pod, "-6", "route", "add", "default", "via", tp.gateway.v6.String()},
	)
	for _, args := range steps {
		if err := runCmd("ip", args...); err != nil {
			tp.t.Fatalf("topology: %v", err)
		}
	}
}

// writeEtc writes the pod's hosts and resolv.conf; `ip netns exec` binds
// them over /etc/hosts and /etc/resolv.conf for what it starts.
func (tp *topology) writeEtc() {
	tp.t.Helper()
	if err := os.MkdirAll(tp.etcDir, 0o755); err != nil {
		tp.t.Fatal(err)
	}
	hosts := fmt.Sprintf("127.0.0.1 localhost\n::1 localhost\n%s allowed.test\n%s allowed.test\n%s decoy.test\n%s decoy.test\n",
		tp.allowed.v4, tp.allowed.v6, tp.decoy.v4, tp.decoy.v6)
	resolv := fmt.Sprintf("nameserver %s\n", tp.resolver.v4)
	for file, body := range map[string]string{"hosts": hosts, "resolv.conf": resolv} {
		if err := os.WriteFile(filepath.Join(tp.etcDir, file), []byte(body), 0o644); err != nil {
			tp.t.Fatal(err)
		}
	}
}

// teardown deletes the namespaces (and with them the veth pair) and the
// /etc/netns directory. Processes in the namespaces are stopped by their
// own cleanups, registered later and so run earlier.
func (tp *topology) teardown() {
	for _, ns := range tp.made {
		if err := runCmd("ip", "netns", "del", ns); err != nil {
			tp.t.Errorf("topology cleanup: %v", err)
		}
	}
	if err := os.RemoveAll(tp.etcDir); err != nil {
		tp.t.Errorf("topology cleanup: %v", err)
	}
	os.Remove(filepath.Dir(tp.etcDir)) // only if no other test uses it
}

// ruleset lists the pod's nftables ruleset.
func (tp *topology) ruleset(t *testing.T) string {
	t.Helper()
	out, err := cmdOutput("ip", "netns", "exec", tp.pod, "nft", "list", "ruleset")
	if err != nil {
		t.Fatalf("listing the pod's ruleset: %v", err)
	}
	return out
}

// runCmd runs a command bounded by cmdWait; the error carries its output.
func runCmd(name string, args ...string) error {
	_, err := cmdOutput(name, args...)
	return err
}

func cmdOutput(name string, args ...string) (string, error) {
	ctx, cancel := context.WithTimeout(context.Background(), cmdWait)
	defer cancel()
	var stdout, stderr bytes.Buffer
	cmd := exec.CommandContext(ctx, name, args...)
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	if err := cmd.Run(); err != nil {
		return stdout.String(), fmt.Errorf("%s %s: %v: %s%s", name, strings.Join(args, " "), err,
			bytes.TrimSpace(stderr.Bytes()), bytes.TrimSpace(stdout.Bytes()))
	}
	return stdout.String(), nil
}
