package capturetest

// The client: this test binary re-executed in the pod namespace as an
// unprivileged user (the app) or as the ambassador's user (to send markers
// that the capture exempts). It performs one action, described by a JSON
// value in its environment, and prints one JSON result line.

import (
	"bufio"
	"context"
	"crypto/tls"
	"crypto/x509"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"os/exec"
	"strconv"
	"strings"
	"testing"
	"time"
)

const (
	helperEnv    = "MESHLITE_CAPTURE_HELPER" // "world" or "client"
	worldEnv     = "MESHLITE_CAPTURE_WORLD"  // the world's JSON config
	actionEnv    = "MESHLITE_CAPTURE_ACTION" // the client's JSON action
	resultPrefix = "capture-result: "
	// noExitPause stops a race-enabled helper from sleeping a second at
	// exit; the tests run a helper for every client action.
	noExitPause = "GORACE=atexit_sleep_ms=0"
	// helperLifetime bounds every helper process even if the test never
	// stops it.
	helperLifetime = 5 * time.Minute
	// actionWait bounds one client action.
	actionWait = 10 * time.Second
)

// Users in the pod: the app, and the ambassador (whose traffic the capture
// exempts).
const (
	appUID   = 1000
	proxyUID = 1337
)

// action is what one client process does.
type action struct {
	Kind string // http, tls, tcp, udp, readyz
	Addr string // ip:port to dial (the packet's destination)
	Host string // http: the Host header
	// Then (http) are Host headers of further requests on the same kept-alive
	// connection, each answered in Result.Then.
	Then []string
	Path string // http, tls: the request path
	// tls: the server name; "" sends no SNI (and skips verification).
	SNI     string
	RootPEM string // tls: the certificate to trust
	// Segments writes the first flight (the ClientHello) in this many
	// TCP segments; Records re-frames it into this many TLS records.
	Segments, Records int
	// ALPNPad offers this many bytes of extra ALPN protocol names, to make
	// the ClientHello large.
	ALPNPad int
	Payload string // tcp, udp: bytes to send
	// Silent (tcp) sends nothing and does not half-close: it only reads
	// until the other end closes, like a client waiting for a server that
	// speaks first.
	Silent bool
	// readyz: poll until the status is WantStatus and the body contains
	// WantBody, or the wait ends.
	WantStatus int
	WantBody   string
	// attackAction holds the fields of the attack cases' actions.
	attackAction
}

// result is what the client saw.
type result struct {
	Err       string   `json:",omitempty"`
	Status    int      `json:",omitempty"`
	Reason    string   `json:",omitempty"` // the X-Meshlite-Reason header
	Body      string   `json:",omitempty"`
	Received  string   `json:",omitempty"` // tcp: what came back
	HelloLen  int      `json:",omitempty"` // tls: bytes of the first flight
	Handshake bool     `json:",omitempty"` // tls: the handshake completed
	Then      []result `json:",omitempty"` // http: the answers to action.Then
}

// TestCaptureHelper is the world and the client of the capture tests, not a
// test: the harness runs this test binary with only it selected.
func TestCaptureHelper(t *testing.T) {
	switch os.Getenv(helperEnv) {
	case "world":
		var cfg worldConfig
		if err := json.Unmarshal([]byte(os.Getenv(worldEnv)), &cfg); err != nil {
			fmt.Fprintln(os.Stderr, "world:", err)
			os.Exit(2)
		}
		if err := serveWorld(cfg); err != nil {
			fmt.Fprintln(os.Stderr, "world:", err)
			os.Exit(1)
		}
		os.Exit(0)
	case "client":
		var a action
		var r result
		if err := json.Unmarshal([]byte(os.Getenv(actionEnv)), &a); err != nil {
			r.Err = err.Error()
		} else {
			r = a.run()
		}
		b, _ := json.Marshal(r)
		fmt.Println(resultPrefix + string(b))
		os.Exit(0)
	default:
		t.Skip("the world and the client of the capture tests; runs only inside their namespaces")
	}
}

// runClient runs a in the pod as uid (with the same gid and no
// supplementary groups) and returns its result.
func (tp *topology) runClient(t *testing.T, bins *binaries, uid int, a action) result {
	t.Helper()
	b, _ := json.Marshal(a)
	id := strconv.Itoa(uid)
	ctx, cancel := context.WithTimeout(context.Background(), actionWait+5*time.Second)
	defer cancel()
	cmd := exec.CommandContext(ctx, "ip", "netns", "exec", tp.pod,
		"setpriv", "--reuid="+id, "--regid="+id, "--clear-groups",
		bins.test, "-test.run=^TestCaptureHelper$", "-test.count=1")
	// No proxy settings: the app ignores them anyway, and capture is what
	// is tested.
	cmd.Env = []string{"PATH=" + os.Getenv("PATH"), noExitPause, helperEnv + "=client", actionEnv + "=" + string(b)}
	cmd.Dir = bins.dir
	out, err := cmd.CombinedOutput()
	for _, line := range strings.Split(string(out), "\n") {
		if rest, ok := strings.CutPrefix(line, resultPrefix); ok {
			var r result
			if jerr := json.Unmarshal([]byte(rest), &r); jerr != nil {
				t.Fatalf("client %s: bad result %q: %v", a.Kind, rest, jerr)
			}
			return r
		}
	}
	t.Fatalf("client %s %s as %d: no result (%v): %s", a.Kind, a.Addr, uid, err, out)
	return result{}
}

func (a action) run() result {
	switch a.Kind {
	case "http":
		return a.http()
	case "tls":
		return a.tls()
	case "tcp":
		return a.tcp()
	case "udp":
		return a.udp()
	case "readyz":
		return a.readyz()
	}
	return a.attack()
}

func (a action) dial() (net.Conn, error) {
	c, err := net.DialTimeout("tcp", a.Addr, actionWait)
	if err == nil {
		c.SetDeadline(time.Now().Add(actionWait))
	}
	return c, err
}

// http sends one request with a.Host as its Host header to a.Addr, then
// one for each of a.Then on the same connection.
func (a action) http() result {
	c, err := a.dial()
	if err != nil {
		return result{Err: err.Error()}
	}
	defer c.Close()
	if len(a.Then) == 0 {
		return request(c, a.Host, a.Path)
	}
	br := bufio.NewReader(c)
	r := exchange(c, br, a.Host, a.Path, "keep-alive")
	for i, h := range a.Then {
		conn := "keep-alive"
		if i == len(a.Then)-1 {
			conn = "close"
		}
		r.Then = append(r.Then, exchange(c, br, h, a.Path, conn))
	}
	return r
}

// request sends GET path with the given Host on c and reads the answer.
func request(c net.Conn, host, path string) result {
	return exchange(c, bufio.NewReader(c), host, path, "close")
}

// exchange sends GET path with the given Host and Connection header on c
// and reads the answer from br.
func exchange(c net.Conn, br *bufio.Reader, host, path, connection string) result {
	if path == "" {
		path = "/"
	}
	if _, err := fmt.Fprintf(c, "GET %s HTTP/1.1\r\nHost: %s\r\nUser-Agent: capturetest\r\nConnection: %s\r\n\r\n", path, host, connection); err != nil {
		return result{Err: err.Error()}
	}
	resp, err := http.ReadResponse(br, nil)
	if err != nil {
		return result{Err: "reading the response: " + err.Error()}
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(resp.Body)
	r := result{Status: resp.StatusCode, Reason: resp.Header.Get("X-Meshlite-Reason"), Body: string(body)}
	if err != nil {
		r.Err = "reading the body: " + err.Error()
	}
	return r
}

// tls completes a TLS handshake with a.SNI (verifying the server against
// a.RootPEM), shaping the first flight as asked, then sends one request.
func (a action) tls() result {
	c, err := a.dial()
	if err != nil {
		return result{Err: err.Error()}
	}
	defer c.Close()
	conf := &tls.Config{ServerName: a.SNI, NextProtos: []string{"http/1.1"}, MinVersion: tls.VersionTLS12}
	if a.SNI == "" {
		conf.InsecureSkipVerify = true // no name to verify; the case is about the decision
	} else {
		conf.RootCAs = x509.NewCertPool()
		conf.RootCAs.AppendCertsFromPEM([]byte(a.RootPEM))
	}
	if a.ALPNPad > 0 {
		conf.NextProtos = append(padProtocols(a.ALPNPad), conf.NextProtos...)
	}
	shaped := &helloShaper{Conn: c, segments: a.Segments, records: a.Records}
	tc := tls.Client(shaped, conf)
	r := result{}
	err = tc.Handshake()
	r.HelloLen = shaped.helloLen
	if err != nil {
		r.Err = "handshake: " + err.Error()
		return r
	}
	r.Handshake = true
	rr := request(tc, a.SNI, a.Path)
	rr.HelloLen, rr.Handshake = r.HelloLen, true
	return rr
}

// padProtocols returns ALPN names adding up to at least n bytes (each at
// most 200), none a protocol anyone speaks.
func padProtocols(n int) []string {
	var out []string
	for i := 0; n > 0; i++ {
		l := min(n, 200)
		name := fmt.Sprintf("x-capturetest-%03d-", i)
		out = append(out, name+strings.Repeat("p", max(l-len(name), 1)))
		n -= l
	}
	return out
}

// tcp sends a.Payload, half-closes and reads what comes back (or, when
// silent, only reads).
func (a action) tcp() result {
	c, err := a.dial()
	if err != nil {
		return result{Err: err.Error()}
	}
	defer c.Close()
	if !a.Silent {
		if _, err := io.WriteString(c, a.Payload); err != nil {
			return result{Err: "write: " + err.Error()}
		}
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

// udp sends a.Payload as one datagram and reports any error the socket
// returns (the reject rule answers with ICMP, seen as "refused").
func (a action) udp() result {
	c, err := net.Dial("udp", a.Addr)
	if err != nil {
		return result{Err: err.Error()}
	}
	defer c.Close()
	if _, err := io.WriteString(c, a.Payload); err != nil {
		return result{Err: "write: " + err.Error()}
	}
	c.SetReadDeadline(time.Now().Add(300 * time.Millisecond))
	buf := make([]byte, 512)
	n, err := c.Read(buf)
	r := result{Received: string(buf[:n])}
	var ne net.Error
	if err != nil && !(errors.As(err, &ne) && ne.Timeout()) {
		r.Err = "read: " + err.Error()
	}
	return r
}

// readyz polls a.Addr's /readyz until the wanted answer or the wait ends,
// and returns the last answer.
func (a action) readyz() result {
	deadline := time.Now().Add(actionWait)
	var r result
	for {
		r = a.getReadyz()
		if r.Status == a.WantStatus && strings.Contains(r.Body, a.WantBody) || time.Now().After(deadline) {
			return r
		}
		time.Sleep(50 * time.Millisecond)
	}
}

func (a action) getReadyz() result {
	c, err := net.DialTimeout("tcp", a.Addr, time.Second)
	if err != nil {
		return result{Err: err.Error()}
	}
	defer c.Close()
	c.SetDeadline(time.Now().Add(2 * time.Second))
	return request(c, a.Addr, "/readyz")
}
