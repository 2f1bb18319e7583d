// Package loopback opens the ambassador's listeners on both loopback
// addresses: an app that resolves "localhost" may try ::1 before
// 127.0.0.1, and IPv6 traffic redirected by the capture arrives on ::1.
package loopback

import (
	"errors"
	"log/slog"
	"net"
	"net/netip"
	"strconv"
	"syscall"
)

// Error is a failure to listen on one address.
type Error struct {
	Addr string // the address that could not be listened on
	Err  error  // why, without the "listen tcp ADDR" prefix
}

func (e *Error) Error() string { return "cannot listen on " + e.Addr + ": " + e.Err.Error() }
func (e *Error) Unwrap() error { return e.Err }

// Listen listens on addr and, when addr's host is IPv4 loopback
// (127.0.0.0/8), on [::1] at the same port too (the port addr's listener
// got, when addr asks for port 0). It opens both or neither, with one
// exception: in a network namespace without IPv6 (binding ::1 fails with
// EADDRNOTAVAIL or EAFNOSUPPORT) it logs a warning on log and listens on
// IPv4 only, since nothing can connect over IPv6 there either. Any other
// failure, such as [::1]:port already in use, is an *Error naming the
// address.
func Listen(addr string, log *slog.Logger) ([]net.Listener, error) {
	ln, err := net.Listen("tcp", addr)
	if err != nil {
		return nil, &Error{Addr: addr, Err: reason(err)}
	}
	ap := addrPortOf(ln.Addr())
	if !ap.Addr().Is4() || !ap.Addr().IsLoopback() {
		return []net.Listener{ln}, nil
	}
	v6 := net.JoinHostPort("::1", strconv.Itoa(int(ap.Port())))
	ln6, err := net.Listen("tcp", v6)
	switch {
	case err == nil:
		return []net.Listener{ln, ln6}, nil
	case noIPv6(err):
		log.Warn("no IPv6 loopback in this network namespace: listening on IPv4 only", "addr", v6, "err", err)
		return []net.Listener{ln}, nil
	default:
		ln.Close()
		return nil, &Error{Addr: v6, Err: reason(err)}
	}
}

// noIPv6 reports whether err says the namespace has no IPv6 loopback.
func noIPv6(err error) bool {
	return errors.Is(err, syscall.EADDRNOTAVAIL) || errors.Is(err, syscall.EAFNOSUPPORT)
}

// reason strips net.OpError's "listen tcp ADDR:" prefix, which Error
// states in its own words.
func reason(err error) error {
	if oe := (*net.OpError)(nil); errors.As(err, &oe) {
		return oe.Err
	}
	return err
}

func addrPortOf(a net.Addr) netip.AddrPort {
	if tcp, ok := a.(*net.TCPAddr); ok {
		return tcp.AddrPort()
	}
	return netip.AddrPort{}
}
