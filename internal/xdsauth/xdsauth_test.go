package xdsauth

import (
	"context"
	"log/slog"
	"os"
	"path"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	meshlitev1 "github.com/meshlite/meshlite/api/meshlite/v1"
	"github.com/meshlite/meshlite/internal/ambassador/xdsclient"
	"github.com/meshlite/meshlite/internal/controlplane/source"
	"github.com/meshlite/meshlite/internal/controlplane/xds"
	"github.com/meshlite/meshlite/internal/testnet"
	"github.com/meshlite/meshlite/internal/tlstest"
	"github.com/meshlite/meshlite/pkg/routes"
)

// serverName is the name in the control plane's test certificate.
const serverName = "meshlite-controlplane.meshlite-system.svc"

// controlPlane is a running xDS server.
type controlPlane struct {
	addr string
	log  *testnet.Buffer
	reg  *prometheus.Registry
}

// startControlPlane serves opts on 127.0.0.1:0 with one table per xDS
// name ("<namespace>/<workload>" or "<workload>"), each routing /api to
// http://<name with / as .>/. The table itself is named after the
// workload, as the Kubernetes source names a RouteTable's.
func startControlPlane(t *testing.T, opts xds.Options, names ...string) *controlPlane {
	t.Helper()
	cp := &controlPlane{log: &testnet.Buffer{}, reg: prometheus.NewRegistry()}
	opts.TypeURL, opts.StopTimeout = meshlitev1.TypeURL, 5*time.Second
	opts.Logger, opts.Registerer = slog.New(slog.NewTextHandler(cp.log, nil)), cp.reg
	s, err := xds.New(opts)
	if err != nil {
		t.Fatal(err)
	}
	var tables []xds.Published
	for _, name := range names {
		msg := &meshlitev1.RouteTable{Name: path.Base(name), Routes: []*meshlitev1.Route{{
			Name: "api", Source: "http://localhost/api", Target: "http://" + strings.ReplaceAll(name, "/", ".") + "/",
		}}}
		v, err := source.Version(msg)
		if err != nil {
			t.Fatal(err)
		}
		tables = append(tables, xds.Published{Resource: xds.Resource{Name: name, Version: v, Message: msg}})
	}
	if err := s.SetResources(tables); err != nil {
		t.Fatal(err)
	}
	lis := testnet.Listen(t)
	cp.addr = lis.Addr().String()
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- s.Serve(ctx, lis) }()
	t.Cleanup(func() {
		cancel()
		if err := <-done; err != nil {
			t.Errorf("Serve: %v", err)
		}
	})
	return cp
}

// denied returns meshlite_controlplane_xds_denied_total{reason}.
func (cp *controlPlane) denied(t *testing.T, reason string) float64 {
	t.Helper()
	mfs, err := cp.reg.Gather()
	if err != nil {
		t.Fatal(err)
	}
	for _, mf := range mfs {
		if mf.GetName() != "meshlite_controlplane_xds_denied_total" {
			continue
		}
		for _, m := range mf.GetMetric() {
			if m.GetLabel()[0].GetValue() == reason {
				return m.GetCounter().GetValue()
			}
		}
	}
	return 0
}

// ambassador is a running xdsclient and the tables it applied.
type ambassador struct {
	c      *xdsclient.Client
	tables chan *routes.RouteTable
}

// runAmbassador runs an xdsclient of workload in namespace until the test
// ends: it subscribes to "<namespace>/<workload>" (the Kubernetes
// source's name), or to "<workload>" when namespace is "".
func runAmbassador(t *testing.T, addr, namespace, workload string, sec xdsclient.Security) *ambassador {
	t.Helper()
	a := &ambassador{tables: make(chan *routes.RouteTable, 16)}
	var err error
	a.c, err = xdsclient.New(xdsclient.Options{
		Addr: addr, NodeID: "pod-" + namespace + "-" + workload, Namespace: namespace, Workload: workload, Security: sec,
		BackoffBase: 50 * time.Millisecond, BackoffMax: 200 * time.Millisecond,
		Apply: func(_ string, rt *routes.RouteTable) error {
			a.tables <- rt
			return nil
		},
	})
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	var wg sync.WaitGroup
	wg.Go(func() { _ = a.c.Run(ctx) })
	t.Cleanup(func() { cancel(); wg.Wait() })
	return a
}

// table waits for the first table applied and returns its one target.
func (a *ambassador) target(t *testing.T) string {
	t.Helper()
	select {
	case rt := <-a.tables:
		return rt.Spec.Routes[0].Target
	case <-time.After(20 * time.Second):
		t.Fatalf("no table within 20s; client state %+v", a.c.State())
	}
	return ""
}

// refused waits until the client's last error contains every fragment,
// and checks that no table was applied.
func (a *ambassador) refused(t *testing.T, fragments ...string) {
	t.Helper()
	testnet.Eventually(t, 20*time.Second, "the client to be refused", func() bool {
		e := a.c.State().LastError
		for _, f := range fragments {
			if !strings.Contains(e, f) {
				return false
			}
		}
		return true
	})
	select {
	case rt := <-a.tables:
		t.Fatalf("a refused client applied table %s", rt.Metadata.Name)
	default:
	}
}

func TestClientVerifiesTheControlPlane(t *testing.T) {
	ca := tlstest.NewCA(t, "xds CA")
	srv := ca.Server(t, "controlplane", serverName)
	cp := startControlPlane(t, xds.Options{CertFile: srv.Cert, KeyFile: srv.Key}, "web")

	t.Run("trusted CA and the certificate's name", func(t *testing.T) {
		a := runAmbassador(t, cp.addr, "", "web", xdsclient.Security{CAFile: ca.File, ServerName: serverName})
		if got := a.target(t); got != "http://web/" {
			t.Fatalf("target %q", got)
		}
	})
	t.Run("address is the certificate's IP", func(t *testing.T) {
		a := runAmbassador(t, cp.addr, "", "web", xdsclient.Security{CAFile: ca.File})
		a.target(t)
	})
	t.Run("another CA", func(t *testing.T) {
		other := tlstest.NewCA(t, "other")
		a := runAmbassador(t, cp.addr, "", "web", xdsclient.Security{CAFile: other.File, ServerName: serverName})
		a.refused(t, "certificate signed by unknown authority")
	})
	t.Run("wrong server name", func(t *testing.T) {
		a := runAmbassador(t, cp.addr, "", "web", xdsclient.Security{CAFile: ca.File, ServerName: "evil.example"})
		a.refused(t, "evil.example")
	})
	t.Run("plaintext client", func(t *testing.T) {
		a := runAmbassador(t, cp.addr, "", "web", xdsclient.Security{})
		a.refused(t, "Unavailable")
	})
}

func TestClientCertificateGetsOnlyItsWorkloadsTable(t *testing.T) {
	ca := tlstest.NewCA(t, "xds CA")
	srv := ca.Server(t, "controlplane", serverName)
	// The directory source's plain names; namespaced names with SPIFFE
	// identities are covered by the xds package's tests.
	web := ca.Client(t, "web", "web", "spiffe://cluster.local/ns/team-a/sa/web")
	cp := startControlPlane(t, xds.Options{CertFile: srv.Cert, KeyFile: srv.Key, ClientCAFile: ca.File}, "web", "shop")
	sec := xdsclient.Security{CAFile: ca.File, ServerName: serverName, CertFile: web.Cert, KeyFile: web.Key}

	if got := runAmbassador(t, cp.addr, "", "web", sec).target(t); got != "http://web/" {
		t.Errorf("web's plain table: target %q", got)
	}
	runAmbassador(t, cp.addr, "", "shop", sec).refused(t, "PermissionDenied", `"shop"`, "spiffe://cluster.local/ns/team-a/sa/web")
	// The client names its workload in node metadata too, so the refusal
	// may be counted as either reason.
	if n := cp.denied(t, xds.ReasonWorkload) + cp.denied(t, xds.ReasonNodeMetadata); n < 1 {
		t.Errorf("denied_total{reason=workload|node_metadata} = %v, want at least 1", n)
	}
	for _, name := range []string{"shop"} {
		if !strings.Contains(cp.log.String(), "asked=["+name+"]") {
			t.Errorf("no refusal logged for %s:\n%s", name, cp.log)
		}
	}
	// Without its certificate the same client proves nothing.
	runAmbassador(t, cp.addr, "", "web", xdsclient.Security{CAFile: ca.File, ServerName: serverName}).refused(t, "Unavailable")
}

func TestClientCertificateRotates(t *testing.T) {
	ca := tlstest.NewCA(t, "xds CA")
	srv := ca.Server(t, "controlplane", serverName)
	cp := startControlPlane(t, xds.Options{CertFile: srv.Cert, KeyFile: srv.Key, ClientCAFile: ca.File}, "web", "shop")
	// The pod's certificate files name shop at first, then web: the client
	// reads them again on its next connection.
	pair := ca.Client(t, "pod", "shop")
	a := runAmbassador(t, cp.addr, "", "web", xdsclient.Security{CAFile: ca.File, ServerName: serverName, CertFile: pair.Cert, KeyFile: pair.Key})
	a.refused(t, "PermissionDenied")
	ca.Client(t, "pod", "web")
	later := time.Now().Add(time.Minute)
	for _, f := range []string{pair.Cert, pair.Key} {
		if err := os.Chtimes(f, later, later); err != nil {
			t.Fatal(err)
		}
	}
	if got := a.target(t); got != "http://web/" {
		t.Fatalf("after rotation: target %q", got)
	}
}

func TestTokenNeedsTLS(t *testing.T) {
	tok := filepath.Join(t.TempDir(), "token")
	if err := os.WriteFile(tok, []byte("t"), 0o600); err != nil {
		t.Fatal(err)
	}
	_, err := xdsclient.New(xdsclient.Options{Addr: "127.0.0.1:1", Workload: "web", Apply: func(string, *routes.RouteTable) error { return nil },
		Security: xdsclient.Security{TokenFile: tok}})
	if err == nil || !strings.Contains(err.Error(), "needs TLS") {
		t.Fatalf("a token without TLS: %v", err)
	}
}
