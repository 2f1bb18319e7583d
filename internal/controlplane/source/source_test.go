package source

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	meshlitev1 "github.com/meshlite/meshlite/api/meshlite/v1"
)

// tableYAML is a valid RouteTable named name whose route points at target.
func tableYAML(name, target string) string {
	return fmt.Sprintf(`apiVersion: meshlite/v1
kind: RouteTable
metadata:
  name: %s
spec:
  routes:
    - name: api
      source: http://localhost/api
      target: %s
  egress:
    - name: google-apis
      host: "*.googleapis.com"
      ports: [443]
`, name, target)
}

const badTarget = `apiVersion: meshlite/v1
kind: RouteTable
metadata:
  name: web
spec:
  routes:
    - name: api
      source: http://localhost/api
      target: ftp://numbers-api/rng
`

func writeFile(t *testing.T, dir, name, content string) {
	t.Helper()
	if err := os.WriteFile(filepath.Join(dir, name), []byte(content), 0o644); err != nil {
		t.Fatal(err)
	}
}

func mustScan(t *testing.T, s *scanner) Snapshot {
	t.Helper()
	snap, _, err := s.scan(readAll)
	if err != nil {
		t.Fatalf("scan: %v", err)
	}
	return snap
}

func statusFor(snap Snapshot, name string) []TableStatus {
	var out []TableStatus
	for _, st := range snap.Status {
		if st.Name == name {
			out = append(out, st)
		}
	}
	return out
}

func target(t *testing.T, tb *Table) string {
	t.Helper()
	rt, ok := tb.Resource.(*meshlitev1.RouteTable)
	if !ok || len(rt.GetRoutes()) == 0 {
		t.Fatalf("resource of %s is %T, want a RouteTable with routes", tb.Name, tb.Resource)
	}
	return rt.GetRoutes()[0].GetTarget()
}

func TestScanLoadsValidFilesAndSkipsOthers(t *testing.T) {
	dir := t.TempDir()
	writeFile(t, dir, "web.yaml", tableYAML("web", "http://numbers-api/rng"))
	writeFile(t, dir, "shop.yml", tableYAML("shop", "http://catalog/"))
	writeFile(t, dir, ".hidden.yaml", tableYAML("hidden", "http://x/"))
	writeFile(t, dir, "notes.txt", "not a table")
	if err := os.Mkdir(filepath.Join(dir, "sub.yaml"), 0o755); err != nil {
		t.Fatal(err)
	}
	snap := mustScan(t, newScanner(dir, EncodeProto))
	if len(snap.Tables) != 2 || snap.Tables["web"] == nil || snap.Tables["shop"] == nil {
		t.Fatalf("tables = %v, want web and shop", snap.Tables)
	}
	if got := target(t, snap.Tables["web"]); got != "http://numbers-api/rng" {
		t.Errorf("web target = %q", got)
	}
	if v := snap.Tables["web"].Version; len(v) != 16 {
		t.Errorf("version %q, want 16 hex characters", v)
	}
	if snap.Errors() != 0 {
		t.Errorf("errors in status: %+v", snap.Status)
	}
}

func TestScanKeepsLastGoodTable(t *testing.T) {
	cases := []struct {
		name    string
		content string
		wantErr string
	}{
		{"invalid field", badTarget, "spec.routes[0].target"},
		{"yaml syntax error", "metadata: [unclosed\n", "line"},
		{"unknown field", strings.Replace(tableYAML("web", "http://a/"), "spec:", "extra: 1\nspec:", 1), "extra"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			dir := t.TempDir()
			writeFile(t, dir, "web.yaml", tableYAML("web", "http://numbers-api/rng"))
			s := newScanner(dir, EncodeProto)
			good := mustScan(t, s).Tables["web"]

			writeFile(t, dir, "web.yaml", tc.content)
			snap, fresh, err := s.scan(readAll)
			if err != nil {
				t.Fatal(err)
			}
			if snap.Tables["web"] != good {
				t.Fatalf("served %+v, want the last good table %+v", snap.Tables["web"], good)
			}
			st := statusFor(snap, "web")
			if len(st) != 1 || !strings.Contains(st[0].LastError, tc.wantErr) || st[0].Version != good.Version {
				t.Fatalf("status = %+v, want error containing %q and version %s", st, tc.wantErr, good.Version)
			}
			if len(fresh) != 1 {
				t.Errorf("fresh errors = %d, want 1", len(fresh))
			}
			if _, again, _ := s.scan(readAll); len(again) != 0 {
				t.Errorf("the same error was reported again on an unchanged rescan")
			}
		})
	}
}

func TestScanInvalidFromTheStartServesNothing(t *testing.T) {
	dir := t.TempDir()
	writeFile(t, dir, "web.yaml", badTarget)
	writeFile(t, dir, "junk.yaml", "{{{")
	snap := mustScan(t, newScanner(dir, EncodeProto))
	if len(snap.Tables) != 0 {
		t.Fatalf("tables = %v, want none", snap.Tables)
	}
	if snap.Errors() != 2 {
		t.Fatalf("status = %+v, want 2 errors", snap.Status)
	}
	st := statusFor(snap, "")
	if len(st) != 1 || !strings.HasSuffix(st[0].File, "junk.yaml") {
		t.Errorf("unnamed status = %+v, want junk.yaml", st)
	}
}

func TestScanDuplicateNamesNameBothFiles(t *testing.T) {
	dir := t.TempDir()
	writeFile(t, dir, "a.yaml", tableYAML("web", "http://a/"))
	s := newScanner(dir, EncodeProto)
	good := mustScan(t, s).Tables["web"]

	writeFile(t, dir, "b.yaml", tableYAML("web", "http://b/"))
	snap := mustScan(t, s)
	if snap.Tables["web"] != good {
		t.Errorf("a duplicate replaced the served table")
	}
	st := statusFor(snap, "web")
	if len(st) != 2 {
		t.Fatalf("status = %+v, want one entry per file", st)
	}
	for _, e := range st {
		other := "b.yaml"
		if strings.HasSuffix(e.File, "b.yaml") {
			other = "a.yaml"
		}
		if !strings.Contains(e.LastError, other) {
			t.Errorf("%s: error %q does not name %s", e.File, e.LastError, other)
		}
	}

	if err := os.Remove(filepath.Join(dir, "a.yaml")); err != nil {
		t.Fatal(err)
	}
	snap = mustScan(t, s)
	if got := target(t, snap.Tables["web"]); got != "http://b/" || snap.Errors() != 0 {
		t.Errorf("after removing the duplicate: target %q, status %+v", got, snap.Status)
	}
}

func TestScanDeletedFileRemovesTable(t *testing.T) {
	dir := t.TempDir()
	writeFile(t, dir, "web.yaml", tableYAML("web", "http://a/"))
	writeFile(t, dir, "shop.yaml", tableYAML("shop", "http://b/"))
	s := newScanner(dir, EncodeProto)
	mustScan(t, s)
	writeFile(t, dir, "web.yaml", badTarget) // invalid, then deleted: nothing to keep
	mustScan(t, s)
	if err := os.Remove(filepath.Join(dir, "web.yaml")); err != nil {
		t.Fatal(err)
	}
	snap := mustScan(t, s)
	if _, ok := snap.Tables["web"]; ok || len(statusFor(snap, "web")) != 0 {
		t.Fatalf("web still present: %+v", snap.Status)
	}
	if snap.Tables["shop"] == nil {
		t.Fatalf("shop was removed too")
	}
}

func TestVersionsAreContentHashes(t *testing.T) {
	dir := t.TempDir()
	writeFile(t, dir, "web.yaml", tableYAML("web", "http://a/"))
	a := mustScan(t, newScanner(dir, EncodeProto)).Tables["web"].Version
	b := mustScan(t, newScanner(dir, EncodeProto)).Tables["web"].Version
	if a != b {
		t.Fatalf("two scanners disagree: %s vs %s", a, b)
	}
	// Comments and formatting do not change the table, so not the version.
	writeFile(t, dir, "web.yaml", "# a comment\n"+tableYAML("web", "http://a/"))
	if c := mustScan(t, newScanner(dir, EncodeProto)).Tables["web"].Version; c != a {
		t.Errorf("a comment changed the version: %s vs %s", c, a)
	}
	writeFile(t, dir, "web.yaml", tableYAML("web", "http://b/"))
	if d := mustScan(t, newScanner(dir, EncodeProto)).Tables["web"].Version; d == a {
		t.Errorf("a different target kept version %s", d)
	}
}

// runSource starts a directory source and returns its subscription.
func runSource(t *testing.T, dir string) (Source, <-chan Snapshot) {
	t.Helper()
	src, err := NewDir(Options{Dir: dir, Debounce: 20 * time.Millisecond, Resync: -1})
	if err != nil {
		t.Fatal(err)
	}
	ch := src.Subscribe()
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- src.Run(ctx) }()
	t.Cleanup(func() {
		cancel()
		if err := <-done; err != nil {
			t.Errorf("Run: %v", err)
		}
	})
	return src, ch
}

// waitFor returns the first snapshot satisfying ok, failing after 10s.
func waitFor(t *testing.T, ch <-chan Snapshot, what string, ok func(Snapshot) bool) Snapshot {
	t.Helper()
	deadline := time.After(10 * time.Second)
	for {
		select {
		case snap := <-ch:
			if ok(snap) {
				return snap
			}
		case <-deadline:
			t.Fatalf("no snapshot with %s", what)
		}
	}
}

func targetIs(t *testing.T, name, want string) func(Snapshot) bool {
	return func(s Snapshot) bool { return s.Tables[name] != nil && target(t, s.Tables[name]) == want }
}

func TestRunPublishesEdits(t *testing.T) {
	dir := t.TempDir()
	writeFile(t, dir, "web.yaml", tableYAML("web", "http://a/"))
	src, ch := runSource(t, dir)
	first := waitFor(t, ch, "the first table", targetIs(t, "web", "http://a/"))
	if _, ready := src.Current(); !ready {
		t.Errorf("not ready after the first snapshot")
	}

	writeFile(t, dir, "web.yaml", tableYAML("web", "http://b/"))
	second := waitFor(t, ch, "the edited table", targetIs(t, "web", "http://b/"))
	if second.Tables["web"].Version == first.Tables["web"].Version {
		t.Errorf("version did not change")
	}

	writeFile(t, dir, "web.yaml", badTarget)
	bad := waitFor(t, ch, "the error", func(s Snapshot) bool { return s.Errors() == 1 })
	if bad.Tables["web"].Version != second.Tables["web"].Version {
		t.Errorf("an invalid edit changed the served version")
	}
}

func TestRunFollowsConfigMapSymlinkSwap(t *testing.T) {
	dir := t.TempDir()
	mkData := func(ts, target string) {
		if err := os.Mkdir(filepath.Join(dir, ts), 0o755); err != nil {
			t.Fatal(err)
		}
		writeFile(t, filepath.Join(dir, ts), "web.yaml", tableYAML("web", target))
	}
	mkData("..2026_01", "http://a/")
	if err := os.Symlink("..2026_01", filepath.Join(dir, "..data")); err != nil {
		t.Fatal(err)
	}
	if err := os.Symlink(filepath.Join("..data", "web.yaml"), filepath.Join(dir, "web.yaml")); err != nil {
		t.Fatal(err)
	}
	_, ch := runSource(t, dir)
	waitFor(t, ch, "the first table", targetIs(t, "web", "http://a/"))

	mkData("..2026_02", "http://b/")
	if err := os.Symlink("..2026_02", filepath.Join(dir, "..data_tmp")); err != nil {
		t.Fatal(err)
	}
	if err := os.Rename(filepath.Join(dir, "..data_tmp"), filepath.Join(dir, "..data")); err != nil {
		t.Fatal(err)
	}
	if err := os.RemoveAll(filepath.Join(dir, "..2026_01")); err != nil {
		t.Fatal(err)
	}
	waitFor(t, ch, "the swapped table", targetIs(t, "web", "http://b/"))
}

func TestRunFailsOnMissingDirectory(t *testing.T) {
	src, err := NewDir(Options{Dir: filepath.Join(t.TempDir(), "missing")})
	if err != nil {
		t.Fatal(err)
	}
	if err := src.Run(context.Background()); err == nil || !strings.Contains(err.Error(), "missing") {
		t.Fatalf("Run = %v, want an error naming the directory", err)
	}
}

func TestValidateDir(t *testing.T) {
	cases := []struct {
		name       string
		files      map[string]string
		wantTables int
		wantLines  []string // substrings, one per problem line, in order
	}{
		{"all good", map[string]string{"a.yaml": tableYAML("a", "http://a/"), "b.yml": tableYAML("b", "http://b/")}, 2, nil},
		{"one bad field", map[string]string{"a.yaml": tableYAML("a", "http://a/"), "web.yaml": badTarget}, 1,
			[]string{"web.yaml: spec.routes[0].target: "}},
		{"duplicate", map[string]string{"a.yaml": tableYAML("x", "http://a/"), "b.yaml": tableYAML("x", "http://b/")}, 0,
			[]string{"a.yaml: metadata.name: table \"x\" is also defined in", "b.yaml: metadata.name: table \"x\""}},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			dir := t.TempDir()
			for name, content := range tc.files {
				writeFile(t, dir, name, content)
			}
			rep, err := ValidateDir(dir)
			if err != nil {
				t.Fatal(err)
			}
			if rep.Tables != tc.wantTables {
				t.Errorf("tables = %d, want %d", rep.Tables, tc.wantTables)
			}
			if len(rep.Problems) != len(tc.wantLines) {
				t.Fatalf("problems = %v, want %d", rep.Problems, len(tc.wantLines))
			}
			for i, want := range tc.wantLines {
				if got := rep.Problems[i].String(); !strings.Contains(got, want) {
					t.Errorf("problem %d = %q, want it to contain %q", i, got, want)
				}
			}
		})
	}
}

func TestScanInvalidFileDoesNotConflictWithValidOne(t *testing.T) {
	dir := t.TempDir()
	writeFile(t, dir, "a.yaml", tableYAML("web", "http://a/"))
	writeFile(t, dir, "b.yaml", badTarget) // also metadata.name: web, but invalid
	snap := mustScan(t, newScanner(dir, EncodeProto))
	if snap.Tables["web"] == nil || target(t, snap.Tables["web"]) != "http://a/" {
		t.Fatalf("the valid file is not served: %+v", snap.Tables)
	}
	for _, st := range statusFor(snap, "web") {
		if strings.Contains(st.LastError, "also defined") {
			t.Errorf("%s: an invalid file counted as a duplicate: %s", st.File, st.LastError)
		}
		if strings.HasSuffix(st.File, "b.yaml") && !strings.Contains(st.LastError, "spec.routes[0].target") {
			t.Errorf("b.yaml: error %q, want its own problem", st.LastError)
		}
	}
}

// TestLinkedDirectorySwap: the routes directory is a link swapped whole
// (git-sync style); the swap and later edits in the new target are both
// seen by the watch (the periodic rescan is off here).
func TestLinkedDirectorySwap(t *testing.T) {
	base := t.TempDir()
	for _, rev := range []string{"rev1", "rev2"} {
		if err := os.Mkdir(filepath.Join(base, rev), 0o755); err != nil {
			t.Fatal(err)
		}
	}
	writeFile(t, filepath.Join(base, "rev1"), "web.yaml", tableYAML("web", "http://one/"))
	writeFile(t, filepath.Join(base, "rev2"), "web.yaml", tableYAML("web", "http://two/"))
	current := filepath.Join(base, "current")
	if err := os.Symlink("rev1", current); err != nil {
		t.Fatal(err)
	}
	_, ch := runSource(t, current)
	waitFor(t, ch, "the first target", targetIs(t, "web", "http://one/"))

	tmp := filepath.Join(base, "current.tmp")
	if err := os.Symlink("rev2", tmp); err != nil {
		t.Fatal(err)
	}
	if err := os.Rename(tmp, current); err != nil {
		t.Fatal(err)
	}
	waitFor(t, ch, "the swapped directory", targetIs(t, "web", "http://two/"))

	writeFile(t, filepath.Join(base, "rev2"), "web.yaml", tableYAML("web", "http://three/"))
	waitFor(t, ch, "an edit in the new target", targetIs(t, "web", "http://three/"))
}

// Files are read by several workers; every result must land on its own
// file, valid or not, and an unchanged file keeps its table on a rescan.
func TestScanManyFilesInParallel(t *testing.T) {
	dir := t.TempDir()
	const n = 64
	for i := range n {
		content := tableYAML(fmt.Sprintf("t%02d", i), fmt.Sprintf("http://svc-%02d/", i))
		if i%8 == 7 {
			content = strings.Replace(content, "http://svc", "ftp://svc", 1) // invalid target
		}
		writeFile(t, dir, fmt.Sprintf("t%02d.yaml", i), content)
	}
	s := newScanner(dir, EncodeProto)
	snap := mustScan(t, s)
	if len(snap.Tables) != n-n/8 || snap.Errors() != n/8 {
		t.Fatalf("%d tables and %d errors, want %d and %d", len(snap.Tables), snap.Errors(), n-n/8, n/8)
	}
	for i := range n {
		name := fmt.Sprintf("t%02d", i)
		if i%8 == 7 {
			if st := statusFor(snap, name); len(st) != 1 || !strings.Contains(st[0].LastError, "ftp") {
				t.Errorf("%s: status %+v, want one entry with the invalid target's error", name, st)
			}
			continue
		}
		if got, want := target(t, snap.Tables[name]), fmt.Sprintf("http://svc-%02d/", i); got != want {
			t.Errorf("%s: target %q, want %q", name, got, want)
		}
	}
	if again := mustScan(t, s); again.Tables["t00"] != snap.Tables["t00"] {
		t.Error("an unchanged file was loaded again instead of reusing its table")
	}
	if s.reads != 2*n {
		t.Errorf("reads = %d, want %d (every file read on each full scan)", s.reads, 2*n)
	}
}
