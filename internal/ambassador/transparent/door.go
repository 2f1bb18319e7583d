// Package transparent is the ambassador's transparent door: the listener
// that the nftables capture installed by `ambassador init` redirects every
// outbound TCP connection of the pod to.
//
// For each connection it recovers the original destination, refuses loops
// (a connection aimed at one of the ambassador's own listeners, or one that
// was never redirected), and reads the first bytes under a deadline:
//
//   - an HTTP/1.x request line: the connection is served by the one request
//     pipeline, which decides on the Host name and the original port;
//   - a TLS ClientHello: the stream is decided on its server name (SNI) and
//     the original port, and relayed untouched (no TLS termination);
//   - anything else, a ClientHello without a server name, or silence past
//     the deadline: the stream is decided on the original address, which
//     only a cidrs rule allows.
//
// A name is resolved by the ambassador and only its checked addresses are
// dialled: the packet's original address is never dialled on the strength
// of a Host header or a server name.
package transparent

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/netip"
	"sync"
	"sync/atomic"
	"time"

	"github.com/meshlite/meshlite/internal/ambassador/loopback"
	"github.com/meshlite/meshlite/internal/ambassador/proxy"
)

// Options configure a Door. Addr, Handler and Server are required.
type Options struct {
	// Addr is the listen address, e.g. 127.0.0.1:15001. When its host is
	// IPv4 loopback, the door also listens on [::1] at the same port, for
	// redirected IPv6.
	Addr string
	// Handler runs the pipeline: HTTP requests through HTTP, streams
	// through ServeStream.
	Handler *proxy.Handler
	// HTTP serves the HTTP connections: the pipeline's transparent door.
	HTTP *proxy.Door
	// MaxHeaderBytes bounds the request line read while sniffing (the HTTP
	// door's own header limit, which it enforces after); 0 means 1 MiB.
	MaxHeaderBytes int
	// DetectTimeout bounds the wait for the first bytes of a connection.
	// 0 means 1s.
	DetectTimeout time.Duration
	// MaxConnections caps the door's concurrent connections (its IPv4 and
	// IPv6 listeners together); 0 = no cap.
	MaxConnections int
	// Self returns the ambassador's own listeners: a connection whose
	// original destination is one of them is a loop. The door adds its own.
	Self func() []netip.AddrPort
	// Logger receives operational logs; nil discards them.
	Logger *slog.Logger
}

// Door is an open transparent door.
type Door struct {
	opts   Options
	log    *slog.Logger
	lns    []net.Listener
	addrs  []netip.AddrPort
	ctx    context.Context
	cancel context.CancelFunc
	wg     sync.WaitGroup

	check atomic.Pointer[checkResult]
	probe atomic.Pointer[netip.AddrPort]
	// maxLine bounds the request line the door reads while sniffing: the
	// HTTP server's header limit, which it enforces itself after.
	maxLine int
}

// Open listens and starts serving.
func Open(opts Options) (*Door, error) {
	if opts.DetectTimeout <= 0 {
		opts.DetectTimeout = time.Second
	}
	if opts.Logger == nil {
		opts.Logger = slog.New(slog.DiscardHandler)
	}
	if opts.Self == nil {
		opts.Self = func() []netip.AddrPort { return nil }
	}
	d := &Door{opts: opts, log: opts.Logger, maxLine: opts.MaxHeaderBytes}
	if d.maxLine <= 0 {
		d.maxLine = 1 << 20
	}
	if err := d.listen(); err != nil {
		return nil, err
	}
	d.ctx, d.cancel = context.WithCancel(context.Background())
	d.check.Store(&checkResult{reason: "transparent door: the start-up self-check has not finished"})
	for _, ln := range d.lns {
		d.wg.Go(func() { d.accept(ln) })
	}
	return d, nil
}

// listen opens the IPv4 listener and, for a loopback address, its IPv6 twin.
func (d *Door) listen() error {
	lns, err := loopback.Listen(d.opts.Addr, d.log)
	if err != nil {
		return fmt.Errorf("transparent door: %w", err)
	}
	for _, ln := range lns {
		d.addrs = append(d.addrs, addrPortOf(ln.Addr()))
	}
	d.lns = loopback.Cap(lns, d.opts.MaxConnections)
	return nil
}

// Addrs lists the addresses the door listens on.
func (d *Door) Addrs() []netip.AddrPort { return d.addrs }

// accept serves ln until it is closed; the listener holds at most
// MaxConnections connections of the door at once. A temporary failure (out
// of descriptors) is retried after a pause that grows from 5ms to 1s, as
// net/http's servers do.
func (d *Door) accept(ln net.Listener) {
	var pause time.Duration
	for {
		c, err := ln.Accept()
		if err != nil {
			if errors.Is(err, net.ErrClosed) {
				return
			}
			pause = min(max(2*pause, 5*time.Millisecond), time.Second)
			d.log.Warn("transparent door: accept failed; retrying", "addr", ln.Addr().String(), "err", err, "retry_in", pause.String())
			select {
			case <-time.After(pause):
			case <-d.ctx.Done():
				return
			}
			continue
		}
		pause = 0
		done := d.opts.Handler.Track()
		go func() {
			defer done()
			d.handle(c)
		}()
	}
}

// handle finds where c was going and hands it to the pipeline.
func (d *Door) handle(c net.Conn) {
	orig, err := originalDst(c)
	s := proxy.Stream{Conn: c, Original: orig, Protocol: proxy.ProtocolTCP}
	switch {
	case err != nil:
		s.Refused = "loop: the connection has no original destination (" + err.Error() +
			"): it reached the transparent door directly instead of through the capture's redirect"
	case d.probeHit(orig):
		c.Close()
		return
	case d.isSelf(orig):
		s.Refused = "loop: the original destination " + orig.String() + " is one of the ambassador's own listeners"
	default:
		if ok, reason := d.Ready(); !ok {
			s.Refused = reason
		}
	}
	if s.Refused != "" {
		d.opts.Handler.ServeStream(d.ctx, s)
		return
	}
	deadline := time.Now().Add(d.opts.DetectTimeout)
	k, prefix, err := sniff(c, deadline, d.maxLine)
	if err != nil {
		c.Close()
		return
	}
	switch k {
	case kindHTTP:
		c.SetReadDeadline(time.Time{})
		d.opts.HTTP.ServeConn(&sniffedConn{Conn: c, pending: prefix}, orig)
		return
	case kindTLS:
		var ok bool
		s.SNI, prefix, ok = readClientHello(c, prefix, deadline)
		if ok {
			s.Protocol = proxy.ProtocolTLS
		}
	}
	c.SetReadDeadline(time.Time{})
	s.Prefix = prefix
	d.opts.Handler.ServeStream(d.ctx, s)
}

func (d *Door) isSelf(dst netip.AddrPort) bool {
	dst = netip.AddrPortFrom(dst.Addr().Unmap(), dst.Port())
	for _, list := range [][]netip.AddrPort{d.addrs, d.opts.Self()} {
		for _, a := range list {
			if a.Port() == dst.Port() && (a.Addr() == dst.Addr() || a.Addr().IsUnspecified()) {
				return true
			}
		}
	}
	return false
}

// Shutdown stops accepting and lets HTTP requests in flight finish until
// ctx ends. Streams are the handler's: its Wait closes them.
func (d *Door) Shutdown(ctx context.Context) {
	for _, ln := range d.lns {
		ln.Close()
	}
	d.opts.HTTP.Shutdown(ctx)
	d.cancel()
	d.wg.Wait()
}

func addrPortOf(a net.Addr) netip.AddrPort {
	if tcp, ok := a.(*net.TCPAddr); ok {
		ap := tcp.AddrPort()
		return netip.AddrPortFrom(ap.Addr().Unmap(), ap.Port())
	}
	return netip.AddrPort{}
}
