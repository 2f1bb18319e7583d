package transparent

import (
	"context"
	"crypto/tls"
	"errors"
	"net"
	"time"
)

// maxHello bounds the bytes read while parsing a ClientHello (crypto/tls
// takes handshake messages up to 64 KiB, plus record headers).
const maxHello = 70 << 10

// errHelloRead stops the handshake once the ClientHello has been seen.
var errHelloRead = errors.New("transparent: ClientHello read")

// readClientHello parses the ClientHello at the start of c with crypto/tls
// (so a hello split over several records or segments, or one larger than
// a segment, is read whole) and returns its server name. read holds every
// byte taken from the connection, prefix included, to be sent upstream
// unchanged; nothing is written to the client. ok is false when the bytes
// are not a ClientHello that crypto/tls accepts.
func readClientHello(c net.Conn, prefix []byte, deadline time.Time) (sni string, read []byte, ok bool) {
	rc := &recordingConn{Conn: c, pending: prefix, read: append([]byte(nil), prefix...)}
	srv := tls.Server(rc, &tls.Config{
		GetConfigForClient: func(hello *tls.ClientHelloInfo) (*tls.Config, error) {
			sni, ok = hello.ServerName, true
			return nil, errHelloRead
		},
	})
	ctx, cancel := context.WithDeadline(context.Background(), deadline)
	defer cancel()
	c.SetReadDeadline(deadline)
	srv.HandshakeContext(ctx)
	return sni, rc.read, ok
}

// recordingConn hands crypto/tls the bytes already sniffed, then reads the
// connection, keeping a copy of everything; writes (the alert crypto/tls
// sends when the handshake stops) are dropped.
type recordingConn struct {
	net.Conn
	pending []byte
	read    []byte
}

func (r *recordingConn) Read(p []byte) (int, error) {
	if len(r.pending) > 0 {
		n := copy(p, r.pending)
		r.pending = r.pending[n:]
		return n, nil
	}
	if len(r.read) >= maxHello {
		return 0, errors.New("transparent: ClientHello too large")
	}
	n, err := r.Conn.Read(p[:min(len(p), maxHello-len(r.read))])
	r.read = append(r.read, p[:n]...)
	return n, err
}

func (r *recordingConn) Write(p []byte) (int, error) { return len(p), nil }

// Close is a no-op: the connection stays the door's.
func (r *recordingConn) Close() error { return nil }
