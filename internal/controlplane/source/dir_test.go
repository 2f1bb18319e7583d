package source

import (
	"context"
	"fmt"
	"log/slog"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	dto "github.com/prometheus/client_model/go"

	meshlitev1 "github.com/meshlite/meshlite/api/meshlite/v1"
	"github.com/meshlite/meshlite/internal/testnet"
)

// runDir starts a directory source with the given debounce and returns it
// with its subscription.
func runDir(t *testing.T, dir string, debounce time.Duration) (*dirSource, <-chan Snapshot) {
	t.Helper()
	src, err := NewDir(Options{Dir: dir, Debounce: debounce, Resync: -1})
	if err != nil {
		t.Fatal(err)
	}
	d := src.(*dirSource)
	ch := d.Subscribe()
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- d.Run(ctx) }()
	t.Cleanup(func() {
		cancel()
		if err := <-done; err != nil {
			t.Errorf("Run: %v", err)
		}
	})
	return d, ch
}

// configMapDir lays dir out as a ConfigMap volume: web.yaml links to
// ..data/web.yaml, ..data to a timestamped directory.
type configMapDir struct {
	t   *testing.T
	dir string
	seq int
}

func newConfigMapDir(t *testing.T, target string) *configMapDir {
	c := &configMapDir{t: t, dir: t.TempDir()}
	c.link(c.write(target), "..data")
	c.link(filepath.Join("..data", "web.yaml"), "web.yaml")
	return c
}

// write makes the next timestamped directory with web.yaml pointing at
// target, and returns its name.
func (c *configMapDir) write(target string) string {
	c.seq++
	ts := fmt.Sprintf("..2026_%02d", c.seq)
	if err := os.Mkdir(filepath.Join(c.dir, ts), 0o755); err != nil {
		c.t.Fatal(err)
	}
	writeFile(c.t, filepath.Join(c.dir, ts), "web.yaml", tableYAML("web", target))
	return ts
}

func (c *configMapDir) link(to, name string) {
	if err := os.Symlink(to, filepath.Join(c.dir, name)); err != nil {
		c.t.Fatal(err)
	}
}

// swap is the kubelet's update: a new timestamped directory, a ..data_tmp
// link to it renamed over ..data, the old directory removed.
func (c *configMapDir) swap(target string) {
	old, err := os.Readlink(filepath.Join(c.dir, "..data"))
	if err != nil {
		c.t.Fatal(err)
	}
	c.link(c.write(target), "..data_tmp")
	if err := os.Rename(filepath.Join(c.dir, "..data_tmp"), filepath.Join(c.dir, "..data")); err != nil {
		c.t.Fatal(err)
	}
	if err := os.RemoveAll(filepath.Join(c.dir, old)); err != nil {
		c.t.Fatal(err)
	}
}

func TestRunPublishesAnIsolatedSwapWithoutWaiting(t *testing.T) {
	const debounce = 5 * time.Second
	cm := newConfigMapDir(t, "http://a/")
	_, ch := runDir(t, cm.dir, debounce)
	waitFor(t, ch, "the first table", targetIs(t, "web", "http://a/"))

	start := time.Now()
	cm.swap("http://b/")
	waitFor(t, ch, "the swapped table", targetIs(t, "web", "http://b/"))
	if took := time.Since(start); took > debounce/2 {
		t.Fatalf("the swap was published after %s; want at once, well before the %s debounce", took, debounce)
	}
}

func TestRunCoalescesABurstOfSwaps(t *testing.T) {
	const debounce = time.Second
	cm := newConfigMapDir(t, "http://v0/")
	d, ch := runDir(t, cm.dir, debounce)
	waitFor(t, ch, "the first table", targetIs(t, "web", "http://v0/"))
	before := published(t, d)

	const swaps = 20
	for i := 1; i <= swaps; i++ {
		cm.swap(fmt.Sprintf("http://v%d/", i))
	}
	final := fmt.Sprintf("http://v%d/", swaps)
	waitFor(t, ch, "the last swap", targetIs(t, "web", final))
	// Each swap publishes a new version, so without coalescing there would
	// be one publication per swap: the first at once, the rest at the
	// window's end (one more if the loop straddled a window).
	if n := published(t, d) - before; n > 3 {
		t.Errorf("%d swaps made %v publications, want at most 3", swaps, n)
	}
	snap, _ := d.Current()
	if got := target(t, snap.Tables["web"]); got != final || snap.Errors() != 0 {
		t.Errorf("current target %q with status %+v, want exactly the last swap's %q", got, snap.Status, final)
	}
}

// A file written in place in two steps whose first half is a valid table
// by itself: the half must never be published.
func TestRunDoesNotPublishAHalfWrittenFile(t *testing.T) {
	const debounce = time.Second
	full := tableYAML("web", "http://b/")
	half := full[:strings.Index(full, "  egress:")]
	if snap := mustScan(t, newScanner(writeDir(t, "web.yaml", half), EncodeProto)); snap.Tables["web"] == nil {
		t.Fatalf("the first half is not a valid table by itself (status %+v); the test needs one", snap.Status)
	}
	dir := writeDir(t, "web.yaml", tableYAML("web", "http://a/"))
	d, ch := runDir(t, dir, debounce)
	waitFor(t, ch, "the first table", targetIs(t, "web", "http://a/"))
	before := published(t, d)

	f, err := os.OpenFile(filepath.Join(dir, "web.yaml"), os.O_WRONLY|os.O_TRUNC, 0)
	if err != nil {
		t.Fatal(err)
	}
	start := time.Now()
	if _, err := f.WriteString(half); err != nil {
		t.Fatal(err)
	}
	time.Sleep(debounce / 10)
	if _, err := f.WriteString(full[len(half):]); err != nil {
		t.Fatal(err)
	}
	if err := f.Close(); err != nil {
		t.Fatal(err)
	}
	snap := waitFor(t, ch, "the written table", func(s Snapshot) bool {
		if s.Tables["web"] == nil {
			return false
		}
		rt, _ := s.Tables["web"].Resource.(*meshlitev1.RouteTable)
		return len(rt.GetEgress()) > 0 && target(t, s.Tables["web"]) == "http://b/"
	})
	if n := published(t, d) - before; n != 1 {
		t.Errorf("the write made %v publications, want 1 (the complete file)", n)
	}
	if took := time.Since(start); took < debounce {
		t.Errorf("a file written in place was published after %s, before the %s quiet time", took, debounce)
	}
	if snap.Errors() != 0 {
		t.Errorf("status %+v, want no errors", snap.Status)
	}
}

// writeDir returns a new directory holding one file.
func writeDir(t *testing.T, name, content string) string {
	t.Helper()
	dir := t.TempDir()
	writeFile(t, dir, name, content)
	return dir
}

// published is the source's count of published snapshots.
func published(t *testing.T, d *dirSource) float64 {
	t.Helper()
	var m dto.Metric
	if err := d.metrics.Published.(prometheus.Metric).Write(&m); err != nil {
		t.Fatal(err)
	}
	return m.GetCounter().GetValue()
}

// onTable is a valid table that spells retryOn with the deprecated on: key,
// at line 11.
func onTable(target string) string {
	return `apiVersion: meshlite/v1
kind: RouteTable
metadata:
  name: old
spec:
  routes:
    - name: api
      source: http://localhost/api
      target: ` + target + `
      retry:
        on: [connect-failure]
`
}

// TestRunLogsDeprecatedFieldsOnce: a file with the deprecated retry key
// on: is served, and the warning names its file, line and field, once per
// content: a rescan that finds the file unchanged says nothing, an edit
// that keeps the key says it again.
func TestRunLogsDeprecatedFieldsOnce(t *testing.T) {
	dir := t.TempDir()
	writeFile(t, dir, "old.yaml", onTable("http://a/"))
	logs := &testnet.Buffer{}
	src, err := NewDir(Options{Dir: dir, Debounce: 20 * time.Millisecond, Resync: -1, Logger: slog.New(slog.NewTextHandler(logs, nil))})
	if err != nil {
		t.Fatal(err)
	}
	ch := src.Subscribe()
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- src.Run(ctx) }()
	t.Cleanup(func() { cancel(); <-done })

	want := []string{`level=WARN msg="source: deprecated field in route table file"`,
		"file=" + filepath.Join(dir, "old.yaml") + " line=11 field=spec.routes[0].retry.on", `warning="deprecated: rename on to retryOn`}
	count := func() int { return strings.Count(logs.String(), "deprecated field") }
	waitFor(t, ch, "the table with on:", targetIs(t, "old", "http://a/"))
	for _, w := range want {
		if !strings.Contains(logs.String(), w) {
			t.Fatalf("no %q in the log:\n%s", w, logs)
		}
	}
	// Another file's arrival rescans old.yaml unchanged: the snapshot that
	// shows the new table is published after the scan's logging.
	writeFile(t, dir, "new.yaml", tableYAML("new", "http://n/"))
	waitFor(t, ch, "the new table", targetIs(t, "new", "http://n/"))
	if n := count(); n != 1 {
		t.Errorf("%d warnings after an unchanged rescan, want 1:\n%s", n, logs)
	}
	writeFile(t, dir, "old.yaml", onTable("http://b/"))
	waitFor(t, ch, "the edited table", targetIs(t, "old", "http://b/"))
	if n := count(); n != 2 {
		t.Errorf("%d warnings after an edit that keeps on:, want 2:\n%s", n, logs)
	}
}
