package upstream

import (
	"context"
	"net"
	"net/netip"
	"strconv"
	"sync"
	"time"

	"github.com/meshlite/meshlite/pkg/routes"
)

// Target is the per-request upstream plan, stored in the request context by
// the handler (WithTarget) before the request reaches the Transport.
type Target struct {
	// Host is the target host name: Host header (when the request has none),
	// TLS server name and the name the certificate is verified against.
	Host string
	// Port is the target TCP port; required.
	Port uint16
	// Addrs are the checked addresses of Host. The transport dials only
	// these, never resolving Host again.
	Addrs []netip.Addr
	// Route is the route name used for metrics and the retry budget; ""
	// for unmapped forward-proxy traffic.
	Route string
	// Retry is the retry policy; its zero value means one try and the
	// transport's default timeout.
	Retry Retry

	// Filled in by the transport; read them after RoundTrip or DialTunnel
	// returns.

	// Attempts is the number of tries made, fallbacks to another address
	// included (dials, for DialTunnel).
	Attempts int
	// Upstream is "ip:port" of the last try, "" if none was made.
	Upstream string
}

// Retry is a route's retry policy.
type Retry struct {
	// Attempts is the total number of tries; values below 1 mean 1.
	Attempts int
	// PerTryTimeout bounds each try until its response headers arrive;
	// 0 means no per-try limit.
	PerTryTimeout time.Duration
	// Timeout bounds the whole call, retries and response body included;
	// 0 means Options.DefaultTimeout.
	Timeout time.Duration
	// On selects which failures are retried (see the package doc).
	On routes.RetryOn
	// NonIdempotent allows retrying methods other than GET, HEAD, OPTIONS,
	// TRACE, PUT and DELETE after something may have been sent.
	NonIdempotent bool
}

type targetKey struct{}

// WithTarget returns a copy of ctx carrying t.
func WithTarget(ctx context.Context, t *Target) context.Context {
	return context.WithValue(ctx, targetKey{}, t)
}

// TargetFrom returns the Target stored in ctx, or nil.
func TargetFrom(ctx context.Context) *Target {
	t, _ := ctx.Value(targetKey{}).(*Target)
	return t
}

// hostPort is Host and Port joined ("name:port", "[v6]:port").
func (t *Target) hostPort() string {
	return net.JoinHostPort(t.Host, strconv.Itoa(int(t.Port)))
}

// hostHeader is the Host header for the target: the port is left out when
// it is the scheme's default.
func (t *Target) hostHeader(scheme string) string {
	if (scheme == "http" && t.Port == 80) || (scheme == "https" && t.Port == 443) {
		if a, err := netip.ParseAddr(t.Host); err == nil && a.Is6() {
			return "[" + t.Host + "]"
		}
		return t.Host
	}
	return t.hostPort()
}

// endpoint is the dialable address of Addrs[i].
func (t *Target) endpoint(i int) netip.AddrPort {
	return netip.AddrPortFrom(t.Addrs[i].Unmap(), t.Port)
}

// newCall starts the dial state of a call to t.
func newCall(t *Target) *call {
	return &call{target: Target{Host: t.Host, Port: t.Port, Addrs: t.Addrs}}
}

// call is the address state of one call: which addresses were tried and
// which failed to connect. Its fields are guarded by mu.
type call struct {
	target Target // a copy of the plan: Host, Port and Addrs only

	mu     sync.Mutex
	try    int    // number of the current try, from 0
	tried  uint64 // bit i: Addrs[i] was tried in this call
	failed uint64 // bit i: a dial to Addrs[i] failed in this call
}

// begin starts try number n.
func (c *call) begin(n int) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.try = n
}

// pick returns the first endpoint not yet tried in this call, or, when all
// were tried, rotates by try number through those no dial has failed to in
// this call (through all of them when every dial failed); it marks it tried.
func (c *call) pick() netip.AddrPort {
	c.mu.Lock()
	defer c.mu.Unlock()
	n := len(c.target.Addrs)
	i := c.pickLocked(n)
	c.markLocked(i)
	return c.target.endpoint(i)
}

func (c *call) pickLocked(n int) int {
	for j := range min(n, 64) {
		if c.tried&(1<<j) == 0 {
			return j
		}
	}
	start := c.try % n
	for k := range n {
		if i := (start + k) % n; i >= 64 || c.failed&(1<<i) == 0 {
			return i
		}
	}
	return start
}

// failedOthers counts the addresses other than last whose dial failed in
// this call.
func (c *call) failedOthers(last string) int {
	c.mu.Lock()
	defer c.mu.Unlock()
	n := 0
	for i := range min(len(c.target.Addrs), 64) {
		if c.failed&(1<<i) != 0 && c.target.endpoint(i).String() != last {
			n++
		}
	}
	return n
}

// markFailed records that a dial to ep failed in this call.
func (c *call) markFailed(ep netip.AddrPort) {
	c.mu.Lock()
	defer c.mu.Unlock()
	for i := range min(len(c.target.Addrs), 64) {
		if c.target.endpoint(i) == ep {
			c.failed |= 1 << i
		}
	}
}

// untried reports whether an address has not been tried in this call.
func (c *call) untried() bool {
	c.mu.Lock()
	defer c.mu.Unlock()
	for j := range min(len(c.target.Addrs), 64) {
		if c.tried&(1<<j) == 0 {
			return true
		}
	}
	return false
}

func (c *call) markLocked(i int) {
	if i < 64 {
		c.tried |= 1 << i
	}
}
