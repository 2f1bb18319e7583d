package proxy

import (
	"bufio"
	"crypto/rand"
	"encoding/hex"
	"io"
	"net"
	"net/http"
	"strconv"
	"sync/atomic"
	"time"
)

// recorder remembers the status and counts the bytes of an answer.
type recorder struct {
	http.ResponseWriter
	status int
	bytes  int64
	reason string
	wrote  bool

	// register tracks an upgraded connection for shutdown and idleTimeout
	// closes it when idle; both set by serve.
	register    func(net.Conn) (done func())
	idleTimeout time.Duration
	unregister  func()
	upgraded    *countingConn
}

func (r *recorder) WriteHeader(code int) {
	if r.wrote {
		return
	}
	if code >= 200 || code == http.StatusSwitchingProtocols {
		r.status, r.wrote = code, true
	}
	r.ResponseWriter.WriteHeader(code)
}

func (r *recorder) Write(b []byte) (int, error) {
	if !r.wrote {
		r.WriteHeader(http.StatusOK)
	}
	n, err := r.ResponseWriter.Write(b)
	r.bytes += int64(n)
	return n, err
}

func (r *recorder) Flush() {
	if !r.wrote {
		r.WriteHeader(http.StatusOK)
	}
	if f, ok := r.ResponseWriter.(http.Flusher); ok {
		f.Flush()
	}
}

// Hijack hands the connection over for a protocol upgrade (101): the
// status is recorded, bytes written to the client are counted, the
// connection is closed once no byte has moved either way for the idle
// timeout, and it is registered so shutdown can close it.
func (r *recorder) Hijack() (net.Conn, *bufio.ReadWriter, error) {
	c, rw, err := http.NewResponseController(r.ResponseWriter).Hijack()
	if err != nil {
		return nil, nil, err
	}
	r.status, r.wrote = http.StatusSwitchingProtocols, true
	if r.idleTimeout <= 0 {
		r.idleTimeout = defaultTunnelIdleTimeout
	}
	cc := &countingConn{Conn: c, clock: newIdleClock(r.idleTimeout, func() { c.Close() })}
	r.upgraded = cc
	if r.register != nil {
		r.unregister = r.register(cc)
	}
	return cc, bufio.NewReadWriter(rw.Reader, bufio.NewWriter(cc)), nil
}

// endUpgrade ends the bookkeeping of an upgraded connection once it has
// closed: its bytes are counted, its idle clock stopped (the reason says so
// when the clock closed it) and its shutdown registration removed.
func (r *recorder) endUpgrade() {
	if r.upgraded == nil {
		return
	}
	r.bytes += r.upgraded.written.Load()
	if r.upgraded.clock.stop() {
		r.reason = r.upgraded.clock.reason()
	}
	if r.unregister != nil {
		r.unregister()
	}
}

// countingConn is an upgraded client connection: it counts the bytes
// written to the client and marks its idle clock both ways.
type countingConn struct {
	net.Conn
	written atomic.Int64
	clock   *idleClock
}

func (c *countingConn) Read(p []byte) (int, error) {
	n, err := c.Conn.Read(p)
	if n > 0 {
		c.clock.mark()
	}
	return n, err
}

func (c *countingConn) Write(p []byte) (int, error) {
	n, err := c.Conn.Write(p)
	c.written.Add(int64(n))
	if n > 0 {
		c.clock.mark()
	}
	return n, err
}

// Unwrap lets http.ResponseController reach the connection.
func (r *recorder) Unwrap() http.ResponseWriter { return r.ResponseWriter }

// code is the status logged: what was sent, 499 for a vanished client.
func (r *recorder) code() int {
	if r.status == 0 {
		return http.StatusOK
	}
	return r.status
}

// countingBody counts the request body bytes read.
type countingBody struct {
	io.ReadCloser
	n int64
}

func (b *countingBody) Read(p []byte) (int, error) {
	n, err := b.ReadCloser.Read(p)
	b.n += int64(n)
	if err != nil && err != io.EOF {
		err = &clientBodyError{err: err}
	}
	return n, err
}

// clientBodyError is a failure to read the client's request body: a
// malformed chunked encoding, a short body, a vanished client.
type clientBodyError struct{ err error }

func (e *clientBodyError) Error() string { return "reading the request body: " + e.err.Error() }
func (e *clientBodyError) Unwrap() error { return e.err }

// idSource makes request ids: a random per-process prefix and a counter.
type idSource struct {
	prefix string
	n      atomic.Uint64
}

func (s *idSource) init() {
	var b [6]byte
	rand.Read(b[:])
	s.prefix = hex.EncodeToString(b[:]) + "-"
}

func (s *idSource) next() string {
	var buf [32]byte
	out := append(buf[:0], s.prefix...)
	return string(strconv.AppendUint(out, s.n.Add(1), 10))
}
