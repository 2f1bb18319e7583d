package webhook

import (
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"os"
	"sync"
	"time"
)

// Options configure a Server.
type Options struct {
	// CertFile and KeyFile are the PEM certificate and key; both required.
	// They are re-read when either file changes (a Secret volume swaps
	// them on rotation), checked at most once a second.
	CertFile, KeyFile string
	// Handler serves the requests, usually Handler(...). Required.
	Handler http.Handler
	// Logger receives certificate reloads and server errors; nil discards.
	Logger *slog.Logger
	// ShutdownGrace bounds the graceful stop; 0 means 10s.
	ShutdownGrace time.Duration
}

// Server serves the webhook over TLS 1.2 or later.
type Server struct {
	opts  Options
	log   *slog.Logger
	certs *certs
}

// New loads the certificate (failing fast when it cannot) and returns a
// Server.
func New(opts Options) (*Server, error) {
	if opts.Handler == nil {
		return nil, errors.New("webhook: no handler")
	}
	log := opts.Logger
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	if opts.ShutdownGrace <= 0 {
		opts.ShutdownGrace = 10 * time.Second
	}
	c := &certs{certFile: opts.CertFile, keyFile: opts.KeyFile, log: log, now: time.Now}
	if err := c.load(); err != nil {
		return nil, err
	}
	return &Server{opts: opts, log: log, certs: c}, nil
}

// TLSConfig is the server's TLS configuration: TLS 1.2 or later, the
// certificate re-read when its files change.
func (s *Server) TLSConfig() *tls.Config {
	return &tls.Config{MinVersion: tls.VersionTLS12, GetCertificate: s.certs.get}
}

// Serve serves HTTPS on lis until ctx is done, then shuts down gracefully.
func (s *Server) Serve(ctx context.Context, lis net.Listener) error {
	srv := &http.Server{
		Handler:           s.opts.Handler,
		TLSConfig:         s.TLSConfig(),
		ReadHeaderTimeout: 10 * time.Second,
		IdleTimeout:       90 * time.Second,
		ErrorLog:          slog.NewLogLogger(s.log.Handler(), slog.LevelWarn),
	}
	errc := make(chan error, 1)
	go func() { errc <- srv.ServeTLS(lis, "", "") }()
	s.log.Info("webhook: serving", "address", lis.Addr().String(), "paths", []string{Path, NamespacePath})
	select {
	case err := <-errc:
		return fmt.Errorf("webhook: %w", err)
	case <-ctx.Done():
	}
	sctx, cancel := context.WithTimeout(context.Background(), s.opts.ShutdownGrace)
	defer cancel()
	err := srv.Shutdown(sctx)
	if serr := <-errc; !errors.Is(serr, http.ErrServerClosed) {
		err = errors.Join(err, serr)
	}
	return err
}

// certs holds the current certificate and re-reads its files when their
// size or modification time changes. A pair that fails to load is logged
// and the previous certificate kept, so a half-written rotation never
// takes the webhook down.
type certs struct {
	certFile, keyFile string
	log               *slog.Logger
	now               func() time.Time

	mu      sync.Mutex
	cert    *tls.Certificate
	stamp   [2]stamp // of the files last loaded (or last tried)
	checked time.Time
}

type stamp struct {
	size int64
	mod  time.Time
}

func stampOf(path string) stamp {
	fi, err := os.Stat(path)
	if err != nil {
		return stamp{}
	}
	return stamp{fi.Size(), fi.ModTime()}
}

func (c *certs) load() error {
	st := [2]stamp{stampOf(c.certFile), stampOf(c.keyFile)}
	cert, err := tls.LoadX509KeyPair(c.certFile, c.keyFile)
	if err != nil {
		return fmt.Errorf("webhook: certificate %s, key %s: %w", c.certFile, c.keyFile, err)
	}
	c.cert, c.stamp = &cert, st
	return nil
}

// get is tls.Config.GetCertificate.
func (c *certs) get(*tls.ClientHelloInfo) (*tls.Certificate, error) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if now := c.now(); now.Sub(c.checked) >= time.Second {
		c.checked = now
		st := [2]stamp{stampOf(c.certFile), stampOf(c.keyFile)}
		if st != c.stamp {
			if err := c.load(); err != nil {
				c.stamp = st // try again on the next change, not on every handshake
				c.log.Error("webhook: new certificate not loaded; serving the previous one", "error", err)
			} else {
				c.log.Info("webhook: certificate reloaded", "cert", c.certFile)
			}
		}
	}
	return c.cert, nil
}
