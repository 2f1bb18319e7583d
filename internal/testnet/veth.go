package testnet

import (
	"bytes"
	"context"
	"fmt"
	"io"
	"net/netip"
	"os"
	"os/exec"
	"strconv"
	"strings"
	"testing"
	"time"
)

// BenchmarkingRange is 198.18.0.0/15: the address guard calls it public,
// and nothing routes to it, so a test host there is reachable only through
// the veth the test creates.
var BenchmarkingRange = netip.MustParsePrefix("198.18.0.0/15")

// BenchmarkingPrefix returns the slot-th /bits prefix of BenchmarkingRange
// (slot wraps around), so that tests in different processes can pick
// different ones from their pid.
func BenchmarkingPrefix(slot uint32, bits int) netip.Prefix {
	blocks := uint32(1) << (bits - BenchmarkingRange.Bits())
	size := uint32(1) << (32 - bits)
	b := BenchmarkingRange.Addr().As4()
	base := (uint32(b[0])<<24 | uint32(b[1])<<16) + (slot%blocks)*size
	return netip.PrefixFrom(netip.AddrFrom4([4]byte{byte(base >> 24), byte(base >> 16), byte(base >> 8), byte(base)}), bits)
}

// Veth is a network namespace joined to the test's own by a veth pair:
// this namespace's end has the prefix's first host address (Gateway), the
// far end the next len(Addrs) addresses.
type Veth struct {
	NS      string // namespace name
	HostIf  string // veth end in the test's namespace
	NSIf    string // veth end inside NS
	Prefix  netip.Prefix
	Gateway netip.Addr
	Addrs   []netip.Addr
}

// NewVeth creates the namespace NS, the veth pair hostIf/nsIf (at most 15
// bytes each), numbers both ends from prefix with n addresses at the far
// end and brings the links and the namespace's loopback up. The veth and
// the namespace are deleted in t.Cleanup, also on failure; a cleanup a
// caller registers after NewVeth (stopping a process in the namespace)
// runs before it.
func NewVeth(t testing.TB, ns, hostIf, nsIf string, prefix netip.Prefix, n int) *Veth {
	t.Helper()
	v := &Veth{NS: ns, HostIf: hostIf, NSIf: nsIf, Prefix: prefix, Gateway: prefix.Addr().Next()}
	for a := v.Gateway.Next(); len(v.Addrs) < n; a = a.Next() {
		v.Addrs = append(v.Addrs, a)
	}
	if err := RunIP("netns", "add", ns); err != nil {
		t.Fatalf("netns: %v", err)
	}
	vethUp := false
	t.Cleanup(func() {
		if vethUp {
			if err := RunIP("link", "del", hostIf); err != nil {
				t.Errorf("netns cleanup: %v", err)
			}
		}
		if err := RunIP("netns", "del", ns); err != nil {
			t.Errorf("netns cleanup: %v", err)
		}
	})
	bits := strconv.Itoa(prefix.Bits())
	steps := [][]string{
		{"link", "add", hostIf, "type", "veth", "peer", "name", nsIf, "netns", ns},
		{"addr", "add", v.Gateway.String() + "/" + bits, "dev", hostIf},
		{"link", "set", hostIf, "up"},
	}
	for _, a := range v.Addrs {
		steps = append(steps, []string{"-n", ns, "addr", "add", a.String() + "/" + bits, "dev", nsIf})
	}
	steps = append(steps, []string{"-n", ns, "link", "set", nsIf, "up"}, []string{"-n", ns, "link", "set", "lo", "up"})
	for i, args := range steps {
		if err := RunIP(args...); err != nil {
			t.Fatalf("netns: %v", err)
		}
		if i == 0 {
			vethUp = true
		}
	}
	return v
}

// RunIP runs the ip command (iproute2) with a bound on its time.
func RunIP(args ...string) error {
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	out, err := exec.CommandContext(ctx, "ip", args...).CombinedOutput()
	if err != nil {
		return fmt.Errorf("ip %s: %v: %s", strings.Join(args, " "), err, bytes.TrimSpace(out))
	}
	return nil
}

// Helper is this test binary re-executed inside a namespace with one test
// selected, as a server the test talks to. It runs until its stdin ends.
type Helper struct {
	cmd    *exec.Cmd
	stdin  io.Closer
	Stderr *Buffer
}

// StartHelper runs `ip netns exec ns <this binary> -test.run=^test$` with
// env added, stdout to stdout (nil: discarded). It is stopped in
// t.Cleanup: stdin closed, then killed if it has not exited within 5s;
// when the test failed, its stderr is logged.
func StartHelper(t testing.TB, ns, test string, env []string, stdout io.Writer) *Helper {
	t.Helper()
	h := &Helper{Stderr: &Buffer{}}
	cmd := exec.Command("ip", "netns", "exec", ns, os.Args[0], "-test.run=^"+test+"$", "-test.count=1")
	cmd.Env = append(os.Environ(), env...)
	cmd.Stdout, cmd.Stderr = stdout, h.Stderr
	stdin, err := cmd.StdinPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := cmd.Start(); err != nil {
		t.Fatalf("netns: starting the helper: %v", err)
	}
	h.cmd, h.stdin = cmd, stdin
	t.Cleanup(func() {
		h.stop()
		if t.Failed() {
			t.Logf("helper %s stderr:\n%s", test, h.Stderr.String())
		}
	})
	return h
}

func (h *Helper) stop() {
	h.stdin.Close() // the helper exits when its stdin ends
	done := make(chan struct{})
	go func() { h.cmd.Wait(); close(done) }()
	select {
	case <-done:
	case <-time.After(5 * time.Second):
		h.cmd.Process.Kill()
		<-done
	}
}
