//go:build !linux

package transparent

import (
	"errors"
	"net"
	"net/netip"
	"syscall"
)

var errNotLinux = errors.New("the transparent door needs Linux (SO_ORIGINAL_DST)")

func originalDst(net.Conn) (netip.AddrPort, error) { return netip.AddrPort{}, errNotLinux }

func setTTL1(string, string, syscall.RawConn) error { return nil }
