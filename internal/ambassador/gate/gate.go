package gate

import (
	"io"
	"net"
	"sync"
	"sync/atomic"
	"time"
)

// Options configure a gate.
type Options struct {
	// MaxHeaderBytes bounds the request line and header fields, in bytes,
	// line ends included (and, separately, each trailer section); beyond
	// it the request is refused with 431. 0 means 1 MiB.
	MaxHeaderBytes int
	// OnReject, when set, is called once per refused request, when the
	// refusal is answered (after every earlier request on the connection),
	// for the audit line.
	OnReject func(c *Conn, r *Error)
}

const (
	defaultMaxHeaderBytes = 1 << 20
	// refusalWriteTime bounds the write of a refusal from Close.
	refusalWriteTime = 5 * time.Second
	// lingerTime and lingerBytes bound the reading of what the client still
	// sends after a refusal, so that closing does not reset the connection
	// before the client has read the answer (net/http waits the same way).
	lingerTime  = 500 * time.Millisecond
	lingerBytes = 256 << 10
)

func (o Options) maxHeaderBytes() int {
	if o.MaxHeaderBytes <= 0 {
		return defaultMaxHeaderBytes
	}
	return o.MaxHeaderBytes
}

// NewListener returns a listener whose connections are wrapped with Wrap.
func NewListener(ln net.Listener, opts Options) net.Listener {
	return &listener{Listener: ln, opts: opts}
}

type listener struct {
	net.Listener
	opts Options
}

func (l *listener) Accept() (net.Conn, error) {
	c, err := l.Listener.Accept()
	if err != nil {
		return nil, err
	}
	return Wrap(c, l.opts), nil
}

// Conn is a gate over a connection. Read only ever returns bytes already
// checked; once a request is refused, Read returns the bytes before it,
// then the refusal (as an *Error) from then on, and the refusal is
// answered exactly once: by the server's ErrorHandler as set by Configure,
// or else by Close.
type Conn struct {
	net.Conn
	opts Options
	s    scanner // the reading goroutine's
	emit func(Head)

	through atomic.Bool
	pending []byte // read past a held message; handed on after Passthrough

	mu       sync.Mutex
	heads    []Head
	next     int    // heads[next:] are not taken yet
	refusal  *Error // set once
	inBody   bool   // the refusal is in the body of a request handed on
	answered bool
	closed   bool
}

var _ net.Conn = (*Conn)(nil)

// Wrap returns a gate over c.
func Wrap(c net.Conn, opts Options) *Conn {
	g := &Conn{Conn: c, opts: opts}
	g.s.max = opts.maxHeaderBytes()
	g.emit = g.push
	return g
}

// Read reads from the connection and returns the bytes that passed.
func (c *Conn) Read(p []byte) (int, error) {
	if c.through.Load() {
		if len(c.pending) > 0 {
			n := copy(p, c.pending)
			c.pending = c.pending[n:]
			return n, nil
		}
		return c.Conn.Read(p)
	}
	switch c.s.st {
	case sRefused:
		return 0, c.Refusal()
	case sHeld:
		return 0, io.EOF
	}
	n, err := c.Conn.Read(p)
	if n == 0 {
		return 0, err
	}
	k, refusal := c.s.scan(p[:n], c.emit)
	switch {
	case refusal != nil:
		c.mu.Lock()
		c.refusal = refusal
		c.inBody = c.s.inBody
		c.mu.Unlock()
		if k == 0 {
			return 0, refusal
		}
		return k, nil
	case k < n: // held: the rest may be tunnel data
		c.pending = append(c.pending[:0], p[k:n]...)
		return k, nil
	}
	return n, err
}

func (c *Conn) push(h Head) {
	c.mu.Lock()
	if c.next == len(c.heads) {
		c.heads, c.next = c.heads[:0], 0
	}
	c.heads = append(c.heads, h)
	c.mu.Unlock()
}

// Next pops the oldest checked head that the handler has not taken yet
// (the server serves one request at a time per connection, in order).
func (c *Conn) Next() (Head, bool) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.next == len(c.heads) {
		return Head{}, false
	}
	h := c.heads[c.next]
	c.heads[c.next] = Head{}
	c.next++
	return h, true
}

// GateConn returns c: a connection type that embeds *Conn (to carry more
// per-connection state) stays recognisable to the ErrorHandler Configure
// installs.
func (c *Conn) GateConn() *Conn { return c }

// Passthrough stops checking: from now on bytes flow unchecked both ways
// (after a CONNECT was allowed or a 101 was sent). Call it before reading
// the tunnel.
func (c *Conn) Passthrough() { c.through.Store(true) }

// Refusal returns the refusal found on the connection, or nil.
func (c *Conn) Refusal() *Error {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.refusal
}

// answer returns the refusal if it has not been answered yet, and marks
// it answered; OnReject is called here, once. A refusal in a body is for
// whoever answers its request (see Close), so fromServer says whether the
// server's ErrorHandler asks.
func (c *Conn) answer(fromServer bool) *Error {
	c.mu.Lock()
	r := c.refusal
	if r == nil || c.answered || c.inBody && !fromServer {
		c.mu.Unlock()
		return nil
	}
	c.answered = true
	c.mu.Unlock()
	if c.opts.OnReject != nil {
		c.opts.OnReject(c, r)
	}
	return r
}

// Close answers a refusal that the server has not answered, waits briefly
// for the client to stop sending after a refusal, and closes. A refusal in
// the body of a request whose head was handed on is not answered here:
// fasthttp reads the body before the handler runs and passes the error to
// the ErrorHandler Configure installs, which answers it; with
// StreamRequestBody the handler gets it as the body's read error (an
// *Error) and answers it itself.
func (c *Conn) Close() error {
	c.mu.Lock()
	first := !c.closed
	c.closed = true
	refused := c.refusal != nil
	c.mu.Unlock()
	if first && refused {
		if r := c.answer(false); r != nil {
			c.Conn.SetWriteDeadline(time.Now().Add(refusalWriteTime))
			c.Conn.Write(r.response())
		}
		c.linger()
	}
	return c.Conn.Close()
}

// linger half-closes and drains what the client still sends, bounded.
func (c *Conn) linger() {
	if cw, ok := c.Conn.(interface{ CloseWrite() error }); ok {
		cw.CloseWrite()
	}
	c.Conn.SetReadDeadline(time.Now().Add(lingerTime))
	io.CopyN(io.Discard, c.Conn, lingerBytes)
}
