package main

import (
	"bytes"
	"compress/gzip"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

const auditLines = `{"ts":"2026-11-25T12:00:00Z","id":"a-1","door":"forward","client":"127.0.0.1:40000","method":"CONNECT","url":"api.github.com:443","route":"","target":"api.github.com:443","upstream":"140.82.112.6:443","decision":"would_deny","reason":"no egress rule allows \"api.github.com:443\" (report mode: sent anyway; add a rule to spec.egress before enforcing)","rule":"","status":200,"attempts":1,"duration_ms":12.5,"bytes_in":10,"bytes_out":20,"trace_id":"","original_dst":"","sni":"","workload":"web","node_id":"web-1"}
{"ts":"2026-11-25T12:01:00Z","id":"a-2","door":"forward","client":"127.0.0.1:40001","method":"GET","url":"http://169.254.169.254/latest/meta-data","route":"","target":"","upstream":"","decision":"deny","reason":"169.254.169.254 is a cloud metadata endpoint (always denied: no rule, route or mode can allow it)","rule":"","status":403,"attempts":0,"duration_ms":0.1,"bytes_in":0,"bytes_out":0,"trace_id":"","original_dst":"","sni":"","workload":"web","node_id":"web-1"}
{"ts":"2026-11-25T12:02:00Z","id":"b-1","door":"forward","client":"127.0.0.1:40002","method":"GET","url":"http://numbers-api/rng","route":"","target":"","upstream":"10.0.0.5:80","decision":"would_deny","reason":"","rule":"","status":200,"attempts":1,"duration_ms":3,"bytes_in":0,"bytes_out":3,"trace_id":"","original_dst":"","sni":"","workload":"api","node_id":"api-1"}
`

func TestSuggestCommandLine(t *testing.T) {
	dir := t.TempDir()
	write := func(name string, data []byte) string {
		p := filepath.Join(dir, name)
		if err := os.WriteFile(p, data, 0o644); err != nil {
			t.Fatal(err)
		}
		return p
	}
	plain := write("audit.log", []byte(auditLines))
	var gz bytes.Buffer
	zw := gzip.NewWriter(&gz)
	zw.Write([]byte(auditLines))
	zw.Close()
	zipped := write("audit-rotated", gz.Bytes())
	empty := write("empty.log", nil)
	legacy := write("legacy.log", []byte(`{"ts":"2026-11-25T12:00:00Z","method":"GET","url":"http://a.example/","route":"","decision":"allow"}`+"\n"))
	badMerge := write("bad.yaml", []byte("apiVersion: meshlite/v1\nkind: RouteTable\nmetadata:\n  name: web\nspec:\n  egress:\n    - name: x\n      host: a.example\n"))
	cases := []struct {
		name       string
		args       []string
		wantCode   int
		wantStdout string // substring
		wantStderr string // substring
	}{
		{"tables from a file", []string{"suggest", plain}, 0, "metadata:\n  name: api\n", "3 lines read"},
		{"two workloads as a stream", []string{"suggest", plain}, 0, "---\n# Suggested by controlplane suggest for workload web", "169.254.169.254:80: 1 request"},
		{"gzip told by its bytes", []string{"suggest", zipped}, 0, "host: api.github.com", ""},
		{"report", []string{"suggest", "--report", plain}, 0, "would be denied in enforce mode: 1 destination, 1 request", ""},
		{"paths", []string{"suggest", "--paths", "--path-depth", "2", plain}, 0, "paths: [/rng]", ""},
		{"no workload field", []string{"suggest", legacy}, 1, "", `legacy.log:1: the audit line has no "workload" field`},
		{"--workload names it", []string{"suggest", "--workload", "legacy", legacy}, 0, "name: legacy", ""},
		{"missing file", []string{"suggest", filepath.Join(dir, "missing.log")}, 1, "", "no such file or directory"},
		{"empty input", []string{"suggest", empty}, 1, "", "suggest: no audit lines to suggest from (the input has no lines)"},
		{"bad --since", []string{"suggest", "--since", "yesterday", plain}, 2, "", `"yesterday" is not an RFC 3339 time`},
		{"bad --path-depth", []string{"suggest", "--path-depth", "deep", plain}, 2, "", "invalid argument"},
		{"negative --min-count", []string{"suggest", "--min-count", "-1", plain}, 1, "", "--min-count -1: must be at least 1"},
		{"invalid --merge table", []string{"suggest", "--merge", badMerge, plain}, 1, "", "spec.egress[0].ports: required"},
		{"--merge with --report", []string{"suggest", "--report", "--merge", badMerge, plain}, 1, "", "--merge and --report do not go together"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			var stdout, stderr strings.Builder
			code := run(tc.args, &stdout, &stderr)
			if code != tc.wantCode {
				t.Errorf("exit code %d, want %d (stdout %q, stderr %q)", code, tc.wantCode, stdout.String(), stderr.String())
			}
			if !strings.Contains(stdout.String(), tc.wantStdout) {
				t.Errorf("stdout %q, want it to contain %q", stdout.String(), tc.wantStdout)
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

// TestSuggestThenValidate writes the tables with -o and checks them with
// controlplane validate, as a pipeline would.
func TestSuggestThenValidate(t *testing.T) {
	in := filepath.Join(t.TempDir(), "audit.log")
	if err := os.WriteFile(in, []byte(auditLines), 0o644); err != nil {
		t.Fatal(err)
	}
	out := filepath.Join(t.TempDir(), "tables")
	var stdout, stderr strings.Builder
	if code := run([]string{"suggest", "-o", out, in}, &stdout, &stderr); code != 0 || stdout.Len() != 0 {
		t.Fatalf("suggest -o: exit %d, stdout %q, stderr %q", code, stdout.String(), stderr.String())
	}
	for _, w := range []string{"web", "api"} {
		if _, err := os.Stat(filepath.Join(out, w+".yaml")); err != nil {
			t.Error(err)
		}
	}
	stdout.Reset()
	if code := run([]string{"validate", out}, &stdout, &stderr); code != 0 || stdout.String() != "2 tables OK\n" {
		t.Errorf("validate: exit %d, stdout %q", code, stdout.String())
	}
}

// TestSuggestStdin reads "-" from the process's standard input.
func TestSuggestStdin(t *testing.T) {
	f, err := os.Open(writeTemp(t, auditLines))
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	saved := os.Stdin
	os.Stdin = f
	defer func() { os.Stdin = saved }()
	var stdout, stderr strings.Builder
	if code := run([]string{"suggest", "-"}, &stdout, &stderr); code != 0 || !strings.Contains(stdout.String(), "host: api.github.com") {
		t.Errorf("exit %d, stdout %q, stderr %q", code, stdout.String(), stderr.String())
	}
}

func writeTemp(t *testing.T, text string) string {
	t.Helper()
	p := filepath.Join(t.TempDir(), "in.log")
	if err := os.WriteFile(p, []byte(text), 0o644); err != nil {
		t.Fatal(err)
	}
	return p
}
