// Package harness measures each contender in turn against one upstream.
package harness

import (
	"context"
	"errors"
	"fmt"
	"net"
	"net/http"
	"strconv"
	"time"

	"github.com/meshlite/meshlite/bench/internal/contender"
)

// BodyBytes is the size of the upstream's answer.
const BodyBytes = 1024

// Upstream is the origin server every contender forwards to: it answers
// GET /data with BodyBytes bytes and anything else with 404.
type Upstream struct {
	Addr string // 127.0.0.1:port
	srv  *http.Server
	done chan error
}

// StartUpstream listens on a free loopback port and serves in the background.
func StartUpstream() (*Upstream, error) {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return nil, fmt.Errorf("upstream: %w", err)
	}
	body := make([]byte, BodyBytes)
	for i := range body {
		body[i] = 'a' + byte(i%26)
	}
	mux := http.NewServeMux()
	mux.HandleFunc("GET "+contender.UpstreamPath, func(w http.ResponseWriter, _ *http.Request) {
		w.Header().Set("Content-Type", "application/octet-stream")
		w.Header().Set("Content-Length", strconv.Itoa(len(body)))
		_, _ = w.Write(body)
	})
	u := &Upstream{
		Addr: l.Addr().String(),
		srv:  &http.Server{Handler: mux, ReadHeaderTimeout: 10 * time.Second, IdleTimeout: 5 * time.Minute},
		done: make(chan error, 1),
	}
	go func() { u.done <- u.srv.Serve(l) }()
	return u, nil
}

// ServeOn also serves the upstream on addr (host:port; port 0 = any free
// one) until the returned listener is closed or the upstream stops: the
// same server, for a contender whose proxy cannot reach loopback.
func (u *Upstream) ServeOn(addr string) (net.Listener, error) {
	l, err := net.Listen("tcp", addr)
	if err != nil {
		return nil, fmt.Errorf("upstream: %w", err)
	}
	go func() { _ = u.srv.Serve(l) }()
	return l, nil
}

// Close stops the server, waiting at most 5 s for open requests.
func (u *Upstream) Close() error {
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	err := u.srv.Shutdown(ctx)
	if serveErr := <-u.done; !errors.Is(serveErr, http.ErrServerClosed) {
		return fmt.Errorf("upstream: %w", serveErr)
	}
	if err != nil {
		return fmt.Errorf("upstream: shutdown: %w", err)
	}
	return nil
}
