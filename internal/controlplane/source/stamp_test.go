package source

import (
	"os"
	"path/filepath"
	"testing"
	"time"
)

// laterScanner returns a scanner whose clock runs an hour ahead, so that
// the stamps of files just written are trusted.
func laterScanner(dir string) *scanner {
	s := newScanner(dir, EncodeProto)
	s.now = func() time.Time { return time.Now().Add(time.Hour) }
	return s
}

func scanReads(t *testing.T, s *scanner, mode scanMode) (Snapshot, uint64) {
	t.Helper()
	before := s.reads
	snap, _, err := s.scan(mode)
	if err != nil {
		t.Fatalf("scan: %v", err)
	}
	return snap, s.reads - before
}

func TestReadChangedReadsOnlyChangedFiles(t *testing.T) {
	dir := t.TempDir()
	for _, name := range []string{"a", "b", "c"} {
		writeFile(t, dir, name+".yaml", tableYAML(name, "http://one/"))
	}
	s := laterScanner(dir)
	if _, n := scanReads(t, s, readAll); n != 3 {
		t.Fatalf("first scan read %d files, want 3", n)
	}
	if _, n := scanReads(t, s, readChanged); n != 0 {
		t.Errorf("scan of an unchanged directory read %d files, want 0", n)
	}
	writeFile(t, dir, "b.yaml", tableYAML("b", "http://two/")) // same size
	snap, n := scanReads(t, s, readChanged)
	if n != 1 {
		t.Errorf("scan after one edit read %d files, want 1", n)
	}
	if got := target(t, snap.Tables["b"]); got != "http://two/" {
		t.Errorf("b target = %q, want the edit", got)
	}
	if _, n := scanReads(t, s, readAll); n != 3 {
		t.Errorf("full scan read %d files, want 3", n)
	}
	if err := os.Remove(filepath.Join(dir, "c.yaml")); err != nil {
		t.Fatal(err)
	}
	if snap, _ := scanReads(t, s, readChanged); snap.Tables["c"] != nil || len(snap.Tables) != 2 {
		t.Errorf("after deleting c.yaml the tables are %v, want a and b", snap.Tables)
	}
}

func TestReadChangedRereadsRecentFiles(t *testing.T) {
	dir := t.TempDir()
	writeFile(t, dir, "web.yaml", tableYAML("web", "http://one/"))
	s := newScanner(dir, EncodeProto)
	if _, n := scanReads(t, s, readAll); n != 1 {
		t.Fatalf("first scan read %d files, want 1", n)
	}
	// Same size, same inode, possibly the same timestamp tick: the stamp
	// alone may not show the change, so a file this recent is read again.
	writeFile(t, dir, "web.yaml", tableYAML("web", "http://two/"))
	snap, n := scanReads(t, s, readChanged)
	if n != 1 {
		t.Errorf("scan read %d files, want 1", n)
	}
	if got := target(t, snap.Tables["web"]); got != "http://two/" {
		t.Errorf("target = %q, want the edit", got)
	}
}

func TestReadChangedFollowsConfigMapSwap(t *testing.T) {
	dir := t.TempDir()
	mkData := func(ts, webTarget string) {
		if err := os.Mkdir(filepath.Join(dir, ts), 0o755); err != nil {
			t.Fatal(err)
		}
		writeFile(t, filepath.Join(dir, ts), "web.yaml", tableYAML("web", webTarget))
		writeFile(t, filepath.Join(dir, ts), "api.yaml", tableYAML("api", "http://api/"))
	}
	link := func(ts string) {
		tmp := filepath.Join(dir, "..data_tmp")
		if err := os.Symlink(ts, tmp); err != nil {
			t.Fatal(err)
		}
		if err := os.Rename(tmp, filepath.Join(dir, "..data")); err != nil {
			t.Fatal(err)
		}
	}
	mkData("..2026_01", "http://one/")
	link("..2026_01")
	for _, name := range []string{"web.yaml", "api.yaml"} {
		if err := os.Symlink(filepath.Join("..data", name), filepath.Join(dir, name)); err != nil {
			t.Fatal(err)
		}
	}
	s := laterScanner(dir)
	scanReads(t, s, readAll)
	mkData("..2026_02", "http://two/") // same sizes, new files
	link("..2026_02")
	snap, n := scanReads(t, s, readChanged)
	if n != 2 {
		t.Errorf("scan after the swap read %d files, want both (new inodes)", n)
	}
	if got := target(t, snap.Tables["web"]); got != "http://two/" {
		t.Errorf("web target = %q, want the swapped one", got)
	}
}
