package transparent

import (
	"net"
	"strings"
	"testing"
	"time"

	"github.com/meshlite/meshlite/internal/testnet"
)

// testMaxLine is the request-line limit the tests sniff with.
const testMaxLine = 4096

func TestClassify(t *testing.T) {
	cases := []struct {
		name string
		in   string
		want kind
		done bool
	}{
		{"TLS record", "\x16\x03\x01", kindTLS, true},
		{"GET request line", "GET / HTTP/1.1\r\n", kindHTTP, true},
		{"bare LF request line", "GET /x HTTP/1.0\n", kindHTTP, true},
		{"absolute-form", "GET http://a.test/ HTTP/1.1\r\n", kindHTTP, true},
		{"incomplete method", "PO", kindHTTP, false},
		{"incomplete request line", "POST /upload?x=1", kindHTTP, false},
		{"HTTP/2 preface", "PRI * HTTP/2.0\r\n", kindOpaque, true},
		{"lower-case method", "get / HTTP/1.1\r\n", kindOpaque, true},
		{"binary", "\x00\x01\x02", kindOpaque, true},
		{"SSH banner", "SSH-2.0-OpenSSH_9.6\r\n", kindOpaque, true},
		{"method too long", "ABCDEFGHIJKLMNOPQRSTUVWXYZ / HTTP/1.1\r\n", kindOpaque, true},
		{"no version", "GET /\r\n", kindOpaque, true},
		{"redis inline", "PING\r\n", kindOpaque, true},
		{"request line at the limit", "GET /" + strings.Repeat("a", testMaxLine), kindHTTP, true},
		{"method token at the limit", strings.Repeat("A", testMaxLine), kindOpaque, true},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			k, done := classify([]byte(c.in), testMaxLine)
			if k != c.want || done != c.done {
				t.Errorf("classify(%q) = %v, %v; want %v, %v", c.in, k, done, c.want, c.done)
			}
		})
	}
}

// pair returns both ends of a loopback TCP connection.
func pair(t *testing.T) (client, server net.Conn) {
	t.Helper()
	ln := testnet.Listen(t)
	client, err := net.Dial("tcp", ln.Addr().String())
	if err != nil {
		t.Fatal(err)
	}
	server, err = ln.Accept()
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { client.Close(); server.Close() })
	return client, server
}

func TestSniffReadsARequestLineSentInPieces(t *testing.T) {
	client, server := pair(t)
	go func() {
		for _, p := range []string{"GE", "T /api", " HTTP/1.1\r", "\nHost: a.test\r\n\r\n"} {
			client.Write([]byte(p))
			time.Sleep(10 * time.Millisecond)
		}
	}()
	k, got, err := sniff(server, time.Now().Add(5*time.Second), testMaxLine)
	if err != nil || k != kindHTTP {
		t.Fatalf("sniff = %v, %v; want HTTP", k, err)
	}
	if want := "GET /api HTTP/1.1\r\n"; string(got[:len(want)]) != want {
		t.Errorf("sniffed %q, want it to start with %q", got, want)
	}
}

func TestSniffSilentClientIsOpaqueAtTheDeadline(t *testing.T) {
	_, server := pair(t)
	start := time.Now()
	k, got, err := sniff(server, start.Add(100*time.Millisecond), testMaxLine)
	if err != nil || k != kindOpaque || len(got) != 0 {
		t.Fatalf("sniff = %v, %q, %v; want opaque with nothing read", k, got, err)
	}
}

func TestSniffUnfinishedRequestLineIsOpaque(t *testing.T) {
	client, server := pair(t)
	client.Write([]byte("GET /waiting"))
	k, got, err := sniff(server, time.Now().Add(100*time.Millisecond), testMaxLine)
	if err != nil || k != kindOpaque || string(got) != "GET /waiting" {
		t.Fatalf("sniff = %v, %q, %v; want opaque keeping the bytes", k, got, err)
	}
}

func TestSniffClientThatClosesAtOnce(t *testing.T) {
	client, server := pair(t)
	client.Close()
	k, got, err := sniff(server, time.Now().Add(5*time.Second), testMaxLine)
	if err != nil || k != kindOpaque || len(got) != 0 {
		t.Fatalf("sniff = %v, %q, %v; want opaque with nothing read", k, got, err)
	}
}
