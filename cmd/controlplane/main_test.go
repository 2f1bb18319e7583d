package main

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
)

func TestCommandLine(t *testing.T) {
	bad := t.TempDir()
	if err := os.WriteFile(filepath.Join(bad, "web.yaml"), []byte(`apiVersion: meshlite/v1
kind: RouteTable
metadata:
  name: web
spec:
  routes:
    - name: api
      source: http://localhost/api
      target: ftp://numbers-api/rng
`), 0o644); err != nil {
		t.Fatal(err)
	}
	cases := []struct {
		name       string
		args       []string
		wantCode   int
		wantStdout string // prefix
		wantStderr string // substring
	}{
		{"validate the example directory", []string{"validate", "../../deploy/routes"}, 0, "3 tables OK\n", ""},
		{"validate a bad file", []string{"validate", bad}, 1, filepath.Join(bad, "web.yaml") + ": spec.routes[0].target: ", ""},
		{"validate a missing directory", []string{"validate", filepath.Join(bad, "missing")}, 1, "", "no such file or directory"},
		{"validate without a directory", []string{"validate"}, 2, "", "accepts 1 arg"},
		{"unknown command", []string{"frobnicate"}, 2, "", "unknown command"},
		{"unknown flag", []string{"serve", "--no-such-flag"}, 2, "", "unknown flag"},
		{"invalid setting", []string{"serve", "--routes", bad, "--log-level", "loud"}, 1, "", "log-level"},
		{"bad address", []string{"serve", "--routes", bad, "--xds", "nowhere"}, 1, "", "config: xds"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			var stdout, stderr strings.Builder
			code := run(tc.args, &stdout, &stderr)
			if code != tc.wantCode {
				t.Errorf("exit code %d, want %d (stdout %q, stderr %q)", code, tc.wantCode, stdout.String(), stderr.String())
			}
			if !strings.HasPrefix(stdout.String(), tc.wantStdout) {
				t.Errorf("stdout %q, want prefix %q", stdout.String(), tc.wantStdout)
			}
			if tc.wantStdout == "" && stdout.Len() != 0 {
				t.Errorf("unexpected stdout %q", stdout.String())
			}
			if !strings.Contains(stderr.String(), tc.wantStderr) {
				t.Errorf("stderr %q, want it to contain %q", stderr.String(), tc.wantStderr)
			}
		})
	}
}
