package gate

import (
	"testing"
)

// scanAll runs the scanner over in, one byte per read when byByte (the
// bytes handed on must not depend on how the stream was cut), and returns
// the heads emitted, how many bytes were handed on, and the refusal.
func scanAll(in string, byByte bool) ([]Head, int, *Error) {
	s := scanner{max: 4096}
	var heads []Head
	emit := func(h Head) { heads = append(heads, h) }
	if !byByte {
		n, err := s.scan([]byte(in), emit)
		return heads, n, err
	}
	total := 0
	for i := 0; i < len(in); i++ {
		n, err := s.scan([]byte{in[i]}, emit)
		total += n
		if err != nil || n == 0 {
			return heads, total, err
		}
	}
	return heads, total, nil
}

// TestRedTeamGateHoldsAndFrames: cases where the gate's view of where a
// request ends, or whether it holds, could differ from the server's.
func TestRedTeamGateHoldsAndFrames(t *testing.T) {
	smuggled := "GET /smuggled HTTP/1.1\r\nHost: a\r\n\r\n"
	tests := []struct {
		name    string
		in      string
		heads   int  // heads emitted
		passAll bool // every byte handed on
	}{
		// an Upgrade field in a trailer section asks for nothing: the next
		// request is checked as usual
		{"upgrade in a trailer does not hold", "POST / HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: chunked\r\n\r\n0\r\nUpgrade: x\r\n\r\n" + smuggled, 2, true},
		// a CONNECT with a body holds after the body, not after the head
		{"CONNECT with a body holds after it", "CONNECT a:443 HTTP/1.1\r\nHost: a:443\r\nContent-Length: 5\r\n\r\nabcde" + smuggled, 1, false},
		// an upgrade request's chunked body is framed, then the gate holds
		{"upgrade with a chunked body", "POST / HTTP/1.1\r\nHost: a\r\nUpgrade: x\r\nTransfer-Encoding: chunked\r\n\r\n3\r\nabc\r\n0\r\n\r\n" + smuggled, 1, false},
		// lower-case and odd-case framing names are framing names
		{"lower-case content-length", "POST / HTTP/1.1\r\nhost: a\r\ncontent-length: 3\r\n\r\nabc" + smuggled, 2, true},
		{"mixed-case chunked", "POST / HTTP/1.1\r\nHost: a\r\nTRANSFER-ENCODING: ChUnKeD\r\n\r\n3\r\nabc\r\n0\r\n\r\n" + smuggled, 2, true},
		// a zero-length chunk with an extension is still the last chunk
		{"last chunk with an extension", "POST / HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: chunked\r\n\r\n0;x=y\r\n\r\n" + smuggled, 2, true},
		// 000 is the last chunk too
		{"last chunk as 000", "POST / HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: chunked\r\n\r\n000\r\n\r\n" + smuggled, 2, true},
		// a body that is itself a request is body
		{"request inside a body", "POST / HTTP/1.1\r\nHost: a\r\nContent-Length: 35\r\n\r\n" + smuggled, 1, true},
	}
	if len("GET /smuggled HTTP/1.1\r\nHost: a\r\n\r\n") != 35 {
		t.Fatal("fix the Content-Length of the body case")
	}
	for _, tc := range tests {
		for _, byByte := range []bool{false, true} {
			heads, n, err := scanAll(tc.in, byByte)
			if err != nil {
				t.Errorf("%s (byte by byte %v): refused: %v", tc.name, byByte, err)
				continue
			}
			if len(heads) != tc.heads {
				t.Errorf("%s (byte by byte %v): %d heads %+v, want %d", tc.name, byByte, len(heads), heads, tc.heads)
			}
			if all := n == len(tc.in); all != tc.passAll {
				t.Errorf("%s (byte by byte %v): handed on %d of %d bytes", tc.name, byByte, n, len(tc.in))
			}
		}
	}
}

// TestRedTeamGateRefusesFramingTricks: framing spellings that some parser
// on the path could read differently are refused, whatever the reads.
func TestRedTeamGateRefusesFramingTricks(t *testing.T) {
	for _, in := range []string{
		"POST / HTTP/1.1\r\nHost: a\r\nContent-Length: 3\r\nContent-Length: 3\r\n\r\nabc",
		"POST / HTTP/1.1\r\nHost: a\r\nContent-Length:\r\n\r\n",
		"POST / HTTP/1.1\r\nHost: a\r\nContent-Length: 3 3\r\n\r\nabc",
		"POST / HTTP/1.1\r\nHost: a\r\nContent-Length: 0x3\r\n\r\nabc",
		"POST / HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: chunked\r\nTransfer-Encoding: chunked\r\n\r\n0\r\n\r\n",
		"POST / HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: \"chunked\"\r\n\r\n0\r\n\r\n",
		"POST / HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: chunked\r\n\r\n-0\r\n\r\n",
		"POST / HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: chunked\r\n\r\n0x3\r\nabc\r\n0\r\n\r\n",
		"POST / HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: chunked\r\n\r\n3 \r\nabc\r\n0\r\n\r\n",
		"POST / HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: chunked\r\n\r\n3\r\nabcd\r\n0\r\n\r\n",
		"POST / HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: chunked\r\n\r\n0\r\nContent-Length: 5\r\n\r\n",
		"POST / HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: chunked\r\n\r\n0\r\nHost: b\r\n\r\n",
		"POST / HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: chunked\r\n\r\n0\r\n X: folded\r\n\r\n",
		"POST / HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: chunked\r\n\r\n0\n\n",
		"POST / HTTP/1.0\r\nHost: a\r\nTransfer-Encoding: chunked\r\n\r\n0\r\n\r\n",
		"GET / HTTP/1.1\r\nHost: a\r\nHost: a\r\n\r\n",
		"GET / HTTP/1.1\r\nHost: a, b\r\n\r\n",
		"GET / HTTP/1.1\r\nHost: a b\r\n\r\n",
		"GET / HTTP/1.1\r\nHost: a@b\r\n\r\n",
		"GET http://a@b/ HTTP/1.1\r\nHost: b\r\n\r\n\x00",
		"GET  / HTTP/1.1\r\nHost: a\r\n\r\n",
		"GET / HTTP/1.1 \r\nHost: a\r\n\r\n",
		"GET /\t HTTP/1.1\r\nHost: a\r\n\r\n",
		"GET / HTTP/1.1\r\n\tHost: a\r\n\r\n",
		"CONNECT a:443@b:443 HTTP/1.1\r\nHost: a:443\r\n\r\n",
		"CONNECT /a HTTP/1.1\r\nHost: a:443\r\n\r\n",
	} {
		for _, byByte := range []bool{false, true} {
			heads, _, err := scanAll(in, byByte)
			if err == nil {
				// (the absolute-form with userinfo is the pipeline's to compare
				// with Host; its trailing NUL is refused as the next request's
				// first byte)
				t.Errorf("not refused (byte by byte %v): %q (heads %+v)", byByte, in, heads)
			}
		}
	}
}
