package xdsclient

import (
	"slices"
	"testing"

	meshlitev1 "github.com/meshlite/meshlite/api/meshlite/v1"
	"github.com/meshlite/meshlite/pkg/routes"
)

// TestNamespaceNamesTheSubscription: with a namespace the ambassador says
// where it is and subscribes to "<namespace>/<workload>", in its first
// request and every ACK or NACK after; without one, to "<workload>".
func TestNamespaceNamesTheSubscription(t *testing.T) {
	for _, tc := range []struct{ namespace, want string }{{"shop", "shop/web"}, {"", "web"}} {
		c, err := New(Options{Addr: "127.0.0.1:1", Workload: "web", Namespace: tc.namespace,
			Apply: func(string, *routes.RouteTable) error { return nil }})
		if err != nil {
			t.Fatal(err)
		}
		sub := c.subscribe()
		fields := sub.GetNode().GetMetadata().GetFields()
		if got := fields[meshlitev1.NamespaceMetadataKey].GetStringValue(); got != tc.namespace {
			t.Errorf("namespace %q: node metadata namespace = %q", tc.namespace, got)
		}
		if _, sent := fields[meshlitev1.NamespaceMetadataKey]; sent != (tc.namespace != "") {
			t.Errorf("namespace %q: metadata field sent = %v", tc.namespace, sent)
		}
		if got := fields[meshlitev1.WorkloadMetadataKey].GetStringValue(); got != "web" {
			t.Errorf("namespace %q: node metadata workload = %q, want web", tc.namespace, got)
		}
		for _, req := range []interface{ GetResourceNames() []string }{sub, c.request("v1", "n1")} {
			if got := req.GetResourceNames(); !slices.Equal(got, []string{tc.want}) {
				t.Errorf("namespace %q: resource_names = %q, want [%q]", tc.namespace, got, tc.want)
			}
		}
	}
}
