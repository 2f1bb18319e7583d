package gate

import (
	"bufio"
	"fmt"
	"io"
	"net"
	"net/http"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/valyala/fasthttp"
	"go.uber.org/goleak"
)

// TestMain fails the package's tests if any goroutine outlives them
// (fasthttp's process-wide Date refresher aside).
func TestMain(m *testing.M) {
	goleak.VerifyTestMain(m, goleak.IgnoreAnyFunction("github.com/valyala/fasthttp.updateServerDate.func1"))
}

// testMaxHeaderBytes is the gate limit of the test servers.
const testMaxHeaderBytes = 8 << 10

// served is what the handler of a test server saw for one request.
type served struct {
	head Head
	body string
}

// gated is a real fasthttp.Server behind the gate on 127.0.0.1:0. Its
// handler answers every request with a description of the head it took
// from the gate and the body fasthttp read; CONNECT to an authority
// starting with "allow." and an Upgrade to "echo" are tunnelled to an echo.
type gated struct {
	addr string

	mu       sync.Mutex
	seen     []served
	rejected []*Error
}

func startGated(t *testing.T) *gated {
	t.Helper()
	g := &gated{}
	opts := Options{MaxHeaderBytes: testMaxHeaderBytes, OnReject: func(_ *Conn, r *Error) {
		g.mu.Lock()
		g.rejected = append(g.rejected, r)
		g.mu.Unlock()
	}}
	s := &fasthttp.Server{Handler: g.handle, Logger: quietLogger{}, ReadTimeout: 5 * time.Second,
		MaxIdleWorkerDuration: 10 * time.Millisecond} // so that its cleaner stops soon after Shutdown
	Configure(s, opts)
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	g.addr = ln.Addr().String()
	done := make(chan error, 1)
	go func() { done <- s.Serve(NewListener(ln, opts)) }()
	t.Cleanup(func() {
		s.Shutdown()
		if err := <-done; err != nil {
			t.Errorf("Serve: %v", err)
		}
	})
	return g
}

type quietLogger struct{}

func (quietLogger) Printf(string, ...any) {}

func (g *gated) handle(ctx *fasthttp.RequestCtx) {
	c := ctx.Conn().(*Conn)
	h, ok := c.Next()
	if !ok || h.Method != string(ctx.Method()) || h.Target != string(ctx.Request.Header.RequestURI()) {
		ctx.Error(fmt.Sprintf("head %+v (%v) is not the request fasthttp parsed: %s %s", h, ok, ctx.Method(), ctx.Request.Header.RequestURI()), 500)
		return
	}
	g.mu.Lock()
	g.seen = append(g.seen, served{h, string(ctx.PostBody())})
	g.mu.Unlock()
	switch {
	case h.Method == "CONNECT" && strings.HasPrefix(h.Target, "allow."):
		c.Passthrough()
		ctx.Hijack(echo)
	case h.Upgrade && string(ctx.Request.Header.Peek("Upgrade")) == "echo":
		c.Passthrough()
		ctx.SetStatusCode(http.StatusSwitchingProtocols)
		ctx.Response.Header.Set("Upgrade", "echo")
		ctx.Response.Header.Set("Connection", "Upgrade")
		ctx.Hijack(echo)
	case h.Method == "CONNECT":
		ctx.Error("not allowed", http.StatusForbidden)
	default:
		fmt.Fprintf(ctx, "%s %s host=%q %s cl=%d chunked=%v upgrade=%v body=%q",
			h.Method, h.Target, h.Host, h.Proto, h.ContentLength, h.Chunked, h.Upgrade, ctx.PostBody())
	}
}

// echo copies the tunnel back until the client closes it.
func echo(c net.Conn) { io.Copy(c, c) }

func (g *gated) served() []served {
	g.mu.Lock()
	defer g.mu.Unlock()
	return append([]served(nil), g.seen...)
}

func (g *gated) rejections() []*Error {
	g.mu.Lock()
	defer g.mu.Unlock()
	return append([]*Error(nil), g.rejected...)
}

// answer is one response read off the wire.
type answer struct {
	status int
	header http.Header
	body   string
	close  bool // Connection: close (which http.ReadResponse takes out of header)
}

// exchange writes raw to a new connection and reads n responses, then
// reports whether the server closed the connection afterwards with
// nothing more sent.
func (g *gated) exchange(t *testing.T, raw string, n int) ([]answer, bool) {
	t.Helper()
	c, err := net.Dial("tcp", g.addr)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	c.SetDeadline(time.Now().Add(10 * time.Second))
	go io.WriteString(c, raw) // may block on a large request the server refuses
	br := bufio.NewReader(c)
	var out []answer
	for i := range n {
		resp, err := http.ReadResponse(br, nil)
		if err != nil {
			t.Fatalf("reading answer %d to %.80q: %v", i+1, raw, err)
		}
		b, err := io.ReadAll(resp.Body)
		resp.Body.Close()
		if err != nil {
			t.Fatalf("reading answer %d body: %v", i+1, err)
		}
		out = append(out, answer{resp.StatusCode, resp.Header, string(b), resp.Close})
	}
	c.SetReadDeadline(time.Now().Add(2 * time.Second))
	rest, err := io.ReadAll(br)
	closed := err == nil && len(rest) == 0
	if len(rest) > 0 {
		t.Errorf("more after %d answers: %q", n, rest)
	}
	return out, closed
}
