package proxy

import (
	"context"
	"errors"
	"net"
	"net/http"
	"net/netip"
	"strconv"
	"time"

	"github.com/meshlite/meshlite/internal/ambassador/audit"
	"github.com/meshlite/meshlite/internal/ambassador/upstream"
	"github.com/meshlite/meshlite/pkg/policy"
)

// DoorTransparent names the door that serves connections the capture
// redirected (ambassador init): HTTP requests through the pipeline, TLS and
// other TCP as relayed streams.
const DoorTransparent = "transparent"

// transparentDestination reads the destination of a request the capture
// redirected: the name from the request (the Host header, or the authority
// of an absolute-form URI), the port the app connected to. A request with
// no host is decided on the original address. The name is what the policy
// judges and what is resolved and dialled: the original address is never
// dialled on the strength of a name.
func transparentDestination(r head, dest destination, orig netip.AddrPort) (destination, error) {
	if !orig.IsValid() {
		return dest, errors.New("proxy: transparent request without its original destination")
	}
	if r.url.IsAbs() && r.url.Scheme != "http" {
		return dest, badRequest("scheme " + strconv.Quote(r.url.Scheme) + " is not proxied in absolute form")
	}
	dest.scheme, dest.port = "http", orig.Port()
	if r.url.IsAbs() && r.url.Host != "" {
		host, port, err := policy.SplitHostPort(r.url.Host, 80)
		if err != nil {
			return dest, err
		}
		if err := sameHost(r.url.Host, host, port, r.host); err != nil {
			return dest, err
		}
	}
	if r.host == "" {
		dest.host = orig.Addr().String()
		return dest, nil
	}
	host, _, err := policy.SplitHostPort(r.host, orig.Port())
	if err != nil {
		return dest, err
	}
	dest.host = host
	return dest, nil
}

// Stream is a connection the transparent door relays without reading HTTP:
// TLS (decided on the ClientHello's server name) or any other TCP (decided
// on the original address, which only a cidrs rule allows).
type Stream struct {
	// Conn is the app's connection; ServeStream closes it.
	Conn net.Conn
	// Prefix holds the bytes already read from Conn; they are sent upstream
	// first, unchanged.
	Prefix []byte
	// Original is where the app connected to.
	Original netip.AddrPort
	// Protocol is "TLS" or "TCP", as written in the audit line's method.
	Protocol string
	// SNI is the ClientHello's server name; empty when there was none.
	SNI string
	// Refused, when set, denies the stream with this reason before any
	// decision: a loop, or a failed self-check.
	Refused string
}

// Stream protocols, as the audit line's method.
const (
	ProtocolTLS = "TLS"
	ProtocolTCP = "TCP"
)

// tlsAccessDenied is a TLS alert record (fatal, access_denied), sent to a
// client whose TLS connection was denied so that it reports why instead of
// a bare reset.
var tlsAccessDenied = []byte{0x15, 0x03, 0x01, 0x00, 0x02, 0x02, 0x31}

// ServeStream decides a stream, relays it when allowed and writes its audit
// line when it closes. The name decided on (SNI) is resolved and only its
// checked addresses are dialled; a stream without a name is decided on, and
// dialled to, its original address. The caller holds a Track ticket for
// the connection.
func (h *Handler) ServeStream(ctx context.Context, s Stream) {
	defer s.Conn.Close()
	start := time.Now()
	st := h.state.Load()
	e := &audit.Entry{
		Time: start, ID: h.ids.next(), Door: DoorTransparent, Client: s.Conn.RemoteAddr().String(),
		Method: s.Protocol, SNI: truncate(s.SNI), Workload: st.workload(), NodeID: h.nodeID,
	}
	host := s.Original.Addr().String()
	if s.SNI != "" {
		host = s.SNI
	}
	if s.Original.IsValid() {
		e.OriginalDst = s.Original.String()
		e.URL = truncate(hostPort(host, s.Original.Port(), 0))
	}

	dec := policy.Decision{Result: policy.Deny, Reason: s.Refused}
	var err error
	if s.Refused == "" {
		dec, err = h.decideTunnel(ctx, st, host, s.Original.Port(), s.Protocol)
	}
	e.Decision, e.Reason, e.Rule = dec.Result.String(), dec.Reason, dec.Rule
	var in, out int64
	switch {
	case err != nil:
		e.Status, e.Reason = statusOf(err)
	case dec.Result == policy.Deny:
		e.Status = http.StatusForbidden
	default:
		in, out, err = h.relayStream(ctx, s, e, dec)
		e.Status = http.StatusOK
		if err != nil {
			e.Status, e.Reason = statusOf(err)
		}
	}
	if e.Status != http.StatusOK && s.Protocol == ProtocolTLS {
		s.Conn.Write(tlsAccessDenied)
	}
	e.Duration, e.BytesIn, e.BytesOut = time.Since(start), in, out
	h.metrics.observe(e)
	h.audit.Log(e)
}

// relayStream dials the checked upstream, sends the prefix and relays.
func (h *Handler) relayStream(ctx context.Context, s Stream, e *audit.Entry, dec policy.Decision) (in, out int64, err error) {
	up, err := h.dialTunnel(ctx, e, dec, s.Original.Port())
	if err != nil {
		return 0, 0, err
	}
	defer up.Close()
	if len(s.Prefix) > 0 {
		if _, err := up.Write(s.Prefix); err != nil {
			return 0, 0, &upstream.DialError{Addr: e.Upstream, Err: err}
		}
	}
	in, out = h.relay(e, s.Conn, up, s.Conn)
	return in + int64(len(s.Prefix)), out, nil
}
