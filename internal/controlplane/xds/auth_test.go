package xds

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"log/slog"
	"os"
	"strings"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/credentials"
	healthpb "google.golang.org/grpc/health/grpc_health_v1"
	"google.golang.org/grpc/status"

	meshlitev1 "github.com/meshlite/meshlite/api/meshlite/v1"
	"github.com/meshlite/meshlite/internal/controlplane/xdstest"
	"github.com/meshlite/meshlite/internal/testnet"
	"github.com/meshlite/meshlite/internal/tlstest"
)

// secured is a server under test with its log and metrics.
type secured struct {
	*Server
	addr string
	log  *testnet.Buffer
	reg  *prometheus.Registry
}

// startSecured serves opts on 127.0.0.1:0 with tables named names.
func startSecured(t *testing.T, opts Options, names ...string) *secured {
	t.Helper()
	log, reg := &testnet.Buffer{}, prometheus.NewRegistry()
	opts.TypeURL, opts.StopTimeout = meshlitev1.TypeURL, 5*time.Second
	opts.Logger, opts.Registerer = slog.New(slog.NewTextHandler(log, nil)), reg
	s, err := New(opts)
	if err != nil {
		t.Fatal(err)
	}
	var tables []Published
	for _, n := range names {
		tables = append(tables, table(t, n, "http://"+strings.ReplaceAll(n, "/", ".")+"/"))
	}
	mustSet(t, s, tables...)
	lis := testnet.Listen(t)
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- s.Serve(ctx, lis) }()
	t.Cleanup(func() {
		cancel()
		if err := <-done; err != nil {
			t.Errorf("Serve: %v", err)
		}
	})
	return &secured{Server: s, addr: lis.Addr().String(), log: log, reg: reg}
}

// counter returns the value of counter name with label value, 0 if absent.
func (s *secured) counter(t *testing.T, name, label string) float64 {
	t.Helper()
	mfs, err := s.reg.Gather()
	if err != nil {
		t.Fatal(err)
	}
	for _, mf := range mfs {
		if mf.GetName() != name {
			continue
		}
		for _, m := range mf.GetMetric() {
			for _, lp := range m.GetLabel() {
				if lp.GetValue() == label {
					return m.GetCounter().GetValue()
				}
			}
		}
	}
	return 0
}

// clientTLS trusts ca and presents pair (if any).
func clientTLS(t *testing.T, ca *tlstest.CA, pair *tlstest.Pair) grpc.DialOption {
	t.Helper()
	pem, err := os.ReadFile(ca.File)
	if err != nil {
		t.Fatal(err)
	}
	pool := x509.NewCertPool()
	pool.AppendCertsFromPEM(pem)
	cfg := &tls.Config{RootCAs: pool, ServerName: "meshlite-controlplane"}
	if pair != nil {
		c, err := tls.LoadX509KeyPair(pair.Cert, pair.Key)
		if err != nil {
			t.Fatal(err)
		}
		cfg.Certificates = []tls.Certificate{c}
	}
	return grpc.WithTransportCredentials(credentials.NewTLS(cfg))
}

// wantCode checks that err is a gRPC status with code and a message
// mentioning every fragment.
func wantCode(t *testing.T, err error, code codes.Code, fragments ...string) {
	t.Helper()
	st, _ := status.FromError(err)
	if st.Code() != code {
		t.Fatalf("stream ended with %v, want %v", err, code)
	}
	for _, f := range fragments {
		if !strings.Contains(st.Message(), f) {
			t.Errorf("message %q does not mention %q", st.Message(), f)
		}
	}
}

func TestTLSServesVerifiedClientsOnly(t *testing.T) {
	ca := tlstest.NewCA(t, "xds CA")
	server := ca.Server(t, "server", "meshlite-controlplane")
	s := startSecured(t, Options{CertFile: server.Cert, KeyFile: server.Key}, "web")

	st := xdstest.Open(t, xdstest.DialWith(t, s.addr, clientTLS(t, ca, nil)), false, xdstest.Node("p", "web"), "web")
	onlyTable(t, st.Next(t), "web")

	other := tlstest.NewCA(t, "another CA")
	conn := xdstest.DialWith(t, s.addr, clientTLS(t, other, nil))
	if err := openErr(t, conn); status.Code(err) != codes.Unavailable || !strings.Contains(err.Error(), "certificate") {
		t.Fatalf("a client that does not trust the server's CA: %v, want Unavailable naming the certificate", err)
	}
}

// openErr opens an ADS stream and returns the error of its first receive.
func openErr(t *testing.T, conn *grpc.ClientConn) error {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	s, err := conn.NewStream(ctx, &grpc.StreamDesc{ServerStreams: true, ClientStreams: true},
		"/envoy.service.discovery.v3.AggregatedDiscoveryService/StreamAggregatedResources")
	if err != nil {
		return err
	}
	var m any
	return s.RecvMsg(&m)
}

func TestMutualTLSServesOnlyTheWorkloadsTable(t *testing.T) {
	ca := tlstest.NewCA(t, "xds CA")
	server := ca.Server(t, "server", "meshlite-controlplane")
	web := ca.Client(t, "web", "web", "spiffe://mesh.test/ns/team-a/sa/web")
	plain := ca.Client(t, "plain", "shop")
	for _, kind := range streamKinds {
		t.Run(kind.name, func(t *testing.T) {
			s := startSecured(t, Options{CertFile: server.Cert, KeyFile: server.Key, ClientCAFile: ca.File, TrustDomain: "mesh.test"},
				"team-a/web", "team-a/shop", "team-b/web", "shop")
			conn := xdstest.DialWith(t, s.addr, clientTLS(t, ca, &web))

			own := xdstest.Open(t, conn, kind.delta, xdstest.Node("web-1", "web"), "team-a/web")
			onlyTable(t, own.Next(t), "team-a/web")

			for name, reason := range map[string]string{"team-a/shop": ReasonWorkload, "team-b/web": ReasonNamespace} {
				st := xdstest.Open(t, conn, kind.delta, xdstest.Node("web-1", "web"), name)
				wantCode(t, st.Err(t), codes.PermissionDenied, name, "spiffe://mesh.test/ns/team-a/sa/web")
				if got := s.counter(t, "meshlite_controlplane_xds_denied_total", reason); got != 1 {
					t.Errorf("denied_total{reason=%q} = %v, want 1", reason, got)
				}
				if !strings.Contains(s.log.String(), `asked=[`+name+`]`) {
					t.Errorf("no log line names the refused %s:\n%s", name, s.log)
				}
			}
			if a := ambassador(t, s.Server, "web-1"); a.Identity != "certificate spiffe://mesh.test/ns/team-a/sa/web" {
				t.Errorf("status shows identity %q", a.Identity)
			}

			// A CN-only certificate has no trust domain: refused here.
			st := xdstest.Open(t, xdstest.DialWith(t, s.addr, clientTLS(t, ca, &plain)), kind.delta, xdstest.Node("shop-1", "shop"), "shop")
			wantCode(t, st.Err(t), codes.Unauthenticated, "no SPIFFE ID")
		})
	}
}

func TestMutualTLSRefusals(t *testing.T) {
	ca := tlstest.NewCA(t, "xds CA")
	server := ca.Server(t, "server", "meshlite-controlplane")
	web := ca.Client(t, "web", "web")
	s := startSecured(t, Options{CertFile: server.Cert, KeyFile: server.Key, ClientCAFile: ca.File}, "web", "shop")
	conn := xdstest.DialWith(t, s.addr, clientTLS(t, ca, &web))

	t.Run("CN identity reads its plain table", func(t *testing.T) {
		onlyTable(t, xdstest.Open(t, conn, false, xdstest.Node("w", "web"), "web").Next(t), "web")
	})
	t.Run("wildcard", func(t *testing.T) {
		for _, kind := range streamKinds {
			st := xdstest.Open(t, conn, kind.delta, xdstest.Node("w", "web"))
			wantCode(t, st.Err(t), codes.PermissionDenied, "wildcard", "CN=web")
		}
	})
	t.Run("node metadata names another workload", func(t *testing.T) {
		st := xdstest.Open(t, conn, false, xdstest.Node("w", "shop"), "web")
		wantCode(t, st.Err(t), codes.PermissionDenied, `node metadata workload "shop"`)
	})
	t.Run("a later request asks for another table", func(t *testing.T) {
		st := xdstest.Open(t, conn, false, xdstest.Node("w", "web"), "web")
		r := st.Next(t)
		st.Resubscribe(t, r.Nonce, "web", "shop")
		wantCode(t, st.Err(t), codes.PermissionDenied, `"shop"`)
	})
	t.Run("no client certificate", func(t *testing.T) {
		err := openErr(t, xdstest.DialWith(t, s.addr, clientTLS(t, ca, nil)))
		if status.Code(err) == codes.OK {
			t.Fatal("a client without a certificate got a stream")
		}
	})
	t.Run("certificate from another CA", func(t *testing.T) {
		other := tlstest.NewCA(t, "other")
		stranger := other.Client(t, "web", "web")
		err := openErr(t, xdstest.DialWith(t, s.addr, clientTLS(t, ca, &stranger)))
		if status.Code(err) == codes.OK {
			t.Fatal("a client with an unknown CA's certificate got a stream")
		}
	})
	t.Run("health stays open", func(t *testing.T) {
		// The health service is for probes; only ADS asks for identity.
		if err := conn.Invoke(context.Background(), "/grpc.health.v1.Health/Check", &healthpb.HealthCheckRequest{}, &healthpb.HealthCheckResponse{}); err != nil {
			t.Fatal(err)
		}
	})
}

func TestTokensOverTLS(t *testing.T) {
	ca := tlstest.NewCA(t, "xds CA")
	server := ca.Server(t, "server", "meshlite-controlplane")
	rev := newFakeReviewer(map[string]TokenReview{"a-token": saReview("team-a", "default")})
	s := startSecured(t, Options{CertFile: server.Cert, KeyFile: server.Key, Tokens: TokenOptions{Reviewer: rev}}, "team-a/web", "team-b/web")
	dial := func(token string) *grpc.ClientConn {
		opts := []grpc.DialOption{clientTLS(t, ca, nil)}
		if token != "" {
			opts = append(opts, grpc.WithPerRPCCredentials(staticToken(token)))
		}
		return xdstest.DialWith(t, s.addr, opts...)
	}
	conn := dial("a-token")
	onlyTable(t, xdstest.Open(t, conn, false, xdstest.Node("p", "web"), "team-a/web").Next(t), "team-a/web")
	wantCode(t, xdstest.Open(t, conn, true, xdstest.Node("p", "web"), "team-b/web").Err(t), codes.PermissionDenied,
		"team-b/web", "system:serviceaccount:team-a:default")
	if n := rev.count("a-token"); n != 1 {
		t.Errorf("%d reviews of one token over two streams, want 1 (cached)", n)
	}
	if got := s.counter(t, "meshlite_controlplane_xds_token_reviews_total", reviewCached); got != 1 {
		t.Errorf("token_reviews_total{result=cached} = %v, want 1", got)
	}
	wantCode(t, xdstest.Open(t, dial("forged"), false, xdstest.Node("p", "web"), "team-a/web").Err(t), codes.Unauthenticated, "unknown token")
	wantCode(t, xdstest.Open(t, dial(""), false, xdstest.Node("p", "web"), "team-a/web").Err(t), codes.Unauthenticated, "anonymous")

	rev.mu.Lock()
	rev.err = context.DeadlineExceeded
	rev.mu.Unlock()
	wantCode(t, xdstest.Open(t, dial("new-token"), false, xdstest.Node("p", "web"), "team-a/web").Err(t), codes.Unavailable, "could not be reviewed")
}

func TestPlaintextWithoutIdentityServesAsBefore(t *testing.T) {
	s := startSecured(t, Options{}, "web", "shop")
	st := xdstest.Open(t, xdstest.Dial(t, s.addr), false, xdstest.Node("p", "web"), "web", "shop")
	if r := st.Next(t); len(r.Tables) != 2 {
		t.Fatalf("got %d tables, want both", len(r.Tables))
	}
	if !strings.Contains(s.log.String(), "serving plaintext without identity") {
		t.Errorf("no warning about plaintext:\n%s", s.log)
	}
}

func TestInsecureLogsAWarning(t *testing.T) {
	s := startSecured(t, Options{Insecure: true}, "web")
	if !strings.Contains(s.log.String(), "level=WARN") || !strings.Contains(s.log.String(), "--xds-insecure") {
		t.Fatalf("no --xds-insecure warning:\n%s", s.log)
	}
}

func TestAuthOptionsAreChecked(t *testing.T) {
	rev := newFakeReviewer(nil)
	cases := map[string]Options{
		"key without certificate":            {KeyFile: "k"},
		"client CA without TLS":              {ClientCAFile: "ca"},
		"tokens without TLS":                 {Tokens: TokenOptions{Reviewer: rev}},
		"identity required, none accepted":   {RequireIdentity: true, CertFile: "c", KeyFile: "k"},
		"certificate file that is not there": {CertFile: "/nonexistent/c", KeyFile: "/nonexistent/k"},
	}
	for name, opts := range cases {
		t.Run(name, func(t *testing.T) {
			opts.TypeURL = meshlitev1.TypeURL
			if _, err := New(opts); err == nil {
				t.Fatal("New accepted it")
			}
		})
	}
}

type staticToken string

func (s staticToken) GetRequestMetadata(context.Context, ...string) (map[string]string, error) {
	return map[string]string{"authorization": "Bearer " + string(s)}, nil
}
func (staticToken) RequireTransportSecurity() bool { return true }
