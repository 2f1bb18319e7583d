package transparent

import (
	"bytes"
	"crypto/tls"
	"encoding/binary"
	"net"
	"strings"
	"testing"
	"time"
)

// clientHello records the ClientHello a crypto/tls client sends for cfg.
func clientHello(t *testing.T, cfg *tls.Config) []byte {
	t.Helper()
	client, server := pair(t)
	go tls.Client(client, cfg).Handshake()
	server.SetReadDeadline(time.Now().Add(5 * time.Second))
	var hdr [5]byte
	if _, err := ioReadFull(server, hdr[:]); err != nil {
		t.Fatal(err)
	}
	body := make([]byte, binary.BigEndian.Uint16(hdr[3:]))
	if _, err := ioReadFull(server, body); err != nil {
		t.Fatal(err)
	}
	return append(hdr[:], body...)
}

func ioReadFull(c net.Conn, b []byte) (int, error) {
	n := 0
	for n < len(b) {
		m, err := c.Read(b[n:])
		n += m
		if err != nil {
			return n, err
		}
	}
	return n, nil
}

// splitRecords re-frames one handshake record as records of at most size
// payload bytes each, as a client may.
func splitRecords(rec []byte, size int) []byte {
	var out []byte
	for body := rec[5:]; len(body) > 0; {
		n := min(size, len(body))
		out = append(out, rec[0], rec[1], rec[2], byte(n>>8), byte(n))
		out = append(out, body[:n]...)
		body = body[n:]
	}
	return out
}

func TestReadClientHello(t *testing.T) {
	var alpn []string
	for i := range 30 {
		alpn = append(alpn, strings.Repeat(string(rune('a'+i%26)), 200))
	}
	plain := clientHello(t, &tls.Config{ServerName: "api.example.com"})
	large := clientHello(t, &tls.Config{ServerName: "big.example.com", NextProtos: alpn})
	if len(large) <= 4096 {
		t.Fatalf("the large ClientHello is %d bytes, want over 4 KiB", len(large))
	}
	noSNI := clientHello(t, &tls.Config{InsecureSkipVerify: true})
	cases := []struct {
		name     string
		writes   [][]byte // written one after another, with a pause between
		sni      string
		parsedOK bool
	}{
		{"one record", [][]byte{plain}, "api.example.com", true},
		{"one byte per segment", splitBytes(plain[:40], plain[40:]), "api.example.com", true},
		{"split over several records", [][]byte{splitRecords(plain, 50)}, "api.example.com", true},
		{"over 4 KiB", [][]byte{large[:1500], large[1500:3000], large[3000:]}, "big.example.com", true},
		{"over 4 KiB in small records", [][]byte{splitRecords(large, 1000)}, "big.example.com", true},
		{"without SNI", [][]byte{noSNI}, "", true},
		{"not a ClientHello", [][]byte{[]byte("\x16\x03\x01\x00\x04abcd")}, "", false},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			client, server := pair(t)
			sent := bytes.Join(c.writes, nil)
			go func() {
				for _, w := range c.writes {
					client.Write(w)
					time.Sleep(5 * time.Millisecond)
				}
			}()
			deadline := time.Now().Add(5 * time.Second)
			k, prefix, err := sniff(server, deadline, testMaxLine)
			if err != nil || k != kindTLS {
				t.Fatalf("sniff = %v, %v", k, err)
			}
			sni, read, ok := readClientHello(server, prefix, deadline)
			if ok != c.parsedOK || sni != c.sni {
				t.Fatalf("readClientHello = %q, %v; want %q, %v", sni, ok, c.sni, c.parsedOK)
			}
			if c.parsedOK && !bytes.Equal(read, sent) {
				t.Errorf("recorded %d bytes, want exactly the %d sent", len(read), len(sent))
			}
			if !bytes.HasPrefix(sent, read) {
				t.Errorf("recorded bytes are not what the client sent")
			}
		})
	}
}

// splitBytes writes head one byte at a time, then tail at once.
func splitBytes(head, tail []byte) [][]byte {
	var out [][]byte
	for i := range head {
		out = append(out, head[i:i+1])
	}
	return append(out, tail)
}

// FuzzFirstBytes feeds arbitrary first bytes to the sniffer and the
// ClientHello parser, as a hostile app could: neither may panic or hang,
// and every byte they take from the connection is kept, in order, for the
// upstream.
func FuzzFirstBytes(f *testing.F) {
	f.Add([]byte("GET / HTTP/1.1\r\nHost: a\r\n\r\n"))
	f.Add([]byte("\x16\x03\x01\x00\x04abcd"))
	f.Add([]byte("\x16\x03\x01\xff\xff"))
	f.Add([]byte("PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n"))
	f.Add([]byte{})
	f.Fuzz(func(t *testing.T, in []byte) {
		classify(append([]byte{0}, in...), testMaxLine) // any first byte
		if len(in) > 0 {
			classify(in, testMaxLine)
		}
		client, server := net.Pipe()
		defer server.Close()
		go func() {
			client.Write(in)
			client.Close()
		}()
		deadline := time.Now().Add(2 * time.Second)
		k, prefix, err := sniff(server, deadline, testMaxLine)
		if err != nil {
			t.Fatalf("sniff: %v", err)
		}
		if !bytes.HasPrefix(in, prefix) {
			t.Fatalf("sniffed %q, not a prefix of what was sent", prefix)
		}
		if k != kindTLS {
			return
		}
		_, read, _ := readClientHello(server, prefix, deadline)
		if !bytes.HasPrefix(in, read) || len(read) < len(prefix) {
			t.Fatalf("recorded %d bytes that are not what was sent (prefix %d)", len(read), len(prefix))
		}
	})
}
