package transparent

import (
	"bytes"
	"errors"
	"net"
	"os"
	"time"
)

// kind is what the first bytes of a connection look like.
type kind uint8

const (
	kindOpaque kind = iota // anything else, or a silent client
	kindHTTP               // an HTTP/1.x request line
	kindTLS                // a TLS handshake record
)

// sniff reads the first bytes of c until it can tell what they are, or
// until deadline. It returns what it read: those bytes belong to the
// stream and are replayed to whoever handles it. A silent client (nothing
// before the deadline, or an immediate end of stream) is opaque. maxLine
// bounds the request line read: a longer one that starts like HTTP is
// HTTP (the HTTP server then refuses it as too long).
func sniff(c net.Conn, deadline time.Time, maxLine int) (kind, []byte, error) {
	if err := c.SetReadDeadline(deadline); err != nil {
		return kindOpaque, nil, err
	}
	buf := make([]byte, 0, 1024)
	for {
		if len(buf) > 0 {
			if k, done := classify(buf, maxLine); done {
				return k, buf, nil
			}
		}
		if len(buf) == cap(buf) {
			buf = append(buf, 0)[:len(buf)]
		}
		n, err := c.Read(buf[len(buf):cap(buf)])
		buf = buf[:len(buf)+n]
		if err != nil {
			if errors.Is(err, os.ErrDeadlineExceeded) || n == 0 {
				// silent, or ended before saying what it is
				if len(buf) == 0 {
					return kindOpaque, buf, nil
				}
				k, _ := classify(buf, maxLine)
				if k == kindHTTP && !bytes.Contains(buf, []byte("\n")) {
					k = kindOpaque
				}
				return k, buf, nil
			}
		}
	}
}

// classify looks at the bytes read so far. done is false while more bytes
// could change the answer.
func classify(b []byte, maxLine int) (k kind, done bool) {
	if b[0] == 0x16 { // TLS handshake record
		return kindTLS, true
	}
	if !isMethodByte(b[0]) {
		return kindOpaque, true
	}
	line, complete := b, false
	if i := bytes.IndexByte(b, '\n'); i >= 0 {
		line, complete = b[:i], true
	}
	if !complete {
		if !plausibleRequestLinePrefix(b) {
			return kindOpaque, true
		}
		return kindHTTP, len(b) >= maxLine // past the limit: the server answers 431
	}
	if isRequestLine(bytes.TrimSuffix(line, []byte("\r"))) {
		return kindHTTP, true
	}
	return kindOpaque, true
}

// isRequestLine reports whether line is "METHOD SP target SP HTTP/1.x".
func isRequestLine(line []byte) bool {
	method, rest, ok := bytes.Cut(line, []byte(" "))
	if !ok || len(method) == 0 || len(method) > 20 {
		return false
	}
	for _, c := range method {
		if !isMethodByte(c) {
			return false
		}
	}
	i := bytes.LastIndexByte(rest, ' ')
	if i <= 0 {
		return false
	}
	v := rest[i+1:]
	return bytes.Equal(v, []byte("HTTP/1.1")) || bytes.Equal(v, []byte("HTTP/1.0"))
}

// plausibleRequestLinePrefix reports whether an incomplete first line can
// still become a request line: a method token, then a space, so far.
func plausibleRequestLinePrefix(b []byte) bool {
	for i, c := range b {
		if c == ' ' {
			return i > 0 && i <= 20
		}
		if !isMethodByte(c) || i >= 20 {
			return false
		}
	}
	return true
}

func isMethodByte(c byte) bool { return c >= 'A' && c <= 'Z' || c == '-' || c == '_' }
