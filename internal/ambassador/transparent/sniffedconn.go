package transparent

import "net"

// sniffedConn is a connection whose first bytes were read by the door:
// they are read again first.
type sniffedConn struct {
	net.Conn
	pending []byte
}

// CloseWrite half-closes the connection, as the relay of a protocol switch
// does when the upstream stops sending.
func (c *sniffedConn) CloseWrite() error {
	if cw, ok := c.Conn.(interface{ CloseWrite() error }); ok {
		return cw.CloseWrite()
	}
	return c.Conn.Close()
}

func (c *sniffedConn) Read(p []byte) (int, error) {
	if len(c.pending) > 0 {
		n := copy(p, c.pending)
		c.pending = c.pending[n:]
		return n, nil
	}
	return c.Conn.Read(p)
}
