package proxy

import (
	"context"
	"io"
	"net"
	"net/http"
	"sync"
	"time"

	"github.com/meshlite/meshlite/internal/ambassador/audit"
	"github.com/meshlite/meshlite/internal/ambassador/upstream"
	"github.com/meshlite/meshlite/pkg/policy"
)

// tunnel serves CONNECT host:port: the same decision as any request, with no
// upstream connection made before an allow; then bytes are copied both ways
// and the audit line is written when the tunnel closes.
func (h *Handler) tunnel(w http.ResponseWriter, r *http.Request, d *door) {
	start := time.Now()
	st := h.state.Load()
	e := h.entry(r, d, st, start)
	e.URL = truncate(r.Host)
	rec := &recorder{ResponseWriter: w}
	ctx, span := h.tracer.Start(r.Context(), "meshlite.tunnel")
	defer span.End()

	var (
		in, out int64
		dec     policy.Decision
		port    uint16
		err     error
	)
	switch d.name {
	case DoorLocal: // refused before any lookup
		err = badRequest("local mapping doors take origin-form requests (GET /path); send CONNECT to the forward-proxy door")
	case DoorTransparent:
		err = badRequest("CONNECT to a captured address is not proxied; send CONNECT to the forward-proxy door")
	default:
		var host string
		if host, port, err = policy.SplitHostPort(r.Host, 0); err == nil {
			dec, err = h.decideTunnel(ctx, st, host, port, http.MethodConnect)
		}
	}
	e.Decision, e.Reason, e.Rule = dec.Result.String(), dec.Reason, dec.Rule
	switch {
	case err != nil:
		h.fail(rec, err)
	case dec.Result == policy.Deny:
		writeError(rec, http.StatusForbidden, dec.Reason)
	default:
		in, out, err = h.splice(ctx, rec, e, dec, port)
		if err != nil {
			h.fail(rec, err)
		}
	}
	rec.bytes = out
	h.finish(e, rec, in, start, span)
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

// splice dials the checked upstream, hijacks the client connection and
// copies bytes both ways until either side closes.
func (h *Handler) splice(ctx context.Context, rec *recorder, e *audit.Entry, dec policy.Decision, port uint16) (in, out int64, err error) {
	up, err := h.dialTunnel(ctx, e, dec, port)
	if err != nil {
		return 0, 0, err
	}
	defer up.Close()
	client, buf, err := http.NewResponseController(rec.ResponseWriter).Hijack()
	if err != nil {
		return 0, 0, err
	}
	defer client.Close()
	rec.wrote = true
	if _, err := io.WriteString(client, "HTTP/1.1 200 Connection established\r\n\r\n"); err != nil {
		rec.status = StatusClientClosed
		return 0, 0, nil
	}
	rec.status = http.StatusOK
	src := io.Reader(client)
	if buf.Reader.Buffered() > 0 {
		src = io.MultiReader(io.LimitReader(buf.Reader, int64(buf.Reader.Buffered())), client)
	}
	in, out = h.relay(e, client, up, src)
	return in, out, nil
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
