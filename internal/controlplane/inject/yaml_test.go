package inject

import (
	"bytes"
	"strings"
	"testing"
)

// A stream whose documents do not ask comes back byte for byte: comments,
// key order, quoting, separators with comments, a block scalar holding
// "---" indented, no final newline.
const passThrough = `# a leading comment
apiVersion: v1
kind: ConfigMap
metadata: {name: c}   # flow style
data:
  script: |
    echo one
    ---
    echo two
--- # the web app, not meshed
apiVersion: apps/v1
kind: Deployment
metadata:
  name: web
spec:
  replicas: 0x10
  template:
    metadata:
      labels: {app: web, meshlite.io/inject: disabled}
    spec:
      containers: [{name: app, image: "a"}]
---
---
apiVersion: v1
kind: Service
metadata:
  name: s
spec:
  ports: [{port: 80}]`

func TestPassThroughByteForByte(t *testing.T) {
	in := newInjector(t)
	out, err := in.Documents([]byte(passThrough))
	if err != nil {
		t.Fatal(err)
	}
	if string(out) != passThrough {
		t.Errorf("changed:\n%s", out)
	}
}

// Only the document that asks changes; its neighbours keep their bytes,
// and its own leading comments and separator line are kept.
func TestOneDocumentChanges(t *testing.T) {
	in := newInjector(t)
	asking := "# numbers-web, meshed\n" + deployment("web", map[string]string{Inject: Enabled})
	stream := passThrough + "\n--- # meshed\n" + asking
	out, err := in.Documents([]byte(stream))
	if err != nil {
		t.Fatal(err)
	}
	head, tail, ok := strings.Cut(string(out), "\n--- # meshed\n")
	if !ok || head != passThrough {
		t.Fatalf("the documents before the asking one changed:\n%s", out)
	}
	if !strings.HasPrefix(tail, "# numbers-web, meshed\napiVersion: apps/v1\n") || !strings.Contains(tail, "name: "+AmbassadorName) {
		t.Errorf("injected document:\n%s", tail)
	}
}

func TestIdempotent(t *testing.T) {
	in := newInjector(t)
	for name, stream := range map[string]string{
		"env":         deployment("web", map[string]string{Inject: Enabled}),
		"transparent": deployment("web", map[string]string{Inject: Enabled, Capture: CaptureTPRT, ExcludePorts: "5432"}),
		"mixed":       passThrough + "\n---\n" + deployment("web", map[string]string{Inject: Enabled, CPU: "1"}) + "---\n" + deployment("api", map[string]string{Inject: Enabled}),
		"json":        `{"apiVersion": "v1", "kind": "Pod", "metadata": {"name": "p", "labels": {"app": "web", "meshlite.io/inject": "enabled"}}, "spec": {"initContainers": [{"name": "x", "image": "x"}], "containers": [{"name": "a", "image": "a", "env": [{"name": "A", "value": "1"}]}]}}`,
	} {
		t.Run(name, func(t *testing.T) {
			once, err := in.Documents([]byte(stream))
			if err != nil {
				t.Fatal(err)
			}
			if bytes.Equal(once, []byte(stream)) {
				t.Fatal("nothing was injected")
			}
			twice, err := in.Documents(once)
			if err != nil {
				t.Fatal(err)
			}
			if !bytes.Equal(once, twice) {
				t.Errorf("injecting twice differs from once:\n%s\n---- vs ----\n%s", once, twice)
			}
		})
	}
}

// A template with a hand-written ambassador is left alone even without the
// marker.
func TestHandWrittenAmbassadorIsLeftAlone(t *testing.T) {
	in := newInjector(t)
	doc := strings.Replace(deployment("web", map[string]string{Inject: Enabled}), "      containers:\n",
		"      initContainers:\n        - name: ambassador\n          image: x\n      containers:\n", 1)
	out, err := in.Documents([]byte(doc))
	if err != nil || string(out) != doc {
		t.Errorf("changed (err %v):\n%s", err, out)
	}
}

func TestNotYAML(t *testing.T) {
	in := newInjector(t)
	_, err := in.Documents([]byte("apiVersion: v1\n---\nkind: [unclosed\n"))
	if err == nil || !strings.HasPrefix(err.Error(), "document 1: inject: not YAML") {
		t.Errorf("error %v, want one naming document 1", err)
	}
}

func TestApply(t *testing.T) {
	doc := map[string]any{"a": []any{"x", "z"}, "m": map[string]any{}}
	ops := []Op{
		{Op: "add", Path: "/a/1", Value: []byte(`"y"`)},
		{Op: "add", Path: "/a/-", Value: []byte(`"end"`)},
		{Op: "add", Path: "/m/k~1v", Value: []byte(`1`)},
	}
	got, err := Apply(doc, ops)
	if err != nil {
		t.Fatal(err)
	}
	m := got.(map[string]any)
	if a := m["a"].([]any); len(a) != 4 || a[1] != "y" || a[3] != "end" {
		t.Errorf("a = %v", a)
	}
	if m["m"].(map[string]any)["k/v"] == nil {
		t.Errorf("m = %v", m["m"])
	}
	for _, bad := range []Op{
		{Op: "remove", Path: "/a"},
		{Op: "add", Path: "/a/9", Value: []byte(`1`)},
		{Op: "add", Path: "/missing/x", Value: []byte(`1`)},
		{Op: "add", Path: "a", Value: []byte(`1`)},
	} {
		if _, err := Apply(map[string]any{"a": []any{}}, []Op{bad}); err == nil {
			t.Errorf("%+v: no error", bad)
		}
	}
}
