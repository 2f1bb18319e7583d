package xdsconv

import (
	"os"
	"testing"

	"github.com/meshlite/meshlite/pkg/routes"
)

// TestVersionIsTheContentsOnly: the same document read twice has one
// version, which survives a round trip over the wire; any change to the
// table changes it.
func TestVersionIsTheContentsOnly(t *testing.T) {
	data, err := os.ReadFile("testdata/every-field.yaml")
	if err != nil {
		t.Fatal(err)
	}
	parse := func() *routes.RouteTable {
		rt, err := routes.Parse(data)
		if err != nil {
			t.Fatal(err)
		}
		return rt
	}
	a, b := parse(), parse()
	v := Version(a)
	if len(v) != 16 || Version(b) != v {
		t.Fatalf("versions %q and %q of one document, want the same 16 hex characters", v, Version(b))
	}
	back, err := FromProto(ToProto(a))
	if err != nil {
		t.Fatal(err)
	}
	if Version(back) != v {
		t.Errorf("version after a round trip over the wire %q, want %q", Version(back), v)
	}
	b.Spec.Egress = b.Spec.Egress[1:]
	if Version(b) == v {
		t.Errorf("a table without its first egress rule kept version %q", v)
	}
}
