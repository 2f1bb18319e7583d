package proxy

import (
	"bufio"
	"bytes"
	"io"
	"net"
	"net/http"

	"github.com/valyala/fasthttp"

	"github.com/meshlite/meshlite/internal/ambassador/upstream"
)

// maxUpgradeRefusal bounds the body of an upstream's answer to a protocol
// upgrade that it refused; it is buffered to be sent on.
const maxUpgradeRefusal = 1 << 20

// upgrade serves an allowed request that asks for a protocol switch
// (WebSocket and the like): one try on a dialled connection, no retries.
// When the upstream answers 101, the client's connection leaves the HTTP
// server and bytes are relayed both ways until either side closes or the
// tunnel idle timeout; the audit line is written then. Any other answer is
// sent on and the connection closes.
func (h *Handler) upgrade(x *exchange, c *doorConn, p *plan) {
	t := &upstream.Target{Host: p.decision.Host, Port: p.port, Addrs: p.decision.Addrs,
		Route: routeName(p.route), Retry: h.retryFor(p.route)}
	t.Retry.Attempts = 1
	up, err := h.transport.Dial(x.traceCtx(), t, p.upstream.Scheme == "https")
	x.e.Attempts, x.e.Upstream = t.Attempts, t.Upstream
	if err != nil {
		x.fail(err)
		x.finish()
		return
	}
	br, status, err := h.sendUpgrade(x, up, p, t)
	if err != nil {
		up.Close()
		x.fail(err)
		x.finish()
		return
	}
	if status != http.StatusSwitchingProtocols {
		up.Close()
		x.finish()
		return
	}
	head := x.switchHead()
	x.status = http.StatusSwitchingProtocols
	x.ctx.HijackSetNoResponse(true)
	x.ctx.Hijack(func(server net.Conn) {
		defer up.Close()
		client := hijacked(server, c)
		defer x.finish()
		c.Passthrough()
		if _, err := client.Write(head); err != nil {
			x.reason = "client went away before the protocol switch was sent"
			return
		}
		x.bytesIn, x.out = h.relay(x.e, client, &bufferedConn{Conn: up, r: br}, client)
	})
}

// sendUpgrade writes the request on up and reads the upstream's answer
// head. An answer other than 101 is read whole and set as the client's
// answer.
func (h *Handler) sendUpgrade(x *exchange, up net.Conn, p *plan, t *upstream.Target) (*bufio.Reader, int, error) {
	req := &x.ctx.Request
	upgradeTo := append([]byte(nil), req.Header.Peek("Upgrade")...)
	h.outgoing(x, req, p)
	req.Header.Set("Upgrade", string(upgradeTo))
	req.Header.Set("Connection", "Upgrade")
	req.SetRequestURI(p.upstream.RequestURI())
	bw := bufio.NewWriter(up)
	if err := req.Write(bw); err != nil {
		return nil, 0, &upstream.DialError{Addr: t.Upstream, Err: err}
	}
	if err := bw.Flush(); err != nil {
		return nil, 0, &upstream.DialError{Addr: t.Upstream, Err: err}
	}
	br := bufio.NewReader(up)
	resp := &x.ctx.Response
	var rh fasthttp.ResponseHeader
	rh.DisableNormalizing()
	if err := rh.Read(br); err != nil {
		return nil, 0, err
	}
	x.status = rh.StatusCode()
	if x.status == http.StatusSwitchingProtocols {
		x.upgradeHead = &rh
		return br, x.status, nil
	}
	var answer fasthttp.Response
	rh.CopyTo(&answer.Header)
	if err := answer.ReadBody(br, maxUpgradeRefusal); err != nil {
		return nil, 0, err
	}
	copyAnswerHeader(&resp.Header, &answer.Header)
	resp.SetBody(answer.Body())
	x.out = int64(len(answer.Body()))
	return br, x.status, nil
}

// switchHead is the 101 answer sent to the client: the upstream's, without
// X-Meshlite-* headers.
func (x *exchange) switchHead() []byte {
	rh := x.upgradeHead
	var b bytes.Buffer
	b.WriteString("HTTP/1.1 101 ")
	b.Write(rh.StatusMessage())
	if len(rh.StatusMessage()) == 0 {
		b.WriteString("Switching Protocols")
	}
	b.WriteString("\r\n")
	for k, v := range rh.All() {
		if hasOwnPrefix(k) || bytes.EqualFold(k, []byte("Content-Length")) {
			continue
		}
		b.Write(k)
		b.WriteString(": ")
		b.Write(v)
		b.WriteString("\r\n")
	}
	b.WriteString("\r\n")
	return b.Bytes()
}

// bufferedConn reads what the upstream sent after its 101 head, then the
// connection.
type bufferedConn struct {
	net.Conn
	r io.Reader
}

func (c *bufferedConn) Read(p []byte) (int, error) { return c.r.Read(p) }

// CloseWrite half-closes the upstream connection when it can.
func (c *bufferedConn) CloseWrite() error {
	closeWrite(c.Conn)
	return nil
}
