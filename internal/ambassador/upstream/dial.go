package upstream

import (
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"time"
)

// newDialer is the TCP dialer of both engines: DialTimeout per connect.
func newDialer(opts Options) *net.Dialer {
	return &net.Dialer{Timeout: opts.DialTimeout, KeepAlive: 30 * time.Second}
}

// dialTunnel is the Client's DialTunnel; with tlsName set, each
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
