package main

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
)

const injectInput = `# not meshed
apiVersion: v1
kind: Service
metadata: {name: web}
spec: {ports: [{port: 80}]}
---
apiVersion: apps/v1
kind: Deployment
metadata: {name: web, namespace: shop}
spec:
  template:
    metadata:
      labels: {app: web, meshlite.io/inject: enabled}
    spec:
      containers: [{name: app, image: example/app:1}]
`

func TestInjectCommand(t *testing.T) {
	dir := t.TempDir()
	in := filepath.Join(dir, "in.yaml")
	if err := os.WriteFile(in, []byte(injectInput), 0o644); err != nil {
		t.Fatal(err)
	}
	bad := filepath.Join(dir, "bad.yaml")
	if err := os.WriteFile(bad, []byte(strings.Replace(injectInput, "      labels:", "      annotations: {meshlite.io/capture: tproxy}\n      labels:", 1)), 0o644); err != nil {
		t.Fatal(err)
	}
	cases := []struct {
		name       string
		args       []string
		stdin      string // with -f -
		wantCode   int
		wantStdout []string // substrings
		wantStderr string
	}{
		{"file", []string{"inject", "-f", in, "--inject-image", "registry.example/amb:v1"}, "", 0,
			[]string{"# not meshed\napiVersion: v1\nkind: Service\nmetadata: {name: web}\nspec: {ports: [{port: 80}]}\n---\n", "image: registry.example/amb:v1", "- meshlite-controlplane.meshlite-system:18000"}, ""},
		{"stdin", []string{"inject", "--inject-xds", "cp.example:18000"}, injectInput, 0, []string{"- cp.example:18000", "name: ambassador"}, ""},
		{"xDS identity", []string{"inject", "-f", in, "--inject-xds-ca-configmap", "meshlite-xds-ca"}, "", 0,
			[]string{"- --xds-token\n", "- /var/run/secrets/meshlite.io/xds/token\n", "name: meshlite-xds-ca\n", "audience: meshlite\n"}, ""},
		{"bad CA ConfigMap name", []string{"inject", "-f", in, "--inject-xds-ca-configmap", "CA!"}, "", 1, nil, `xDS CA ConfigMap "CA!" is not a ConfigMap name`},
		{"bad annotation", []string{"inject", "-f", bad}, "", 1, nil,
			`document 1: inject: Deployment shop/web: annotation meshlite.io/capture: "tproxy" is not a mode`},
		{"missing file", []string{"inject", "-f", filepath.Join(dir, "gone.yaml")}, "", 1, nil, "gone.yaml"},
		{"bad image flag", []string{"inject", "-f", in, "--inject-image", "not an image"}, "", 1, nil, "not an image reference"},
		{"positional argument", []string{"inject", in}, "", 2, nil, "unknown command"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			if tc.stdin != "" {
				withStdin(t, tc.stdin)
			}
			var stdout, stderr strings.Builder
			code := run(tc.args, &stdout, &stderr)
			if code != tc.wantCode {
				t.Errorf("exit code %d, want %d (stderr %q)", code, tc.wantCode, stderr.String())
			}
			for _, want := range tc.wantStdout {
				if !strings.Contains(stdout.String(), want) {
					t.Errorf("stdout does not contain %q:\n%s", want, stdout.String())
				}
			}
			if tc.wantStdout == nil && stdout.Len() != 0 {
				t.Errorf("unexpected stdout %q", stdout.String())
			}
			if !strings.Contains(stderr.String(), tc.wantStderr) {
				t.Errorf("stderr %q, want it to contain %q", stderr.String(), tc.wantStderr)
			}
		})
	}
}

// withStdin points os.Stdin at a file holding s until the test ends.
func withStdin(t *testing.T, s string) {
	t.Helper()
	path := filepath.Join(t.TempDir(), "stdin")
	if err := os.WriteFile(path, []byte(s), 0o644); err != nil {
		t.Fatal(err)
	}
	f, err := os.Open(path)
	if err != nil {
		t.Fatal(err)
	}
	old := os.Stdin
	os.Stdin = f
	t.Cleanup(func() { os.Stdin = old; f.Close() })
}

func TestServeWebhookFlagsGoTogether(t *testing.T) {
	var stdout, stderr strings.Builder
	code := run([]string{"serve", "--routes", t.TempDir(), "--webhook", ":9443"}, &stdout, &stderr)
	if code != 1 || !strings.Contains(stderr.String(), "--webhook, --webhook-cert and --webhook-key go together") {
		t.Errorf("exit %d, stderr %q", code, stderr.String())
	}
}
