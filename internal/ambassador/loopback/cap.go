package loopback

import (
	"errors"
	"net"
	"sync"
	"syscall"
)

// Cap caps the concurrent connections of lns together at n (0 = no cap),
// as netutil.LimitListener does for one listener: the IPv4 and IPv6
// listeners of a door share its --max-connections. Accept returns a
// connection only when a slot is free (meanwhile the connection waits,
// accepted but unserved); closing a connection frees its slot. A capped
// connection still half-closes (CloseWrite) and exposes its socket
// (SyscallConn), which a relay and the transparent door need.
func Cap(lns []net.Listener, n int) []net.Listener {
	if n <= 0 {
		return lns
	}
	slots := make(chan struct{}, n)
	out := make([]net.Listener, len(lns))
	for i, ln := range lns {
		out[i] = &cappedListener{Listener: ln, slots: slots, closed: make(chan struct{})}
	}
	return out
}

// cappedListener takes a shared slot for each accepted connection.
type cappedListener struct {
	net.Listener
	slots     chan struct{}
	closeOnce sync.Once
	closed    chan struct{}
}

func (l *cappedListener) Accept() (net.Conn, error) {
	// Accept first, then wait for a slot: a listener idle in Accept must
	// not hold a slot its twin could use (with a cap of 1 the twin would
	// serve nobody). The connection waits unserved, as in the backlog.
	c, err := l.Listener.Accept()
	if err != nil {
		return nil, err
	}
	select {
	case l.slots <- struct{}{}:
	case <-l.closed:
		c.Close()
		return nil, net.ErrClosed
	}
	return &cappedConn{Conn: c, release: sync.OnceFunc(func() { <-l.slots })}, nil
}

// Close closes the listener and ends an Accept waiting for a slot.
func (l *cappedListener) Close() error {
	err := l.Listener.Close()
	l.closeOnce.Do(func() { close(l.closed) })
	return err
}

// cappedConn frees its slot once, when closed.
type cappedConn struct {
	net.Conn
	release func()
}

func (c *cappedConn) Close() error {
	err := c.Conn.Close()
	c.release()
	return err
}

// CloseWrite half-closes a TCP connection; other connections are closed.
func (c *cappedConn) CloseWrite() error {
	if cw, ok := c.Conn.(interface{ CloseWrite() error }); ok {
		return cw.CloseWrite()
	}
	return c.Close()
}

// SyscallConn reaches the socket of a TCP connection.
func (c *cappedConn) SyscallConn() (syscall.RawConn, error) {
	if sc, ok := c.Conn.(syscall.Conn); ok {
		return sc.SyscallConn()
	}
	return nil, errors.New("loopback: not a socket connection")
}
