package xds

import (
	"testing"

	"google.golang.org/protobuf/types/known/structpb"

	meshlitev1 "github.com/meshlite/meshlite/api/meshlite/v1"
	"github.com/meshlite/meshlite/internal/controlplane/xdstest"
)

// TestNamespacedAmbassadorIsTracked: an ambassador that sends its namespace
// subscribes to "<namespace>/<workload>"; its ACKs and NACKs of that
// resource are what /status and the RouteTable status counts read.
func TestNamespacedAmbassadorIsTracked(t *testing.T) {
	for _, kind := range streamKinds {
		t.Run(kind.name, func(t *testing.T) {
			v1, other := table(t, "shop/web", "http://a/"), table(t, "blog/web", "http://b/")
			s, addr := startServer(t, v1, other)
			node := xdstest.Node("web-1", "web")
			node.Metadata.Fields[meshlitev1.NamespaceMetadataKey] = structpb.NewStringValue("shop")
			st := xdstest.Open(t, xdstest.Dial(t, addr), kind.delta, node, "shop/web")

			r := st.Next(t)
			if got := onlyTable(t, r, "shop/web"); got.Version != v1.Version {
				t.Fatalf("first push = %+v, want version %s", got, v1.Version)
			}
			st.ACK(t, r)
			eventually(t, "the ACK", func() bool { return ambassador(t, s, "web-1").InSync })
			a := ambassador(t, s, "web-1")
			if a.Workload != "web" || a.Namespace != "shop" || a.LastACKedVersion != v1.Version {
				t.Errorf("ambassador = %+v, want workload web, namespace shop, acked %s", a, v1.Version)
			}

			v2 := table(t, "shop/web", "http://c/")
			mustSet(t, s, v2, other)
			r = st.Next(t)
			st.NACK(t, r, "refused")
			eventually(t, "the NACK", func() bool { return ambassador(t, s, "web-1").LastNACKVersion == v2.Version })
			if a := ambassador(t, s, "web-1"); a.InSync || a.LastACKedVersion != v1.Version {
				t.Errorf("after the NACK: %+v, want not in sync, still acked %s", a, v1.Version)
			}
		})
	}
}
