package xdsauth

import (
	"context"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"

	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/credentials"
	"google.golang.org/grpc/status"
	"google.golang.org/protobuf/types/known/structpb"

	meshlitev1 "github.com/meshlite/meshlite/api/meshlite/v1"
	"github.com/meshlite/meshlite/internal/ambassador/xdsclient"
	"github.com/meshlite/meshlite/internal/controlplane/kubeauth"
	"github.com/meshlite/meshlite/internal/controlplane/xds"
	"github.com/meshlite/meshlite/internal/controlplane/xdstest"
	"github.com/meshlite/meshlite/internal/kubetest"
	"github.com/meshlite/meshlite/internal/tlstest"
)

// countingReviewer counts the TokenReviews sent to the API server.
type countingReviewer struct {
	next xds.TokenReviewer
	mu   sync.Mutex
	n    map[string]int
}

func (c *countingReviewer) ReviewToken(ctx context.Context, token string, audiences []string) (xds.TokenReview, error) {
	c.mu.Lock()
	c.n[token]++
	c.mu.Unlock()
	return c.next.ReviewToken(ctx, token, audiences)
}

func (c *countingReviewer) count(token string) int {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.n[token]
}

// tokenControlPlane serves tables over TLS to ServiceAccount tokens that
// cluster c reviews.
func tokenControlPlane(t *testing.T, c *kubetest.Cluster, names ...string) (*controlPlane, *tlstest.CA, *countingReviewer) {
	t.Helper()
	ca := tlstest.NewCA(t, "xds CA")
	srv := ca.Server(t, "controlplane", serverName)
	rev := &countingReviewer{next: kubeauth.New(c.Client), n: map[string]int{}}
	cp := startControlPlane(t, xds.Options{
		CertFile: srv.Cert, KeyFile: srv.Key, RequireIdentity: true,
		Tokens: xds.TokenOptions{Reviewer: rev},
	}, names...)
	return cp, ca, rev
}

// tokenStream opens a raw ADS stream with token, asking for names with
// node metadata namespace metaNamespace (none if "").
func tokenStream(t *testing.T, cp *controlPlane, ca *tlstest.CA, token string, delta bool, metaNamespace string, names ...string) *xdstest.Stream {
	t.Helper()
	creds, err := credentials.NewClientTLSFromFile(ca.File, serverName)
	if err != nil {
		t.Fatal(err)
	}
	conn := xdstest.DialWith(t, cp.addr, grpc.WithTransportCredentials(creds), grpc.WithPerRPCCredentials(bearer(token)))
	node := xdstest.Node("pod-1", "web")
	if metaNamespace != "" {
		node.Metadata.Fields[meshlitev1.NamespaceMetadataKey] = structpb.NewStringValue(metaNamespace)
	}
	return xdstest.Open(t, conn, delta, node, names...)
}

func wantRefused(t *testing.T, err error, code codes.Code, fragments ...string) {
	t.Helper()
	st, _ := status.FromError(err)
	if st.Code() != code {
		t.Fatalf("stream ended with %v, want %v", err, code)
	}
	for _, f := range fragments {
		if !strings.Contains(st.Message(), f) {
			t.Errorf("refusal %q does not mention %q", st.Message(), f)
		}
	}
}

func TestTokenOfNamespaceACannotFetchBsTable(t *testing.T) {
	c := kubetest.Shared(t)
	a, b := c.Namespace(t, "xds-token-a"), c.Namespace(t, "xds-token-b")
	cp, ca, rev := tokenControlPlane(t, c, a+"/web", b+"/web", "web")
	token := c.ServiceAccountToken(t, a, "numbers-web", xds.DefaultAudience)
	who := "system:serviceaccount:" + a + ":numbers-web"

	// The ambassador reads its token from a file, as from a projected volume.
	tokenFile := filepath.Join(t.TempDir(), "token")
	if err := os.WriteFile(tokenFile, []byte(token+"\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	amb := runAmbassador(t, cp.addr, a, "web", xdsclient.Security{CAFile: ca.File, ServerName: serverName, TokenFile: tokenFile})
	if got := amb.target(t); got != "http://"+a+".web/" {
		t.Fatalf("A's own table: target %q", got)
	}

	for _, kind := range []struct {
		name  string
		delta bool
	}{{"sotw", false}, {"delta", true}} {
		t.Run(kind.name, func(t *testing.T) {
			st := tokenStream(t, cp, ca, token, kind.delta, "", b+"/web")
			wantRefused(t, st.Err(t), codes.PermissionDenied, b+"/web", who)

			st = tokenStream(t, cp, ca, token, kind.delta, b, a+"/web")
			wantRefused(t, st.Err(t), codes.PermissionDenied, `node metadata namespace "`+b+`"`, who)

			st = tokenStream(t, cp, ca, token, kind.delta, "", "web")
			wantRefused(t, st.Err(t), codes.PermissionDenied, `"web"`, who)

			st = tokenStream(t, cp, ca, token, kind.delta, "")
			wantRefused(t, st.Err(t), codes.PermissionDenied, "wildcard", who)
		})
	}
	if n := cp.denied(t, xds.ReasonNamespace); n != 4 {
		t.Errorf("denied_total{reason=namespace} = %v, want 4", n)
	}
	if !strings.Contains(cp.log.String(), "asked=["+b+"/web]") || !strings.Contains(cp.log.String(), who) {
		t.Errorf("the refusal of %s/web is not logged with who asked:\n%s", b, cp.log)
	}
	// One review for the ambassador and the eight refused streams: the
	// rest came from the cache.
	if n := rev.count(token); n != 1 {
		t.Errorf("the token was reviewed %d times, want 1 (cached)", n)
	}
}

func TestTokenForAnotherAudienceIsRefused(t *testing.T) {
	c := kubetest.Shared(t)
	a := c.Namespace(t, "xds-audience")
	cp, ca, rev := tokenControlPlane(t, c, a+"/web")
	for _, audience := range []string{"not-meshlite", "https://kubernetes.default.svc.cluster.local"} {
		token := c.ServiceAccountToken(t, a, "default", audience)
		st := tokenStream(t, cp, ca, token, false, "", a+"/web")
		wantRefused(t, st.Err(t), codes.Unauthenticated, "token")
		// A refusal is cached briefly too.
		st = tokenStream(t, cp, ca, token, false, "", a+"/web")
		wantRefused(t, st.Err(t), codes.Unauthenticated, "token")
		if n := rev.count(token); n != 1 {
			t.Errorf("audience %s: reviewed %d times, want 1", audience, n)
		}
	}
	st := tokenStream(t, cp, ca, "not-a-token", false, "", a+"/web")
	wantRefused(t, st.Err(t), codes.Unauthenticated, "not authenticated")
	if n := cp.denied(t, xds.ReasonBadCredential); n != 5 {
		t.Errorf("denied_total{reason=bad_credential} = %v, want 5", n)
	}
}

func TestRequiredIdentityRefusesAnonymousClients(t *testing.T) {
	c := kubetest.Shared(t)
	a := c.Namespace(t, "xds-anonymous")
	cp, ca, _ := tokenControlPlane(t, c, a+"/web")
	amb := runAmbassador(t, cp.addr, a, "web", xdsclient.Security{CAFile: ca.File, ServerName: serverName})
	amb.refused(t, "Unauthenticated", "anonymous client")
	if n := cp.denied(t, xds.ReasonUnauthenticated); n < 1 {
		t.Errorf("denied_total{reason=unauthenticated} = %v, want at least 1", n)
	}
}

// bearer sends a fixed token.
type bearer string

func (b bearer) GetRequestMetadata(context.Context, ...string) (map[string]string, error) {
	return map[string]string{"authorization": "Bearer " + string(b)}, nil
}
func (bearer) RequireTransportSecurity() bool { return true }
