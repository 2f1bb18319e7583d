package transparent

import (
	"errors"
	"net"
	"net/netip"
	"syscall"
	"unsafe"

	"golang.org/x/sys/unix"
)

// ip6tSOOriginalDst is IP6T_SO_ORIGINAL_DST: SO_ORIGINAL_DST's IPv6 twin,
// read at SOL_IPV6.
const ip6tSOOriginalDst = 80

// originalDst returns the address the app connected to before the capture
// redirected the connection to the door, from the connection tracking
// entry (SO_ORIGINAL_DST for IPv4, IP6T_SO_ORIGINAL_DST for IPv6). It reads
// the socket through SyscallConn, without duplicating the descriptor.
func originalDst(c net.Conn) (netip.AddrPort, error) {
	sc, ok := c.(syscall.Conn)
	local, isTCP := c.LocalAddr().(*net.TCPAddr)
	if !ok || !isTCP {
		return netip.AddrPort{}, errors.New("not a TCP socket")
	}
	raw, err := sc.SyscallConn()
	if err != nil {
		return netip.AddrPort{}, err
	}
	var (
		dst  netip.AddrPort
		serr error
	)
	err = raw.Control(func(fd uintptr) {
		if local.AddrPort().Addr().Unmap().Is4() {
			dst, serr = originalDst4(fd)
		} else {
			dst, serr = originalDst6(fd)
		}
	})
	if err != nil {
		return netip.AddrPort{}, err
	}
	return dst, serr
}

func originalDst4(fd uintptr) (netip.AddrPort, error) {
	var sa unix.RawSockaddrInet4
	if err := getsockopt(fd, unix.SOL_IP, unix.SO_ORIGINAL_DST, unsafe.Pointer(&sa), unsafe.Sizeof(sa)); err != nil {
		return netip.AddrPort{}, err
	}
	return netip.AddrPortFrom(netip.AddrFrom4(sa.Addr), networkOrder(sa.Port)), nil
}

func originalDst6(fd uintptr) (netip.AddrPort, error) {
	var sa unix.RawSockaddrInet6
	if err := getsockopt(fd, unix.SOL_IPV6, ip6tSOOriginalDst, unsafe.Pointer(&sa), unsafe.Sizeof(sa)); err != nil {
		return netip.AddrPort{}, err
	}
	return netip.AddrPortFrom(netip.AddrFrom16(sa.Addr).Unmap(), networkOrder(sa.Port)), nil
}

func getsockopt(fd uintptr, level, opt int, val unsafe.Pointer, size uintptr) error {
	l := uint32(size)
	_, _, errno := unix.Syscall6(unix.SYS_GETSOCKOPT, fd, uintptr(level), uintptr(opt), uintptr(val), uintptr(unsafe.Pointer(&l)), 0)
	if errno != 0 {
		return errno
	}
	return nil
}

// networkOrder reads a sockaddr port, which the kernel stores big-endian.
func networkOrder(p uint16) uint16 {
	b := (*[2]byte)(unsafe.Pointer(&p))
	return uint16(b[0])<<8 | uint16(b[1])
}

// setTTL1 is the self-check dialer's Control: its probe must not travel
// past the first hop when it is not captured.
func setTTL1(network, _ string, c syscall.RawConn) error {
	var serr error
	err := c.Control(func(fd uintptr) {
		if network == "tcp6" {
			serr = unix.SetsockoptInt(int(fd), unix.IPPROTO_IPV6, unix.IPV6_UNICAST_HOPS, 1)
			return
		}
		serr = unix.SetsockoptInt(int(fd), unix.IPPROTO_IP, unix.IP_TTL, 1)
	})
	if err != nil {
		return err
	}
	return serr
}
