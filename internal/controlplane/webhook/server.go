package webhook

import (
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"time"

	"github.com/meshlite/meshlite/internal/reload"
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
	opts Options
	log  *slog.Logger
	cert *reload.KeyPair
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
	// A pair that fails to load on rotation is logged and the previous one
	// kept, so a half-written rotation never takes the webhook down.
	cert, err := reload.NewKeyPair("webhook certificate", opts.CertFile, opts.KeyFile, log)
	if err != nil {
		return nil, err
	}
	return &Server{opts: opts, log: log, cert: cert}, nil
}

// TLSConfig is the server's TLS configuration: TLS 1.2 or later, the
// certificate re-read when its files change.
func (s *Server) TLSConfig() *tls.Config {
	return &tls.Config{MinVersion: tls.VersionTLS12, GetCertificate: s.cert.GetCertificate}
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
