package proxy

import (
	"context"
	"io"
	"log/slog"
	"net"
	"net/netip"
	"sync"
	"time"

	"github.com/valyala/fasthttp"

	"github.com/meshlite/meshlite/internal/ambassador/gate"
)

// Limits are the client-side protections of a door's HTTP server.
type Limits struct {
	// ReadHeaderTimeout bounds reading a request's head; 0 means none.
	// The body is not bounded by it: it streams as the upstream takes it.
	ReadHeaderTimeout time.Duration
	// IdleTimeout closes a kept-alive connection with no request for this
	// long; 0 means ReadHeaderTimeout, as net/http does.
	IdleTimeout time.Duration
	// MaxHeaderBytes bounds the request line and header fields; beyond it
	// the request gets 431. 0 means 1 MiB.
	MaxHeaderBytes int
}

// Door is one door's HTTP/1.1 server: the strict gate in front of
// fasthttp, and the pipeline behind it. One Door may serve several
// listeners (a local mapping door's 127.0.0.1 and [::1]).
type Door struct {
	d   *door
	srv *fasthttp.Server
	log *slog.Logger

	maxHeaderBytes int

	mu     sync.Mutex
	conns  map[*doorConn]struct{} // open, for Shutdown to close when its time is up
	lns    []net.Listener
	closed bool
}

// door is what a request knows of the door it arrived at.
type door struct {
	h    *Handler
	name string
	port uint16 // a local mapping door's port
}

// NewDoor builds the server of one door. port is the local mapping door's
// port (0 for the others).
func (h *Handler) NewDoor(name string, port uint16, l Limits) *Door {
	if l.MaxHeaderBytes <= 0 {
		l.MaxHeaderBytes = 1 << 20
	}
	if l.IdleTimeout <= 0 {
		l.IdleTimeout = l.ReadHeaderTimeout
	}
	d := &door{h: h, name: name, port: port}
	srv := &fasthttp.Server{
		Handler:     d.serve,
		ReadTimeout: l.ReadHeaderTimeout,
		IdleTimeout: l.IdleTimeout,
		// The gate refuses a head over MaxHeaderBytes itself, with 431;
		// the server's buffer only has to hold what the gate lets through.
		ReadBufferSize:               l.MaxHeaderBytes + 4096,
		StreamRequestBody:            true,
		MaxRequestBodySize:           1<<63 - 1,
		DisablePreParseMultipartForm: true,
		NoDefaultServerHeader:        true,
		NoDefaultDate:                true,
		NoDefaultContentType:         true,
		ReduceMemoryUsage:            false,
		CloseOnShutdown:              true,
		Logger:                       discardLogger{},
	}
	srv.ErrorHandler = d.serverError // after the gate's own refusals (Configure)
	gate.Configure(srv, gate.Options{MaxHeaderBytes: l.MaxHeaderBytes})
	// Header names canonical, as net/http's server made them: the pipeline
	// and the upstream see one spelling of each name.
	srv.DisableHeaderNamesNormalizing = false
	return &Door{d: d, srv: srv, log: h.log, maxHeaderBytes: l.MaxHeaderBytes, conns: make(map[*doorConn]struct{})}
}

// Serve accepts connections on ln until Shutdown; every connection goes
// through the gate first.
func (d *Door) Serve(ln net.Listener) error {
	d.mu.Lock()
	if d.closed {
		d.mu.Unlock()
		ln.Close()
		return net.ErrClosed
	}
	d.lns = append(d.lns, ln)
	d.mu.Unlock()
	return d.srv.Serve(&doorListener{Listener: ln, door: d})
}

// ServeConn serves one connection the transparent door accepted, whose
// first bytes it already read (c replays them) and whose original
// destination was orig.
func (d *Door) ServeConn(c net.Conn, orig netip.AddrPort) error {
	return d.srv.ServeConn(d.track(c, orig))
}

// Shutdown stops accepting, lets the requests in flight finish until ctx
// ends, then closes what is left.
func (d *Door) Shutdown(ctx context.Context) error {
	d.mu.Lock()
	d.closed = true
	for _, ln := range d.lns { // also those Serve has not handed to the server yet
		ln.Close()
	}
	d.mu.Unlock()
	err := d.srv.ShutdownWithContext(ctx)
	if ctx.Err() == nil {
		return err
	}
	d.mu.Lock()
	defer d.mu.Unlock()
	for c := range d.conns {
		c.Conn.Close()
	}
	return ctx.Err()
}

// track puts c behind the gate and counts it as open until it closes.
func (d *Door) track(c net.Conn, orig netip.AddrPort) *doorConn {
	dc := &doorConn{
		Conn: gate.Wrap(c, gate.Options{MaxHeaderBytes: d.maxHeaderBytes, OnReject: d.d.rejected}),
		orig: orig, door: d,
	}
	d.mu.Lock()
	d.conns[dc] = struct{}{}
	d.mu.Unlock()
	return dc
}

// doorListener puts every accepted connection behind the gate.
type doorListener struct {
	net.Listener
	door *Door
}

func (l *doorListener) Accept() (net.Conn, error) {
	c, err := l.Listener.Accept()
	if err != nil {
		return nil, err
	}
	return l.door.track(c, netip.AddrPort{}), nil
}

// doorConn is a connection as the server sees it: behind the gate, with
// the original destination of a transparent connection.
type doorConn struct {
	*gate.Conn
	orig   netip.AddrPort
	remote string // RemoteAddr as text, once asked for (by the serving goroutine only)
	door   *Door
	once   sync.Once
}

// CloseWrite half-closes the client's connection: a relayed tunnel whose
// upstream stopped sending.
func (c *doorConn) CloseWrite() error {
	closeWrite(c.Conn.Conn)
	return nil
}

func (c *doorConn) Close() error {
	c.once.Do(func() {
		c.door.mu.Lock()
		delete(c.door.conns, c)
		c.door.mu.Unlock()
	})
	return c.Conn.Close()
}

// serverError answers what the HTTP server itself refused in bytes the
// gate had passed (a head or body not received within its timeout, a
// parse error) with a reason that names the problem but not the bytes,
// and writes its audit line.
func (d *door) serverError(ctx *fasthttp.RequestCtx, err error) {
	r := gate.ParserError(err)
	gate.WriteRefusal(ctx, r)
	if c, ok := ctx.Conn().(*doorConn); ok {
		d.rejected(c.Conn, r)
	}
}

// discardLogger drops fasthttp's own error logs: every request and every
// refusal already leaves an audit line.
type discardLogger struct{}

func (discardLogger) Printf(string, ...any) {}

// hijacked is a connection that left the HTTP server: it reads what the
// server had buffered first, and writes and closes the door's connection
// itself (the server's own handle cannot close or half-close it).
func hijacked(server net.Conn, c *doorConn) net.Conn {
	return &hijackedConn{doorConn: c, r: server}
}

type hijackedConn struct {
	*doorConn
	r io.Reader
}

func (c *hijackedConn) Read(p []byte) (int, error) { return c.r.Read(p) }
