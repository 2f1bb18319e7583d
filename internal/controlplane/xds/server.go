// Package xds serves route tables to ambassadors over the Aggregated
// Discovery Service (state-of-the-world and delta), with content-derived
// versions, NACK tracking and per-stream status.
package xds

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"time"

	discoverygrpc "github.com/envoyproxy/go-control-plane/envoy/service/discovery/v3"
	serverv3 "github.com/envoyproxy/go-control-plane/pkg/server/v3"
	"github.com/prometheus/client_golang/prometheus"
	"golang.org/x/net/netutil"
	"google.golang.org/grpc"
	"google.golang.org/grpc/health"
	healthpb "google.golang.org/grpc/health/grpc_health_v1"
	"google.golang.org/grpc/keepalive"
)

// Options configure a Server. Zero values are useful.
type Options struct {
	// TypeURL is the resource type served. Required.
	TypeURL string
	// Logger receives connection, NACK and shutdown events; nil discards.
	Logger *slog.Logger
	// Registerer receives the server's metrics; nil registers nothing.
	Registerer prometheus.Registerer
	// MaxConnections caps open connections; 0 means 10000.
	MaxConnections int
	// MaxConcurrentStreams caps streams per connection; 0 means 16.
	MaxConcurrentStreams uint32
	// KeepaliveTime is how long a connection may be idle before the server
	// pings it; 0 means 30s.
	KeepaliveTime time.Duration
	// KeepaliveTimeout is how long the server waits for the ping's answer
	// before closing the connection; 0 means 10s.
	KeepaliveTimeout time.Duration
	// MinClientPing is the shortest ping interval clients may use; faster
	// clients are disconnected. 0 means 10s.
	MinClientPing time.Duration
	// StopTimeout bounds the graceful stop; 0 means 10s.
	StopTimeout time.Duration

	// CertFile and KeyFile (PEM) serve xDS over TLS 1.2 or later, re-read
	// when they change; "" serves plaintext. See auth.go for identity.
	CertFile, KeyFile string
	// ClientCAFile (PEM, re-read when it changes) verifies client
	// certificates; a verified certificate is the client's identity. They
	// are required unless Tokens are accepted too. "" asks for none.
	ClientCAFile string
	// TrustDomain, when set, is the only SPIFFE trust domain accepted in
	// client certificates; "" accepts any.
	TrustDomain string
	// Tokens accepts ServiceAccount tokens (authorization: Bearer) when
	// Tokens.Reviewer is set.
	Tokens TokenOptions
	// RequireIdentity refuses clients that prove no identity. Identity is
	// required anyway whenever ClientCAFile or Tokens.Reviewer is set.
	RequireIdentity bool
	// Insecure says identity was waived on purpose (--xds-insecure where
	// it would be required); New logs a warning.
	Insecure bool
}

// Server is the control plane's gRPC server: ADS plus the standard health
// service.
type Server struct {
	opts    Options
	log     *slog.Logger
	cache   *tableCache
	tracker *tracker
	health  *health.Server
	grpc    *grpc.Server

	streams    context.Context // ends every xDS stream when cancelled
	endStreams context.CancelFunc
}

// New builds a Server; Serve starts it.
func New(opts Options) (*Server, error) {
	if opts.TypeURL == "" {
		return nil, errors.New("xds: no type URL")
	}
	opts = withDefaults(opts)
	log := opts.Logger
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	log = log.With("component", "xds")
	reg := opts.Registerer
	if reg == nil {
		reg = prometheus.NewRegistry()
	}
	g, creds, err := newGuard(opts, log, reg)
	if err != nil {
		return nil, err
	}
	logSecurity(log, opts, g)
	s := &Server{opts: opts, log: log, cache: newTableCache(opts.TypeURL), health: health.NewServer()}
	s.tracker = newTracker(opts.TypeURL, log, newMetrics(reg), s.cache.Versions)
	s.streams, s.endStreams = context.WithCancel(context.Background())
	serverOpts := []grpc.ServerOption{
		grpc.ChainStreamInterceptor(g.intercept),
		grpc.MaxConcurrentStreams(opts.MaxConcurrentStreams),
		grpc.KeepaliveParams(keepalive.ServerParameters{Time: opts.KeepaliveTime, Timeout: opts.KeepaliveTimeout}),
		grpc.KeepaliveEnforcementPolicy(keepalive.EnforcementPolicy{MinTime: opts.MinClientPing, PermitWithoutStream: true}),
		// Thousands of mostly idle streams: small per-connection buffers
		// (gRPC returns the write buffer to a shared pool after each flush
		// by default).
		grpc.ReadBufferSize(8 << 10),
		grpc.WriteBufferSize(8 << 10),
	}
	if creds != nil {
		serverOpts = append(serverOpts, grpc.Creds(creds))
	}
	s.grpc = grpc.NewServer(serverOpts...)
	xdsServer := serverv3.NewServer(s.streams, s.cache, s.tracker)
	discoverygrpc.RegisterAggregatedDiscoveryServiceServer(s.grpc, xdsServer)
	healthpb.RegisterHealthServer(s.grpc, s.health)
	s.setServing(healthpb.HealthCheckResponse_NOT_SERVING)
	return s, nil
}

func withDefaults(o Options) Options {
	def := func(d *time.Duration, v time.Duration) {
		if *d <= 0 {
			*d = v
		}
	}
	if o.MaxConnections <= 0 {
		o.MaxConnections = 10000
	}
	if o.MaxConcurrentStreams == 0 {
		o.MaxConcurrentStreams = 16
	}
	def(&o.KeepaliveTime, 30*time.Second)
	def(&o.KeepaliveTimeout, 10*time.Second)
	def(&o.MinClientPing, 10*time.Second)
	def(&o.StopTimeout, 10*time.Second)
	return o
}

func (s *Server) setServing(st healthpb.HealthCheckResponse_ServingStatus) {
	s.health.SetServingStatus("", st)
	s.health.SetServingStatus(discoverygrpc.AggregatedDiscoveryService_ServiceDesc.ServiceName, st)
}

// Published is one resource to serve and when its content last changed.
type Published struct {
	Resource
	// Changed is when this version was loaded; the push latency of each
	// ACK is measured from it. Zero means the time of SetResources.
	Changed time.Time
}

// SetResources replaces every served resource and pushes the changes. The
// first call marks the health service SERVING.
func (s *Server) SetResources(resources []Published) error {
	now := time.Now()
	plain := make([]Resource, len(resources))
	changed := make(map[string]time.Time, len(resources))
	for i, r := range resources {
		if r.Message == nil || r.Name == "" || r.Version == "" {
			return fmt.Errorf("xds: resource %d (%q): name, version and message are required", i, r.Name)
		}
		plain[i] = r.Resource
		at := r.Changed
		if at.IsZero() {
			at = now
		}
		changed[r.Version] = at
	}
	s.tracker.published(changed)
	if err := s.cache.Set(plain); err != nil {
		return err
	}
	s.setServing(healthpb.HealthCheckResponse_SERVING)
	return nil
}

// Versions returns the version being served for every resource, by name.
func (s *Server) Versions() map[string]string { return s.cache.Versions() }

// Ambassadors lists the connected xDS streams.
func (s *Server) Ambassadors() []Ambassador { return s.tracker.Ambassadors() }

// Serve accepts connections on lis until ctx is done, then stops: health
// NOT_SERVING, every xDS stream ended (clients reconnect elsewhere), a
// graceful stop bounded by StopTimeout, then a hard stop.
func (s *Server) Serve(ctx context.Context, lis net.Listener) error {
	lis = netutil.LimitListener(lis, s.opts.MaxConnections)
	errc := make(chan error, 1)
	go func() { errc <- s.grpc.Serve(lis) }()
	s.log.Info("xds: serving", "address", lis.Addr().String())
	select {
	case err := <-errc:
		s.endStreams()
		return fmt.Errorf("xds: serve: %w", err)
	case <-ctx.Done():
	}
	s.stop()
	<-errc
	return nil
}

func (s *Server) stop() {
	s.health.Shutdown()
	s.endStreams()
	done := make(chan struct{})
	go func() {
		s.grpc.GracefulStop()
		close(done)
	}()
	select {
	case <-done:
		s.log.Info("xds: stopped")
	case <-time.After(s.opts.StopTimeout):
		s.log.Warn("xds: graceful stop timed out; closing connections", "timeout", s.opts.StopTimeout)
		s.grpc.Stop()
		<-done
	}
}
