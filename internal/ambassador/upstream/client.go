package upstream

import (
	"context"
	"crypto/tls"
	"fmt"
	"net"
	"net/netip"
	"sync"
	"time"

	"github.com/valyala/fasthttp"
)

const (
	// respBufferSize is the read buffer of an upstream connection on the
	// fasthttp engine, and so the largest response head it accepts; a
	// larger one fails the try as a reset (502).
	respBufferSize = 32 << 10
	// maxPools bounds the connection pools (one per endpoint, or per TLS
	// name and endpoint) the Client keeps; past it, pools without
	// connections are dropped, then idle ones.
	maxPools = 1024
)

// Client is the retrying upstream client on fasthttp: the same address
// guard, TLS origination, retry policy, budget, fallback, timeouts, errors
// and metrics as Transport, for fasthttp requests. It is safe for
// concurrent use; create one per process.
//
// Each pool is a fasthttp.HostClient for exactly one endpoint ("ip:port")
// for http, or one TLS server name and endpoint for https, and dials only
// that endpoint. A call picks an endpoint from its Target's checked
// addresses and uses that endpoint's pool, so a pooled connection is only
// ever reused for an address (and name) the current call checked. The
// pools speak HTTP/1.1 only.
type Client struct {
	core
	dialer *net.Dialer

	mu    sync.Mutex
	pools map[poolKey]*fasthttp.HostClient
}

// poolKey names a pool: the endpoint, and the TLS server name for https.
type poolKey struct {
	name string // "" for http
	ep   netip.AddrPort
}

// NewClient builds a Client; see Options for the defaults. Idle pooled
// connections are closed after IdleConnTimeout; each endpoint (or TLS
// name and endpoint) has at most MaxIdleConnsPerHost connections, idle or
// busy, and a try that finds them all busy waits for one within its
// deadline.
func NewClient(opts Options) *Client {
	cl := &Client{core: newCore(opts), pools: make(map[poolKey]*fasthttp.HostClient)}
	cl.dialer = newDialer(cl.opts)
	return cl
}

// CloseIdleConnections closes every idle pooled connection, so that the
// next calls dial the addresses they checked. Busy connections finish
// their calls. The proxy calls it on every table swap. The pools stay
// (maxPools bounds them): a pool dropped here would leave its cleaner
// goroutine asleep for up to IdleConnTimeout while a new pool for the same
// endpoint started another, so frequent swaps would pile them up.
func (cl *Client) CloseIdleConnections() {
	cl.mu.Lock()
	defer cl.mu.Unlock()
	for _, hc := range cl.pools {
		hc.CloseIdleConnections()
	}
}

// pool returns the pool for name at ep (name only counts for TLS).
func (cl *Client) pool(name string, ep netip.AddrPort, isTLS bool) *fasthttp.HostClient {
	k := poolKey{ep: ep}
	if isTLS {
		k.name = name
	}
	cl.mu.Lock()
	defer cl.mu.Unlock()
	if hc := cl.pools[k]; hc != nil {
		return hc
	}
	if len(cl.pools) >= maxPools {
		cl.pruneLocked()
	}
	hc := cl.newPool(k, isTLS)
	cl.pools[k] = hc
	return hc
}

// pruneLocked drops the pools without connections, and if that is not
// enough, closes the idle connections of the others and drops those left
// without any. A dropped pool's busy connections finish their calls.
func (cl *Client) pruneLocked() {
	for k, hc := range cl.pools {
		if hc.ConnsCount() == 0 {
			delete(cl.pools, k)
		}
	}
	if len(cl.pools) < maxPools {
		return
	}
	for k, hc := range cl.pools {
		hc.CloseIdleConnections()
		if hc.ConnsCount() == 0 {
			delete(cl.pools, k)
		}
	}
}

// newPool builds the pool for k. Redirects are never followed and nothing
// is retried inside it: the call's loop decides. Requests are written
// and responses read by the Client itself (exchange), which uses the
// HostClient for its connections and buffers only.
func (cl *Client) newPool(k poolKey, isTLS bool) *fasthttp.HostClient {
	hc := &fasthttp.HostClient{
		Addr:                          k.ep.String(),
		IsTLS:                         isTLS,
		MaxConns:                      cl.opts.MaxIdleConnsPerHost,
		MaxConnWaitTimeout:            cl.opts.DefaultTimeout, // within the try's deadline
		MaxIdleConnDuration:           cl.opts.IdleConnTimeout,
		ConnPoolStrategy:              fasthttp.LIFO,
		ReadBufferSize:                respBufferSize,
		DisableHeaderNamesNormalizing: true,
		DisablePathNormalizing:        true,
		NoDefaultUserAgentHeader:      true,
		StreamResponseBody:            true,
		MaxIdemponentCallAttempts:     1,
		RetryIfErr:                    func(*fasthttp.Request, int, error) (bool, bool) { return false, false },
	}
	var cfg *tls.Config
	if isTLS {
		cfg = cl.tlsConfig(k.name, "http/1.1")
		hc.TLSConfig = cfg
	}
	hc.DialTimeout = func(_ string, timeout time.Duration) (net.Conn, error) {
		return cl.dialEndpoint(k.ep, cfg, timeout)
	}
	return hc
}

// dialEndpoint is the guard dialer of a pool: it dials ep, the one
// checked endpoint the pool exists for, within DialTimeout and timeout
// (the try's time left; 0 means none), and completes the TLS handshake
// when cfg is set. Every failure is a *DialError.
func (cl *Client) dialEndpoint(ep netip.AddrPort, cfg *tls.Config, timeout time.Duration) (net.Conn, error) {
	d := *cl.dialer
	if timeout > 0 && timeout < d.Timeout {
		d.Timeout = timeout
	}
	start := time.Now()
	raw, err := d.DialContext(context.Background(), "tcp", ep.String())
	if err != nil {
		return nil, &DialError{Addr: ep.String(), Err: err}
	}
	if cfg == nil {
		return raw, nil
	}
	hs := cl.opts.TLSHandshakeTimeout
	if timeout > 0 {
		hs = min(hs, timeout-time.Since(start))
	}
	conn := tls.Client(raw, cfg)
	conn.SetDeadline(time.Now().Add(hs))
	if err := conn.Handshake(); err != nil {
		raw.Close()
		return nil, &DialError{Addr: ep.String(), Err: fmt.Errorf("tls handshake with %q: %w", cfg.ServerName, err)}
	}
	conn.SetDeadline(time.Time{})
	return conn, nil
}

// DialTunnel opens a TCP connection for a CONNECT tunnel to t, as
// Transport.DialTunnel does: the checked addresses in order until one
// connects, each within DialTimeout and all within t's Retry.Timeout
// (DefaultTimeout when 0). It fills t.Attempts and t.Upstream and fails
// with *DialError, *TimeoutError or ctx's error.
func (cl *Client) DialTunnel(ctx context.Context, t *Target) (net.Conn, error) {
	return cl.Dial(ctx, t, false)
}

// Dial is DialTunnel for a protocol upgrade: with isTLS, each connection
// also completes a TLS handshake verified for t.Host (ALPN http/1.1), and a
// failed handshake counts as a failed dial. The caller writes the request
// head and relays the connection.
func (cl *Client) Dial(ctx context.Context, t *Target, isTLS bool) (net.Conn, error) {
	name := ""
	if isTLS && t != nil {
		name = t.Host
	}
	return cl.dialTunnel(ctx, t, cl.dialer, name)
}
