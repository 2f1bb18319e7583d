package kube_test

import (
	"os"
	"path/filepath"
	"strings"
	"testing"

	"k8s.io/apimachinery/pkg/runtime"

	"github.com/meshlite/meshlite/pkg/policy"
	"github.com/meshlite/meshlite/pkg/routes"
)

func fromMap(m map[string]any, out any) error {
	return runtime.DefaultUnstructuredConverter.FromUnstructured(m, out)
}

// examples are every RouteTable example of the repository: deploy/routes,
// pkg/routes' valid fixtures and the README's tables.
func examples(t *testing.T) map[string]string {
	t.Helper()
	out := readmeTables(t)
	for _, glob := range []string{"deploy/routes/*.yaml", "pkg/routes/testdata/valid/*.yaml"} {
		files, err := filepath.Glob(filepath.Join(root, glob))
		if err != nil || len(files) == 0 {
			t.Fatalf("%s: %v (%d files)", glob, err, len(files))
		}
		for _, f := range files {
			data, err := os.ReadFile(f)
			if err != nil {
				t.Fatal(err)
			}
			out[strings.TrimPrefix(f, root+"/")] = string(data)
		}
	}
	return out
}

// fileValid reports whether pkg/routes accepts doc, as a file.
func fileValid(doc string) error {
	rt, err := routes.Parse([]byte(doc))
	if err == nil {
		_, err = routes.Compile(rt, policy.Options{})
	}
	return err
}

// TestExamplesApplyAsResources: every example table is valid as a file and,
// with its apiVersion changed, is created by kubectl apply -f (a YAML 1.1
// reader: an unquoted retry key on: would reach the API server as "true"
// and be refused) through the CRD's schema and CEL rules.
func TestExamplesApplyAsResources(t *testing.T) {
	c := cluster(t)
	ns := c.Namespace(t, "examples")
	for name, doc := range examples(t) {
		t.Run(name, func(t *testing.T) {
			if err := fileValid(doc); err != nil {
				t.Fatalf("as a file: %v", err)
			}
			f := filepath.Join(t.TempDir(), "rt.yaml")
			if err := os.WriteFile(f, []byte(asResource(doc)), 0o644); err != nil {
				t.Fatal(err)
			}
			if _, stderr, err := c.Kubectl(t, "apply", "-n", ns, "-f", f); err != nil {
				t.Fatalf("kubectl apply -f: %v\n%s", err, stderr)
			}
		})
	}
}

// TestOnKeyIsRefusedAsResource documents the trap retryOn fixes: the file
// format still reads on: (with a warning), kubectl does not.
func TestOnKeyIsRefusedAsResource(t *testing.T) {
	c := cluster(t)
	ns := c.Namespace(t, "retry-on-key")
	doc := tableDoc("web", `  routes:
    - name: rng
      source: http://localhost/api
      target: http://numbers-api/rng
      retry: {attempts: 3, on: [connect-failure]}
`)
	if err := fileValid(doc); err != nil {
		t.Fatalf("as a file: %v", err)
	}
	_, stderr, err := kubectlStdin(t, c, asResource(doc), "apply", "--dry-run=server", "-n", ns, "-f", "-")
	if err == nil || !strings.Contains(stderr, "true") {
		t.Fatalf("kubectl apply of on: err %v, stderr %q; want a refusal naming the key true", err, stderr)
	}
}

func tableDoc(name, spec string) string {
	return "apiVersion: meshlite/v1\nkind: RouteTable\nmetadata:\n  name: " + name + "\nspec:\n" + spec
}

// TestCRDAgreesWithRoutesOnInvalidTables: each table breaks one rule the
// schema or its CEL rules can check; pkg/routes refuses it as a file and
// the API server refuses it as a resource. (What only pkg/routes can check,
// such as URLs and host names, is reported in status: see
// TestRouteTableLifecycle.)
func TestCRDAgreesWithRoutesOnInvalidTables(t *testing.T) {
	c := cluster(t)
	ns := c.Namespace(t, "crd-invalid")
	route := func(extra string) string {
		return "  routes:\n    - name: rng\n      source: http://localhost/api\n      target: http://numbers-api/rng\n" + extra
	}
	egress := func(rule string) string { return "  egress:\n    - name: e\n" + rule }
	tests := []struct{ name, table string }{
		{"mode", tableDoc("web", "  mode: audit\n")},
		{"table name with a dot", tableDoc("web.v2", "  mode: report\n")},
		{"route name", tableDoc("web", "  routes:\n    - name: Random Numbers\n      source: http://localhost/api\n      target: http://a/\n")},
		{"route without target", tableDoc("web", "  routes:\n    - name: rng\n      source: http://localhost/api\n")},
		{"duplicate route names", tableDoc("web", route("")+"    - name: rng\n      source: http://localhost/b\n      target: http://b/\n")},
		{"timeout without unit", tableDoc("web", route("      timeout: \"5\"\n"))},
		{"negative timeout", tableDoc("web", route("      timeout: -1s\n"))},
		{"attempts", tableDoc("web", route("      retry: {attempts: 11}\n"))},
		{"retryOn name", tableDoc("web", route("      retry: {retryOn: [timeout]}\n"))},
		{"retryOn status", tableDoc("web", route("      retry: {retryOn: [\"404\"]}\n"))},
		{"per-try longer than timeout", tableDoc("web", route("      timeout: 2s\n      retry: {attempts: 2, perTryTimeout: 3s}\n"))},
		{"unknown route field", tableDoc("web", route("      timout: 5s\n"))},
		{"egress without ports", tableDoc("web", egress("      host: api.example.com\n"))},
		{"egress port 0", tableDoc("web", egress("      host: api.example.com\n      ports: [0]\n"))},
		{"egress port range syntax", tableDoc("web", egress("      host: api.example.com\n      ports: [\"80..90\"]\n"))},
		{"egress method in lower case", tableDoc("web", egress("      host: api.example.com\n      ports: [80]\n      methods: [get]\n"))},
		{"egress without host or cidrs", tableDoc("web", egress("      ports: [80]\n"))},
		{"egress cidr not masked", tableDoc("web", egress("      cidrs: [10.0.0.1/8]\n      ports: [80]\n"))},
		{"egress path not absolute", tableDoc("web", egress("      host: a.example\n      ports: [80]\n      paths: [healthz]\n"))},
		{"denyCidrs not a prefix", tableDoc("web", "  denyCidrs: [10.0.0.0]\n")},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			if err := fileValid(tc.table); err == nil {
				t.Errorf("pkg/routes accepts it as a file")
			}
			if _, stderr, err := kubectlStdin(t, c, asResource(tc.table), "apply", "--dry-run=server", "-n", ns, "-f", "-"); err == nil {
				t.Errorf("the API server accepts it as a resource")
			} else if !strings.Contains(stderr, "RouteTable") {
				t.Errorf("refusal does not name the RouteTable: %s", stderr)
			}
		})
	}
}

// kubectlStdin runs kubectl with doc on its standard input.
func kubectlStdin(t *testing.T, c interface {
	Kubectl(testing.TB, ...string) (string, string, error)
}, doc string, args ...string) (string, string, error) {
	t.Helper()
	f := filepath.Join(t.TempDir(), "doc.yaml")
	if err := os.WriteFile(f, []byte(doc), 0o644); err != nil {
		t.Fatal(err)
	}
	for i, a := range args {
		if a == "-" {
			args[i] = f
		}
	}
	return c.Kubectl(t, args...)
}
