package audit

import (
	"errors"
	"fmt"
	"io"
	"sync"
	"sync/atomic"
	"time"

	"github.com/prometheus/client_golang/prometheus"
)

// Overflow says what Log does when the queue to the writer is full.
type Overflow string

const (
	// OverflowBlock makes Log wait for room: back-pressure; a full queue
	// loses no line.
	OverflowBlock Overflow = "block"
	// OverflowDrop makes Log drop the line and count it in
	// meshlite_audit_dropped_total.
	OverflowDrop Overflow = "drop"
)

// Defaults applied to zero Options fields.
const (
	DefaultQueueLines    = 4096
	DefaultFlushInterval = 100 * time.Millisecond
)

const (
	// batchBytes is the size at which the writer flushes without waiting for
	// the queue to drain.
	batchBytes = 64 << 10
	// maxPooledLine keeps unusually long lines from pinning big buffers.
	maxPooledLine = 16 << 10
)

// Options tunes a Logger. The zero value is usable.
type Options struct {
	// Overflow is "block" (zero value) or "drop".
	Overflow Overflow
	// QueueLines is how many encoded lines may wait for the writer; zero
	// means DefaultQueueLines.
	QueueLines int
	// FlushInterval bounds how long a line may sit in the writer's batch
	// before it is written; a full batch (64 KiB) is written at once. Zero
	// means DefaultFlushInterval.
	FlushInterval time.Duration
	// Registerer receives the logger's metrics; nil registers none.
	Registerer prometheus.Registerer
}

// Logger writes audit lines to an io.Writer from one background goroutine.
// Log is safe for concurrent use.
//
// Every line given to Log is either written or counted in
// meshlite_audit_dropped_total, and meshlite_audit_lines_total counts the
// written ones, so lines + dropped = Log calls. A line is dropped only when
// the queue is full in OverflowDrop mode, or when its write failed
// writeAttempts times in a row.
type Logger struct {
	w        io.Writer
	overflow Overflow
	interval time.Duration
	metrics  *metrics

	queue    chan *[]byte
	closed   atomic.Bool
	inflight atomic.Int64 // Log calls that may still send on queue
	done     chan struct{}
	closeMu  sync.Mutex // serialises Close, never taken by Log
	firstErr error      // first write error; written by the writer goroutine before done
	// torn says the last failed write cut a line short. The writer
	// goroutine owns it until done; after that, lateMu guards it.
	torn   bool
	lateMu sync.Mutex // serialises the writes of lines logged after Close
}

var linePool = sync.Pool{New: func() any { b := make([]byte, 0, 512); return &b }}

// NewLogger starts a Logger writing to w. Close it to flush and stop.
func NewLogger(w io.Writer, opts Options) (*Logger, error) {
	if w == nil {
		return nil, errors.New("audit: writer is nil")
	}
	if err := opts.withDefaults(); err != nil {
		return nil, err
	}
	m, err := newMetrics(opts.Registerer)
	if err != nil {
		return nil, err
	}
	l := &Logger{
		w:        w,
		overflow: opts.Overflow,
		interval: opts.FlushInterval,
		metrics:  m,
		queue:    make(chan *[]byte, opts.QueueLines),
		done:     make(chan struct{}),
	}
	go l.run()
	return l, nil
}

func (o *Options) withDefaults() error {
	switch o.Overflow {
	case "":
		o.Overflow = OverflowBlock
	case OverflowBlock, OverflowDrop:
	default:
		return fmt.Errorf("audit: overflow %q not supported (use %q or %q)", o.Overflow, OverflowBlock, OverflowDrop)
	}
	if o.QueueLines < 0 {
		return fmt.Errorf("audit: queue lines %d is negative (use 0 for the default of %d)", o.QueueLines, DefaultQueueLines)
	}
	if o.QueueLines == 0 {
		o.QueueLines = DefaultQueueLines
	}
	if o.FlushInterval < 0 {
		return fmt.Errorf("audit: flush interval %s is negative (use 0 for the default of %s)", o.FlushInterval, DefaultFlushInterval)
	}
	if o.FlushInterval == 0 {
		o.FlushInterval = DefaultFlushInterval
	}
	return nil
}

// Log encodes e and queues it for writing. It takes no lock and makes no
// system call. With OverflowBlock it waits while the queue is full; with
// OverflowDrop it drops the line and counts it. After Close it writes the
// line itself, at once, so a request that ends during shutdown still leaves
// its line. A zero e.Time is replaced by the current time; e is not
// modified.
func (l *Logger) Log(e *Entry) {
	if !l.closed.Load() && l.enqueue(e) {
		return
	}
	l.writeLate(e)
}

// enqueue queues e unless the Logger is closing; false means it did not.
func (l *Logger) enqueue(e *Entry) bool {
	// Announce the send before checking closed again, so that Close, which
	// sets closed and then waits for inflight to reach zero, never closes
	// the queue under a sender.
	l.inflight.Add(1)
	defer l.inflight.Add(-1)
	if l.closed.Load() {
		return false
	}
	line := encodeLine(e)
	if l.overflow == OverflowBlock {
		l.queue <- line
		return true
	}
	select {
	case l.queue <- line:
	default:
		putLine(line)
		l.metrics.dropped.Inc()
	}
	return true
}

// writeLate writes one line logged after Close, once the writer goroutine
// has finished, with the same retries.
func (l *Logger) writeLate(e *Entry) {
	<-l.done
	line := encodeLine(e)
	defer putLine(line)
	l.lateMu.Lock()
	defer l.lateMu.Unlock()
	_ = l.write(*line, 1) // counted; Close has already returned its error
}

// encodeLine encodes e, newline-terminated, into a pooled buffer.
func encodeLine(e *Entry) *[]byte {
	if e.Time.IsZero() {
		stamped := *e
		stamped.Time = time.Now()
		e = &stamped
	}
	line := linePool.Get().(*[]byte)
	*line = append(AppendJSON((*line)[:0], e), '\n')
	return line
}

// putLine returns a line buffer to the pool unless it grew unusually long.
func putLine(line *[]byte) {
	if cap(*line) <= maxPooledLine {
		linePool.Put(line)
	}
}

// Close stops queueing lines, waits until every queued line is written and
// flushed, and returns the first write error seen until then. Lines logged
// after Close are written by Log itself.
// Calling Close again returns the same result. Close waits for the writer,
// so a Write that never returns keeps Close waiting too.
func (l *Logger) Close() error {
	l.closeMu.Lock()
	defer l.closeMu.Unlock()
	if !l.closed.Swap(true) {
		// A Log that raced with the Swap either saw closed and will not
		// send, or is counted in inflight; wait for those to finish
		// sending (the writer keeps draining meanwhile).
		for l.inflight.Load() != 0 {
			time.Sleep(time.Millisecond)
		}
		close(l.queue)
	}
	<-l.done
	return l.firstErr
}
