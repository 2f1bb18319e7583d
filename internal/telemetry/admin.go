package telemetry

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"net/http/pprof"
	"net/netip"
	"sync/atomic"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/promhttp"
)

// AdminOptions configures an Admin server.
type AdminOptions struct {
	// Registry is served on /metrics; nil leaves /metrics unregistered.
	Registry *prometheus.Registry
	// Ready reports readiness and, when not ready, why; nil means always
	// ready.
	Ready func() (ready bool, reason string)
	// OpenDebug lets non-loopback clients reach the HandleLocal endpoints.
	OpenDebug bool
	// Logger receives server errors; nil discards them.
	Logger *slog.Logger
}

// Admin is the admin HTTP server: /healthz, /readyz, /metrics and /version
// for everyone, plus endpoints added with Handle and HandleLocal. It is an
// http.Handler, and can serve itself with Serve or ListenAndServe.
type Admin struct {
	mux       *http.ServeMux
	srv       *http.Server
	openDebug bool
	log       *slog.Logger
	ln        atomic.Pointer[net.Listener] // set by Start and ListenAndServe
}

var _ http.Handler = (*Admin)(nil)

// Timeouts of the admin server: generous for a human with curl, short enough
// that idle or slow clients cannot hold connections open.
const (
	adminReadHeaderTimeout = 5 * time.Second
	adminReadTimeout       = 10 * time.Second
	adminWriteTimeout      = 30 * time.Second
	adminIdleTimeout       = 2 * time.Minute
	adminMaxHeaderBytes    = 64 << 10
)

// NewAdmin builds the admin handler and its server.
func NewAdmin(opts AdminOptions) *Admin {
	log := opts.Logger
	if log == nil {
		log = slog.New(slog.NewTextHandler(io.Discard, nil))
	}
	a := &Admin{mux: http.NewServeMux(), openDebug: opts.OpenDebug, log: log}
	a.srv = &http.Server{
		Handler:           a.mux,
		ReadHeaderTimeout: adminReadHeaderTimeout,
		ReadTimeout:       adminReadTimeout,
		WriteTimeout:      adminWriteTimeout,
		IdleTimeout:       adminIdleTimeout,
		MaxHeaderBytes:    adminMaxHeaderBytes,
		ErrorLog:          slog.NewLogLogger(log.Handler(), slog.LevelWarn),
	}
	a.mux.HandleFunc("GET /healthz", func(w http.ResponseWriter, _ *http.Request) {
		writeText(w, http.StatusOK, "ok")
	})
	a.mux.HandleFunc("GET /readyz", readyHandler(opts.Ready))
	a.mux.HandleFunc("GET /version", versionHandler)
	if opts.Registry != nil {
		a.mux.Handle("GET /metrics", promhttp.HandlerFor(opts.Registry, promhttp.HandlerOpts{
			ErrorLog:      slog.NewLogLogger(log.Handler(), slog.LevelWarn),
			ErrorHandling: promhttp.ContinueOnError,
			Registry:      opts.Registry,
		}))
	}
	return a
}

func readyHandler(ready func() (bool, string)) http.HandlerFunc {
	return func(w http.ResponseWriter, _ *http.Request) {
		if ready == nil {
			writeText(w, http.StatusOK, "ready")
			return
		}
		ok, reason := ready()
		if !ok {
			if reason == "" {
				reason = "not ready"
			}
			writeText(w, http.StatusServiceUnavailable, reason)
			return
		}
		writeText(w, http.StatusOK, "ready")
	}
}

func versionHandler(w http.ResponseWriter, _ *http.Request) {
	w.Header().Set("Content-Type", "application/json")
	_ = json.NewEncoder(w).Encode(BuildInfo())
}

// writeText writes a one-line plain-text body.
func writeText(w http.ResponseWriter, status int, msg string) {
	w.Header().Set("Content-Type", "text/plain; charset=utf-8")
	w.Header().Set("X-Content-Type-Options", "nosniff")
	w.WriteHeader(status)
	_, _ = io.WriteString(w, msg+"\n")
}

// ServeHTTP serves the admin endpoints.
func (a *Admin) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	a.mux.ServeHTTP(w, r)
}

// Handle adds an endpoint that answers every client. The pattern follows
// http.ServeMux ("GET /status"); like ServeMux it panics on an invalid or
// conflicting pattern, which is a wiring mistake.
func (a *Admin) Handle(pattern string, h http.Handler) {
	a.mux.Handle(pattern, h)
}

// HandleLocal adds an endpoint that reveals configuration (/config_dump,
// /explain, /status): it answers only loopback clients (kubectl
// port-forward, kubectl exec) unless OpenDebug is set, and 403 otherwise.
func (a *Admin) HandleLocal(pattern string, h http.Handler) {
	a.mux.Handle(pattern, a.localOnly(h))
}

// HandleProfiles adds Go's profiles under /debug/pprof/ (the index and
// named profiles, and /debug/pprof/profile?seconds=N for CPU), for loopback
// clients only like HandleLocal: they reveal the process.
func (a *Admin) HandleProfiles() {
	a.HandleLocal("/debug/pprof/", http.HandlerFunc(pprof.Index))
	a.HandleLocal("/debug/pprof/profile", http.HandlerFunc(pprof.Profile))
}

// localOnly guards h so that it answers only loopback clients, unless the
// admin server was opened for debugging.
func (a *Admin) localOnly(h http.Handler) http.Handler {
	if a.openDebug {
		return h
	}
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if isLoopback(r.RemoteAddr) {
			h.ServeHTTP(w, r)
			return
		}
		a.log.Debug("admin: refused non-loopback client", "path", r.URL.Path, "client", r.RemoteAddr)
		writeText(w, http.StatusForbidden, fmt.Sprintf(
			"admin: %s answers loopback clients only (use kubectl port-forward or kubectl exec, or start with --admin-open)",
			r.URL.Path))
	})
}

// isLoopback reports whether a RemoteAddr ("ip:port") is a loopback address,
// including IPv4 loopback written as IPv4-mapped IPv6. Anything unparsable is
// not loopback.
func isLoopback(remoteAddr string) bool {
	host, _, err := net.SplitHostPort(remoteAddr)
	if err != nil {
		return false
	}
	ip, err := netip.ParseAddr(host)
	if err != nil {
		return false
	}
	return ip.Unmap().IsLoopback()
}

// Start listens on addr and serves in the background until Shutdown, so
// that a bad or busy address is reported at startup. Errors while serving
// are logged.
func (a *Admin) Start(addr string) error {
	ln, err := a.listen(addr)
	if err != nil {
		return err
	}
	go func() {
		if err := a.Serve(ln); err != nil {
			a.log.Error("admin server stopped", "addr", ln.Addr().String(), "err", err)
		}
	}()
	return nil
}

// Addr is the address the server listens on once Start or ListenAndServe
// has bound it, nil before (useful with port 0).
func (a *Admin) Addr() net.Addr {
	if ln := a.ln.Load(); ln != nil {
		return (*ln).Addr()
	}
	return nil
}

func (a *Admin) listen(addr string) (net.Listener, error) {
	ln, err := net.Listen("tcp", addr)
	if err != nil {
		return nil, fmt.Errorf("telemetry: admin listen on %q: %w", addr, err)
	}
	a.ln.Store(&ln)
	return ln, nil
}

// ListenAndServe listens on addr and serves until Shutdown; it returns nil
// after Shutdown.
func (a *Admin) ListenAndServe(addr string) error {
	ln, err := a.listen(addr)
	if err != nil {
		return err
	}
	return a.Serve(ln)
}

// Serve serves on ln until Shutdown; it returns nil after Shutdown.
func (a *Admin) Serve(ln net.Listener) error {
	err := a.srv.Serve(ln)
	if errors.Is(err, http.ErrServerClosed) {
		return nil
	}
	if err != nil {
		return fmt.Errorf("telemetry: admin serve: %w", err)
	}
	return nil
}

// Shutdown stops the server, waiting for active requests until ctx ends.
func (a *Admin) Shutdown(ctx context.Context) error {
	if err := a.srv.Shutdown(ctx); err != nil {
		return fmt.Errorf("telemetry: admin shutdown: %w", err)
	}
	return nil
}
