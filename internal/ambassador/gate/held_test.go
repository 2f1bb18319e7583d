package gate

import (
	"bufio"
	"io"
	"net"
	"net/http"
	"testing"
	"time"
)

func TestTunnelBytesAreNotCheckedAfterPassthrough(t *testing.T) {
	g := startGated(t)
	tunnel := "\x16\x03\x01\x00\r\n\nGET / HTTP/1.0\n\n\x00\xff" // anything at all
	tests := []struct {
		name, head string
		status     int
	}{
		{"allowed CONNECT", "CONNECT allow.example:443 HTTP/1.1\r\nHost: allow.example:443\r\n\r\n", 200},
		{"Upgrade answered with 101", "GET /ws HTTP/1.1\r\nHost: a\r\nUpgrade: echo\r\nConnection: Upgrade\r\n\r\n", 101},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			c, err := net.Dial("tcp", g.addr)
			if err != nil {
				t.Fatal(err)
			}
			defer c.Close()
			c.SetDeadline(time.Now().Add(10 * time.Second))
			// the tunnel bytes follow the head in the same write
			if _, err := io.WriteString(c, tc.head+tunnel); err != nil {
				t.Fatal(err)
			}
			br := bufio.NewReader(c)
			resp, err := http.ReadResponse(br, &http.Request{Method: "CONNECT"})
			if err != nil || resp.StatusCode != tc.status {
				t.Fatalf("answer %v %v, want %d", resp, err, tc.status)
			}
			got := make([]byte, len(tunnel))
			if _, err := io.ReadFull(br, got); err != nil || string(got) != tunnel {
				t.Fatalf("echo %q (%v), want %q", got, err, tunnel)
			}
		})
	}
}

func TestHeldConnectionClosesWithoutPassthrough(t *testing.T) {
	g := startGated(t)
	next := "GET /next HTTP/1.1\r\nHost: a\r\n\r\n"
	tests := []struct {
		name, head string
		status     int
	}{
		{"denied CONNECT", "CONNECT deny.example:443 HTTP/1.1\r\nHost: deny.example:443\r\n\r\n", 403},
		{"Upgrade not honoured", "GET /u HTTP/1.1\r\nHost: a\r\nUpgrade: h2c\r\nConnection: Upgrade\r\n\r\n", 200},
		{"Upgrade with a body, not honoured", "POST /u HTTP/1.1\r\nHost: a\r\nUpgrade: x\r\nContent-Length: 3\r\n\r\nabc", 200},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			before := len(g.served())
			answers, closed := g.exchange(t, tc.head+next, 1)
			if answers[0].status != tc.status {
				t.Fatalf("answer %d %q, want %d", answers[0].status, answers[0].body, tc.status)
			}
			if !closed {
				t.Errorf("connection still open after a held request")
			}
			if seen := g.served()[before:]; len(seen) != 1 {
				t.Errorf("handler saw %+v, want only the held request", seen)
			}
		})
	}
}
