package controlplane

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/meshlite/meshlite/internal/controlplane/source"
	"github.com/meshlite/meshlite/internal/controlplane/xds"
	"github.com/meshlite/meshlite/internal/controlplane/xdstest"
	"github.com/meshlite/meshlite/internal/testnet"
)

func tableYAML(name, target string) string {
	return fmt.Sprintf(`apiVersion: meshlite/v1
kind: RouteTable
metadata:
  name: %s
spec:
  routes:
    - name: rng
      source: http://localhost/api
      target: %s
      timeout: 5s
  egress:
    - name: google-apis
      host: "*.googleapis.com"
      ports: [443]
`, name, target)
}

func writeFile(t *testing.T, path, content string) {
	t.Helper()
	// Write then rename, as an editor or kubectl cp would: readers never see
	// a half-written file.
	tmp := filepath.Join(filepath.Dir(path), ".tmp-"+filepath.Base(path))
	if err := os.WriteFile(tmp, []byte(content), 0o644); err != nil {
		t.Fatal(err)
	}
	if err := os.Rename(tmp, path); err != nil {
		t.Fatal(err)
	}
}

type instance struct {
	cp    *ControlPlane
	xds   string
	admin string // base URL
}

// start runs a control plane over dir on loopback until the test ends.
func start(t *testing.T, dir string) instance {
	t.Helper()
	cp, err := New(Options{RoutesDir: dir, Debounce: 20 * time.Millisecond,
		XDS: xds.Options{StopTimeout: 5 * time.Second}, ShutdownGrace: 5 * time.Second})
	if err != nil {
		t.Fatal(err)
	}
	xl := testnet.Listen(t)
	al := testnet.Listen(t)
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- cp.Serve(ctx, xl, al) }()
	t.Cleanup(func() {
		cancel()
		select {
		case err := <-done:
			if err != nil {
				t.Errorf("Serve: %v", err)
			}
		case <-time.After(15 * time.Second):
			t.Errorf("Serve did not return after cancel")
		}
	})
	in := instance{cp: cp, xds: xl.Addr().String(), admin: "http://" + al.Addr().String()}
	eventually(t, "readiness", func() bool { code, _ := get(t, in.admin+"/readyz"); return code == http.StatusOK })
	return in
}

func get(t *testing.T, url string) (int, string) {
	t.Helper()
	resp, err := http.Get(url)
	if err != nil {
		t.Fatalf("GET %s: %v", url, err)
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	if err != nil {
		t.Fatal(err)
	}
	return resp.StatusCode, string(b)
}

func status(t *testing.T, in instance) Status {
	t.Helper()
	code, body := get(t, in.admin+"/status")
	if code != http.StatusOK {
		t.Fatalf("/status: %d %s", code, body)
	}
	var st Status
	if err := json.Unmarshal([]byte(body), &st); err != nil {
		t.Fatalf("/status is not JSON: %v\n%s", err, body)
	}
	return st
}

func tableStatus(st Status, name string) source.TableStatus {
	for _, ts := range st.Tables {
		if ts.Name == name {
			return ts
		}
	}
	return source.TableStatus{}
}

func eventually(t *testing.T, what string, cond func() bool) {
	t.Helper()
	for range 500 {
		if cond() {
			return
		}
		time.Sleep(10 * time.Millisecond)
	}
	t.Fatalf("timed out waiting for %s", what)
}

var streamKinds = []struct {
	name  string
	delta bool
}{{"sotw", false}, {"delta", true}}

func target(t *testing.T, r *xdstest.Response, name string) (version, target string) {
	t.Helper()
	tb, ok := r.Tables[name]
	if !ok || len(tb.Table.GetRoutes()) == 0 {
		t.Fatalf("response has no table %s: %+v", name, r.Tables)
	}
	return tb.Version, tb.Table.GetRoutes()[0].GetTarget()
}

func TestFileEditIsPushed(t *testing.T) {
	for _, kind := range streamKinds {
		t.Run(kind.name, func(t *testing.T) {
			dir := t.TempDir()
			path := filepath.Join(dir, "numbers-web.yaml")
			writeFile(t, path, tableYAML("numbers-web", "http://numbers-api/rng"))
			in := start(t, dir)
			st := xdstest.Open(t, xdstest.Dial(t, in.xds), kind.delta, xdstest.Node("numbers-web-5d8f", "numbers-web"), "numbers-web")

			r := st.Next(t)
			v1, got := target(t, r, "numbers-web")
			if got != "http://numbers-api/rng" || v1 != tableStatus(status(t, in), "numbers-web").Version {
				t.Fatalf("first push: %s %s", v1, got)
			}
			st.ACK(t, r)

			writeFile(t, path, tableYAML("numbers-web", "http://numbers-api-v2/rng"))
			r = st.Next(t)
			v2, got := target(t, r, "numbers-web")
			if got != "http://numbers-api-v2/rng" || v2 == v1 {
				t.Fatalf("after the edit: version %s (was %s), target %s", v2, v1, got)
			}
			st.ACK(t, r)
			eventually(t, "the ambassador in sync on /status", func() bool {
				s := status(t, in)
				return len(s.Ambassadors) == 1 && s.Ambassadors[0].InSync && s.Ambassadors[0].LastACKedVersion == v2
			})
			a := status(t, in).Ambassadors[0]
			if a.NodeID != "numbers-web-5d8f" || a.Workload != "numbers-web" || a.Stream != kind.name {
				t.Errorf("ambassador on /status: %+v", a)
			}
			// Only the edit was pushed to a connected stream: one latency sample.
			if _, metrics := get(t, in.admin+"/metrics"); !strings.Contains(metrics, "meshlite_controlplane_xds_push_latency_seconds_count 1\n") {
				t.Errorf("push latency not observed once:\n%s", grepLines(metrics, "push_latency_seconds_count"))
			}
		})
	}
}

func TestInvalidFileKeepsLastGoodTable(t *testing.T) {
	dir := t.TempDir()
	path := filepath.Join(dir, "numbers-web.yaml")
	writeFile(t, path, tableYAML("numbers-web", "http://numbers-api/rng"))
	in := start(t, dir)
	st := xdstest.Open(t, xdstest.Dial(t, in.xds), false, xdstest.Node("pod-1", "numbers-web"), "numbers-web")
	r := st.Next(t)
	good, _ := target(t, r, "numbers-web")
	st.ACK(t, r)

	writeFile(t, path, strings.Replace(tableYAML("numbers-web", "http://numbers-api/rng"), "http://numbers-api", "ftp://numbers-api", 1))
	eventually(t, "the error on /status", func() bool { return tableStatus(status(t, in), "numbers-web").LastError != "" })
	ts := tableStatus(status(t, in), "numbers-web")
	if ts.Version != good || !strings.Contains(ts.LastError, "spec.routes[0].target") || !strings.HasSuffix(ts.File, "numbers-web.yaml") {
		t.Errorf("table status = %+v, want the last good version %s and the target error", ts, good)
	}
	if n := st.CountWithin(500 * time.Millisecond); n != 0 {
		t.Errorf("%d pushes after an invalid edit, want none", n)
	}
	if _, metrics := get(t, in.admin+"/metrics"); !strings.Contains(metrics, "meshlite_controlplane_table_errors_total 1") ||
		!strings.Contains(metrics, "meshlite_controlplane_table_problems 1") {
		t.Errorf("metrics do not count the table error")
	}
	// A restart serves nothing for the name: there is no last good table.
	restarted := start(t, dir)
	if ts := tableStatus(status(t, restarted), "numbers-web"); ts.Version != "" || ts.LastError == "" {
		t.Errorf("after a restart: %+v, want an error and nothing served", ts)
	}
}

func TestNACKIsShownAndNotResent(t *testing.T) {
	for _, kind := range streamKinds {
		t.Run(kind.name, func(t *testing.T) {
			dir := t.TempDir()
			writeFile(t, filepath.Join(dir, "web.yaml"), tableYAML("web", "http://a/"))
			in := start(t, dir)
			st := xdstest.Open(t, xdstest.Dial(t, in.xds), kind.delta, xdstest.Node("web-1", "web"), "web")
			r := st.Next(t)
			st.NACK(t, r, "web: cannot apply table")
			eventually(t, "the NACK on /status", func() bool {
				s := status(t, in)
				return len(s.Ambassadors) == 1 && s.Ambassadors[0].LastNACK == "web: cannot apply table"
			})
			if n := st.CountWithin(time.Second); n != 0 {
				t.Errorf("%d responses within 1s of the NACK, want none", n)
			}
			a := status(t, in).Ambassadors[0]
			if a.InSync || a.NACKs != 1 || a.LastACKedVersion != "" {
				t.Errorf("ambassador after NACK: %+v", a)
			}
			if _, metrics := get(t, in.admin+"/metrics"); !strings.Contains(metrics, "meshlite_controlplane_xds_nacks_total 1") {
				t.Errorf("metrics do not count the NACK")
			}
		})
	}
}

func TestTwoInstancesServeIdenticalVersions(t *testing.T) {
	dir := t.TempDir()
	writeFile(t, filepath.Join(dir, "web.yaml"), tableYAML("web", "http://a/"))
	writeFile(t, filepath.Join(dir, "shop.yaml"), tableYAML("shop", "http://s/"))
	for _, kind := range streamKinds {
		t.Run(kind.name, func(t *testing.T) {
			var seen []string
			for range 2 {
				in := start(t, dir)
				st := xdstest.Open(t, xdstest.Dial(t, in.xds), kind.delta, xdstest.Node("n", ""), "web", "shop")
				r := st.Next(t)
				if r.Tables["web"].Version == "" || r.Tables["shop"].Version == "" {
					t.Fatalf("missing tables: %+v", r.Tables)
				}
				seen = append(seen, fmt.Sprintf("%s web=%s shop=%s", r.Version, r.Tables["web"].Version, r.Tables["shop"].Version))
			}
			if seen[0] != seen[1] {
				t.Fatalf("instances disagree: %q", seen)
			}
		})
	}
}

func TestConfigMapSymlinkSwapIsPushed(t *testing.T) {
	dir := t.TempDir()
	mk := func(ts, target string) {
		if err := os.Mkdir(filepath.Join(dir, ts), 0o755); err != nil {
			t.Fatal(err)
		}
		writeFile(t, filepath.Join(dir, ts, "web.yaml"), tableYAML("web", target))
	}
	mk("..2026_x", "http://a/")
	if err := os.Symlink("..2026_x", filepath.Join(dir, "..data")); err != nil {
		t.Fatal(err)
	}
	if err := os.Symlink("..data/web.yaml", filepath.Join(dir, "web.yaml")); err != nil {
		t.Fatal(err)
	}
	in := start(t, dir)
	st := xdstest.Open(t, xdstest.Dial(t, in.xds), true, xdstest.Node("n", "web"), "web")
	r := st.Next(t)
	if _, got := target(t, r, "web"); got != "http://a/" {
		t.Fatalf("first target %s", got)
	}
	st.ACK(t, r)

	mk("..2026_y", "http://b/")
	if err := os.Symlink("..2026_y", filepath.Join(dir, "..data_tmp")); err != nil {
		t.Fatal(err)
	}
	if err := os.Rename(filepath.Join(dir, "..data_tmp"), filepath.Join(dir, "..data")); err != nil {
		t.Fatal(err)
	}
	if _, got := target(t, st.Next(t), "web"); got != "http://b/" {
		t.Fatalf("after the swap: target %s, want http://b/", got)
	}
}

func TestAdminEndpoints(t *testing.T) {
	dir := t.TempDir()
	writeFile(t, filepath.Join(dir, "web.yaml"), tableYAML("web", "http://a/"))
	in := start(t, dir)
	cases := []struct {
		path     string
		wantCode int
		want     string
	}{
		{"/healthz", 200, "ok"},
		{"/readyz", 200, "ready"},
		{"/metrics", 200, "meshlite_controlplane_xds_connected_ambassadors"},
		{"/metrics", 200, "meshlite_controlplane_xds_push_latency_seconds"},
		{"/metrics", 200, "meshlite_controlplane_tables 1"},
		{"/status", 200, `"ready": true`},
	}
	for _, tc := range cases {
		t.Run(tc.path+" "+tc.want, func(t *testing.T) {
			code, body := get(t, in.admin+tc.path)
			if code != tc.wantCode || !strings.Contains(body, tc.want) {
				t.Errorf("GET %s = %d, body does not contain %q:\n%.400s", tc.path, code, tc.want, body)
			}
		})
	}
}

func TestValidate(t *testing.T) {
	dir := t.TempDir()
	var out strings.Builder
	if ok, err := Validate(dir, &out); ok || err != nil || !strings.Contains(out.String(), "no RouteTable files") {
		t.Errorf("empty dir: ok=%v err=%v out=%q", ok, err, out.String())
	}
	out.Reset()
	writeFile(t, filepath.Join(dir, "a.yaml"), tableYAML("a", "http://a/"))
	if ok, err := Validate(dir, &out); !ok || err != nil || out.String() != "1 table OK\n" {
		t.Errorf("clean dir: ok=%v err=%v out=%q", ok, err, out.String())
	}
	writeFile(t, filepath.Join(dir, "b.yaml"), "kind: RouteTable\n")
	out.Reset()
	if ok, err := Validate(dir, &out); ok || err != nil || !strings.HasPrefix(out.String(), filepath.Join(dir, "b.yaml")+": ") {
		t.Errorf("bad file: ok=%v err=%v out=%q", ok, err, out.String())
	}
}

// TestValidateWarnsRetryOnAlias: a table written with the deprecated retry
// key on passes, with a warning naming the file, the line and the field.
func TestValidateWarnsRetryOnAlias(t *testing.T) {
	dir := t.TempDir()
	file := filepath.Join(dir, "web.yaml")
	writeFile(t, file, `apiVersion: meshlite/v1
kind: RouteTable
metadata:
  name: web
spec:
  routes:
    - name: rng
      source: http://localhost/api
      target: http://numbers-api/rng
      retry: {attempts: 3, on: [connect-failure]}
`)
	var out strings.Builder
	ok, err := Validate(dir, &out)
	want := "warning: " + file + ": line 10: spec.routes[0].retry.on: deprecated: rename on to retryOn"
	if !ok || err != nil || !strings.HasPrefix(out.String(), want) || !strings.HasSuffix(out.String(), "\n1 table OK\n") {
		t.Errorf("ok=%v err=%v out=%q, want a line starting %q, then 1 table OK", ok, err, out.String(), want)
	}
}

func grepLines(text, substr string) string {
	var out []string
	for line := range strings.SplitSeq(text, "\n") {
		if strings.Contains(line, substr) {
			out = append(out, line)
		}
	}
	return strings.Join(out, "\n")
}
