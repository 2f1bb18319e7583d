package source

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"path/filepath"
	"strings"
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
	// Debounce is the Coalescer's window: a change after a quiet period is
	// published at once, further changes within Debounce of a publication
	// at its end, and a file written in place once the directory has been
	// quiet this long (at most 10×Debounce after the first event). 0 means
	// 100ms.
	Debounce time.Duration
	// Resync rescans the directory this often even without change events;
	// 0 means 30s, negative disables it.
	Resync time.Duration
}

// dirSource watches a directory with fsnotify and rescans it when it
// changes, which also follows the "..data" symlink swap of a ConfigMap
// volume. A rescan after events reads only the files whose stamp changed;
// the first scan and the periodic resync read every file.
//
// When to rescan is the Coalescer's decision, from what each event says
// the directory holds now (see signal): a link or a directory swapped into
// place (a ConfigMap update, git-sync) is a complete change and is
// published at once; a regular file created or written in place, or a
// table file that went away (an editor's save removes or renames, then
// writes), may be half done and waits until the directory has been quiet
// for the debounce.
type dirSource struct {
	*Publisher
	opts     Options
	log      *slog.Logger
	metrics  *metrics
	scanner  *scanner
	coalesce *Coalescer

	scanMu  sync.Mutex // serialises scans: the coalescer's and the resync's
	watched string     // the resolved directory the watch is on (under scanMu)
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
	log = log.With("component", "source", "dir", opts.Dir)
	reg := opts.Registerer
	if reg == nil {
		reg = prometheus.NewRegistry()
	}
	m := newMetrics(reg)
	return &dirSource{
		Publisher: NewPublisher(log, m.Published),
		opts:      opts,
		log:       log,
		metrics:   m,
		scanner:   newScanner(opts.Dir, opts.Encode),
	}, nil
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
	d.rescan(w, readAll)
	d.coalesce = NewCoalescer(d.opts.Debounce, 10*d.opts.Debounce, func() bool { return d.rescan(w, readChanged) })
	var wg sync.WaitGroup
	defer wg.Wait()
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	wg.Go(func() { d.coalesce.Run(ctx) })
	return d.loop(ctx, w)
}

// rewatch moves the directory's watch when its link now resolves elsewhere.
// Called with scanMu held.
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

// loop hands every event to the coalescer and rescans on every resync
// tick.
func (d *dirSource) loop(ctx context.Context, w *fsnotify.Watcher) error {
	var resync <-chan time.Time
	if d.opts.Resync > 0 {
		t := time.NewTicker(d.opts.Resync)
		defer t.Stop()
		resync = t.C
	}
	for {
		select {
		case <-ctx.Done():
			return nil
		case ev, ok := <-w.Events:
			if !ok {
				return nil
			}
			d.signal(ev)
		case err, ok := <-w.Errors:
			if !ok {
				return nil
			}
			d.log.Warn("source: watch error; the periodic rescan still applies", "error", err)
		case <-resync:
			d.rescan(w, readAll) // in case a change escaped every stamp
		}
	}
}

// signal tells the coalescer what an event means, judged by what its path
// is now. A link or a directory was put in place whole, and a dotfile that
// went away is Kubernetes' (or another atomic writer's) scaffolding: a
// complete change. A regular file may still be being written, and a table
// file that went away may be an editor's save halfway: settling.
func (d *dirSource) signal(ev fsnotify.Event) {
	var settling bool
	if fi, err := os.Lstat(ev.Name); err != nil {
		settling = !strings.HasPrefix(filepath.Base(ev.Name), ".")
	} else {
		settling = fi.Mode().IsRegular()
	}
	d.log.Debug("source: change", "event", ev.String(), "settling", settling)
	if settling {
		d.coalesce.Settling()
	} else {
		d.coalesce.Changed()
	}
}

// rescan scans the directory and publishes the result when it changed,
// reporting whether it did.
func (d *dirSource) rescan(w *fsnotify.Watcher, mode scanMode) bool {
	d.scanMu.Lock()
	defer d.scanMu.Unlock()
	d.rewatch(w)
	before := d.scanner.reads
	snap, fresh, err := d.scanner.scan(mode)
	d.metrics.fileReads.Add(float64(d.scanner.reads - before))
	if err != nil {
		d.metrics.scans.WithLabelValues("error").Inc()
		d.log.Error("source: scan failed; keeping the tables already loaded", "error", err)
		return false
	}
	d.metrics.scans.WithLabelValues("ok").Inc()
	for _, r := range fresh {
		d.metrics.TableErrors.Inc()
		attrs := []any{"file", r.path, "table", r.name, "error", r.errorText()}
		if t := snap.Tables[r.name]; t != nil && r.name != "" {
			attrs = append(attrs, "serving_version", t.Version, "serving_file", t.File)
		}
		d.log.Error("source: invalid route table file", attrs...)
	}
	for _, r := range d.scanner.unwarned() {
		for _, w := range r.warnings {
			d.log.Warn("source: deprecated field in route table file", "file", r.path, "line", w.Line, "field", w.Path, "warning", w.Msg)
		}
	}
	d.metrics.Tables.Set(float64(len(snap.Tables)))
	d.metrics.Problems.Set(float64(snap.Errors()))
	return d.Publish(snap)
}
