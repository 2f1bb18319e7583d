package capturetest

// The world: one helper process (this test binary re-executed inside the
// world namespace) serving the allowed upstream, the TLS server, the echo,
// the decoy and the UDP sinks. It reports what it received over HTTP on a
// unix socket in the test's temporary directory, which the test reaches
// from its own namespace.

import (
	"bytes"
	"context"
	"crypto/tls"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/meshlite/meshlite/internal/testnet"
)

// World ports. The decoy listens on every TCP port an attack aims at.
const (
	httpPort  = 80
	altPort   = 8080 // a second HTTP port of the allowed upstream
	tlsPort   = 443
	echoPort  = 9000
	udpPort   = 9999
	dnsPort   = 53
	maxRecord = 64 << 10 // bytes the decoy keeps per connection
)

var decoyTCPPorts = []int{httpPort, tlsPort, altPort, echoPort, dnsPort}

// worldConfig is what the world helper serves, passed in its environment.
type worldConfig struct {
	Allowed, Decoy, Resolver [2]string // IPv4 and IPv6 address
	Control                  string    // unix socket for the report
	CertPEM, KeyPEM          string    // the TLS server's certificate
	Lifetime                 time.Duration
}

// seenRequest is what the allowed upstream received; it answers with it.
type seenRequest struct {
	Server string // "allowed", or "tls" for requests inside TLS
	Local  string // the address that accepted the connection
	Method string
	Host   string
	Path   string
	SNI    string // the TLS server name, for requests inside TLS
}

// seenHello is one ClientHello the TLS server parsed.
type seenHello struct {
	Local     string
	SNI       string
	ALPNBytes int // total length of the offered protocol names
}

// seenConn is one TCP connection to the decoy or the echo, with every byte
// it carried (up to maxRecord).
type seenConn struct {
	Local, Remote string
	Data          []byte
}

// seenDatagram is one datagram a UDP sink received.
type seenDatagram struct {
	Local, Remote string
	Data          []byte
}

// worldReport is everything that reached the world, in arrival order.
type worldReport struct {
	Requests  []seenRequest
	HTTPConns int // connections accepted by the allowed upstream
	Hellos    []seenHello
	Echo      []seenConn
	Decoy     []seenConn
	Datagrams []seenDatagram
}

// worldHelper is the test's handle on the world process.
type worldHelper struct {
	t      *testing.T
	cfg    worldConfig
	cmd    *exec.Cmd
	stdin  io.Closer
	stderr *testnet.Buffer
	client *http.Client
}

// startWorld runs the world helper in the world namespace and waits until
// it reports; it is stopped in t.Cleanup.
func (tp *topology) startWorld(bins *binaries, certPEM, keyPEM []byte) *worldHelper {
	t := tp.t
	t.Helper()
	cfg := worldConfig{
		Allowed:  [2]string{tp.allowed.v4.String(), tp.allowed.v6.String()},
		Decoy:    [2]string{tp.decoy.v4.String(), tp.decoy.v6.String()},
		Resolver: [2]string{tp.resolver.v4.String(), tp.resolver.v6.String()},
		Control:  filepath.Join(t.TempDir(), "world.sock"),
		CertPEM:  string(certPEM), KeyPEM: string(keyPEM),
		Lifetime: helperLifetime,
	}
	w := &worldHelper{t: t, cfg: cfg, stderr: &testnet.Buffer{}}
	w.client = &http.Client{Timeout: 5 * time.Second, Transport: &http.Transport{
		Proxy: nil,
		DialContext: func(ctx context.Context, _, _ string) (net.Conn, error) {
			return (&net.Dialer{}).DialContext(ctx, "unix", cfg.Control)
		},
	}}
	b, _ := json.Marshal(cfg)
	cmd := exec.Command("ip", "netns", "exec", tp.world, bins.test, "-test.run=^TestCaptureHelper$", "-test.count=1")
	cmd.Env = []string{"PATH=" + os.Getenv("PATH"), noExitPause, helperEnv + "=world", worldEnv + "=" + string(b)}
	cmd.Stdout, cmd.Stderr = w.stderr, w.stderr
	stdin, err := cmd.StdinPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := cmd.Start(); err != nil {
		t.Fatalf("world: starting the helper: %v", err)
	}
	w.cmd, w.stdin = cmd, stdin
	t.Cleanup(w.stop)
	deadline := time.Now().Add(stateWait)
	for {
		_, err := w.fetch()
		if err == nil {
			return w
		}
		if time.Now().After(deadline) {
			t.Fatalf("world: helper not reporting within %s: %v; output: %s", stateWait, err, w.stderr)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// stop ends the helper: it exits when its stdin closes; killed if it does
// not within five seconds.
func (w *worldHelper) stop() {
	w.client.CloseIdleConnections()
	stopProcess(w.cmd, w.stdin.Close)
	if out := strings.TrimSpace(w.stderr.String()); out != "" && w.t.Failed() {
		w.t.Logf("world helper output:\n%s", out)
	}
}

// report returns everything the world has received so far.
func (w *worldHelper) report(t *testing.T) worldReport {
	t.Helper()
	r, err := w.fetch()
	if err != nil {
		t.Fatalf("world: reading the report: %v; output: %s", err, w.stderr)
	}
	return r
}

func (w *worldHelper) fetch() (worldReport, error) {
	var r worldReport
	resp, err := w.client.Get("http://world/report")
	if err != nil {
		return r, err
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		return r, fmt.Errorf("report: status %d", resp.StatusCode)
	}
	return r, json.NewDecoder(resp.Body).Decode(&r)
}

// --- the helper process, inside the world namespace ---

type world struct {
	mu  sync.Mutex
	rep worldReport
}

// serveWorld listens on every address and port of cfg, then serves until
// stdin ends or cfg.Lifetime passes.
func serveWorld(cfg worldConfig) error {
	cert, err := tls.X509KeyPair([]byte(cfg.CertPEM), []byte(cfg.KeyPEM))
	if err != nil {
		return err
	}
	w := &world{}
	var lns []net.Listener
	listen := func(addr string, port int) (net.Listener, error) {
		ln, err := net.Listen("tcp", net.JoinHostPort(addr, strconv.Itoa(port)))
		if err == nil {
			lns = append(lns, ln)
		}
		return ln, err
	}
	defer func() {
		for _, ln := range lns {
			ln.Close()
		}
	}()
	upstream := &http.Server{Handler: w.handler("allowed"), ConnState: w.connState}
	tlsServer := &http.Server{Handler: w.handler("tls")}
	tlsConf := &tls.Config{Certificates: []tls.Certificate{cert}, NextProtos: []string{"http/1.1"}, GetConfigForClient: w.hello}
	for _, addr := range cfg.Allowed {
		for _, port := range []int{httpPort, altPort} {
			ln, err := listen(addr, port)
			if err != nil {
				return err
			}
			go upstream.Serve(ln)
		}
		ln, err := listen(addr, tlsPort)
		if err != nil {
			return err
		}
		go tlsServer.Serve(tls.NewListener(ln, tlsConf))
		if ln, err = listen(addr, echoPort); err != nil {
			return err
		}
		go w.accept(ln, &w.rep.Echo, true)
	}
	for _, addr := range cfg.Decoy {
		for _, port := range decoyTCPPorts {
			ln, err := listen(addr, port)
			if err != nil {
				return err
			}
			go w.accept(ln, &w.rep.Decoy, false)
		}
	}
	sinks := []string{}
	for _, addr := range cfg.Decoy {
		sinks = append(sinks, net.JoinHostPort(addr, strconv.Itoa(udpPort)), net.JoinHostPort(addr, strconv.Itoa(dnsPort)))
	}
	for _, addr := range cfg.Resolver {
		sinks = append(sinks, net.JoinHostPort(addr, strconv.Itoa(dnsPort)))
	}
	for _, s := range sinks {
		pc, err := net.ListenPacket("udp", s)
		if err != nil {
			return err
		}
		defer pc.Close()
		go w.sink(pc)
	}
	os.Remove(cfg.Control)
	control, err := net.Listen("unix", cfg.Control)
	if err != nil {
		return err
	}
	lns = append(lns, control)
	go (&http.Server{Handler: http.HandlerFunc(w.serveReport)}).Serve(control)
	stdinDone := make(chan struct{})
	go func() { io.Copy(io.Discard, os.Stdin); close(stdinDone) }()
	select {
	case <-stdinDone:
	case <-time.After(cfg.Lifetime):
	}
	return nil
}

func (w *world) handler(server string) http.Handler {
	return http.HandlerFunc(func(rw http.ResponseWriter, r *http.Request) {
		seen := seenRequest{Server: server, Method: r.Method, Host: r.Host, Path: r.URL.Path}
		if a, ok := r.Context().Value(http.LocalAddrContextKey).(net.Addr); ok {
			seen.Local = a.String()
		}
		if r.TLS != nil {
			seen.SNI = r.TLS.ServerName
		}
		w.mu.Lock()
		w.rep.Requests = append(w.rep.Requests, seen)
		w.mu.Unlock()
		b, _ := json.Marshal(seen)
		rw.Header().Set("Content-Type", "application/json")
		rw.Write(b)
	})
}

func (w *world) connState(_ net.Conn, s http.ConnState) {
	if s == http.StateNew {
		w.mu.Lock()
		w.rep.HTTPConns++
		w.mu.Unlock()
	}
}

// hello records each ClientHello the TLS server parses.
func (w *world) hello(h *tls.ClientHelloInfo) (*tls.Config, error) {
	seen := seenHello{SNI: h.ServerName, Local: h.Conn.LocalAddr().String()}
	for _, p := range h.SupportedProtos {
		seen.ALPNBytes += len(p)
	}
	w.mu.Lock()
	w.rep.Hellos = append(w.rep.Hellos, seen)
	w.mu.Unlock()
	return nil, nil
}

// accept records every connection on ln in *list at the moment it is
// accepted, then every byte it carries; with echo it also sends the bytes
// back. The decoy (echo false) never writes.
func (w *world) accept(ln net.Listener, list *[]seenConn, echo bool) {
	for {
		c, err := ln.Accept()
		if err != nil {
			return
		}
		w.mu.Lock()
		*list = append(*list, seenConn{Local: c.LocalAddr().String(), Remote: c.RemoteAddr().String()})
		i := len(*list) - 1
		w.mu.Unlock()
		go w.record(c, list, i, echo)
	}
}

func (w *world) record(c net.Conn, list *[]seenConn, i int, echo bool) {
	defer c.Close()
	c.SetDeadline(time.Now().Add(stateWait))
	buf := make([]byte, 4096)
	for {
		n, err := c.Read(buf)
		if n > 0 {
			w.mu.Lock()
			if rec := &(*list)[i]; len(rec.Data) < maxRecord {
				rec.Data = append(rec.Data, buf[:min(n, maxRecord-len(rec.Data))]...)
			}
			w.mu.Unlock()
			if echo {
				c.Write(buf[:n])
			}
		}
		if err != nil {
			if echo && errors.Is(err, io.EOF) {
				c.(*net.TCPConn).CloseWrite()
			}
			return
		}
	}
}

// sink records every datagram that reaches pc.
func (w *world) sink(pc net.PacketConn) {
	buf := make([]byte, 64<<10)
	for {
		n, from, err := pc.ReadFrom(buf)
		if err != nil {
			return
		}
		w.mu.Lock()
		w.rep.Datagrams = append(w.rep.Datagrams, seenDatagram{Local: pc.LocalAddr().String(), Remote: from.String(), Data: bytes.Clone(buf[:n])})
		w.mu.Unlock()
	}
}

func (w *world) serveReport(rw http.ResponseWriter, _ *http.Request) {
	w.mu.Lock()
	b, err := json.Marshal(w.rep)
	w.mu.Unlock()
	if err != nil {
		http.Error(rw, err.Error(), http.StatusInternalServerError)
		return
	}
	rw.Header().Set("Content-Type", "application/json")
	rw.Write(b)
}
