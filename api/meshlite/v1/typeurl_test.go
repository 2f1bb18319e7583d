package meshlitev1

import (
	"testing"

	"google.golang.org/protobuf/proto"
	"google.golang.org/protobuf/reflect/protoreflect"
)

// TestTypeURL checks the constant against the message's full name, so a
// renamed package or message cannot leave the constant behind.
func TestTypeURL(t *testing.T) {
	var m proto.Message = &RouteTable{}
	name := m.ProtoReflect().Descriptor().FullName()
	if want := "type.googleapis.com/" + string(name); TypeURL != want {
		t.Errorf("TypeURL = %q, want %q", TypeURL, want)
	}
	if name != protoreflect.FullName("meshlite.v1.RouteTable") {
		t.Errorf("full name = %q, want meshlite.v1.RouteTable", name)
	}
}

func TestResourceName(t *testing.T) {
	for _, tc := range []struct{ ns, workload, want string }{
		{"", "web", "web"},
		{"shop", "web", "shop/web"},
	} {
		if got := ResourceName(tc.ns, tc.workload); got != tc.want {
			t.Errorf("ResourceName(%q, %q) = %q, want %q", tc.ns, tc.workload, got, tc.want)
		}
	}
}
