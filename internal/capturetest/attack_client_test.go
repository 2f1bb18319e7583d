package capturetest

// The attack cases' client actions: raw bytes (any byte, half-close or
// not), a socket from an IPv6 socket to an IPv4-mapped address, a socket
// bound to the loopback device, and a flood of connections held open.

import (
	"encoding/binary"
	"fmt"
	"io"
	"net"
	"net/netip"
	"os"
	"syscall"
	"time"

	"golang.org/x/sys/unix"
)

// attackAction is embedded in action.
type attackAction struct {
	// Raw is sent as is (raw, mapped6, bindlo); JSON carries it in base64,
	// so it may hold any byte.
	Raw []byte `json:",omitempty"`
	// HalfClose (raw, mapped6, bindlo) half-closes after sending Raw.
	HalfClose bool `json:",omitempty"`
	// Local (bindlo) is the source address to bind, "" for the kernel's.
	Local string `json:",omitempty"`
	// Count (flood) connections are dialled and held open for HoldMS.
	Count  int `json:",omitempty"`
	HoldMS int `json:",omitempty"`
}

func (a action) attack() result {
	switch a.Kind {
	case "raw":
		c, err := a.dial()
		if err != nil {
			return result{Err: err.Error()}
		}
		return a.exchangeRaw(c)
	case "mapped6":
		c, err := dialMapped6(a.Addr)
		if err != nil {
			return result{Err: "mapped6: " + err.Error()}
		}
		return a.exchangeRaw(c)
	case "bindlo":
		d := net.Dialer{Timeout: time.Second, Control: bindToLoopbackDevice}
		if a.Local != "" {
			d.LocalAddr = &net.TCPAddr{IP: net.ParseIP(a.Local)}
		}
		c, err := d.Dial("tcp", a.Addr)
		if err != nil {
			return result{Err: "bindlo: " + err.Error()}
		}
		return a.exchangeRaw(c)
	case "flood":
		return a.flood()
	}
	return result{Err: "unknown action " + a.Kind}
}

// exchangeRaw sends a.Raw on c, half-closes when asked, and reads until
// the other end closes or the action's wait ends.
func (a action) exchangeRaw(c net.Conn) result {
	defer c.Close()
	c.SetDeadline(time.Now().Add(actionWait))
	if _, err := c.Write(a.Raw); err != nil {
		return result{Err: "write: " + err.Error()}
	}
	if a.HalfClose {
		if err := c.(*net.TCPConn).CloseWrite(); err != nil {
			return result{Err: "half-close: " + err.Error()}
		}
	}
	b, err := io.ReadAll(c)
	r := result{Received: string(b)}
	if err != nil {
		r.Err = "read: " + err.Error()
	}
	return r
}

// dialMapped6 connects an AF_INET6 socket to addr, an IPv4-mapped IPv6
// address ([::ffff:a.b.c.d]:port); Go's dialer would use an IPv4 socket.
func dialMapped6(addr string) (net.Conn, error) {
	ap, err := netip.ParseAddrPort(addr)
	if err != nil {
		return nil, err
	}
	fd, err := unix.Socket(unix.AF_INET6, unix.SOCK_STREAM|unix.SOCK_CLOEXEC, 0)
	if err != nil {
		return nil, err
	}
	f := os.NewFile(uintptr(fd), "mapped6")
	defer f.Close()
	sa := &unix.SockaddrInet6{Port: int(ap.Port()), Addr: ap.Addr().As16()}
	if err := unix.Connect(fd, sa); err != nil {
		return nil, err
	}
	return net.FileConn(f)
}

// bindToLoopbackDevice binds the socket to the lo device, which Linux
// (5.7+) lets an unprivileged user do on a socket not yet bound to one.
func bindToLoopbackDevice(_, _ string, rc syscall.RawConn) error {
	var serr error
	if err := rc.Control(func(fd uintptr) {
		serr = unix.SetsockoptString(int(fd), unix.SOL_SOCKET, unix.SO_BINDTODEVICE, "lo")
	}); err != nil {
		return err
	}
	return serr
}

// flood dials a.Count connections to a.Addr, sends nothing, holds them
// for a.HoldMS and closes them; Received is how many connected.
func (a action) flood() result {
	var conns []net.Conn
	var last error
	for range a.Count {
		c, err := net.DialTimeout("tcp", a.Addr, 2*time.Second)
		if err != nil {
			last = err
			continue
		}
		conns = append(conns, c)
	}
	time.Sleep(time.Duration(a.HoldMS) * time.Millisecond)
	for _, c := range conns {
		c.Close()
	}
	r := result{Received: fmt.Sprint(len(conns))}
	if last != nil {
		r.Err = last.Error()
	}
	return r
}

// clientHello is a minimal TLS 1.2 ClientHello record carrying sni as its
// server name, byte for byte: crypto/tls's client never sends an IP
// literal, a trailing dot or a NUL.
func clientHello(sni string) []byte {
	name := []byte(sni)
	sniExt := binary.BigEndian.AppendUint16(nil, uint16(len(name)+3)) // server_name_list
	sniExt = append(sniExt, 0)                                        // host_name
	sniExt = binary.BigEndian.AppendUint16(sniExt, uint16(len(name)))
	sniExt = append(sniExt, name...)
	ext := binary.BigEndian.AppendUint16(nil, 0) // server_name
	ext = binary.BigEndian.AppendUint16(ext, uint16(len(sniExt)))
	ext = append(ext, sniExt...)

	body := []byte{0x03, 0x03}               // client_version TLS 1.2
	body = append(body, make([]byte, 32)...) // random
	body = append(body, 0)                   // session_id
	body = append(body, 0, 4, 0xc0, 0x2b, 0xc0, 0x2f)
	body = append(body, 1, 0) // compression: null
	body = binary.BigEndian.AppendUint16(body, uint16(len(ext)))
	body = append(body, ext...)

	hs := []byte{1, byte(len(body) >> 16), byte(len(body) >> 8), byte(len(body))}
	hs = append(hs, body...)
	rec := []byte{0x16, 0x03, 0x01}
	rec = binary.BigEndian.AppendUint16(rec, uint16(len(hs)))
	return append(rec, hs...)
}
