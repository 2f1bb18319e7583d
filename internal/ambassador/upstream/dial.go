package upstream

import (
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/netip"
	"strconv"
	"strings"
	"time"
)

// dialHTTP is the pool's DialContext. Plain http tries carry the chosen
// endpoint as the URL host, so addr is that endpoint; it is dialled only if
// it is one of the call's checked addresses.
func (t *Transport) dialHTTP(ctx context.Context, network, addr string) (net.Conn, error) {
	c := callFrom(ctx)
	if c == nil {
		return nil, errors.New("upstream: dial " + addr + " without a target (requests must carry a Target)")
	}
	ep, err := netip.ParseAddrPort(addr)
	if err != nil || !c.target.checks(ep) {
		return nil, &DialError{Addr: addr, Err: errors.New("address is not one of the target's checked addresses")}
	}
	conn, err := t.dialer.DialContext(ctx, "tcp", ep.String())
	if err != nil {
		c.markFailed(ep)
		return nil, &DialError{Addr: ep.String(), Err: err}
	}
	return conn, nil
}

// dialTLS is the pool's DialTLSContext. https tries carry the target name
// and the chosen endpoint as the URL host (tlsPoolHost), so addr names
// both; the endpoint is dialled only if it is one of the call's checked
// addresses and the server is verified as the call's target name.
func (t *Transport) dialTLS(ctx context.Context, network, addr string) (net.Conn, error) {
	c := callFrom(ctx)
	if c == nil {
		return nil, errors.New("upstream: dial " + addr + " without a target (requests must carry a Target)")
	}
	name, ep, ok := parseTLSPoolAddr(addr)
	if !ok || name != c.target.Host || !c.target.checks(ep) {
		return nil, &DialError{Addr: addr, Err: errors.New("address is not one of the target's checked addresses")}
	}
	raw, err := t.dialer.DialContext(ctx, "tcp", ep.String())
	if err != nil {
		c.markFailed(ep)
		return nil, &DialError{Addr: ep.String(), Err: err}
	}
	conn := tls.Client(raw, t.tlsConfig(c.target.Host, "h2", "http/1.1"))
	hctx, cancel := context.WithTimeout(ctx, t.opts.TLSHandshakeTimeout)
	defer cancel()
	if err := conn.HandshakeContext(hctx); err != nil {
		raw.Close()
		c.markFailed(ep)
		return nil, &DialError{Addr: ep.String(), Err: fmt.Errorf("tls handshake with %q: %w", c.target.Host, err)}
	}
	return conn, nil
}

// tlsPoolHost is the URL host of an https try to name at ep, and so its
// key in the connection pool: "[name/ip]:port". Keying by name and
// endpoint means a connection verified for one name is never reused for
// another, and a connection to an address that a later call no longer
// checked (a changed DNS answer) is never reused for that call. The host
// is never sent: the Host header and the TLS server name are the name.
func tlsPoolHost(name string, ep netip.AddrPort) string {
	return "[" + name + "/" + ep.Addr().String() + "]:" + strconv.Itoa(int(ep.Port()))
}

// parseTLSPoolAddr splits the address the pool dials for a tlsPoolHost
// (the pool drops the brackets when the address has no colon).
func parseTLSPoolAddr(addr string) (name string, ep netip.AddrPort, ok bool) {
	host, port, err := net.SplitHostPort(addr)
	if err != nil {
		return "", netip.AddrPort{}, false
	}
	i := strings.LastIndexByte(host, '/')
	if i < 0 {
		return "", netip.AddrPort{}, false
	}
	ep, err = netip.ParseAddrPort(net.JoinHostPort(host[i+1:], port))
	return host[:i], ep, err == nil
}

// newDialer is the TCP dialer of both engines: DialTimeout per connect.
func newDialer(opts Options) *net.Dialer {
	return &net.Dialer{Timeout: opts.DialTimeout, KeepAlive: 30 * time.Second}
}

// DialTunnel opens a TCP connection for a CONNECT tunnel to target: it
// tries the checked addresses in order until one connects, each for at
// most DialTimeout and all of them within the target's Retry.Timeout
// (DefaultTimeout when 0), and fills target.Attempts and target.Upstream.
// It fails with *DialError when none connects, *TimeoutError when the
// overall deadline passes first, or ctx's error when ctx ends first.
func (t *Transport) DialTunnel(ctx context.Context, target *Target) (net.Conn, error) {
	return t.dialTunnel(ctx, target, t.dialer, "")
}

// dialTunnel is DialTunnel of both engines; with tlsName set, each
// connection completes a TLS handshake verified for that name, and a
// failed handshake counts as a failed dial.
func (co *core) dialTunnel(ctx context.Context, target *Target, dialer *net.Dialer, tlsName string) (net.Conn, error) {
	if err := checkTarget(target); err != nil {
		return nil, err
	}
	target.Attempts, target.Upstream = 0, ""
	overall := target.Retry.Timeout
	if overall <= 0 {
		overall = co.opts.DefaultTimeout
	}
	ctx, cancel := context.WithTimeoutCause(ctx, overall, &TimeoutError{Timeout: overall})
	defer cancel()
	var last error
	for i := range target.Addrs {
		ep := target.endpoint(i).String()
		target.Attempts, target.Upstream = i+1, ep
		conn, err := co.dialOne(ctx, dialer, ep, tlsName)
		if err == nil {
			co.metrics.tries.WithLabelValues(target.Route, resultResponse).Inc()
			return conn, nil
		}
		if ctx.Err() != nil || pastDeadline(ctx) {
			err := context.Cause(ctx)
			if err == nil { // the dial's own timer fired before the context's
				err = &TimeoutError{Timeout: overall}
			}
			result := resultCanceled
			if dialTimeout(err) {
				result = resultTimeout
			}
			co.metrics.tries.WithLabelValues(target.Route, result).Inc()
			return nil, err
		}
		co.metrics.tries.WithLabelValues(target.Route, resultConnectFailure).Inc()
		co.log.LogAttrs(ctx, slog.LevelDebug, "upstream: tunnel dial failed",
			slog.String("route", target.Route), slog.String("upstream", ep), slog.Any("error", err))
		last = &DialError{Addr: ep, Err: err}
	}
	return nil, last
}

// dialOne connects to ep, with a TLS handshake verified for tlsName when
// it is set.
func (co *core) dialOne(ctx context.Context, dialer *net.Dialer, ep, tlsName string) (net.Conn, error) {
	raw, err := dialer.DialContext(ctx, "tcp", ep)
	if err != nil || tlsName == "" {
		return raw, err
	}
	conn := tls.Client(raw, co.tlsConfig(tlsName, "http/1.1"))
	hctx, cancel := context.WithTimeout(ctx, co.opts.TLSHandshakeTimeout)
	defer cancel()
	if err := conn.HandshakeContext(hctx); err != nil {
		raw.Close()
		return nil, fmt.Errorf("tls handshake with %q: %w", tlsName, err)
	}
	return conn, nil
}

// pastDeadline reports whether ctx's deadline has passed, which a dial can
// see a moment before ctx itself is done.
func pastDeadline(ctx context.Context) bool {
	dl, ok := ctx.Deadline()
	return ok && !time.Now().Before(dl)
}

// dialTimeout reports whether err is DialTunnel's overall deadline.
func dialTimeout(err error) bool {
	var te *TimeoutError
	return errors.As(err, &te)
}

// checkTarget rejects a target that cannot be dialled.
func checkTarget(t *Target) error {
	switch {
	case t == nil:
		return errors.New("upstream: request carries no Target (use WithTarget)")
	case t.Host == "":
		return errors.New("upstream: target has no host")
	case t.Port == 0:
		return errors.New("upstream: target " + t.Host + " has no port")
	case len(t.Addrs) == 0:
		return &DialError{Addr: t.Host, Err: errNoAddress}
	}
	for _, a := range t.Addrs {
		if !a.IsValid() {
			return &DialError{Addr: t.Host, Err: errors.New("invalid address in target")}
		}
	}
	return nil
}
