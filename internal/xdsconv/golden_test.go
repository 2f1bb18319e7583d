package xdsconv

import (
	"bytes"
	"encoding/json"
	"flag"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"google.golang.org/protobuf/encoding/protojson"

	"github.com/meshlite/meshlite/pkg/routes"
)

var update = flag.Bool("update", false, "rewrite testdata/*.golden.json from the current output")

// TestGolden parses each testdata/*.yaml, converts it with ToProto and
// compares the proto's JSON with testdata/NAME.golden.json. Run
// `go test ./internal/xdsconv -update` to rewrite the golden files.
func TestGolden(t *testing.T) {
	inputs, err := filepath.Glob("testdata/*.yaml")
	if err != nil {
		t.Fatal(err)
	}
	if len(inputs) == 0 {
		t.Fatal("no testdata/*.yaml fixtures")
	}
	for _, in := range inputs {
		name := strings.TrimSuffix(filepath.Base(in), ".yaml")
		t.Run(name, func(t *testing.T) {
			rt, err := routes.Load(in)
			if err != nil {
				t.Fatalf("fixture does not parse: %v", err)
			}
			got := protoJSON(t, rt)
			golden := filepath.Join("testdata", name+".golden.json")
			if *update {
				if err := os.WriteFile(golden, got, 0o644); err != nil {
					t.Fatal(err)
				}
			}
			want, err := os.ReadFile(golden)
			if err != nil {
				t.Fatalf("%v (run with -update to create it)", err)
			}
			if !bytes.Equal(got, want) {
				t.Errorf("ToProto output differs from %s (run with -update if the change is intended)\n got:\n%s\nwant:\n%s", golden, got, want)
			}
			assertRoundTrip(t, rt)
		})
	}
}

// protoJSON renders ToProto(rt) as indented JSON. protojson adds random
// whitespace on purpose, so the output is compacted and re-indented.
func protoJSON(t *testing.T, rt *routes.RouteTable) []byte {
	t.Helper()
	raw, err := protojson.MarshalOptions{Multiline: true}.Marshal(ToProto(rt))
	if err != nil {
		t.Fatalf("protojson: %v", err)
	}
	var compact, out bytes.Buffer
	if err := json.Compact(&compact, raw); err != nil {
		t.Fatal(err)
	}
	if err := json.Indent(&out, compact.Bytes(), "", "  "); err != nil {
		t.Fatal(err)
	}
	out.WriteByte('\n')
	return out.Bytes()
}
