package routes

import (
	"os"
	"path/filepath"
	"reflect"
	"testing"

	"go.yaml.in/yaml/v3"
)

// decodeSeeds are documents whose node trees the walk must judge like the
// strict decoder: unknown keys at each level, keys that are not plain
// strings, aliases and merge keys, flow style, nulls, custom unmarshalers
// given mappings.
var decodeSeeds = []string{
	"apiVersion: meshlite/v1\nkind: RouteTable\nmetadata: {name: a}\nspec: {routes: [{name: r, source: 'http://localhost/x', target: 'http://svc', bogus: 1}]}\n",
	"apiVersion: meshlite/v1\nkind: RouteTable\nmetadata: {name: a, extra: x}\nspec: {}\n",
	"apiVersion: meshlite/v1\nkind: RouteTable\nmetadata: {name: a}\nspec:\n  egress:\n  - {name: e, host: h.example, ports: [443], portz: [1]}\n",
	"apiVersion: meshlite/v1\nkind: RouteTable\nmetadata: &m {name: a}\nspec: {}\nx: *m\n",
	"apiVersion: meshlite/v1\nkind: RouteTable\nmetadata:\n  <<: {name: a}\nspec: {}\n",
	"apiVersion: meshlite/v1\nkind: RouteTable\nmetadata: {name: a}\nspec: {routes: &r [], denyCidrs: *r}\n",
	"apiVersion: meshlite/v1\nkind: RouteTable\nmetadata: {name: a}\nspec: {1: x, true: y, ~: z}\n",
	"apiVersion: meshlite/v1\nkind: RouteTable\nmetadata: ~\nspec:\n  routes: ~\n  mode: {a: b}\n",
	"apiVersion: meshlite/v1\nkind: RouteTable\nmetadata: {name: a}\nspec:\n  routes:\n  - name: r\n    timeout: {x: 1}\n    retry: {on: [5xx], retryOn: [reset], attempts: x}\n",
	"apiVersion: meshlite/v1\nkind: RouteTable\nmetadata: {name: a}\nspec:\n  egress:\n  - name: e\n    ports: [{from: 1}]\n",
	"apiVersion: meshlite/v1\nkind: RouteTable\nmetadata: {name: a, name: b}\nspec: {\"\": 1}\n",
}

// FuzzDecodeFromTree: decoding from the node tree gives the table and the
// error the strict decoder gives from the text, whatever the document.
func FuzzDecodeFromTree(f *testing.F) {
	files, _ := filepath.Glob("testdata/*/*.yaml")
	for _, file := range files {
		data, err := os.ReadFile(file)
		if err != nil {
			f.Fatal(err)
		}
		f.Add(data)
	}
	for _, s := range decodeSeeds {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, data []byte) {
		root, err := parseNode(data)
		if err != nil {
			return
		}
		var fromTree, strict RouteTable
		errTree, errStrict := decode(data, root, &fromTree), decodeStrict(data, &strict)
		if errString(errTree) != errString(errStrict) {
			t.Fatalf("decode error\n%v\nwant the strict decoder's\n%v", errTree, errStrict)
		}
		if !reflect.DeepEqual(fromTree, strict) {
			t.Fatalf("decoded\n%+v\nwant the strict decoder's\n%+v", fromTree, strict)
		}
	})
}

func errString(err error) string {
	if err == nil {
		return "<nil>"
	}
	return err.Error()
}

// TestKnownFieldsOnly: valid documents take the one-parse path; documents
// with unknown fields, aliases, merge keys or odd keys take the strict one.
func TestKnownFieldsOnly(t *testing.T) {
	valid, _ := filepath.Glob("testdata/valid/*.yaml")
	unknown, _ := filepath.Glob("testdata/invalid/unknown-field-*.yaml")
	if len(valid) == 0 || len(unknown) == 0 {
		t.Fatal("no fixtures")
	}
	cases := map[string]bool{
		"testdata/invalid/retry-on-name.yaml": true, // the deprecated field is a field
	}
	for _, f := range valid {
		cases[f] = true
	}
	for _, f := range unknown {
		cases[f] = false
	}
	for file, want := range cases {
		data, err := os.ReadFile(file)
		if err != nil {
			t.Fatal(err)
		}
		if got := knownFieldsOnly(mustNode(t, data), routeTableType); got != want {
			t.Errorf("%s: knownFieldsOnly = %v, want %v", file, got, want)
		}
	}
	for i, s := range decodeSeeds[:7] {
		if knownFieldsOnly(mustNode(t, []byte(s)), routeTableType) {
			t.Errorf("seed %d: knownFieldsOnly = true, want false (unknown field, alias, merge key or odd key)", i)
		}
	}
}

func mustNode(t *testing.T, data []byte) *yaml.Node {
	t.Helper()
	n, err := parseNode(data)
	if err != nil {
		t.Fatal(err)
	}
	return n
}
