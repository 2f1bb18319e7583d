package upstream

import (
	"crypto/tls"
	"net"
	"syscall"
)

// unsolicited reports whether a pooled connection has bytes waiting, or
// was closed by the upstream, before a request was sent on it: a peek that
// does not wait (for TLS, at the bytes under it). net/http's client reads
// idle connections in the background for the same reason.
func unsolicited(c net.Conn) bool {
	if t, ok := c.(*tls.Conn); ok {
		c = t.NetConn()
	}
	sc, ok := c.(syscall.Conn)
	if !ok {
		return false
	}
	rc, err := sc.SyscallConn()
	if err != nil {
		return false
	}
	var buf [1]byte
	dirty := false
	rc.Read(func(fd uintptr) bool {
		n, _, err := syscall.Recvfrom(int(fd), buf[:], syscall.MSG_PEEK|syscall.MSG_DONTWAIT)
		dirty = n > 0 || (n == 0 && err == nil)
		return true
	})
	return dirty
}
