package xds

import (
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"log/slog"
	"maps"
	"slices"
	"strings"
	"sync"

	discovery "github.com/envoyproxy/go-control-plane/envoy/service/discovery/v3"
	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/promauto"
	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/credentials"
	"google.golang.org/grpc/metadata"
	"google.golang.org/grpc/peer"
	"google.golang.org/grpc/status"

	"github.com/meshlite/meshlite/internal/reload"
)

// adsService prefixes the ADS methods, the only ones the guard checks (the
// health service stays open to probes).
var adsService = "/" + discovery.AggregatedDiscoveryService_ServiceDesc.ServiceName + "/"

// guard authenticates every ADS stream when it opens and authorises every
// request on it; it is the gRPC boundary where refusals become status
// codes.
type guard struct {
	log         *slog.Logger
	metrics     *authMetrics
	certs       bool       // client certificates are verified
	trustDomain string     // "" accepts any SPIFFE trust domain
	tokens      *tokenAuth // nil: bearer tokens are not accepted
	required    bool       // a client must prove an identity
}

type authMetrics struct {
	denied  *prometheus.CounterVec
	reviews *prometheus.CounterVec
}

// Results of a token's authentication, the label values of
// meshlite_controlplane_xds_token_reviews_total.
const (
	reviewCached  = "cached"
	reviewAllowed = "authenticated"
	reviewRefused = "refused"
	reviewError   = "error"
)

func newAuthMetrics(reg prometheus.Registerer) *authMetrics {
	f := promauto.With(reg)
	m := &authMetrics{
		denied: f.NewCounterVec(prometheus.CounterOpts{
			Name: "meshlite_controlplane_xds_denied_total",
			Help: "xDS streams refused, by reason (unauthenticated, bad_credential, review_failed, wildcard, namespace, workload, node_metadata).",
		}, []string{"reason"}),
		reviews: f.NewCounterVec(prometheus.CounterOpts{
			Name: "meshlite_controlplane_xds_token_reviews_total",
			Help: "Bearer tokens checked, by result: cached (answered from the cache), authenticated, refused, error (no review could be made).",
		}, []string{"result"}),
	}
	for _, r := range denyReasons {
		m.denied.WithLabelValues(r)
	}
	for _, r := range []string{reviewCached, reviewAllowed, reviewRefused, reviewError} {
		m.reviews.WithLabelValues(r)
	}
	return m
}

// newGuard returns the guard opts ask for and the transport credentials
// (nil for plaintext).
func newGuard(opts Options, log *slog.Logger, reg prometheus.Registerer) (*guard, credentials.TransportCredentials, error) {
	if err := checkAuthOptions(opts); err != nil {
		return nil, nil, err
	}
	g := &guard{
		log: log, metrics: newAuthMetrics(reg), certs: opts.ClientCAFile != "", trustDomain: opts.TrustDomain,
		required: opts.RequireIdentity || opts.ClientCAFile != "" || opts.Tokens.Reviewer != nil,
	}
	if opts.Tokens.Reviewer != nil {
		g.tokens = newTokenAuth(opts.Tokens)
	}
	if opts.CertFile == "" {
		return g, nil, nil
	}
	cfg, err := serverTLS(opts, log)
	if err != nil {
		return nil, nil, err
	}
	return g, credentials.NewTLS(cfg), nil
}

func checkAuthOptions(opts Options) error {
	var errs []error
	if (opts.CertFile == "") != (opts.KeyFile == "") {
		errs = append(errs, errors.New("xds: the TLS certificate and key go together"))
	}
	if opts.CertFile == "" && (opts.ClientCAFile != "" || opts.Tokens.Reviewer != nil) {
		errs = append(errs, errors.New("xds: client certificates and tokens need TLS: give the server a certificate and key"))
	}
	if opts.RequireIdentity && opts.ClientCAFile == "" && opts.Tokens.Reviewer == nil {
		errs = append(errs, errors.New("xds: identity is required but neither client certificates nor tokens are accepted"))
	}
	return errors.Join(errs...)
}

// serverTLS is TLS 1.2 or later with the certificate re-read when its files
// change and, with a client CA, client certificates verified against the
// CA bundle as it is at each handshake: required when they are the only
// credential, optional when tokens are accepted too.
func serverTLS(opts Options, log *slog.Logger) (*tls.Config, error) {
	kp, err := reload.NewKeyPair("xds certificate", opts.CertFile, opts.KeyFile, log)
	if err != nil {
		return nil, fmt.Errorf("xds: %w", err)
	}
	cfg := &tls.Config{MinVersion: tls.VersionTLS12, GetCertificate: kp.GetCertificate}
	if opts.ClientCAFile == "" {
		return cfg, nil
	}
	pool, err := reload.NewCertPool("xds client CA", opts.ClientCAFile, log)
	if err != nil {
		return nil, fmt.Errorf("xds: %w", err)
	}
	mode := tls.RequireAndVerifyClientCert
	if opts.Tokens.Reviewer != nil {
		mode = tls.VerifyClientCertIfGiven
	}
	cfg.GetConfigForClient = func(*tls.ClientHelloInfo) (*tls.Config, error) {
		return &tls.Config{
			MinVersion: tls.VersionTLS12, GetCertificate: kp.GetCertificate,
			ClientAuth: mode, ClientCAs: pool.Pool(),
		}, nil
	}
	return cfg, nil
}

// describe is the guard's configuration for the start-up log line.
func (g *guard) describe() []any {
	return []any{"client_certificates", g.certs, "tokens", g.tokens != nil, "identity_required", g.required}
}

// refusal is a refused stream: the decision and who asked.
type refusal struct {
	Decision
	who string // the identity, or "anonymous client"
}

// Error is the message the client receives.
func (r *refusal) Error() string { return "xds: refused: " + r.Detail }

// grpcStatus converts a refusal to its gRPC status: a missing or bad
// credential is Unauthenticated, a review that could not be made
// Unavailable (the client retries), everything else PermissionDenied.
func grpcStatus(r *refusal) error {
	code := codes.PermissionDenied
	switch r.Reason {
	case ReasonUnauthenticated, ReasonBadCredential:
		code = codes.Unauthenticated
	case ReasonReviewFailed:
		code = codes.Unavailable
	}
	return status.Error(code, r.Error())
}

// refuse logs and counts a refusal and returns its status.
func (g *guard) refuse(ctx context.Context, r *refusal, node string, asked []string) error {
	g.metrics.denied.WithLabelValues(r.Reason).Inc()
	addr := ""
	if p, ok := peer.FromContext(ctx); ok && p.Addr != nil {
		addr = p.Addr.String()
	}
	g.log.Warn("xds: request refused", "reason", r.Reason, "identity", r.who, "node", node,
		"address", addr, "asked", asked, "detail", r.Detail)
	return grpcStatus(r)
}

// intercept is the stream interceptor.
func (g *guard) intercept(srv any, ss grpc.ServerStream, info *grpc.StreamServerInfo, handler grpc.StreamHandler) error {
	if !strings.HasPrefix(info.FullMethod, adsService) {
		return handler(srv, ss)
	}
	ctx := ss.Context()
	id, identified, r := g.authenticate(ctx)
	if r != nil {
		return g.refuse(ctx, r, "", nil)
	}
	if !identified {
		if g.required {
			return g.refuse(ctx, &refusal{deny(ReasonUnauthenticated, "anonymous client: %v", errNoIdentity), "anonymous client"}, "", nil)
		}
		return handler(srv, ss)
	}
	gs := &guardedStream{ServerStream: ss, ctx: withIdentity(ctx, id), g: g, id: id, seen: map[string]bool{}}
	err := handler(srv, gs)
	if refused := gs.refusal(); refused != nil {
		return refused
	}
	return err
}

// authenticate returns the identity the client proved, false when it sent
// no credential, or the refusal of a credential that does not hold.
func (g *guard) authenticate(ctx context.Context) (Identity, bool, *refusal) {
	if g.certs {
		if p, ok := peer.FromContext(ctx); ok {
			if ti, ok := p.AuthInfo.(credentials.TLSInfo); ok && len(ti.State.VerifiedChains) > 0 {
				id, err := certIdentity(ti.State.VerifiedChains[0][0], g.trustDomain)
				if err != nil {
					return Identity{}, false, &refusal{deny(ReasonBadCredential, "%v", err), "client certificate"}
				}
				return id, true, nil
			}
		}
	}
	md, _ := metadata.FromIncomingContext(ctx)
	token, err := bearerToken(md.Get("authorization"))
	switch {
	case err != nil:
		return Identity{}, false, &refusal{deny(ReasonBadCredential, "%v", err), "bearer token"}
	case token == "":
		return Identity{}, false, nil
	case g.tokens == nil:
		if g.required {
			return Identity{}, false, &refusal{deny(ReasonUnauthenticated, "this control plane accepts no bearer tokens; use a client certificate"), "bearer token"}
		}
		return Identity{}, false, nil // plaintext development mode: the token proves nothing here
	}
	return g.authenticateToken(ctx, token)
}

func (g *guard) authenticateToken(ctx context.Context, token string) (Identity, bool, *refusal) {
	id, cached, err := g.tokens.authenticate(ctx, token)
	result := reviewAllowed
	var bad *errBadToken
	switch {
	case cached:
		result = reviewCached
	case errors.As(err, &bad):
		result = reviewRefused
	case err != nil:
		result = reviewError
	}
	g.metrics.reviews.WithLabelValues(result).Inc()
	switch {
	case errors.As(err, &bad):
		return Identity{}, false, &refusal{deny(ReasonBadCredential, "%v", bad.msg), "bearer token"}
	case err != nil:
		return Identity{}, false, &refusal{deny(ReasonReviewFailed, "the token could not be reviewed; try again: %v", err), "bearer token"}
	}
	return id, true, nil
}

// guardedStream authorises every request of an identified client before
// the xDS server sees it. A refused request ends the stream: RecvMsg fails
// (go-control-plane then ends the stream without a status) and the
// interceptor returns the refusal's status instead.
type guardedStream struct {
	grpc.ServerStream
	ctx  context.Context
	g    *guard
	id   Identity
	seen map[string]bool // type URLs requested before (the first request of a type may be a wildcard)
	node string

	mu      sync.Mutex
	refused error
}

func (s *guardedStream) Context() context.Context { return s.ctx }

func (s *guardedStream) RecvMsg(m any) error {
	if err := s.ServerStream.RecvMsg(m); err != nil {
		return err
	}
	var req request
	switch r := m.(type) {
	case *discovery.DiscoveryRequest:
		first := !s.seen[r.GetTypeUrl()]
		s.seen[r.GetTypeUrl()] = true
		req = request{node: r.GetNode(), names: r.GetResourceNames(), wildcard: first && len(r.GetResourceNames()) == 0}
	case *discovery.DeltaDiscoveryRequest:
		first := !s.seen[r.GetTypeUrl()]
		s.seen[r.GetTypeUrl()] = true
		names := slices.Concat(r.GetResourceNamesSubscribe(), slices.Sorted(maps.Keys(r.GetInitialResourceVersions())))
		req = request{node: r.GetNode(), names: names, wildcard: first && len(r.GetResourceNamesSubscribe()) == 0}
	default:
		return nil
	}
	if id := req.node.GetId(); id != "" {
		s.node = id
	}
	d := authorize(s.id, req)
	if d.Allowed {
		return nil
	}
	err := s.g.refuse(s.ctx, &refusal{d, s.id.String()}, s.node, req.names)
	s.mu.Lock()
	s.refused = err
	s.mu.Unlock()
	return err
}

func (s *guardedStream) refusal() error {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.refused
}

// logSecurity says at start how the xDS port is protected.
func logSecurity(log *slog.Logger, opts Options, g *guard) {
	log.Info("xds: transport security", append([]any{"tls", opts.CertFile != ""}, g.describe()...)...)
	switch {
	case opts.Insecure:
		log.Warn("xds: --xds-insecure: identity is not required, so any client that reaches the xDS port can read " +
			"every namespace's tables; for local development only")
	case opts.CertFile == "":
		log.Warn("xds: serving plaintext without identity: any client that reaches the xDS port can read every table")
	}
}
