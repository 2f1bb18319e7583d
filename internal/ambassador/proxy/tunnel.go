package proxy

import (
	"context"
	"io"
	"net"
	"net/http"
	"sync"

	"github.com/valyala/fasthttp"

	"github.com/meshlite/meshlite/internal/ambassador/audit"
	"github.com/meshlite/meshlite/internal/ambassador/gate"
	"github.com/meshlite/meshlite/internal/ambassador/upstream"
	"github.com/meshlite/meshlite/pkg/policy"
)

// tunnel serves CONNECT host:port: the same decision as any request, with no
// upstream connection made before an allow; then the client's connection
// leaves the HTTP server, bytes are copied both ways and the audit line is
// written when the tunnel closes. The gate checks nothing after a CONNECT
// head, so a CONNECT that is not tunnelled closes its connection.
func (d *door) tunnel(ctx *fasthttp.RequestCtx, c *doorConn, gh gate.Head) {
	h := d.h
	x := h.newExchange(ctx, d, c.orig)
	x.e.URL = truncate(gh.Target)
	ctx.SetConnectionClose()
	st := x.st
	var (
		dec  policy.Decision
		port uint16
		err  error
	)
	switch d.name {
	case DoorLocal: // refused before any lookup
		err = badRequest("local mapping doors take origin-form requests (GET /path); send CONNECT to the forward-proxy door")
	case DoorTransparent:
		err = badRequest("CONNECT to a captured address is not proxied; send CONNECT to the forward-proxy door")
	default:
		var host string
		if host, port, err = policy.SplitHostPort(gh.Target, 0); err == nil {
			err = sameHost(gh.Target, host, port, gh.Host)
		}
		if err == nil {
			dec, err = h.decideTunnel(x.traceCtx(), st, host, port, http.MethodConnect)
		}
	}
	x.e.Decision, x.e.Reason, x.e.Rule = dec.Result.String(), dec.Reason, dec.Rule
	var up net.Conn
	switch {
	case err != nil:
		x.fail(err)
	case dec.Result == policy.Deny:
		x.writeError(http.StatusForbidden, dec.Reason)
	default:
		if up, err = h.dialTunnel(x.traceCtx(), x.e, dec, port); err != nil {
			x.fail(err)
		}
	}
	if up == nil {
		x.finish()
		return
	}
	ctx.HijackSetNoResponse(true)
	ctx.Hijack(func(server net.Conn) {
		defer up.Close()
		client := hijacked(server, c)
		defer x.finish()
		c.Passthrough()
		if _, err := io.WriteString(client, "HTTP/1.1 200 Connection established\r\n\r\n"); err != nil {
			x.status, x.reason = StatusClientClosed, "client went away before the tunnel was established"
			return
		}
		x.status = http.StatusOK
		x.bytesIn, x.out = h.relay(x.e, client, up, client)
	})
}

// decideTunnel decides a connection whose bytes the ambassador relays
// without reading them (a CONNECT tunnel, a transparent stream): rules that
// limit methods or paths cannot allow it.
func (h *Handler) decideTunnel(ctx context.Context, st *State, host string, port uint16, method string) (policy.Decision, error) {
	if st.Table == nil {
		return policy.Decision{Result: policy.Deny, Reason: st.Pending}, nil
	}
	req := policy.Request{Host: host, Port: port, Method: method, Connect: true}
	return h.decide(ctx, st.Table.Policy, req, h.dialTimeout, "the dial timeout")
}

// dialTunnel dials the checked addresses of an allowed tunnel or stream and
// fills the audit line's target, upstream and attempts.
func (h *Handler) dialTunnel(ctx context.Context, e *audit.Entry, dec policy.Decision, port uint16) (net.Conn, error) {
	e.Target = hostPort(dec.Host, port, 0)
	t := &upstream.Target{Host: dec.Host, Port: port, Addrs: dec.Addrs, Retry: upstream.Retry{Attempts: 1}}
	up, err := h.transport.DialTunnel(ctx, t)
	e.Upstream, e.Attempts = t.Upstream, t.Attempts
	return up, err
}

// relay copies src (the client's bytes) to up and up's answer to client
// until both directions end, and closes both connections when either fails
// or when no byte has moved either way for the tunnel idle timeout (the
// audit line's reason then says so). A direction that ends with EOF
// half-closes its destination and the other goes on, within the same idle
// timeout, so a half-closed peer cannot pin the relay. The client
// connection is registered so that shutdown can close it.
func (h *Handler) relay(e *audit.Entry, client, up net.Conn, src io.Reader) (in, out int64) {
	done := h.tunnels.add(client)
	defer done()
	h.metrics.tunnels.Inc()
	defer h.metrics.tunnels.Dec()

	abort := sync.OnceFunc(func() { client.Close(); up.Close() })
	clock := newIdleClock(h.idleTimeout, abort)
	var wg sync.WaitGroup
	wg.Go(func() { out = pipe(clock, abort, client, up) })
	in = pipe(clock, abort, up, src)
	wg.Wait()
	if clock.stop() {
		e.Reason = clock.reason()
	}
	return in, out
}

// pipe copies src to dst. When src ends with EOF it half-closes dst's peer
// (closes dst when it cannot half-close); on any error it aborts both
// directions.
func pipe(clock *idleClock, abort func(), dst net.Conn, src io.Reader) int64 {
	n, err := clock.copy(dst, src)
	if err != nil {
		abort()
		return n
	}
	closeWrite(dst)
	return n
}

func closeWrite(c net.Conn) {
	if cw, ok := c.(interface{ CloseWrite() error }); ok {
		cw.CloseWrite()
		return
	}
	c.Close()
}

// tunnels tracks the client connections of open tunnels and upgrades, so
// shutdown can close them.
type tunnels struct {
	mu   sync.Mutex
	open map[net.Conn]struct{}
}

func (t *tunnels) add(c net.Conn) (done func()) {
	t.mu.Lock()
	if t.open == nil {
		t.open = make(map[net.Conn]struct{})
	}
	t.open[c] = struct{}{}
	t.mu.Unlock()
	return func() {
		t.mu.Lock()
		delete(t.open, c)
		t.mu.Unlock()
	}
}

// closeTunnels closes every open tunnel.
func (h *Handler) closeTunnels() {
	h.tunnels.mu.Lock()
	defer h.tunnels.mu.Unlock()
	for c := range h.tunnels.open {
		c.Close()
	}
}
