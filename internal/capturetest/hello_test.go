package capturetest

// Shaping a real ClientHello on the wire: crypto/tls writes the first
// flight in one write; helloShaper re-frames that handshake message into
// several TLS records and writes it in several TCP segments, pausing
// between them, so a door that reads only the first segment or the first
// record cannot see the whole hello. The handshake still completes: a
// handshake message may span records, and the transcript covers messages,
// not records.

import (
	"encoding/binary"
	"net"
	"time"
)

// segmentPause separates the segments of the first flight: long enough
// that each leaves as its own segment, far below the door's detect
// timeout.
const segmentPause = 40 * time.Millisecond

const recordHeaderLen = 5

type helloShaper struct {
	net.Conn
	segments, records int
	helloLen          int // bytes of the first flight as crypto/tls wrote it
	done              bool
}

func (s *helloShaper) Write(p []byte) (int, error) {
	if s.done {
		return s.Conn.Write(p)
	}
	s.done = true
	s.helloLen = len(p)
	wire := p
	if s.records > 1 {
		wire = reframe(p, s.records)
	}
	parts := max(s.segments, 1)
	size := (len(wire) + parts - 1) / parts
	for off := 0; off < len(wire); off += size {
		if off > 0 {
			time.Sleep(segmentPause)
		}
		if _, err := s.Conn.Write(wire[off:min(off+size, len(wire))]); err != nil {
			return 0, err
		}
	}
	return len(p), nil
}

// reframe splits the payload of the one TLS record in p into n records of
// the same type and version; p is returned unchanged if it is not exactly
// one record.
func reframe(p []byte, n int) []byte {
	if len(p) < recordHeaderLen || int(binary.BigEndian.Uint16(p[3:5])) != len(p)-recordHeaderLen {
		return p
	}
	body := p[recordHeaderLen:]
	size := (len(body) + n - 1) / n
	var out []byte
	for off := 0; off < len(body); off += size {
		frag := body[off:min(off+size, len(body))]
		out = append(out, p[0], p[1], p[2])
		out = binary.BigEndian.AppendUint16(out, uint16(len(frag)))
		out = append(out, frag...)
	}
	return out
}
