package source

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"path/filepath"
	"sync"
	"time"

	"github.com/fsnotify/fsnotify"
	"github.com/prometheus/client_golang/prometheus"
)

// Options configure a directory source.
type Options struct {
	// Dir holds the RouteTable files (*.yaml, *.yml). Required.
	Dir string
	// Encode converts a validated document into its xDS resource; nil means
	// EncodeProto. Scans call it from several goroutines at once.
	Encode Encoder
	// Logger receives scan errors and table problems; nil discards them.
	Logger *slog.Logger
	// Registerer receives the source's metrics; nil registers nothing.
	Registerer prometheus.Registerer
	// Debounce is how long the directory must be quiet after a change
	// before it is scanned again; 0 means 100ms.
	Debounce time.Duration
	// Resync rescans the directory this often even without change events;
	// 0 means 30s, negative disables it.
	Resync time.Duration
}

// dirSource watches a directory with fsnotify and rescans it on any event,
// which also follows the "..data" symlink swap of a ConfigMap volume. A
// rescan after events reads only the files whose stamp changed; the first
// scan and the periodic resync read every file.
type dirSource struct {
	opts    Options
	log     *slog.Logger
	metrics *metrics
	scanner *scanner
	watched string // the resolved directory the watch is on (Run's goroutine only)

	mu      sync.Mutex
	current Snapshot
	ready   bool
	subs    []chan Snapshot
}

var _ Source = (*dirSource)(nil)

// NewDir returns a Source that reads opts.Dir.
func NewDir(opts Options) (Source, error) {
	if opts.Dir == "" {
		return nil, errors.New("source: no directory")
	}
	if opts.Encode == nil {
		opts.Encode = EncodeProto
	}
	if opts.Debounce <= 0 {
		opts.Debounce = 100 * time.Millisecond
	}
	if opts.Resync == 0 {
		opts.Resync = 30 * time.Second
	}
	log := opts.Logger
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	reg := opts.Registerer
	if reg == nil {
		reg = prometheus.NewRegistry()
	}
	return &dirSource{
		opts:    opts,
		log:     log.With("component", "source", "dir", opts.Dir),
		metrics: newMetrics(reg),
		scanner: newScanner(opts.Dir, opts.Encode),
	}, nil
}

func (d *dirSource) Subscribe() <-chan Snapshot {
	ch := make(chan Snapshot, 1)
	d.mu.Lock()
	d.subs = append(d.subs, ch)
	d.mu.Unlock()
	return ch
}

func (d *dirSource) Current() (Snapshot, bool) {
	d.mu.Lock()
	defer d.mu.Unlock()
	return d.current, d.ready
}

func (d *dirSource) Run(ctx context.Context) error {
	w, err := fsnotify.NewWatcher()
	if err != nil {
		return fmt.Errorf("source: watch %s: %w", d.opts.Dir, err)
	}
	defer w.Close()
	if err := w.Add(d.opts.Dir); err != nil {
		return fmt.Errorf("source: watch %s: %w", d.opts.Dir, err)
	}
	d.watched, _ = filepath.EvalSymlinks(d.opts.Dir)
	if fi, err := os.Lstat(d.opts.Dir); err == nil && fi.Mode()&os.ModeSymlink != 0 {
		// the directory is a link that may be swapped (git-sync style):
		// watch its parent to see the swap, then follow it in rewatch.
		if err := w.Add(filepath.Dir(d.opts.Dir)); err != nil {
			d.log.Warn("source: cannot watch the parent of the linked directory; swaps are seen by the periodic rescan", "error", err)
		}
	}
	d.rescan(readAll)
	return d.loop(ctx, w)
}

// rewatch moves the directory's watch when its link now resolves elsewhere.
func (d *dirSource) rewatch(w *fsnotify.Watcher) {
	now, err := filepath.EvalSymlinks(d.opts.Dir)
	if err != nil || now == d.watched {
		return
	}
	w.Remove(d.watched)
	if err := w.Add(d.opts.Dir); err != nil {
		d.log.Warn("source: cannot watch the directory's new target", "dir", d.opts.Dir, "target", now, "error", err)
		return
	}
	d.log.Info("source: directory link swapped; watching its new target", "dir", d.opts.Dir, "target", now)
	d.watched = now
}

// loop rescans after a quiet period following events, at most
// 10×Debounce after the first of a burst, and on every resync tick.
func (d *dirSource) loop(ctx context.Context, w *fsnotify.Watcher) error {
	debounce := time.NewTimer(time.Hour)
	debounce.Stop()
	defer debounce.Stop()
	var resync <-chan time.Time
	if d.opts.Resync > 0 {
		t := time.NewTicker(d.opts.Resync)
		defer t.Stop()
		resync = t.C
	}
	var pendingSince time.Time
	for {
		select {
		case <-ctx.Done():
			return nil
		case ev, ok := <-w.Events:
			if !ok {
				return nil
			}
			d.log.Debug("source: change", "event", ev.String())
			if pendingSince.IsZero() {
				pendingSince = time.Now()
			}
			if time.Since(pendingSince) < 10*d.opts.Debounce {
				debounce.Reset(d.opts.Debounce)
			}
		case err, ok := <-w.Errors:
			if !ok {
				return nil
			}
			d.log.Warn("source: watch error; the periodic rescan still applies", "error", err)
		case <-debounce.C:
			pendingSince = time.Time{}
			d.rewatch(w)
			d.rescan(readChanged)
		case <-resync:
			d.rewatch(w)
			d.rescan(readAll) // in case a change escaped every stamp
		}
	}
}

// rescan scans the directory and publishes the result when it changed.
func (d *dirSource) rescan(mode scanMode) {
	before := d.scanner.reads
	snap, fresh, err := d.scanner.scan(mode)
	d.metrics.fileReads.Add(float64(d.scanner.reads - before))
	if err != nil {
		d.metrics.scans.WithLabelValues("error").Inc()
		d.log.Error("source: scan failed; keeping the tables already loaded", "error", err)
		return
	}
	d.metrics.scans.WithLabelValues("ok").Inc()
	for _, r := range fresh {
		d.metrics.tableErrors.Inc()
		attrs := []any{"file", r.path, "table", r.name, "error", r.errorText()}
		if t := snap.Tables[r.name]; t != nil && r.name != "" {
			attrs = append(attrs, "serving_version", t.Version, "serving_file", t.File)
		}
		d.log.Error("source: invalid route table file", attrs...)
	}
	d.metrics.tables.Set(float64(len(snap.Tables)))
	d.metrics.problems.Set(float64(snap.Errors()))
	d.publish(snap)
}

func (d *dirSource) publish(snap Snapshot) {
	d.mu.Lock()
	defer d.mu.Unlock()
	if d.ready && sameSnapshot(d.current, snap) {
		return
	}
	for name, t := range snap.Tables {
		if old := d.current.Tables[name]; old == nil || old.Version != t.Version {
			d.log.Info("source: table loaded", "table", name, "version", t.Version, "file", t.File)
		}
	}
	for name := range d.current.Tables {
		if snap.Tables[name] == nil {
			d.log.Info("source: table removed", "table", name)
		}
	}
	d.current, d.ready = snap, true
	for _, ch := range d.subs {
		select { // keep only the latest snapshot
		case <-ch:
		default:
		}
		ch <- snap
	}
}

func sameSnapshot(a, b Snapshot) bool {
	if len(a.Tables) != len(b.Tables) || len(a.Status) != len(b.Status) {
		return false
	}
	for name, t := range a.Tables {
		if u := b.Tables[name]; u == nil || u.Version != t.Version || u.File != t.File {
			return false
		}
	}
	for i := range a.Status {
		if a.Status[i] != b.Status[i] {
			return false
		}
	}
	return true
}
