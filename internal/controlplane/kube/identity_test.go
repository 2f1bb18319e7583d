package kube_test

import (
	"os"
	"path/filepath"
	"strings"
	"testing"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	"github.com/meshlite/meshlite/internal/ambassador/xdsclient"
	"github.com/meshlite/meshlite/internal/controlplane/kube"
	"github.com/meshlite/meshlite/internal/controlplane/kubeauth"
	"github.com/meshlite/meshlite/internal/controlplane/xds"
	"github.com/meshlite/meshlite/internal/tlstest"
)

// serverName is the name in the control plane's test certificate: the
// host the injected ambassadors dial.
const serverName = "meshlite-controlplane.meshlite-system"

// TestIdentityWithRouteTables is xDS identity end to end on the
// Kubernetes source, as deploy/kubernetes runs it: RouteTables in
// namespaces A and B, the control plane over TLS reviewing ServiceAccount
// tokens with the API server. An ambassador with a token of A gets A's
// table and shows in its status as ACKed; the same token asking for B's
// table, node metadata and all, is refused and counted, and never ACKs.
func TestIdentityWithRouteTables(t *testing.T) {
	c := cluster(t)
	d := dyn(t, c)
	nsA, nsB := c.Namespace(t, "id-a"), c.Namespace(t, "id-b")
	for ns, target := range map[string]string{nsA: "http://a-api/", nsB: "http://b-api/"} {
		if _, err := d.Resource(kube.GVR).Namespace(ns).Create(ctxT(t), rtObject(ns, "web", target), metav1.CreateOptions{}); err != nil {
			t.Fatal(err)
		}
	}
	ca := tlstest.NewCA(t, "xds CA")
	srv := ca.Server(t, "controlplane", serverName)
	p := startPlaneXDS(t, c, c.Namespace(t, "id-mesh"), "cp-0", xds.Options{
		CertFile: srv.Cert, KeyFile: srv.Key, RequireIdentity: true,
		Tokens: xds.TokenOptions{Reviewer: kubeauth.New(c.Client)},
	})

	// A's ambassador reads its token from a file, as from the projected
	// volume injection mounts.
	tokenFile := filepath.Join(t.TempDir(), "token")
	token := c.ServiceAccountToken(t, nsA, "web", xds.DefaultAudience)
	if err := os.WriteFile(tokenFile, []byte(token+"\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	sec := xdsclient.Security{CAFile: ca.File, ServerName: serverName, TokenFile: tokenFile}
	a := startAmbassadorSec(t, p.xds, nsA, "web", sec)
	eventually(t, wait, "A's ambassador to apply A's table", func() bool { return a.target() == "http://a-api/" })
	applied, _ := a.last()
	waitStatus(t, d, nsA, "web", "A's status: acked by its ambassador", func(st kube.Status, cond *metav1.Condition, _ int64) bool {
		return cond.Status == metav1.ConditionTrue && st.Version == applied.version && st.Ambassadors == kube.Counts{Connected: 1, Acked: 1}
	})
	if n := p.deniedTotal(t); n != 0 {
		t.Fatalf("denied_total = %v before any refusal", n)
	}

	// The same token for namespace B: refused before anything is served.
	b := startAmbassadorSec(t, p.xds, nsB, "web", sec)
	who := "system:serviceaccount:" + nsA + ":web"
	eventually(t, wait, "B's request to be refused", func() bool {
		e := b.c.State().LastError
		return strings.Contains(e, "PermissionDenied") && strings.Contains(e, who)
	})
	if n := p.deniedTotal(t); n < 1 {
		t.Errorf("denied_total = %v after the refusal, want at least 1", n)
	}
	// The barrier: A's ambassador is still served (the plane is up and
	// reviewing), and B's never got a table.
	if len(b.all()) != 0 {
		t.Errorf("the refused ambassador applied %+v", b.all())
	}
	if a.target() != "http://a-api/" {
		t.Errorf("A's ambassador now has %q", a.target())
	}
	// A refused stream never ACKs (it may be counted as connected for the
	// moment between opening and being refused).
	if st, _ := statusOf(t, d, nsB, "web"); st.Ambassadors.Acked != 0 {
		t.Errorf("B's status counts the refused ambassador as acked: %+v", st.Ambassadors)
	}
}
