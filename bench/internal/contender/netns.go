package contender

import (
	"context"
	"errors"
	"fmt"
	"net"
	"net/netip"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"strconv"
	"strings"
	"sync/atomic"
	"time"

	"golang.org/x/sys/unix"
)

// benchmarkingRange is 198.18.0.0/15 (RFC 2544): the ambassador's address
// guard calls it public, and nothing routes to it, so the pod's gateway
// there is reachable only through the veth the pod is made with.
var benchmarkingRange = netip.MustParsePrefix("198.18.0.0/15")

// UpstreamName is the name the pod's hosts file gives the upstream: the
// transparent contender's client and its egress rule both use it.
const UpstreamName = "upstream.test"

// podCmdWait bounds every ip and init command run to make or remove a pod.
const podCmdWait = 20 * time.Second

var podSeq atomic.Int64

// pod is a network namespace joined to this one by a veth pair, numbered
// from a /30 of the benchmarking range: this namespace's end (gateway) is
// the pod's default route and the address the upstream also listens on
// for it; the pod's /etc/netns hosts file names that address UpstreamName.
// Nothing forwards the pod's packets beyond this namespace (the pod's own
// probes, like the ambassador's TTL-1 self-check, stop here).
type pod struct {
	ns      string     // namespace name
	hostIf  string     // veth end in this namespace
	gateway netip.Addr // this namespace's end
	addr    netip.Addr // the pod's end
	etcDir  string     // /etc/netns/<ns>: hosts and resolv.conf for `ip netns exec`
	made    bool       // the namespace exists
}

// PodMissing says why a pod cannot be made here ("" = it can): it needs
// root and the ip command.
func PodMissing() string {
	if os.Geteuid() != 0 {
		return "needs root (network namespace, veth, nftables capture)"
	}
	if _, err := exec.LookPath("ip"); err != nil {
		return "needs the ip command (iproute2)"
	}
	return ""
}

// newPod creates the namespace, the veth pair, the addresses and the
// default route, and the pod's /etc/netns files. On error it removes what
// it made.
func newPod(ctx context.Context) (_ *pod, err error) {
	pid, n := os.Getpid(), podSeq.Add(1)
	prefix, err := freePrefix(pid, hostAddrs())
	if err != nil {
		return nil, err
	}
	p := &pod{
		ns:      fmt.Sprintf("meshbench-%d-%d", pid, n),
		hostIf:  fmt.Sprintf("mbh%d-%d", pid%10000000, n%100), // at most 15 bytes
		gateway: prefix.Addr().Next(),
	}
	p.addr = p.gateway.Next()
	p.etcDir = filepath.Join("/etc/netns", p.ns)
	defer func() {
		if err != nil {
			err = errors.Join(err, p.remove())
		}
	}()
	if err := runCmd(ctx, "ip", "netns", "add", p.ns); err != nil {
		return nil, err
	}
	p.made = true
	if err := p.link(ctx, prefix.Bits()); err != nil {
		return nil, err
	}
	return p, p.writeEtc()
}

func (p *pod) link(ctx context.Context, bits int) error {
	cidr := "/" + strconv.Itoa(bits)
	steps := [][]string{
		{"link", "add", p.hostIf, "type", "veth", "peer", "name", "eth0", "netns", p.ns},
		{"addr", "add", p.gateway.String() + cidr, "dev", p.hostIf},
		{"link", "set", p.hostIf, "up"},
		{"-n", p.ns, "addr", "add", p.addr.String() + cidr, "dev", "eth0"},
		{"-n", p.ns, "link", "set", "eth0", "up"},
		{"-n", p.ns, "link", "set", "lo", "up"},
		{"-n", p.ns, "route", "add", "default", "via", p.gateway.String()},
	}
	for _, args := range steps {
		if err := runCmd(ctx, "ip", args...); err != nil {
			return err
		}
	}
	return nil
}

// writeEtc writes the pod's hosts (UpstreamName → gateway) and resolv.conf
// (the gateway, where nothing answers DNS); `ip netns exec` binds them over
// /etc/hosts and /etc/resolv.conf for what it starts.
func (p *pod) writeEtc() error {
	if err := os.MkdirAll(p.etcDir, 0o755); err != nil {
		return fmt.Errorf("pod: %w", err)
	}
	files := map[string]string{
		"hosts":       fmt.Sprintf("127.0.0.1 localhost\n::1 localhost\n%s %s\n", p.gateway, UpstreamName),
		"resolv.conf": fmt.Sprintf("nameserver %s\n", p.gateway),
	}
	for name, body := range files {
		if err := os.WriteFile(filepath.Join(p.etcDir, name), []byte(body), 0o644); err != nil {
			return fmt.Errorf("pod: %w", err)
		}
	}
	return nil
}

// exec returns argv run inside the pod by `ip netns exec`, which execs it
// (same pid) with the pod's /etc/netns files bound in place.
func (p *pod) exec(argv ...string) []string {
	return append([]string{"ip", "netns", "exec", p.ns}, argv...)
}

// remove deletes the namespace (the veth pair goes with it) and the
// /etc/netns directory. Processes in the pod must have stopped first.
func (p *pod) remove() error {
	ctx, cancel := context.WithTimeout(context.Background(), podCmdWait)
	defer cancel()
	var errs []error
	if p.made {
		if err := runCmd(ctx, "ip", "netns", "del", p.ns); err != nil {
			errs = append(errs, err)
		} else {
			p.made = false
		}
	}
	if _, err := net.InterfaceByName(p.hostIf); err == nil {
		errs = append(errs, runCmd(ctx, "ip", "link", "del", p.hostIf))
	}
	if err := os.RemoveAll(p.etcDir); err != nil {
		errs = append(errs, fmt.Errorf("pod: %w", err))
	}
	return errors.Join(errs...)
}

// Dial connects from inside the pod, as an app there would: the socket is
// made on a thread that has entered the pod's namespace, so it belongs to
// the pod and its connection is captured like the app's. UpstreamName is
// resolved as the pod's hosts file says.
func (p *pod) Dial(ctx context.Context, network, addr string) (net.Conn, error) {
	host, port, err := net.SplitHostPort(addr)
	if err != nil {
		return nil, fmt.Errorf("pod: dial %s: %w", addr, err)
	}
	if strings.EqualFold(host, UpstreamName) {
		addr = net.JoinHostPort(p.gateway.String(), port)
	} else if _, err := netip.ParseAddr(host); err != nil {
		return nil, fmt.Errorf("pod: dial %s: only %s and IP addresses are known in the pod", addr, UpstreamName)
	}
	var conn net.Conn
	err = inNetns(filepath.Join("/run/netns", p.ns), func() error {
		var d net.Dialer
		var err error
		conn, err = d.DialContext(ctx, network, addr)
		return err
	})
	return conn, err
}

// inNetns runs fn on a thread of its own that has entered the network
// namespace at path, and returns the thread to this namespace afterwards.
// fn must make its sockets on the calling goroutine (a dial to a literal
// address does). A thread that cannot return stays locked to its
// goroutine and so ends with it, never serving other goroutines in the
// wrong namespace.
func inNetns(path string, fn func() error) error {
	target, err := os.Open(path)
	if err != nil {
		return fmt.Errorf("pod: %w", err)
	}
	defer target.Close()
	errc := make(chan error, 1)
	go func() {
		runtime.LockOSThread()
		home, err := os.Open("/proc/thread-self/ns/net")
		if err != nil {
			runtime.UnlockOSThread()
			errc <- fmt.Errorf("pod: %w", err)
			return
		}
		defer home.Close()
		if err := unix.Setns(int(target.Fd()), unix.CLONE_NEWNET); err != nil {
			runtime.UnlockOSThread()
			errc <- fmt.Errorf("pod: enter %s: %w", path, err)
			return
		}
		fnErr := fn()
		if err := unix.Setns(int(home.Fd()), unix.CLONE_NEWNET); err != nil {
			errc <- errors.Join(fnErr, fmt.Errorf("pod: leave %s: %w", path, err))
			return
		}
		runtime.UnlockOSThread()
		errc <- fnErr
	}()
	return <-errc
}

// freePrefix picks a /30 of the benchmarking range, starting from a slot
// derived from pid and skipping any that holds one of taken (this
// namespace's addresses: another benchmark or test's veth).
func freePrefix(pid int, taken []netip.Addr) (netip.Prefix, error) {
	blocks := uint32(1) << (32 - benchmarkingRange.Bits() - 2)
	b := benchmarkingRange.Addr().As4()
	base := uint32(b[0])<<24 | uint32(b[1])<<16
	for i := range uint32(64) {
		slot := (uint32(pid)*7 + i) % blocks
		a := base + slot*4
		p := netip.PrefixFrom(netip.AddrFrom4([4]byte{byte(a >> 24), byte(a >> 16), byte(a >> 8), byte(a)}), 30)
		if !holdsAny(p, taken) {
			return p, nil
		}
	}
	return netip.Prefix{}, fmt.Errorf("pod: no free /30 in %s near slot %d", benchmarkingRange, pid)
}

func holdsAny(p netip.Prefix, addrs []netip.Addr) bool {
	for _, a := range addrs {
		if p.Contains(a) {
			return true
		}
	}
	return false
}

// hostAddrs lists the addresses of this namespace's interfaces.
func hostAddrs() []netip.Addr {
	ifAddrs, err := net.InterfaceAddrs()
	if err != nil {
		return nil
	}
	var out []netip.Addr
	for _, a := range ifAddrs {
		if n, ok := a.(*net.IPNet); ok {
			if addr, ok := netip.AddrFromSlice(n.IP); ok {
				out = append(out, addr.Unmap())
			}
		}
	}
	return out
}

// runCmd runs name args, bounded by podCmdWait, and returns its output in
// the error.
func runCmd(ctx context.Context, name string, args ...string) error {
	ctx, cancel := context.WithTimeout(ctx, podCmdWait)
	defer cancel()
	out, err := exec.CommandContext(ctx, name, args...).CombinedOutput()
	if err != nil {
		return fmt.Errorf("pod: %s %s: %w: %s", name, strings.Join(args, " "), err, strings.TrimSpace(string(out)))
	}
	return nil
}
