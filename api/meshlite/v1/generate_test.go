package meshlitev1

import (
	"bytes"
	"os"
	"os/exec"
	"path/filepath"
	"testing"

	"google.golang.org/protobuf/proto"
	"google.golang.org/protobuf/reflect/protoreflect"
)

// TestGeneratedCodeIsCurrent regenerates the Go code into a temporary
// directory with hack/proto/gen.sh and fails if the committed file differs:
// run `make proto` after editing routetable.proto.
func TestGeneratedCodeIsCurrent(t *testing.T) {
	if _, err := exec.LookPath("protoc"); err != nil {
		t.Skip("protoc not installed: install Debian's protobuf-compiler to check the generated code")
	}
	root, err := filepath.Abs("../../..")
	if err != nil {
		t.Fatal(err)
	}
	out := t.TempDir()
	cmd := exec.Command("bash", filepath.Join(root, "hack/proto/gen.sh"), out)
	cmd.Dir = root
	if msg, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("hack/proto/gen.sh: %v\n%s", err, msg)
	}
	const file = "api/meshlite/v1/routetable.pb.go"
	want, err := os.ReadFile(filepath.Join(out, file))
	if err != nil {
		t.Fatal(err)
	}
	got, err := os.ReadFile(filepath.Join(root, file))
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(got, want) {
		t.Errorf("%s is stale or edited by hand: run `make proto` and commit the result", file)
	}
}

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
